"""A user learning a motion from a video in Blender's real UI, run by tests/test_blender_learn_ui.py under
Xvfb:

    xvfb-run blender --factory-startup --enable-event-simulate \
        --python tests/blender_learn_ui_session.py -- OUT_DIR PYTHON VIDEO

The add-on is enabled as a user enables it (the test links blender_addon/ into BLENDER_USER_SCRIPTS),
so the preferences are real. The session opens the sidebar, clicks the RoPAR tab (as
tests/blender_ui_session.py does), fills the "Learn from Video" section (VIDEO, a caption, a few
steps), presses its button (INVOKE: the background task and its timer) on a `ropar serve` started
with PYTHON, screenshots the sidebar while it learns (learning.png) and once the add-on has switched
to the new model (learned.png), and writes what it saw to OUT_DIR/session.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[1]
TAB_TRIES = range(100, 400, 15)  # pixels from the top of the sidebar region where the RoPAR tab may be
CAPTION = "someone bounces a basketball"


def main(out_dir: Path, python: str, video: str) -> None:
    sys.path.insert(0, str(ROOT))
    import addon_utils

    # enabled as a user enables it (the test links it into BLENDER_USER_SCRIPTS): real preferences
    addon_utils.enable("blender_addon", default_set=True)
    from blender_addon import jobs, learn_ui, props
    from blender_addon.backend import ServerProcessBackend

    backend = ServerProcessBackend(python, device="cpu")
    jobs.set_backend_override(backend)
    prefs = props.preferences()
    s = bpy.context.scene.ropar_learn
    s.video, s.caption, s.steps = video, CAPTION, 60
    bpy.context.scene.ropar.prompt = CAPTION
    seen: dict = {"running": []}
    drawn = {"learn": 0}
    draw = learn_ui.ROPAR_PT_learn.draw

    def counted(self, context):  # tells the session when the RoPAR tab is showing
        drawn["learn"] += 1
        draw(self, context)

    learn_ui.ROPAR_PT_learn.draw = counted
    tries = iter(TAB_TRIES)
    steps = iter(range(100_000))

    def areas():
        win = bpy.context.window_manager.windows[0]
        area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
        return win, area, next(r for r in area.regions if r.type == "WINDOW"), next(
            r for r in area.regions if r.type == "UI")

    def shot(name: str) -> None:
        win, area, _, ui = areas()
        with bpy.context.temp_override(window=win, area=area):
            bpy.ops.screen.screenshot_area(filepath=str(out_dir / name))
        seen.setdefault("shots", {})[name] = [ui.x - area.x, ui.width, ui.height]

    def tick():
        win, area, _, ui = areas()
        step = next(steps)
        if step == 0:
            area.spaces.active.show_region_ui = True
            return 1.0
        if "invoke" not in seen and not drawn["learn"]:  # click down the tab column until RoPAR shows
            seen["tab_from_top"] = from_top = next(tries)
            x, y = ui.x + ui.width - 10, ui.y + ui.height - from_top
            win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
            return 0.5
        if "invoke" not in seen:
            with bpy.context.temp_override(window=win, area=area, region=ui):
                seen["invoke"] = sorted(bpy.ops.ropar.learn_video("INVOKE_DEFAULT", replay_seeds=0,
                                                                  batch_size=1))
            return 0.1
        state, message, progress = learn_ui.status()
        if state == "running":
            seen["running"].append([round(progress, 3), message])
            if "learning.png" not in seen.get("shots", {}) and progress >= 0.6:  # half-way through training
                shot("learning.png")
            return 0.1
        if "status" not in seen:
            seen["status"] = [state, message]
            seen["model_dir"], seen["server_model_dir"] = prefs.model_dir, backend.model_dir
            seen["preferences_type"] = type(prefs).__name__
            return 1.0  # let the sidebar redraw before the screenshot
        shot("learned.png")
        (out_dir / "session.json").write_text(json.dumps(seen, indent=1))
        addon_utils.disable("blender_addon", default_set=True)
        backend.close()
        bpy.ops.wm.quit_blender()
        return None

    bpy.app.timers.register(tick, first_interval=2.0)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1:]
    main(Path(args[0]), args[1], args[2])
