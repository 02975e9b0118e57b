"""Screenshot the RoPAR sidebar panel in a real Blender UI under Xvfb -> docs/images/blender_panel.png.

    .venv/bin/python docs/images/screenshot_panel.py        (needs `blender` on PATH and xvfb-run)

Three steps: `blender -b` saves a scene with Rigify's metarig (opening a file skips the splash screen);
Blender's UI under Xvfb (with --enable-event-simulate to click the RoPAR tab, since Blender 3.x has no
API to pick a sidebar tab) registers the add-on from this checkout, uses the procedural test backend,
presses Generate (INVOKE: the background job + timers path) and screenshots the 3D view while the job
runs and after its result was keyed; PIL puts both into one image.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images" / "blender_panel.png"
TAB_FROM_TOP = 161  # pixels from the top of the sidebar region to the RoPAR tab (4th tab, default UI scale)


def prepare(blend: str) -> None:  # inside `blender -b`
    import bpy

    sys.path.insert(0, str(ROOT))
    from blender_addon import rig

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    rig.build_metarig("metarig")
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def shoot(out_dir: str) -> None:  # inside Blender's UI
    import bpy

    sys.path.insert(0, str(ROOT))
    import blender_addon
    from blender_addon import jobs
    from blender_addon.backend import FakeBackend

    blender_addon.register()
    jobs.set_backend_override(FakeBackend(delay_s=3.0))
    settings = bpy.context.scene.ropar  # the Rig field stays empty: the selected metarig is used
    settings.prompt = "a person waves with the right hand, then walks forward"
    steps = iter(range(100))

    def tick():
        win = bpy.context.window_manager.windows[0]
        area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
        view = next(r for r in area.regions if r.type == "WINDOW")
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
            return 1.0
        if step == 2:
            with bpy.context.temp_override(window=win, area=area, region=view):
                bpy.ops.ropar.generate("INVOKE_DEFAULT")
            return 1.0
        if step == 3:
            with bpy.context.temp_override(window=win, area=area):
                bpy.ops.screen.screenshot_area(filepath=str(Path(out_dir) / "running.png"))
            return 3.5
        if step == 4:
            bpy.context.scene.frame_set(30)
            arm = bpy.data.objects["metarig"]
            pelvis = arm.matrix_world @ arm.pose.bones["spine"].head
            r3d = area.spaces.active.region_3d
            r3d.view_location, r3d.view_distance = (pelvis.x, pelvis.y, 0.9), 4.5
            return 0.5
        with bpy.context.temp_override(window=win, area=area):
            bpy.ops.screen.screenshot_area(filepath=str(Path(out_dir) / "done.png"))
        bpy.ops.wm.quit_blender()
        return None

    bpy.app.timers.register(tick, first_interval=2.0)


def main() -> int:
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        blend = str(Path(tmp) / "scene.blend")
        me = str(Path(__file__).resolve())
        subprocess.run(["blender", "-b", "--factory-startup", "--python", me, "--", "prepare", blend],
                       check=True, capture_output=True)
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "blender", "--factory-startup",
                        "--enable-event-simulate", blend, "--python", me, "--", "shoot", tmp],
                       check=True, capture_output=True, timeout=300)
        done = Image.open(Path(tmp) / "done.png").convert("RGB")
        running = Image.open(Path(tmp) / "running.png").convert("RGB")
    side = running.crop((done.width - 222, 55, done.width - 20, 700))  # the sidebar while generating
    canvas = Image.new("RGB", (done.width + side.width + 30, done.height), (40, 40, 40))
    canvas.paste(done, (0, 0))
    canvas.paste(side, (done.width + 15, 40))
    ImageDraw.Draw(canvas).text((done.width + 15, 15), "while generating:", fill=(230, 230, 230))
    canvas.save(OUT, optimize=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    if "--" in sys.argv:
        mode, arg = sys.argv[sys.argv.index("--") + 1:][:2]
        prepare(arg) if mode == "prepare" else shoot(arg)
    else:
        sys.exit(main())
