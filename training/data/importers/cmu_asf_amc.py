"""CMU mocap in CMU's own ASF/AMC format (the cmu-asf-amc set) -> `Clip` records.

The folder holds `<subject>/<subject>.asf`, `<subject>/<subject>_<trial>.amc` and `TRIALS.tsv` (per
trial: file, subject, trial, frames, fps, CMU's description, an uploader's label). AMC files store no
frame rate, so it comes from TRIALS.tsv; the pose from `ropar_core.asf_amc` (ASF units, so metres without
guessing).

Captions come from CMU's description (`captions_sources.cmu_captions`), never from the uploader's label,
which is wrong for 10_05 and 10_06 (they kick a ball, not walk). Subject 105's descriptions are CamelCase
trial names ("HurtLegWalk"): `captions_labels.cmu105_entry` turns them into words, and its jump turns are
captioned by the turn measured here. Takes stay whole (a figure-eight walk cut in pieces is no longer
one), except where the motion itself shows where one listed action ends and the next begins (HOP_TAKES).
The split key is the take's, as in `cmu_iclone`, so the 22 takes both sets hold land in the same split
when both are imported (`plans.plan_open` imports them once, from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core.asf_amc import load_amc
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.runs import runs, true_runs
from training.data.captions_labels import (
    ANGLE_LABEL,
    CMU105,
    HOP_WORDINGS,
    camel_words,
    cmu105_entry,
    label_captions,
)
from training.data.captions_sources import cmu_action, cmu_captions
from training.data.importers import Clip, features_from_joints, find_release, table_reader
from training.data.importers.cmu_iclone import LICENCE, SOURCE, split_for

__all__ = ["LICENCE", "SOURCE", "Trial", "find_root", "read_trials", "trial_clips", "load_folder"]
TRIALS = "TRIALS.tsv"
COLUMNS = ("file", "subject", "trial", "fps", "cmu_description")
MAX_TRIALS_BYTES = 16 * 2**20
ID_PREFIX = "cmuamc"


@dataclass(frozen=True)
class Trial:
    file: str  # relative to the root: "16/16_15.amc"
    subject: int
    trial: int
    fps: float
    description: str

    @property
    def key(self) -> str:  # as cmu_iclone's: "016_15"
        return f"{self.subject:03d}_{self.trial:02d}"


def find_root(root: str | Path) -> Path:
    """The folder holding TRIALS.tsv: `root` itself or one level down."""
    return find_release(root, lambda d: (d / TRIALS).is_file(),
                        f"CMU ASF/AMC set ({TRIALS} and <subject>/<subject>_<trial>.amc)")


def read_trials(path: str | Path) -> list[Trial]:
    path = Path(path)
    reader = table_reader(path, MAX_TRIALS_BYTES, delimiter="\t")
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RoparError(f"{path}: no column {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    trials = []
    for n, row in enumerate(reader, 2):
        try:
            fps = limits.check_fps(float(row["fps"]), "fps")
            trial = Trial(row["file"].strip(), int(row["subject"]), int(row["trial"]), fps,
                          " ".join((row["cmu_description"] or "").split()))
        except (TypeError, ValueError, RoparError) as exc:
            raise RoparError(f"{path}:{n}: bad row ({str(exc)[:80] or 'missing a value'})") from None
        if not trial.description:
            raise RoparError(f"{path}:{n}: {trial.file} has no description")
        trials.append(trial)
    if not trials:
        raise RoparError(f"{path}: no trials")
    return trials


def net_turn_deg(joints: np.ndarray) -> float:
    """Heading change (degrees, + = to the left) from the first to the last frame of SMPL-22 joints (Y up)
    at the capture rate, where a spinning jump turns a few degrees a frame (at 20 fps the features'
    rotation velocity can wrap), from the hips' and shoulders' left-to-right line."""
    across = joints[:, 2] - joints[:, 1] + joints[:, 17] - joints[:, 16]  # right minus left
    heading = np.unwrap(np.arctan2(across[:, 2], -across[:, 0]))
    return float(np.degrees(heading[-1] - heading[0]))


def is_label(description: str) -> bool:
    """A CamelCase trial name (subject 105's descriptions) rather than a CMU description."""
    words = camel_words(description)
    return words in CMU105 or bool(ANGLE_LABEL.match(words))


def captions(trial: Trial, turn_deg: float, n: int = 5, seed: int = 0) -> tuple[str, list[str]]:
    """(vocabulary entry, `n` captions) of one trial; `turn_deg`: its net_turn_deg."""
    if is_label(trial.description):
        action, wordings = cmu105_entry(trial.description, turn_deg)
        return action, label_captions(wordings, f"cmu:{trial.key}", n, seed)
    return cmu_action(trial.description), cmu_captions(trial.description, trial.key, n, seed)


def trial_joints(root: Path, trial: Trial) -> tuple[np.ndarray, float]:
    """One trial -> ((T, 22, 3) metres Y up at its capture rate, that rate)."""
    path = root / trial.file
    if not path.is_file():
        raise MotionFileError(f"{trial.file}: listed in {TRIALS} but not there")
    joints, fps = load_amc(path, fps=trial.fps)
    if len(joints) < 3 * fps / 20:
        raise MotionFileError(f"{trial.file}: only {len(joints)} frames")
    return joints, fps


def make_clip(trial: Trial, features: np.ndarray, turn_deg: float, split: str, seed: int = 0,
              num_captions: int = 5) -> Clip:
    action, texts = captions(trial, turn_deg, num_captions, seed)
    return Clip(
        id=f"{ID_PREFIX}_{trial.key}",
        features=features,
        texts=texts,
        source=SOURCE,
        subject=f"cmu{trial.subject:03d}",
        split_key=f"{SOURCE}/{trial.key}",
        meta={"content": action, "style": "", "split": split, "file": trial.file,
              "description": trial.description, "turn_deg": round(turn_deg, 1)},
    )


# The one take whose description lists actions done one after another that the motion itself tells
# apart: 49_03 jumps on both feet, hops on the left foot, then on the right, and jumps again. A hop is a
# stretch where one foot stays up (FOOT_UP_M) for at least MIN_HOP_S while the other lands; the rest is
# jumping on both feet. Other multi-action takes stay whole (their captions name the actions in order).
HOP_TAKES = ("jump up and down, hop on one foot",)
FOOT_UP_M = 0.12
MIN_HOP_S = 0.75
MIN_PIECE_S = 0.5  # shorter pieces (the switch from one foot to the other) join the piece before


def hop_pieces(joints: np.ndarray, fps: float) -> list[tuple[int, int, str]]:
    """[start, end) frame ranges with "both" (jumping on both feet), "left" or "right" (hopping on it)."""
    floor = joints[:, [7, 8, 10, 11], 1].min()
    up = {side: joints[:, idx, 1].min(axis=1) - floor > FOOT_UP_M
          for side, idx in (("left", [7, 10]), ("right", [8, 11]))}
    stance = np.full(len(joints), "both", dtype=object)
    for raised, other in (("right", "left"), ("left", "right")):
        for a, b in true_runs(up[raised]):
            if b - a >= MIN_HOP_S * fps and not up[other][a:b].all():  # the other foot lands: a hop
                stance[a:b] = other
    pieces: list[list] = []
    for a, b, _ in runs(stance != "both"):
        for c, d, _ in runs(stance[a:b] == "left"):
            if pieces and (d - c < MIN_PIECE_S * fps or pieces[-1][2] == stance[a + c]):
                pieces[-1][1] = a + d
            else:
                pieces.append([a + c, a + d, stance[a + c]])
    return [(a, b, side) for a, b, side in pieces]


def hop_clip(trial: Trial, features: np.ndarray, piece: int, side: str, seed: int = 0,
             num_captions: int = 5) -> Clip:
    key = f"{trial.key}_{piece}"
    if side == "both":
        action, texts = "jump", cmu_captions("jump up and down", key, num_captions, seed)
    else:
        action, texts = "hop", label_captions(HOP_WORDINGS[side], f"cmu:{key}", num_captions, seed)
    return Clip(id=f"{ID_PREFIX}_{key}", features=features, texts=texts, source=SOURCE,
                subject=f"cmu{trial.subject:03d}", split_key=f"{SOURCE}/{trial.key}",
                meta={"content": action, "style": "", "split": "train", "file": trial.file,
                      "description": trial.description, "piece": piece})


def trial_clips(root: Path, trial: Trial, seed: int = 0, num_captions: int = 5) -> list[Clip]:
    """One trial's clips: the whole take, or its honest pieces (HOP_TAKES)."""
    joints, fps = trial_joints(root, trial)
    if trial.description not in HOP_TAKES:
        features, _ = features_from_joints(joints, fps)
        return [make_clip(trial, features, net_turn_deg(joints), "train", seed, num_captions)]
    return [hop_clip(trial, features_from_joints(joints[a:b], fps)[0], i, side, seed, num_captions)
            for i, (a, b, side) in enumerate(hop_pieces(joints, fps))]


def action_counts(trials: list[Trial]) -> dict[str, int]:
    """Takes per action (label actions without the measured turn, which only changes the wording)."""
    counts: dict[str, int] = {}
    for t in trials:
        words = camel_words(t.description)
        action = ("jump turn" if ANGLE_LABEL.match(words) else CMU105[words][0]) if is_label(t.description) \
            else cmu_action(t.description)
        counts[action] = counts.get(action, 0) + 1
    return counts


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 5) -> list[Clip]:
    """Every trial of TRIALS.tsv, as clean clips; actions with fewer than MIN_TAKES_TO_SPLIT takes stay in
    train (cmu_iclone's rule)."""
    root = find_root(root)
    trials = read_trials(root / TRIALS)
    counts = action_counts(trials)
    clips = []
    for trial in trials:
        for clip in trial_clips(root, trial, seed, num_captions):
            clip.meta["split"] = split_for(trial.key, counts.get(clip.meta["content"], 0), seed)
            clips.append(clip)
    return clips
