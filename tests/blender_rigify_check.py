"""Run inside a Blender binary (`blender -b --factory-startup --python tests/blender_rigify_check.py`):
generates a Rigify rig from the human metarig, keys "raises both hands" and "walks forward" on its FK
and then its IK controls, and prints one `RIGIFY <mode> key=value ...` line per mode with what the DEF
bones did (tests/test_blender_rigify.py reads them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402

from blender_addon import pipeline, rig  # noqa: E402
from blender_addon.backend import FakeBackend, GenerationRequest  # noqa: E402
from tests.blender_rig_layouts import apply_raised_hands, hips_travel, measure  # noqa: E402


def main() -> int:
    import blender_addon

    blender_addon.register()
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 20
    meta = rig.build_metarig("metarig")
    bpy.ops.pose.rigify_generate()
    obj = bpy.context.object
    assert obj is not meta and "rig_id" in obj.data
    for mode in ("FK", "IK"):
        applied, org = apply_raised_hands(obj, controls=mode)
        deform = {j: "DEF-" + b.removeprefix("ORG-") for j, b in org.items()}
        m = measure(obj, deform, applied.frame_start, applied.frame_start + applied.frames - 1)
        walk = FakeBackend().generate(GenerationRequest("a person walks forward", seconds=4.0))
        done = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None, controls=mode)
        m["travel"] = hips_travel(obj, deform, done.frame_start, done.frame_start + done.frames - 1)
        print(f"RIGIFY {mode} " + " ".join(f"{k}={v:.4f}" for k, v in m.items()))
    blender_addon.unregister()
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(main())
