"""2D keypoint layouts (COCO-17, BODY_25, MediaPipe-33, SMPL-22) and, per body part, the joint groups
whose confidences the credibility rule averages (paper §2.2, DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass

from ropar_core.errors import MotionFileError
from ropar_core.skeleton import JOINT_NAMES, PART_NAMES


@dataclass(frozen=True)
class Layout:
    """A keypoint layout: joint names and, per part, the groups whose confidences are averaged.

    Each group is one or more joint indices; a two-joint group stands for their midpoint, whose
    confidence is the mean of the two (so the midpoint weighs as one joint in C_p)."""

    name: str
    joints: tuple[str, ...]
    groups: dict[str, tuple[tuple[int, ...], ...]]

    @property
    def num_joints(self) -> int:
        return len(self.joints)


def _layout(name: str, joints: tuple[str, ...], parts: dict[str, tuple[str, ...]]) -> Layout:
    index = {j: i for i, j in enumerate(joints)}
    groups = {p: tuple(tuple(index[j] for j in g.split("+")) for g in parts[p]) for p in PART_NAMES}
    return Layout(name, joints, groups)


def _limbs(left: str, right: str, arm: tuple[str, ...], leg: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {
        "left_arm": tuple(f"{left}{j}" for j in arm),
        "right_arm": tuple(f"{right}{j}" for j in arm),
        "left_leg": tuple(f"{left}{j}" for j in leg),
        "right_leg": tuple(f"{right}{j}" for j in leg),
    }


COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
BODY25_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
MEDIAPIPE33_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_MIDPOINTS = ("left_shoulder+right_shoulder", "left_hip+right_hip")
_ARM = ("shoulder", "elbow", "wrist")

LAYOUTS: dict[str, Layout] = {
    "coco17": _layout("coco17", COCO17_JOINTS, {
        "torso": _FACE + _MIDPOINTS,
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle")),
    }),
    # BODY_25 has real neck and mid-hip joints: they are the shoulder and hip midpoints.
    "body25": _layout("body25", BODY25_JOINTS, {
        "torso": _FACE + ("neck", "mid_hip"),
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle", "big_toe", "small_toe", "heel")),
    }),
    "mediapipe33": _layout("mediapipe33", MEDIAPIPE33_JOINTS, {
        "torso": _FACE + _MIDPOINTS,
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle", "heel", "foot_index")),
    }),
    # SMPL-22 confidences (e.g. from a virtual camera): the torso is the pelvis-spine-neck-head chain
    # (pelvis ~ hip midpoint, neck ~ shoulder midpoint, head ~ face); collars have no 2D analogue.
    "smpl22": _layout("smpl22", JOINT_NAMES, {
        "torso": ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
        **_limbs("l_", "r_", _ARM, ("hip", "knee", "ankle", "foot")),
    }),
}
FORMAT_LAYOUT = {"coco17": "coco17", "openpose25": "body25", "mediapipe33": "mediapipe33"}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise MotionFileError(f"unknown joint layout {name!r}; choose from: {', '.join(LAYOUTS)}") from None


def layout_for_joints(num_joints: int) -> Layout:
    """The layout with this many joints (every layout's count is distinct)."""
    for layout in LAYOUTS.values():
        if layout.num_joints == num_joints:
            return layout
    counts = ", ".join(f"{n} ({layout.num_joints})" for n, layout in LAYOUTS.items())
    raise MotionFileError(f"no joint layout has {num_joints} joints; layouts: {counts}")
