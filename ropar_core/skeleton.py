"""SMPL-22 skeleton in HumanML3D order and the paper's five body parts.

Everything here is a constant or a pure index computation; other modules import it freely.
Conventions (DESIGN §2): Y up, the body faces +Z, metres, 20 fps.
"""

from __future__ import annotations

import numpy as np

FPS = 20
FEATURE_DIM = 263
NUM_JOINTS = 22
TOKEN_FRAMES = 4  # one latent token covers 4 frames (P-VAE 4x temporal downsampling)

JOINT_NAMES = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle",
    "spine3", "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder",
    "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# HumanML3D paramUtil: t2m_kinematic_chain (right leg, left leg, spine, right arm, left arm).
KINEMATIC_CHAINS = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# HumanML3D paramUtil: t2m_raw_offsets (unit bone directions in the rest pose).
RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
    [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float64)

# Bone lengths (m) of joints 1..21 of HumanML3D's target skeleton (clip 000021, frame 0);
# every processed HumanML3D clip has exactly these (ANCHOR-FACTS §1.1). Seven decimals, measured on the
# shared 012314 sample (std over frames < 3e-7), so that re-processing reproduces HumanML3D to ~1e-6.
BONE_LENGTHS = np.array([
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434,
    0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844,
    0.2568399, 0.2630919, 0.2660118, 0.2698763,
])
REST_OFFSETS = RAW_OFFSETS * BONE_LENGTHS[:, None]  # (22, 3), offset of each joint from its parent

# HumanML3D processing constants (motion_representation.ipynb).
FACE_JOINTS = (2, 1, 17, 16)  # r_hip, l_hip, r_shoulder, l_shoulder
LEFT_FOOT_JOINTS = (7, 10)
RIGHT_FOOT_JOINTS = (8, 11)
LEG_LENGTH_JOINTS = (5, 8)  # right knee, right ankle offsets: thigh + shin

# Left/right mirror permutation of the 22 joints.
MIRROR = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20)

# ---------------------------------------------------------------------------------------------
# The five parts (DESIGN §2). Root and spine joints belong to every part (paper §2.3).
PART_NAMES = ("torso", "left_arm", "right_arm", "left_leg", "right_leg")
NUM_PARTS = len(PART_NAMES)
ROOT_SPINE = (0, 3, 6, 9)
PART_OWN_JOINTS = {
    "torso": (12, 15),
    "left_arm": (13, 16, 18, 20),
    "right_arm": (14, 17, 19, 21),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
}
PART_JOINTS = {p: ROOT_SPINE + own for p, own in PART_OWN_JOINTS.items()}

# Aliases accepted wherever users name parts (CLI --keep-parts, Blender panel).
PART_ALIASES = {
    "arms": ("left_arm", "right_arm"),
    "legs": ("left_leg", "right_leg"),
    "upper": ("torso", "left_arm", "right_arm"),
    "lower": ("left_leg", "right_leg"),
    "body": PART_NAMES,
    "all": PART_NAMES,
}

# 263-vector layout (DESIGN §3).
ROOT_SLICE = slice(0, 4)
RIC_SLICE = slice(4, 67)
ROT_SLICE = slice(67, 193)
VEL_SLICE = slice(193, 259)
CONTACT_SLICE = slice(259, 263)
CONTACT_CHANNELS = {"left_leg": (259, 260), "right_leg": (261, 262)}


def ric_channels(j: int) -> list[int]:
    """Channels of joint j's root-relative position (j in 1..21)."""
    return list(range(4 + 3 * (j - 1), 4 + 3 * j))


def rot_channels(j: int) -> list[int]:
    """Channels of joint j's 6D rotation (j in 1..21)."""
    return list(range(67 + 6 * (j - 1), 67 + 6 * j))


def vel_channels(j: int) -> list[int]:
    """Channels of joint j's velocity (j in 0..21)."""
    return list(range(193 + 3 * j, 193 + 3 * (j + 1)))


def _part_channels(part: str) -> np.ndarray:
    chans = list(range(4)) + vel_channels(0)
    for j in PART_JOINTS[part][1:]:
        chans += ric_channels(j) + rot_channels(j) + vel_channels(j)
    chans += list(CONTACT_CHANNELS.get(part, ()))
    return np.array(chans, dtype=np.int64)


PART_CHANNELS = {p: _part_channels(p) for p in PART_NAMES}
PART_DIMS = {p: len(c) for p, c in PART_CHANNELS.items()}  # torso 67, arms 91, legs 93
MAX_PART_DIM = max(PART_DIMS.values())


def resolve_parts(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Turn 'legs,torso' or ['left_arm'] into canonical part names (PART_NAMES order)."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: set[str] = set()
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name in PART_ALIASES:
            chosen.update(PART_ALIASES[name])
        elif name in PART_JOINTS:
            chosen.add(name)
        else:
            valid = ", ".join(PART_NAMES + tuple(PART_ALIASES))
            raise ValueError(f"unknown body part {raw.strip()!r}; choose from: {valid}")
    if not chosen:
        raise ValueError("no body part given")
    return tuple(p for p in PART_NAMES if p in chosen)


def split_parts(features: np.ndarray) -> dict[str, np.ndarray]:
    """(..., 263) full-body features -> {part: (..., PART_DIMS[part])}."""
    return {p: features[..., c] for p, c in PART_CHANNELS.items()}


def merge_parts(parts: dict[str, np.ndarray], weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Reassemble (..., 263) from part vectors; channels shared by several parts (root, spine) are
    averaged, optionally weighted (e.g. by credibility, shape (...,) per part)."""
    first = next(iter(parts.values()))
    shape = first.shape[:-1]
    total = np.zeros(shape + (FEATURE_DIM,), dtype=np.float64)
    count = np.zeros(shape + (FEATURE_DIM,), dtype=np.float64)
    for p, x in parts.items():
        w = np.ones(shape) if weights is None else np.asarray(weights[p], dtype=np.float64)
        total[..., PART_CHANNELS[p]] += x * w[..., None]
        count[..., PART_CHANNELS[p]] += w[..., None]
    if np.any(count == 0):
        raise ValueError("parts do not cover all 263 channels (every part is needed once)")
    return (total / count).astype(first.dtype)
