"""DeepMimic humanoid motions (JSON `{"Loop", "Frames"}`) -> SMPL-22 joints -> `Clip` records.

A frame is [duration, root position (3), root rotation, chest, neck, right hip, right knee, right ankle,
right shoulder, right elbow, left hip, left knee, left ankle, left shoulder, left elbow]: spherical
joints as quaternions (w, x, y, z), knees and elbows as one angle about their local Z axis. The
character file (`characters/humanoid3d.txt`) gives each joint's parent and offset; Y is up, metres,
and at rest the body faces +X with its right side at +Z. Forward kinematics gives the 15 DeepMimic
joints; SMPL-22's extra joints (three spine joints, collars, head, toes) are placed rigidly on the
nearest body (the toe at the front of the foot box, the head in the head sphere).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ropar_core import features
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.quaternion import qmul, qnormalize, qrot
from ropar_core.resample import resample
from ropar_core.skeleton import FPS, JOINT_INDEX, NUM_JOINTS
from training.data.captions_sources import deepmimic_action, deepmimic_captions
from training.data.importers import Clip, find_release

SOURCE = "deepmimic"
LICENCE = "DeepMimic humanoid motions (Xue Bin Peng, MIT licence)"
CHARACTER = Path("characters") / "humanoid3d.txt"
# Frame layout after the duration: (joint name, number of values) in the file's order.
LAYOUT = (
    ("root_pos", 3),
    ("root", 4),
    ("chest", 4),
    ("neck", 4),
    ("right_hip", 4),
    ("right_knee", 1),
    ("right_ankle", 4),
    ("right_shoulder", 4),
    ("right_elbow", 1),
    ("left_hip", 4),
    ("left_knee", 1),
    ("left_ankle", 4),
    ("left_shoulder", 4),
    ("left_elbow", 1),
)
FRAME_WIDTH = 1 + sum(n for _, n in LAYOUT)  # 44
# SMPL joint -> DeepMimic joint at which it sits.
DIRECT = {
    "pelvis": "root",
    "r_hip": "right_hip",
    "l_hip": "left_hip",
    "r_knee": "right_knee",
    "l_knee": "left_knee",
    "r_ankle": "right_ankle",
    "l_ankle": "left_ankle",
    "spine2": "chest",
    "neck": "neck",
    "r_shoulder": "right_shoulder",
    "l_shoulder": "left_shoulder",
    "r_elbow": "right_elbow",
    "l_elbow": "left_elbow",
    "r_wrist": "right_wrist",
    "l_wrist": "left_wrist",
}
# SMPL joint -> (DeepMimic joint whose frame carries it, offset in that frame, metres).
RIGID = {
    "spine1": ("root", (0.0, 0.10, 0.0)),
    "spine3": ("chest", (0.0, 0.07, 0.0)),
    "head": ("neck", (0.0, 0.12, 0.0)),
    "r_foot": ("right_ankle", (0.12, -0.04, 0.0)),
    "l_foot": ("left_ankle", (0.12, -0.04, 0.0)),
    "r_collar": ("chest", (-0.02, 0.20, 0.08)),
    "l_collar": ("chest", (-0.02, 0.20, -0.08)),
}


def read_character(path: str | Path) -> dict[str, tuple[int, np.ndarray]]:
    """{joint name: (parent index, offset (3,))} in file order (parents come first)."""
    path = Path(path)
    try:
        joints = json.loads(path.read_text(encoding="utf-8"))["Skeleton"]["Joints"]
        out = {
            j["Name"]: (int(j["Parent"]), np.array([j["AttachX"], j["AttachY"], j["AttachZ"]], float))
            for j in sorted(joints, key=lambda j: int(j["ID"]))
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RoparError(f"{path}: not a DeepMimic character file ({exc})") from None
    missing = sorted({n for n, _ in LAYOUT[1:]} - set(out) | ({"left_wrist", "right_wrist"} - set(out)))
    if missing:
        raise RoparError(f"{path}: character lacks joints {', '.join(missing)}")
    return out


def read_frames(path: str | Path) -> tuple[np.ndarray, float]:
    """(T, 44) frame values and the frame rate (from the first frame's duration)."""
    path = Path(path)
    try:
        frames = np.asarray(json.loads(path.read_text(encoding="utf-8"))["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MotionFileError(f"{path.name}: not a DeepMimic motion file ({exc})") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_WIDTH or len(frames) < 2:
        raise MotionFileError(f"{path.name}: expected frames of {FRAME_WIDTH} values, got {frames.shape}")
    if not np.all(np.isfinite(frames)) or frames[0, 0] <= 0:
        raise MotionFileError(f"{path.name}: non-finite values or a non-positive frame duration")
    return frames, 1.0 / float(frames[0, 0])


def _local_rotations(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per joint (T, 4) wxyz; revolute joints turn about their local Z axis."""
    out, col = {}, 1
    for name, n in LAYOUT:
        vals = frames[:, col : col + n]
        col += n
        if n == 4:
            out[name] = qnormalize(vals)
        elif n == 1:
            half = vals[:, 0] / 2.0
            out[name] = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], axis=-1)
        else:
            out[name] = vals
    return out


def forward_kinematics(frames: np.ndarray, character: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{joint: (world position (T, 3), world rotation (T, 4))} for every character joint."""
    local = _local_rotations(frames)
    T = len(frames)
    names = list(character)
    world: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        parent, offset = character[name]
        rot = local.get(name, np.tile([1.0, 0.0, 0.0, 0.0], (T, 1)))
        if parent < 0:
            world[name] = (local["root_pos"], rot)
            continue
        p_pos, p_rot = world[names[parent]]
        world[name] = (p_pos + qrot(p_rot, np.broadcast_to(offset, (T, 3))), qmul(p_rot, rot))
    return world


def to_smpl22(frames: np.ndarray, character: dict) -> np.ndarray:
    """(T, 44) frames -> (T, 22, 3) SMPL-22 joints, metres, Y up (the file's axes)."""
    world = forward_kinematics(frames, character)
    out = np.zeros((len(frames), NUM_JOINTS, 3))
    for smpl, dm in DIRECT.items():
        out[:, JOINT_INDEX[smpl]] = world[dm][0]
    for smpl, (dm, offset) in RIGID.items():
        pos, rot = world[dm]
        out[:, JOINT_INDEX[smpl]] = pos + qrot(rot, np.broadcast_to(np.array(offset), pos.shape))
    return out


def motion_to_features(path: str | Path, character: dict) -> np.ndarray:
    frames, fps = read_frames(path)
    joints = resample(to_smpl22(frames, character), fps, FPS)
    if len(joints) < 3:
        raise MotionFileError(f"{Path(path).name}: only {len(joints)} frames at {FPS} fps")
    return features.joints_to_features(joints)


def find_root(root: str | Path) -> Path:
    return find_release(root, lambda d: (d / CHARACTER).is_file() and (d / "motions").is_dir(),
                        f"DeepMimic data ({CHARACTER} and motions/)")


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 8) -> list[Clip]:
    """Every humanoid3d motion. All go to train: each action has one or two takes, too few to hold out
    (the mirrored long walks are DeepMimic's own mirror copies; ours are made for every clip)."""
    root = find_root(root)
    character = read_character(root / CHARACTER)
    paths = sorted(p for p in (root / "motions").glob("humanoid3d_*.txt") if not p.stem.endswith("_mirror"))
    if not paths:
        raise RoparError(f"{root / 'motions'}: no humanoid3d_*.txt motions")
    clips = []
    for p in paths:
        features = motion_to_features(p, character)
        turn = turn_range_deg(features)
        clips.append(Clip(
            id=f"deepmimic_{p.stem.removeprefix('humanoid3d_')}",
            features=features,
            texts=deepmimic_captions(p.stem, num_captions, seed, turn_deg=turn),
            source=SOURCE,
            subject="deepmimic",
            split_key=f"{SOURCE}/{p.stem}",
            meta={"content": deepmimic_action(p.stem), "style": "", "split": "train", "file": p.name,
                  "turn_deg": round(turn, 1)},
        ))
    return clips


def turn_range_deg(features: np.ndarray) -> float:
    """The spread of the root's heading over the clip: near 0 for a straight walk whatever its length (the
    gait's sway cancels), large for one that wanders. Channel 0 integrates to HALF the yaw (the root
    quaternion is (cos a, 0, sin a, 0), a turn by 2a: ropar_core.features.recover_root)."""
    heading = 2 * np.degrees(np.concatenate([[0.0], np.cumsum(features[:-1, 0])]))
    return float(heading.max() - heading.min())
