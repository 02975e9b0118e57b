"""CMU dance and martial arts as BVH (the cmu-dance-bvh set: salsa, Indian dance, martial arts) -> `Clip`s.

The folder holds `<style>/<NN>.bvh` on a 43-joint Daz/Poser skeleton (centimetres, Y up; `bone_maps`'
"daz" map, the toes at the feet's end sites) and `CLIPS.tsv` (file, style, the true fps). Pitfalls the
set's README names, handled here: the salsa files say 120 fps but are 60 (the rate comes from CLIPS.tsv,
not the header); frame 0 is an added T-pose and the next frames of the crouched starts sit under the
floor (the first DROP_FRAMES go); the clips are not grounded (each piece is floored by
`features_from_joints`). Takes are one style throughout, so they are cut into pieces of at most
MAX_SECONDS, captioned from the style (`captions_labels.DANCE_STYLES`). Salsa 01-15 and 16-30 are the two
partners of the same dances: a dance and its partner share a split key, so one dance never straddles
two splits.
"""

from __future__ import annotations

from pathlib import Path

from ropar_core import limits
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.errors import MotionFileError, RoparError
from training.data.captions_labels import DANCE_STYLES, label_captions
from training.data.importers import (
    Clip,
    assign_split,
    features_from_joints,
    find_release,
    segment_bounds,
    table_reader,
)

SOURCE = "cmu_dance"
LICENCE = ("CMU Graphics Lab Motion Capture Database (free for all uses except reselling the data; credit "
           "mocap.cs.cmu.edu), as BVH from papagina/Auto_Conditioned_RNN_motion (MIT licence)")
CLIPS = "CLIPS.tsv"
DROP_FRAMES = 10  # the added T-pose and the crouched frames after it (README of the set)
MAX_SECONDS = 10.0
SALSA_PAIRS = 15  # salsa/NN and salsa/NN+15 are the two partners of one dance


def find_root(root: str | Path) -> Path:
    return find_release(root, lambda d: (d / CLIPS).is_file() and any((d / s).is_dir() for s in DANCE_STYLES),
                        f"CMU dance BVH set ({CLIPS} and <style>/NN.bvh)")


def read_clips(path: str | Path) -> list[tuple[str, str, float]]:
    """CLIPS.tsv -> [(file, style, fps)] of the dance styles (the rest pose `standard.bvh` left out)."""
    path = Path(path)
    out = []
    for n, row in enumerate(table_reader(path, delimiter="\t"), 2):
        try:
            file, style = row["file"].strip(), row["style"].strip()
            fps = limits.check_fps(float(row["fps"]), "fps")
        except (KeyError, TypeError, ValueError, AttributeError, RoparError):
            raise RoparError(f"{path}:{n}: expected file, style and fps columns") from None
        if style in DANCE_STYLES:
            out.append((file, style, fps))
    if not out:
        raise RoparError(f"{path}: no clips of {', '.join(DANCE_STYLES)}")
    return out


def take_key(file: str, style: str) -> str:
    """The split key of a take: salsa partners share their dance's."""
    number = int(Path(file).stem) if Path(file).stem.isdigit() else 0
    if style == "salsa" and number > SALSA_PAIRS:
        number -= SALSA_PAIRS
    return f"{SOURCE}/{style}/{number:02d}" if number else f"{SOURCE}/{style}/{Path(file).stem}"


def load_take(root: Path, file: str, style: str, fps: float, seed: int = 0,
              num_captions: int = 5) -> list[Clip]:
    """One take -> its pieces as clean clips (ids `cmu_dance_<style>_<NN>_<piece>`)."""
    path = root / file
    if not path.is_file():
        raise MotionFileError(f"{file}: listed in {CLIPS} but not there")
    joints, _ = bvh_to_smpl22(read_bvh(path), "daz")  # the header's frame time is wrong for salsa
    joints = joints[DROP_FRAMES:]
    if len(joints) < fps:
        raise MotionFileError(f"{file}: under a second of motion after the first {DROP_FRAMES} frames")
    action, wordings = DANCE_STYLES[style]
    key = take_key(file, style)
    partner = style == "salsa" and int(Path(file).stem) > SALSA_PAIRS
    clips = []
    for i, (a, b) in enumerate(segment_bounds(len(joints), fps, MAX_SECONDS)):
        features, _ = features_from_joints(joints[a:b], fps)
        name = f"{style}_{Path(file).stem}_{i}"
        clips.append(Clip(
            id=f"{SOURCE}_{name}", features=features,
            texts=label_captions(wordings, name, num_captions, seed), source=SOURCE,
            subject=f"{style}_{'b' if partner else 'a'}", split_key=key,
            meta={"content": action, "style": style, "split": assign_split(key, seed=seed), "file": file,
                  "start_s": round(a / fps, 2), "fps": fps},
        ))
    return clips


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 5) -> list[Clip]:
    root = find_root(root)
    return [clip for file, style, fps in read_clips(root / CLIPS)
            for clip in load_take(root, file, style, fps, seed, num_captions)]
