"""The shipped model on the rigs people have: does each stand upright, lift its hands over its neck on
"a person raises both hands", and keep its hips in place on a walk with in_place? Prints one line per
rig (world-space metres, measured on Blender's evaluated pose).

    python benchmarks/rig_layouts_model.py [--model DIR] [--seed 0]

Rigs: an SMPL-proportioned body in an FBX layout (armature Y-up in centimetres, object rotated 90°
about X and scaled 0.01) and a glTF layout (parent empty rotated and scaled 100); Daz Genesis 8 and
MakeHuman bone names in an FBX layout; the real iClone CC_Base skeleton of the cmu-iclone BVH data
(when unpacked), stood up on its first frame. The motions come from the model in process (CPU).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CC_BVH = ROOT / "tests" / "data" / "cmu_iclone" / "bvh" / "007_03.bvh"  # a real CC_Base skeleton


def cc_base_rig(bpy):
    bpy.ops.import_anim.bvh(filepath=str(CC_BVH), global_scale=0.01)
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    bpy.context.scene.frame_set(1)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="POSE")
    bpy.ops.pose.armature_apply(selected=False)
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.animation_data_clear()
    return obj


def named_rig(spec_name: str):
    import bpy
    from mathutils import Matrix

    from blender_addon import presets
    from tests import rig_skeletons
    from tests.blender_rig_layouts import Z_UP_TO_Y_UP, build_named

    names, parents = rig_skeletons.skeleton(getattr(rig_skeletons, spec_name))
    obj = build_named(names, parents, presets.detect(names, parents).joints, scale=100.0, name=spec_name)
    obj.data.transform(Matrix(Z_UP_TO_Y_UP))
    obj.rotation_euler, obj.scale = (math.pi / 2, 0.0, 0.0), (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    return obj


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "default"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import bpy

    import blender_addon
    from blender_addon import pipeline
    from blender_addon.backend import GenerationRequest, InProcessBackend
    from tests.blender_rig_layouts import build_layout, hips_travel, measure

    blender_addon.register()
    backend = InProcessBackend(args.model, device="cpu")
    raise_hands = backend.generate(GenerationRequest("a person raises both hands", seconds=4.0,
                                                     seed=args.seed))
    walk = backend.generate(GenerationRequest("a person walks forward", seconds=4.0, seed=args.seed))
    rigs = {
        "FBX layout x0.01": lambda: build_layout("fbx", 0.01),
        "glTF layout x100": lambda: build_layout("gltf", 100.0),
        "Daz Genesis 8 (FBX layout)": lambda: named_rig("GENESIS_8"),
        "MakeHuman default (FBX layout)": lambda: named_rig("MAKEHUMAN_DEFAULT"),
    }
    if CC_BVH.is_file():
        rigs["CC_Base (iClone BVH 007_03)"] = lambda: cc_base_rig(bpy)
    quiet = dict(report=lambda *a: None)
    for label, build in rigs.items():
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.scene.render.fps = 20
        obj = build()
        applied = pipeline.apply_motion(raise_hands, armature=obj.name, **quiet)
        joints = pipeline.prepare(obj.name).bone_map.joints
        last = applied.frame_start + applied.frames - 1
        m = measure(obj, joints, applied.frame_start, last)
        peak = max(measure(obj, joints, applied.frame_start, f)["hands_over_neck"]
                   for f in range(applied.frame_start, last + 1, 4))
        free = pipeline.apply_motion(walk, armature=obj.name, **quiet)
        moved = hips_travel(obj, joints, free.frame_start, free.frame_start + free.frames - 1)
        held = pipeline.apply_motion(walk, armature=obj.name, in_place=True, **quiet)
        still = hips_travel(obj, joints, held.frame_start, held.frame_start + held.frames - 1)
        rooted = pipeline.apply_motion(walk, armature=obj.name, in_place=True, root_motion=True, **quiet)
        carried = hips_travel(obj, joints, rooted.frame_start, rooted.frame_start + rooted.frames - 1)
        print(f"{label:32s} preset {applied.preset:14s} upright {m['upright']:.3f}  hands over neck: "
              f"peak {peak:+.3f} m, last {m['hands_over_neck']:+.3f} m  faces front {m['faces_front']:.3f}  "
              f"walk hips travel {moved:.2f} m, in place {100 * still:.1f} cm, "
              f"with root motion {carried:.2f} m")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
