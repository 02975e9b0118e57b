"""Blender <-> numpy for armatures: read a rest pose, build test/batch rigs, sample a rig's motion.

Array layouts: `bones.foreach_get("matrix_local")` fills 16 floats per bone in column-major order, so
the (B, 4, 4) matrices are the reshaped buffer transposed; `pose.bones.foreach_get("head")` gives
armature-space heads (3 floats per bone) of the evaluated pose.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import control_rig, presets
from .errors import RigError
from .placement import Placement, rig_axes
from .retarget import RigRest, smpl_leg_length
from .rotations import Y_UP_TO_Z_UP
from .smpl22 import AIM_CHILD, JOINT_NAMES, PARENTS, rest_joints

SMPL_BONE_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
    "R_Elbow", "L_Wrist", "R_Wrist",
)


def armature_object(name: str):
    """The armature object called `name`, or a RigError that says what is wrong."""
    if not name:
        raise RigError("no target armature: pick one in the RoPAR panel (or pass --armature)")
    obj = bpy.data.objects.get(name)
    if obj is None:
        raise RigError(f"no object named {name!r} in this file")
    if obj.type != "ARMATURE":
        raise RigError(f"object {name!r} is a {obj.type.lower()}, not an armature")
    if len(obj.data.bones) == 0:
        raise RigError(f"armature {name!r} has no bones")
    return obj


def read_rest(obj) -> RigRest:
    """The armature's rest pose as plain arrays (see RigRest)."""
    bones = obj.data.bones
    n = len(bones)
    flat = np.empty(n * 16, dtype=np.float32)
    bones.foreach_get("matrix_local", flat)
    matrices = flat.reshape(n, 4, 4).transpose(0, 2, 1).astype(np.float64)
    names = [b.name for b in bones]
    index = {name: i for i, name in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones], dtype=np.int64)
    connected = np.array([b.use_connect for b in bones], dtype=bool)
    return RigRest(names, parents, matrices, np.array(obj.matrix_world, dtype=np.float64), connected)


# Constraints that set a bone's whole transform or rotation: keys on such a bone have no visible effect.
OVERRIDING = {"COPY_TRANSFORMS", "COPY_ROTATION", "CHILD_OF", "ARMATURE", "DAMPED_TRACK", "TRACK_TO",
              "LOCKED_TRACK", "IK"}


def bone_map(obj, rest: RigRest, preset: str = presets.AUTO,
             rows: dict[str, str] | None = None) -> presets.BoneMap:
    """The map from the panel's `rows` when given, else `preset` (AUTO: detected, else by shape);
    refused when most mapped bones are driven by constraints (keys there would do nothing)."""
    names, parents = rest.names, rest.parents.tolist()
    try:
        if rows:
            found = presets.from_rows(rows, names, parents)
        else:
            found = presets.bone_map_for(names, parents, preset, armature=obj.name, shape=rest_shape(obj))
    except RigError:
        # A control rig's deform bones are often parented oddly too: say what really stops it.
        check_unconstrained(obj, presets.closest(names, parents))
        raise
    check_unconstrained(obj, found)
    return found


def check_unconstrained(obj, bmap: presets.BoneMap) -> None:
    """A RigError when half or more of the mapped bones are posed by constraints (a generated Rigify
    rig's DEF and ORG bones follow its controls): the motion would be keyed and never seen."""
    driven = [b for b in bmap.joints.values()
              if any(c.type in OVERRIDING and c.influence > 0 and not c.mute
                     for c in obj.pose.bones[b].constraints)]
    if 2 * len(driven) >= len(bmap.joints):
        raise RigError(
            f"{len(driven)} of the {len(bmap.joints)} mapped bones of {obj.name!r} ({', '.join(driven[:3])}, "
            "...) are posed by constraints, so their keys would have no effect; map the bones its controls "
            "move, or animate its metarig (a generated Rigify rig has its controls keyed by itself)")


def rest_shape(obj) -> presets.RestShape:
    """Rest heads and tails in armature space and the world's up / front there (mapping by shape)."""
    bones = obj.data.bones
    n = len(bones)
    heads, tails = np.empty(n * 3, dtype=np.float32), np.empty(n * 3, dtype=np.float32)
    bones.foreach_get("head_local", heads)
    bones.foreach_get("tail_local", tails)
    to_armature = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64)[:3, :3])
    return presets.RestShape(_triples(heads),
                             _triples(tails), tuple(to_armature @ (0.0, 0.0, 1.0)),
                             tuple(to_armature @ (0.0, -1.0, 0.0)))


def _triples(flat: np.ndarray) -> tuple:
    return tuple(map(tuple, flat.reshape(-1, 3).astype(float).tolist()))


def names_and_parents(obj) -> tuple[list[str], list[int]]:
    names = [b.name for b in obj.data.bones]
    index = {n: i for i, n in enumerate(names)}
    return names, [index[b.parent.name] if b.parent else -1 for b in obj.data.bones]


def auto_map(obj) -> presets.BoneMap:
    """What AUTO uses for this armature: the best preset, else the map by shape (RigError if neither)."""
    names, parents = names_and_parents(obj)
    return presets.bone_map_for(names, parents, presets.AUTO, armature=obj.name, shape=rest_shape(obj))


CONTROL_RIG_LABEL = "Control rig"


