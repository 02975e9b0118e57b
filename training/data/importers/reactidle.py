"""ReActIdle idle motions (the reactidle-bvh set) -> `Clip` records.

The folder holds `acted/NNN_acted.bvh` and `genuine/NNN_genuine.bvh` (NNN: the person), 24 fps, metres,
Y up, on Blender metarig names without hands or toes (`bone_maps`' "metarig" map: wrists and toes at the
forearms' and feet's end sites), and `CLIPS.tsv` (file, label, person). The root's position channels hold
only its displacement from its OFFSET, so the OFFSET is added back (else the body stands 0.7-1 m under
the floor). Every take is one action, standing idle, minutes long: it is cut into pieces of at most
MAX_SECONDS, captioned alike for acted and genuine (`captions_labels.IDLE_LABELS`). The split key is the
person, so one person's acted and genuine takes stay on one side.
"""

from __future__ import annotations

from pathlib import Path

from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.errors import MotionFileError, RoparError
from training.data.captions_labels import IDLE_LABELS, label_captions
from training.data.importers import (
    Clip,
    assign_split,
    features_from_joints,
    find_release,
    segment_bounds,
    table_reader,
)

SOURCE = "reactidle"
LICENCE = ("ReActIdle (RSAIT, MIT licence); cite Atxa Landa et al., \"Evaluating Idle Animation "
           "Believability: a User Perspective\", arXiv:2509.05023")
CLIPS = "CLIPS.tsv"
MAX_SECONDS = 20.0  # idle changes slowly; 47 minutes give about 150 pieces


def find_root(root: str | Path) -> Path:
    return find_release(root, lambda d: (d / CLIPS).is_file() and (d / "acted").is_dir(),
                        f"ReActIdle set ({CLIPS}, acted/ and genuine/)")


def read_clips(path: str | Path) -> list[tuple[str, str, str]]:
    """CLIPS.tsv -> [(file, label, person)]."""
    path = Path(path)
    out = []
    for n, row in enumerate(table_reader(path, delimiter="\t"), 2):
        try:
            item = (row["file"].strip(), row["label"].strip(), row["person"].strip())
        except (KeyError, AttributeError):
            raise RoparError(f"{path}:{n}: expected file, label and person columns") from None
        if item[1] not in IDLE_LABELS:
            raise RoparError(f"{path}:{n}: unknown label {item[1][:30]!r} (expected "
                             f"{', '.join(IDLE_LABELS)})")
        out.append(item)
    if not out:
        raise RoparError(f"{path}: no clips")
    return out


def take_joints(path: Path):
    """(T, 22, 3) metres, Y up, standing on the floor, and the frame rate."""
    bvh = read_bvh(path)
    bvh.positions = bvh.positions + bvh.offsets[0]  # the root channels are a displacement from OFFSET
    return bvh_to_smpl22(bvh, "metarig")


def load_take(root: Path, file: str, label: str, person: str, seed: int = 0,
              num_captions: int = 5) -> list[Clip]:
    path = root / file
    if not path.is_file():
        raise MotionFileError(f"{file}: listed in {CLIPS} but not there")
    joints, fps = take_joints(path)
    if len(joints) < fps:
        raise MotionFileError(f"{file}: under a second of motion")
    action, wordings = IDLE_LABELS[label]
    key = f"{SOURCE}/{person}"
    clips = []
    for i, (a, b) in enumerate(segment_bounds(len(joints), fps, MAX_SECONDS)):
        features, _ = features_from_joints(joints[a:b], fps)
        name = f"{person}_{label}_{i}"
        clips.append(Clip(
            id=f"{SOURCE}_{name}", features=features,
            texts=label_captions(wordings, name, num_captions, seed), source=SOURCE,
            subject=f"{SOURCE}{person}", split_key=key,
            meta={"content": action, "style": label, "split": assign_split(key, seed=seed), "file": file,
                  "start_s": round(a / fps, 2)},
        ))
    return clips


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 5) -> list[Clip]:
    root = find_root(root)
    return [clip for file, label, person in read_clips(root / CLIPS)
            for clip in load_take(root, file, label, person, seed, num_captions)]
