"""The SMPL-22 skeleton as the add-on needs it (DESIGN §2): joint names, parents, rest offsets, parts.

Why a copy of `ropar_core.skeleton`: the add-on ships as a zip that Blender installs on its own, without
`ropar_core` (which pulls in torch). `tests/test_retarget.py` checks that every value here equals
`ropar_core.skeleton`, so the two cannot drift apart.
Conventions of the generated motion: Y up, the body faces +Z at frame 0, metres, 20 fps.
"""

from __future__ import annotations

import numpy as np

FPS = 20
NUM_JOINTS = 22

JOINT_NAMES = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle",
    "spine3", "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder",
    "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# HumanML3D paramUtil t2m_raw_offsets (unit directions) times the bone lengths of its target skeleton.
_RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
    [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float64)
BONE_LENGTHS = np.array([
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434,
    0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844,
    0.2568399, 0.2630919, 0.2660118, 0.2698763,
])
REST_OFFSETS = _RAW_OFFSETS * BONE_LENGTHS[:, None]  # (22, 3) offset of each joint from its parent

PART_NAMES = ("torso", "left_arm", "right_arm", "left_leg", "right_leg")
PART_OWN_JOINTS = {
    "torso": (12, 15),
    "left_arm": (13, 16, 18, 20),
    "right_arm": (14, 17, 19, 21),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
}

# The joint each joint's bone points at (its child along a kinematic chain); leaves have none.
AIM_CHILD = {
    0: 3, 3: 6, 6: 9, 9: 12, 12: 15,
    1: 4, 4: 7, 7: 10, 2: 5, 5: 8, 8: 11,
    13: 16, 16: 18, 18: 20, 14: 17, 17: 19, 19: 21,
}
SPINE_JOINTS = (3, 6, 9)
LEG_JOINTS = {"left": (1, 4, 7, 10), "right": (2, 5, 8, 11)}  # hip, knee, ankle, foot


def rest_joints() -> np.ndarray:
    """(22, 3) joint positions of the rest pose (arms hanging down), pelvis at the origin, Y up."""
    out = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        out[j] = out[PARENTS[j]] + REST_OFFSETS[j]
    return out
