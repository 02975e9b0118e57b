"""Where the generated body goes in a rig's armature space: axes, scale, floor and start position.

The generated joints are metres, Y up, facing +Z at frame 0 (left = +X). A rig may be laid out any way:
Blender's own Z-up, FBX's Y-up armature scaled x100 and stood up by the object's rotation and 0.01
scale, glTF's Y-up armature under a rotated, scaled `RootNode` empty, or a BVH rest pose that does not
stand at all. So the mapping p_rig = scale · A · p + offset is found from the rig, not assumed:

- up: world +Z carried into armature space through the armature's full world matrix (object, parents,
  scale): the body stands in the world even when the rest pose lies (a Z-up BVH read as Y-up);
- forward: from the rest pose's own hip line (left = left hip - right hip, forward = left × up) when the
  rest pose stands, else world -Y (Blender's front view) carried into armature space;
- scale: rig leg length / generated leg length (thigh + shin), whatever the rig's units;
- floor: the rest feet when the rest pose stands, else the armature's origin (the mocap convention);
  the generated pelvis starts over the rest pelvis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RigError
from .rotations import normalize
from .smpl22 import LEG_JOINTS

STAND_COS = 0.8  # a leg within ~37 degrees of "down" stands
ROOT_BONE_HEIGHT = 0.25  # of the pelvis height: an ancestor of the pelvis this low is a root bone


@dataclass
class Placement:
    """Generated metres (Y up) -> armature space: p_rig = scale · A · p + offset, where A's columns are
    the rig's left, up and forward axes (unit, right-handed) in armature space."""

    scale: float
    offset: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3)
    floor: float = 0.0  # the rig's floor height along `up` (armature space)
    standing: bool = False  # the rest pose stands along `up` (its feet define the floor)

    def lift(self, distance: float) -> None:
        """Move the whole motion `distance` along up (armature units)."""
        self.offset = self.offset + distance * self.up

    @property
    def up(self) -> np.ndarray:
        return self.axes[:, 1]

    def to_rig(self, points: np.ndarray) -> np.ndarray:
        return self.scale * (points @ self.axes.T) + self.offset

    def to_motion(self, points: np.ndarray) -> np.ndarray:
        return ((points - self.offset) / self.scale) @ self.axes

    def vector_to_rig(self, vectors: np.ndarray) -> np.ndarray:
        return self.scale * (vectors @ self.axes.T)


def _leg_lengths(points: np.ndarray, hip: int, knee: int, ankle: int) -> np.ndarray:
    return (np.linalg.norm(points[..., knee, :] - points[..., hip, :], axis=-1)
            + np.linalg.norm(points[..., ankle, :] - points[..., knee, :], axis=-1))


def stands(heads: np.ndarray, bone_of: dict[int, int], up: np.ndarray) -> bool:
    """True when both legs of the rest pose point down along `up` (hip -> ankle within ~37 degrees)."""
    for hip, _, ankle, _ in LEG_JOINTS.values():
        leg = normalize(heads[bone_of[ankle]] - heads[bone_of[hip]])
        if float(leg @ up) > -STAND_COS:
            return False
    return True


def _perpendicular(v: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    p = v - (v @ up) * up
    n = np.linalg.norm(p)
    return p / n if n > 1e-6 * max(np.linalg.norm(v), 1e-12) else None


def rig_axes(heads: np.ndarray, bone_of: dict[int, int], world: np.ndarray) -> tuple[np.ndarray, bool]:
    """((3, 3) columns left, up, forward in armature space, whether the rest pose stands)."""
    to_armature = np.linalg.inv(world[:3, :3])
    up = normalize(to_armature @ np.array([0.0, 0.0, 1.0]))
    standing = stands(heads, bone_of, up)
    left = None
    if standing:
        for a, b in ((1, 2), (16, 17), (13, 14)):
            if a in bone_of and b in bone_of:
                left = _perpendicular(heads[bone_of[a]] - heads[bone_of[b]], up)
                if left is not None:
                    break
    if left is None:
        front = _perpendicular(to_armature @ np.array([0.0, -1.0, 0.0]), up)
        if front is None:  # up is (anti)parallel to world -Y: any horizontal forward will do
            front = _perpendicular(np.array([1.0, 0.0, 0.0]), up)
            front = front if front is not None else _perpendicular(np.array([0.0, 1.0, 0.0]), up)
        left = np.cross(up, front)
    left = normalize(left)
    return np.stack([left, up, np.cross(left, up)], axis=1), standing


def place(joints: np.ndarray, heads: np.ndarray, bone_of: dict[int, int], world: np.ndarray) -> Placement:
    """The placement of generated `joints` (T, 22, 3) on a rig with rest heads (B, 3) in armature space."""
    legs = [leg[:3] for leg in LEG_JOINTS.values()]  # (hip, knee, ankle) per side
    rig_leg = np.mean([_leg_lengths(heads, *(bone_of[j] for j in leg)) for leg in legs])
    gen_leg = float(np.median(np.mean([_leg_lengths(joints, *leg) for leg in legs], axis=0)))
    if rig_leg <= 1e-9 or gen_leg <= 1e-9:
        raise RigError("degenerate legs: the hip, knee and ankle bones' heads coincide in the rest pose")
    scale = float(rig_leg / gen_leg)
    axes, standing = rig_axes(heads, bone_of, world)
    up = axes[:, 1]
    # Floor: the lowest generated foot joint meets the rig's rest foot bones (toes if mapped, else ankles)
    # when the rest pose stands; otherwise (a BVH rest pose with every bone along one axis, like
    # Bandai's or iClone's) the armature's origin is the floor.
    ground = (10, 11) if 10 in bone_of and 11 in bone_of else (7, 8)
    rig_floor = float(np.mean([heads[bone_of[j]] @ up for j in ground])) if standing else 0.0
    gen_floor = float(joints[:, ground, 1].min())
    offset = heads[bone_of[0]] - scale * (axes @ joints[0, 0])  # pelvis over the rest pelvis
    offset += (rig_floor - scale * gen_floor - offset @ up) * up
    return Placement(scale, offset, axes, rig_floor, standing)


def root_bone(parents: np.ndarray, heads: np.ndarray, pelvis: int, placement: Placement) -> int | None:
    """The rig's root bone: the nearest ancestor of the pelvis bone whose head lies near the floor (UE's
    root, iClone's RL_BoneRoot, MakeHuman's Root), or None."""
    floor = placement.floor
    height = heads[pelvis] @ placement.up - floor
    b = parents[pelvis]
    while b >= 0:
        if abs(heads[b] @ placement.up - floor) < ROOT_BONE_HEIGHT * abs(height):
            return int(b)
        b = parents[b]
    return None


def horizontal_travel(joints: np.ndarray) -> np.ndarray:
    """(T, 3) the pelvis's horizontal path (generated space, Y up) relative to frame 0: what in_place
    takes out, so the hips stay over their start (their bob and the body's turns stay)."""
    path = joints[:, 0] - joints[:1, 0]
    path[:, 1] = 0.0
    return path
