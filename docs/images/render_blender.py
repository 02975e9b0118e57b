"""Render docs/images/blender_retarget_walk.png: one motion retargeted onto three different armatures
(an SMPL-like rig, Rigify's human metarig, a Bandai-Namco BVH skeleton), workbench engine, headless.

    .venv/bin/python docs/images/render_blender.py [--server URL] [--prompt TEXT]

Without --server the motion is the add-on's procedural test walk (the `fake` backend). Armatures do
not render, so every bone gets a small bone-shaped mesh parented to it (face and finger bones are
skipped); the pose is exactly what the keyed Action produces.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "images" / "blender_retarget_walk.png"
BANDAI_BVH = ROOT / "tests" / "data" / "bandai_wave-left-hand_active_011.bvh"
COLORS = {"SMPL": (0.85, 0.45, 0.2, 1), "metarig": (0.25, 0.55, 0.85, 1), "bandai": (0.35, 0.7, 0.35, 1)}
LABELS = {"SMPL": "SMPL-like rig", "metarig": "Rigify metarig", "bandai": "Bandai BVH"}
COLOR_NAMES = {"SMPL": "orange", "metarig": "blue", "bandai": "green"}


def bone_mesh(bpy, name: str, length: float):
    """A Blender-style octahedral bone, in bone space of a bone-parented child (origin at the tail)."""
    w = 0.1 * length
    verts = [(0, -length, 0), (w, -0.9 * length, 0), (0, -0.9 * length, w), (-w, -0.9 * length, 0),
             (0, -0.9 * length, -w), (0, 0, 0)]
    faces = [(0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 4, 1), (5, 2, 1), (5, 3, 2), (5, 4, 3), (5, 1, 4)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    return mesh


def dress(bpy, arm, color, mapped: set[str], skip_below: set[str]):
    """Bone meshes for the mapped bones and the bones under them, except those under `skip_below`
    (head and hands: face and fingers); bones above the pelvis (a BVH's root joint) are not drawn."""
    drawn = set()
    for bone in arm.data.bones:  # parents come before children
        parent = bone.parent.name if bone.parent else None
        if bone.name not in mapped and (parent not in drawn or parent in skip_below):
            continue
        drawn.add(bone.name)
        if bone.length < 0.01 * arm.dimensions.z / max(arm.scale.z, 1e-6):
            continue
        obj = bpy.data.objects.new(f"{arm.name}:{bone.name}", bone_mesh(bpy, bone.name, bone.length))
        bpy.context.scene.collection.objects.link(obj)
        obj.parent, obj.parent_type, obj.parent_bone = arm, "BONE", bone.name
        obj.color = color


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="use a running `ropar serve` instead of the procedural walk")
    parser.add_argument("--prompt", default="a person walks forward")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    import bpy
    import numpy as np
    from mathutils import Vector
    from PIL import Image, ImageDraw

    from blender_addon import pipeline, rig
    from blender_addon.backend import FakeBackend, HttpBackend

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 20
    backend = HttpBackend(args.server) if args.server else FakeBackend()

    smpl = rig.build_smpl_armature("SMPL")
    meta = rig.build_metarig("metarig")
    bpy.ops.import_anim.bvh(filepath=str(BANDAI_BVH), global_scale=0.01)
    bandai = bpy.context.object
    bandai.name = "bandai"
    rigs = [smpl, meta, bandai]
    pelvis_bone = {}
    for i, arm in enumerate(rigs):
        arm.location.x = 1.1 * i
        applied = pipeline.generate(armature=arm.name, prompt=args.prompt, backend=backend, seconds=3.0,
                                    seed=0, foot_lock=True)
        bmap = pipeline.prepare(arm.name).bone_map.joints
        pelvis_bone[arm.name] = bmap[0]
        leaves = {bmap[j] for j in (15, 20, 21) if j in bmap}
        dress(bpy, arm, COLORS[arm.name], set(bmap.values()), leaves)
        rest_pelvis = arm.data.bones[bmap[0]].head_local
        arm.location.y -= rest_pelvis.y * arm.scale.y  # BVH roots can start metres away: line them up
        arm.hide_render = True
        print(f"{arm.name}: {applied.action} ({applied.preset})")

    bpy.ops.mesh.primitive_plane_add(size=40, location=(1.1, -2, 0))
    bpy.context.object.color = (0.8, 0.8, 0.78, 1)
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.data.lens = 38
    scene.world = bpy.data.worlds.new("sky")
    scene.world.color = (0.93, 0.94, 0.96)
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "OBJECT"
    shading.show_shadows, shading.show_cavity = True, True
    scene.render.resolution_x, scene.render.resolution_y = 480, 460
    scene.render.film_transparent = False

    tiles = []
    times = (0.0, 0.75, 1.5, 2.25)
    with tempfile.TemporaryDirectory() as tmp:
        for k, seconds in enumerate(times):
            frame = 1 + int(round(seconds * 20))
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            heads = [a.matrix_world @ a.evaluated_get(depsgraph).pose.bones[pelvis_bone[a.name]].head
                     for a in rigs]
            pelvis = np.mean([np.array(h) for h in heads], axis=0)
            target = Vector((pelvis[0], pelvis[1], 0.8))
            cam.location = target + Vector((2.3, -3.3, 0.45))
            cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
            scene.render.filepath = str(Path(tmp) / f"frame{k}.png")
            bpy.ops.render.render(write_still=True)
            tile = Image.open(scene.render.filepath).convert("RGB")
            ImageDraw.Draw(tile).text((10, 8), f"t = {seconds:.2f} s", fill=(20, 20, 20))
            tiles.append(tile)
    strip = Image.new("RGB", (sum(t.width for t in tiles), tiles[0].height + 28), (255, 255, 255))
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 28))
        x += tile.width
    legend = "   ".join(f"{LABELS[a.name]} ({COLOR_NAMES[a.name]})" for a in rigs)
    source = "ropar serve" if args.server else "procedural test walk (fake backend)"
    ImageDraw.Draw(strip).text((10, 8), f"'{args.prompt}' - {source} - {legend}", fill=(0, 0, 0))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