def detect_label(obj) -> str:
    """Short text for the panel: which preset AUTO picks for this armature (or that it maps by shape,
    with the confidence), that it is a control rig whose controls get the keys, or why nothing fits."""
    if obj is None or obj.type != "ARMATURE":
        return ""
    try:
        found = control_rig.find(obj)
        if found is not None:
            return f"{CONTROL_RIG_LABEL}: {found.label}, its FK or IK controls get the keys"
        return auto_map(obj).describe()
    except RigError:
        return "no preset fits and the shape is not a body's: map the bones below"


def rotation_modes(obj, names: list[str]) -> list[str]:
    return [obj.pose.bones[n].rotation_mode for n in names]


def posed_heads(obj, names: list[str] | None = None) -> np.ndarray:
    """(B, 3) armature-space heads of the current evaluated pose (all bones, or `names`)."""
    pose = obj.pose.bones
    flat = np.empty(len(pose) * 3, dtype=np.float32)
    pose.foreach_get("head", flat)
    heads = flat.reshape(-1, 3).astype(np.float64)
    if names is None:
        return heads
    index = {b.name: i for i, b in enumerate(pose)}
    return heads[[index[n] for n in names]]


def sample_joints(obj, bmap: presets.BoneMap, frames: range) -> np.ndarray:
    """The rig's motion over `frames` as SMPL-22 joints (T, 22, 3), metres, Y up, for editing a motion
    that RoPAR did not make (see sample_motion)."""
    return sample_motion(obj, bmap, frames)[0]


def sample_motion(obj, bmap: presets.BoneMap, frames: range) -> tuple[np.ndarray, Placement]:
    """The rig's motion over `frames` as SMPL-22 joints (T, 22, 3), metres, Y up, and the placement that
    maps them back onto the rig exactly (continuing from the rig's pose keys the continuation where the
    rig is). Axes as `placement.rig_axes` finds them; scale: SMPL leg length; floor: the lowest mapped
    bone over the frames; joints the rig lacks are filled in between their mapped neighbours. Changes
    the current frame (the caller restores it)."""
    scene = bpy.context.scene
    names = [bmap.joints[j] for j in sorted(bmap.joints)]
    heads = np.empty((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        scene.frame_set(f)
        heads[i] = posed_heads(obj, names)
    rest = read_rest(obj)
    mapped = sorted(bmap.joints)
    col = {j: k for k, j in enumerate(mapped)}
    rh = rest.heads
    leg = np.mean([np.linalg.norm(rh[rest.index[bmap.joints[k]]] - rh[rest.index[bmap.joints[h]]])
                   + np.linalg.norm(rh[rest.index[bmap.joints[a]]] - rh[rest.index[bmap.joints[k]]])
                   for h, k, a in ((1, 4, 7), (2, 5, 8))])
    scale = leg / smpl_leg_length()
    axes, _ = rig_axes(rh, {j: rest.index[b] for j, b in bmap.joints.items()}, rest.world)
    floor = float((heads @ axes[:, 1]).min())
    joints = np.full((len(frames), 22, 3), np.nan)
    for j in mapped:
        p = heads[:, col[j]] - floor * axes[:, 1]
        joints[:, j] = (p / scale) @ axes  # armature space -> generated (left, up, forward)
    back = Placement(scale, floor * axes[:, 1], axes, floor, standing=False)
    return _fill_missing(joints), back


def _fill_missing(joints: np.ndarray) -> np.ndarray:
    """Unmapped joints: halfway between their parent and their chain child, or their parent's position
    plus the parent's bone direction for leaves (rough, but only for editing foreign motions)."""
    for j in range(22):
        if not np.isnan(joints[0, j, 0]):
            continue
        p = PARENTS[j]
        child = AIM_CHILD.get(j)
        while child is not None and np.isnan(joints[0, child, 0]):
            child = AIM_CHILD.get(child)
        if child is not None:
            joints[:, j] = 0.5 * (joints[:, p] + joints[:, child])
        else:
            gp = PARENTS[p]
            joints[:, j] = joints[:, p] + 0.5 * (joints[:, p] - joints[:, gp])
    return joints


# ---------------------------------------------------------------------------------------------------
# Rigs for tests and the batch script


def build_smpl_armature(name: str = "SMPL", scale: float = 1.0):
    """A 22-bone SMPL-like armature (bones named like the smpl preset), SMPL-22 rest pose, Z up, feet on
    the floor, facing -Y; linked to the active scene's collection."""
    joints = rest_joints() @ Y_UP_TO_Z_UP.T * scale  # (22, 3)
    joints[:, 2] -= joints[(7, 8, 10, 11), 2].min() - 0.05 * scale  # ankles/toes just above the floor
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = {}
        for j, bone_name in enumerate(SMPL_BONE_NAMES):
            bone = data.edit_bones.new(bone_name)
            bone.head = joints[j]
            child = AIM_CHILD.get(j)
            if child is not None:
                bone.tail = joints[child]
            else:  # leaves (head, toes, wrists): continue the parent's direction
                bone.tail = joints[j] + 0.5 * (joints[j] - joints[PARENTS[j]])
            edit[j] = bone
        for j in range(1, 22):
            edit[j].parent = edit[PARENTS[j]]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous if previous is not None else obj
    return obj


def build_metarig(name: str = "metarig"):
    """Rigify's human metarig (enables the bundled Rigify add-on); RigError if Rigify is unavailable."""
    import addon_utils

    if addon_utils.enable("rigify", default_set=True) is None:
        raise RigError("the Rigify add-on is not available in this Blender")
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.object
    obj.name = name
    return obj


assert len(SMPL_BONE_NAMES) == len(JOINT_NAMES)
