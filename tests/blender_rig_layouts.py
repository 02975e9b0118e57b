"""Armatures laid out the way importers leave them, and what a motion looks like on them in the world.

Used by tests/test_blender_rigs.py (the bpy 5.0 module) and run as a script by Debian's Blender 3.4:
    blender -b --factory-startup --python tests/blender_rig_layouts.py
which prints one `LAYOUT ...` line per layout and scale (parsed by the test).

Layouts of the same SMPL-proportioned body, all standing 1.7 m tall in the world:
  blender  armature space Z up, identity object (what Blender's own tools make)
  fbx      armature space Y up in units of 1/scale, brought upright by the object's rotation (90° about
           X) and scale (FBX from Maya/Mixamo: scale 0.01 with bones in centimetres)
  gltf     the same armature under a parent empty (glTF's RootNode) that carries rotation and scale
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
import numpy as np

if __name__ == "__main__":  # run by a Blender that does not know the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_addon import pipeline, rig  # noqa: E402
from blender_addon.backend import Motion  # noqa: E402
from blender_addon.fake_motion import fake_motion  # noqa: E402

LAYOUTS = ("blender", "fbx", "gltf")
Z_UP_TO_Y_UP = ((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1))  # armature (x, y, z) -> (x, z, -y)


def build_layout(kind: str, scale: float = 1.0, name: str = "Rig"):
    """An SMPL-like armature in layout `kind` whose world size is a 1.7 m person at any `scale`."""
    from mathutils import Matrix

    obj = rig.build_smpl_armature(name, scale=1.0 / scale)
    if kind == "blender":
        obj.scale = (scale, scale, scale)
        return obj
    obj.data.transform(Matrix(Z_UP_TO_Y_UP))  # bones now Y up in armature space
    holder = obj
    if kind == "gltf":
        holder = bpy.data.objects.new(f"{name}_RootNode", None)
        bpy.context.scene.collection.objects.link(holder)
        obj.parent = holder
    elif kind != "fbx":
        raise ValueError(f"unknown layout {kind!r}")
    holder.rotation_euler = (math.pi / 2, 0.0, 0.0)
    holder.scale = (scale, scale, scale)
    bpy.context.view_layer.update()
    return obj


def build_named(spec_names: list[str], parents: list[int], joints: dict[int, str], scale: float = 1.0,
                name: str = "Named"):
    """A Z-up armature with the given bones: a bone named in `joints` (SMPL index -> bone) has its head at
    that joint of the SMPL-22 rest pose; any other bone sits halfway between its nearest placed ancestor
    and the mean of its nearest placed descendants (twist bones, Daz's pelvis, a root at the floor)."""
    from blender_addon.rotations import Y_UP_TO_Z_UP
    from blender_addon.smpl22 import rest_joints

    at = rest_joints() @ Y_UP_TO_Z_UP.T
    at[:, 2] -= at[(10, 11), 2].min() - 0.05
    heads: dict[int, np.ndarray] = {spec_names.index(b): at[j] * scale for j, b in joints.items()}
    children = {i: [c for c, p in enumerate(parents) if p == i] for i in range(len(parents))}

    def placed_below(i):
        out = []
        for c in children[i]:
            out += [heads[c]] if c in heads else placed_below(c)
        return out

    for i in range(len(spec_names)):  # parents come first in the specs
        if i in heads:
            continue
        below = placed_below(i)
        above = heads[parents[i]] if parents[i] >= 0 else np.array([0.0, 0.0, 0.0])
        heads[i] = 0.5 * (above + np.mean(below, axis=0)) if below else above + [0.0, 0.0, 0.05 * scale]
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = []
        for i, bone_name in enumerate(spec_names):
            bone = data.edit_bones.new(bone_name)
            bone.head = heads[i]
            ends = [heads[c] for c in children[i] if np.linalg.norm(heads[c] - heads[i]) > 1e-4 * scale]
            tail = ends[0] if ends else heads[i] + np.array([0.0, 0.0, 0.05 * scale])
            bone.tail = tail
            edit.append(bone)
        for i, p in enumerate(parents):
            if p >= 0:
                edit[i].parent = edit[p]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def build_from_rest(names: list[str], parents: list[int], heads: np.ndarray, tails: np.ndarray,
                    name: str = "Shaped"):
    """An armature with these bones, heads and tails (armature space = world, Z up)."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = []
        for i, bone_name in enumerate(names):
            bone = data.edit_bones.new(bone_name)
            bone.head, bone.tail = heads[i], tails[i]
            edit.append(bone)
        for i, p in enumerate(parents):
            if p >= 0:
                edit[i].parent = edit[p]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def raised_hands(seconds: float = 3.0, fps: int = 20) -> np.ndarray:
    """(T, 22, 3) a standing body that lifts both arms sideways over its head in the first half."""
    joints = fake_motion("a person stands", seconds, 0, fps)[0].astype(np.float64)
    T = joints.shape[0]
    s = np.clip(np.arange(T) / (0.5 * T), 0.0, 1.0)[:, None]
    s = s * s * (3 - 2 * s)
    up = np.array([0.0, 1.0, 0.0])
    for shoulder, elbow, wrist, out in ((16, 18, 20, 1.0), (17, 19, 21, -1.0)):
        l1 = np.linalg.norm(joints[0, elbow] - joints[0, shoulder])
        l2 = np.linalg.norm(joints[0, wrist] - joints[0, elbow])
        down = joints[:, elbow] - joints[:, shoulder]
        down /= np.linalg.norm(down, axis=-1, keepdims=True)
        d = (1 - s) * down + s * up + np.sin(np.pi * s) * np.array([out, 0.0, 0.0])
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        joints[:, elbow] = joints[:, shoulder] + l1 * d
        joints[:, wrist] = joints[:, elbow] + l2 * d
    return joints


def world_joints(obj, bone_map: dict[int, str], frame: int) -> dict[int, np.ndarray]:
    """Evaluated world-space heads of the mapped bones at `frame`."""
    bpy.context.scene.frame_set(frame)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mw = np.array(ev.matrix_world)
    return {j: mw[:3, :3] @ np.array(ev.pose.bones[b].head) + mw[:3, 3] for j, b in bone_map.items()}


def measure(obj, bone_map: dict[int, str], first: int, last: int) -> dict[str, float]:
    """World numbers of a retargeted raised-hands clip: how upright (cosine of pelvis -> neck with world
    +Z at the first frame), how far the lower wrist is over the neck at the last frame (m), the lowest
    ankle (m) and which way the body faces (cosine of its forward with world -Y)."""
    a, b = world_joints(obj, bone_map, first), world_joints(obj, bone_map, last)
    spine = a[12] - a[0]
    left = a[1] - a[2]
    forward = np.cross(left, [0.0, 0.0, 1.0])
    return {
        "upright": float(spine[2] / np.linalg.norm(spine)),
        "hands_over_neck": float(min(b[20][2], b[21][2]) - b[12][2]),
        "ankle_z": float(min(a[7][2], a[8][2])),
        "faces_front": float(-forward[1] / np.linalg.norm(forward)),
    }


def apply_raised_hands(obj, **options):
    motion = Motion(raised_hands(), 20.0, "a person raises both hands", 0)
    applied = pipeline.apply_motion(motion, armature=obj.name, report=lambda level, msg: None, **options)
    return applied, pipeline.prepare(obj.name).bone_map.joints


def hips_travel(obj, bone_map: dict[int, str], first: int, last: int) -> float:
    """Largest horizontal distance (m, world) of the pelvis from where it starts."""
    start = world_joints(obj, bone_map, first)[0]
    return max(float(np.linalg.norm((world_joints(obj, bone_map, f)[0] - start)[:2]))
               for f in range(first, last + 1))


def extras(backend) -> str:
    """One `EXTRAS ...` line: two looping candidates through the operator replace a first action, which
    keeps a fake user; the scene range fits the clip."""
    from blender_addon import jobs

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 20
    jobs.set_backend_override(backend)
    obj = rig.build_smpl_armature("SMPL")
    bpy.ops.ropar.generate(prompt="a person runs", armature="SMPL", seconds=2.0)
    old = obj.animation_data.action
    bpy.ops.ropar.generate(prompt="a person walks", armature="SMPL", seconds=3.0, seed=4, candidates=2,
                           loop=True)
    new = obj.animation_data.action
    kept = bpy.data.actions["RoPAR a person walks #5"]
    jobs.set_backend_override(None)
    return (f"EXTRAS active={new.name.replace(' ', '_')} other_fake_user={int(kept.use_fake_user)} "
            f"old_fake_user={int(old.use_fake_user)} range={scene.frame_start}-{scene.frame_end} "
            f"keys={int(new.frame_range[1] - new.frame_range[0] + 1)}")


def main() -> int:
    import blender_addon
    from blender_addon.backend import FakeBackend

    blender_addon.register()
    for kind in LAYOUTS:
        for scale in (0.01, 100.0):
            bpy.ops.wm.read_homefile(use_empty=True)
            bpy.context.scene.render.fps = 20
            obj = build_layout(kind, scale)
            applied, bone_map = apply_raised_hands(obj)
            m = measure(obj, bone_map, applied.frame_start, applied.frame_start + applied.frames - 1)
            walk = FakeBackend().generate(pipeline.GenerationRequest("a person walks forward", seconds=4.0))
            done = pipeline.apply_motion(walk, armature=obj.name, in_place=True, report=lambda *a: None)
            travel = hips_travel(obj, bone_map, done.frame_start, done.frame_start + done.frames - 1)
            numbers = " ".join(f"{k}={v:.4f}" for k, v in m.items())
            print(f"LAYOUT {kind} {scale:g} {numbers} in_place_travel={travel:.4f}")
    print(extras(FakeBackend()))
    blender_addon.unregister()
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(main())
