"""CMU mocap on Reallusion's CC_Base rig (the "iClone CMU" release) -> `Clip` records.

The folder holds `bvh/<subject>_<trial>.bvh` (99 CC_Base joints, centimetres, 60 fps) and `CMU data.csv`
with CMU's description of each trial ("playground - forward jumps, turn around"). The release's fix-up
script prepended a T-pose to some files; that frame is detected (a jump no 60 fps motion makes) and
dropped. Captions come from the description (`training.captions_sources.cmu_captions`). The split is
decided per take (a subject's trial), except for actions with too few takes to hold one out.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ropar_core import features
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.resample import resample
from ropar_core.skeleton import FPS
from training.data.captions_sources import cmu_action, cmu_captions
from training.data.importers import Clip, assign_split, find_release, table_reader

SOURCE = "cmu"
LICENCE = ("CMU Graphics Lab Motion Capture Database (free for all uses except reselling the data; "
           "credit mocap.cs.cmu.edu)")
CSV_NAME = "CMU data.csv"
NAME_RE = re.compile(r"^(?P<subject>\d{2,3})_(?P<trial>\d{1,2})$")
TPOSE_JUMP = 0.05  # mean root-relative joint jump between frames 0 and 1, in body heights
MIN_TAKES_TO_SPLIT = 5  # an action with fewer takes stays in train (holding out one would lose it)


def find_root(root: str | Path) -> Path:
    """The folder holding `CMU data.csv` and `bvh/`: `root` itself or one level down."""
    return find_release(root, lambda d: (d / CSV_NAME).is_file() and (d / "bvh").is_dir(),
                        f"CMU iClone release ({CSV_NAME} and bvh/)")


def read_descriptions(path: str | Path) -> dict[str, str]:
    """`CMU data.csv` -> {"002_05": "punch/strike", ...}."""
    path = Path(path)
    out: dict[str, str] = {}
    for n, row in enumerate(table_reader(path), 2):
        try:
            key = f"{int(row['Subject']):03d}_{int(row['Trial #']):02d}"
        except (KeyError, TypeError, ValueError):
            raise RoparError(f"{path}:{n}: expected Subject and Trial # columns") from None
        out[key] = (row.get("Motion Description") or "").strip()
    return out


def take_key(path: str | Path) -> str:
    m = NAME_RE.match(Path(path).stem)
    if not m:
        raise MotionFileError(f"{Path(path).name}: not a CMU take name (expected <subject>_<trial>.bvh)")
    return f"{int(m['subject']):03d}_{int(m['trial']):02d}"


def drop_tpose(joints: np.ndarray) -> tuple[np.ndarray, bool]:
    """(T, 22, 3) -> the joints without a prepended T-pose frame, and whether one was dropped."""
    if len(joints) < 3:
        return joints, False
    rel = joints - joints[:, :1]
    height = float(np.ptp(joints[1:, :, 1], axis=1).max()) or 1.0
    jump = float(np.linalg.norm(rel[1] - rel[0], axis=-1).mean()) / height
    return (joints[1:], True) if jump > TPOSE_JUMP else (joints, False)


def bvh_joints(path: str | Path) -> tuple[np.ndarray, float, bool]:
    """One CC_Base BVH -> (T, 22, 3) metres Y up without the T-pose frame, its fps, T-pose dropped?"""
    joints, fps = bvh_to_smpl22(read_bvh(path), "cc_base")
    joints, dropped = drop_tpose(joints)
    return joints, fps, dropped


def bvh_to_features(path: str | Path) -> tuple[np.ndarray, bool]:
    joints, fps, dropped = bvh_joints(path)
    joints = resample(joints, fps, FPS)
    if len(joints) < 3:
        raise MotionFileError(f"{Path(path).name}: only {len(joints)} frames at {FPS} fps")
    return features.joints_to_features(joints), dropped


def split_for(key: str, action_takes: int, seed: int = 0) -> str:
    return "train" if action_takes < MIN_TAKES_TO_SPLIT else assign_split(f"{SOURCE}/{key}", seed=seed)


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 5) -> list[Clip]:
    """Every take of the release that has a description, as clean clips."""
    root = find_root(root)
    desc = read_descriptions(root / CSV_NAME)
    paths = sorted((root / "bvh").glob("*.bvh"))
    if not paths:
        raise RoparError(f"{root / 'bvh'}: no .bvh files")
    keys = {p: take_key(p) for p in paths}
    missing = [k for k in keys.values() if not desc.get(k)]
    if missing:
        raise RoparError(f"{root / CSV_NAME}: no description for {', '.join(missing[:5])}")
    actions = {p: cmu_action(desc[k]) for p, k in keys.items()}
    counts = {a: list(actions.values()).count(a) for a in set(actions.values())}
    clips = []
    for p in paths:
        key = keys[p]
        feats, dropped = bvh_to_features(p)
        clips.append(
            Clip(
                id=f"cmu_{key}",
                features=feats,
                texts=cmu_captions(desc[key], key, num_captions, seed),
                source=SOURCE,
                subject=f"cmu{key[:3]}",
                split_key=f"{SOURCE}/{key}",
                meta={
                    "content": actions[p],
                    "style": "",
                    "split": split_for(key, counts[actions[p]], seed),
                    "file": p.name,
                    "description": desc[key],
                    "tpose_dropped": dropped,
                },
            )
        )
    return clips
