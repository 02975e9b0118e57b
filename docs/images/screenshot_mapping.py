"""Screenshot the Bone Mapping panel in a real Blender UI under Xvfb -> docs/images/blender_mapping.png.

    .venv/bin/python docs/images/screenshot_mapping.py      (needs `blender` on PATH and xvfb-run)

The walk-through of docs/blender.md: MakeHuman 1.x's game skeleton (`Root`, `Hips` a sibling of
`Spine1`, `UpLeg_L`, `LoArm_L`, ...), which no preset knows. Picking it fills the 22 rows by its shape
(left image). Then the user picks `Hips` as the pelvis, a sibling of the spine, and presses Generate:
the map is refused before any key is written and the status line says why in full (right image).
Same mechanics as screenshot_panel.py: `blender -b` saves the scene, the UI under Xvfb clicks the
RoPAR tab (--enable-event-simulate) and screenshots the sidebar; PIL puts both side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images" / "blender_mapping.png"
TAB_FROM_TOP = 161  # pixels from the top of the sidebar region to the RoPAR tab (4th tab, default UI scale)


def prepare(blend: str) -> None:  # inside `blender -b`
    import bpy

    sys.path.insert(0, str(ROOT))
    from tests import rig_skeletons as rs
    from tests.blender_rig_layouts import build_from_rest

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    names, parents = rs.skeleton(rs.MAKEHUMAN_GAME_1)
    heads, tails = rs.shape_rest(names, parents, rs.MAKEHUMAN_GAME_1_JOINTS)
    build_from_rest(names, parents, heads, tails, "Hero")
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def shoot(out_dir: str) -> None:  # inside Blender's UI
    import bpy

    sys.path.insert(0, str(ROOT))
    import blender_addon
    from blender_addon import panel

    panel.ROPAR_PT_mapping.bl_options = set()  # open, for the picture
    blender_addon.register()
    settings = bpy.context.scene.ropar
    steps = iter(range(100))

    def tick():
        win = bpy.context.window_manager.windows[0]
        area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
        ui = next(r for r in area.regions if r.type == "UI")
        step = next(steps)
        if step == 0:
            area.spaces.active.show_region_ui = True
            return 1.0
        if step == 1:
            x, y = ui.x + ui.width - 10, ui.y + ui.height - TAB_FROM_TOP
            win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
            settings.armature = bpy.data.objects["Hero"]  # fills the rows by shape: no preset fits
            return 1.0
        if step == 2:
            with bpy.context.temp_override(window=win, area=area):
                bpy.ops.screen.screenshot_area(filepath=str(Path(out_dir) / "before.png"))
            next(row for row in settings.mapping if row.joint == "pelvis").bone = "Hips"
            view = next(r for r in area.regions if r.type == "WINDOW")
            try:
                with bpy.context.temp_override(window=win, area=area, region=view):
                    bpy.ops.ropar.generate("INVOKE_DEFAULT")  # refused: the status line says why
            except RuntimeError:  # its ERROR report, raised to the caller
                pass
            return 1.0
        with bpy.context.temp_override(window=win, area=area):
            bpy.ops.screen.screenshot_area(filepath=str(Path(out_dir) / "after.png"))
        bpy.ops.wm.quit_blender()
        return None

    bpy.app.timers.register(tick, first_interval=2.0)


def main() -> int:
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        blend = str(Path(tmp) / "scene.blend")
        me = str(Path(__file__).resolve())
        env = {**os.environ, "ROPAR_USER_PRESETS": str(Path(tmp) / "presets")}  # not the user's folder
        subprocess.run(["blender", "-b", "--factory-startup", "--python", me, "--", "prepare", blend],
                       check=True, capture_output=True)
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1200x1500x24", "blender", "--factory-startup",
                        "--enable-event-simulate", blend, "--python", me, "--", "shoot", tmp],
                       check=True, capture_output=True, timeout=300, env=env)
        shots = [Image.open(Path(tmp) / f"{n}.png").convert("RGB") for n in ("before", "after")]
    width = 222
    sides = [s.crop((s.width - width, 55, s.width - 20, min(s.height - 30, 1230))) for s in shots]
    canvas = Image.new("RGB", (2 * sides[0].width + 45, sides[0].height + 40), (40, 40, 40))
    draw = ImageDraw.Draw(canvas)
    for k, (side, title) in enumerate(zip(sides, ("picked: mapped by shape", "pelvis = Hips: refused"))):
        x = 15 + k * (side.width + 15)
        canvas.paste(side, (x, 35))
        draw.text((x, 12), title, fill=(230, 230, 230))
    canvas.save(OUT, optimize=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    if "--" in sys.argv:
        mode, arg = sys.argv[sys.argv.index("--") + 1:][:2]
        prepare(arg) if mode == "prepare" else shoot(arg)
    else:
        sys.exit(main())
