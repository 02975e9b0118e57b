"""The SMPL-22 skeleton as the add-on needs it: `ropar_core.skeleton` itself (numpy only) plus the
chains that retargeting walks.

The installed add-on has no `ropar_core` (Blender's Python lacks torch and the rest of the core), so
`build.py` copies ropar_core/skeleton.py into the zip as `_vendored_skeleton.py`; in the repository
that file does not exist and the core module is imported directly: one definition either way.
Conventions of the generated motion: Y up, the body faces +Z at frame 0, metres, 20 fps.
"""

from __future__ import annotations

import importlib

import numpy as np

VENDORED = "_vendored_skeleton"


def _core_skeleton():
    name = f"{__package__}.{VENDORED}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # the vendored copy exists but is broken: say so
            raise
    return importlib.import_module("ropar_core.skeleton")


_sk = _core_skeleton()
FPS = _sk.FPS
NUM_JOINTS = _sk.NUM_JOINTS
JOINT_NAMES = _sk.JOINT_NAMES
JOINT_INDEX = _sk.JOINT_INDEX
PARENTS = _sk.PARENTS
BONE_LENGTHS = _sk.BONE_LENGTHS
REST_OFFSETS = _sk.REST_OFFSETS
PART_NAMES = _sk.PART_NAMES
PART_OWN_JOINTS = _sk.PART_OWN_JOINTS

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
