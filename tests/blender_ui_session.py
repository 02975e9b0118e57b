"""A user's session in Blender's real UI, run by tests/test_blender_ui.py under Xvfb:

    xvfb-run blender --factory-startup --enable-event-simulate SCENE.blend \
        --python tests/blender_ui_session.py -- OUT_DIR PYTHON [WARM_CLICKS [background]]

SCENE.blend holds Rigify's metarig, selected and active, the RoPAR panel's Rig field left empty. The
session opens the sidebar, clicks the RoPAR tab (--enable-event-simulate: Blender 3.x has no API to
pick a sidebar tab), presses Generate (INVOKE; the first request runs as a background job with its
timer) with an unfamiliar prompt on a `ropar serve` started with PYTHON, samples the status line while
it runs, screenshots the 3D view when the keys are in, copies the Info editor's reports, presses
Generate again (warm: the backend's pace is known, a short request runs in the foreground) and
writes what it saw to OUT_DIR/session.json (with sidebar.png and running.png). WARM_CLICKS: how many
warm clicks (3); `background`: every click runs as a background job (the add-on before short requests
ran in the foreground), for benchmarks/bench_blender_click.py to compare.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[1]
TAB_FROM_TOP = 161  # pixels from the top of the sidebar region to the RoPAR tab (4th tab, default UI scale)
PROMPT = "a person juggles flaming torches"
WARM_PROMPT = "a person walks forward"  # no warning: no report banner animating while it generates


def main(out_dir: Path, python: str, warm_clicks: int = 3, background: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    import blender_addon
    from blender_addon import jobs
    from blender_addon.backend import ServerProcessBackend

    blender_addon.register()
    backend = ServerProcessBackend(python)
    backend.start()  # the server's start-up is not what the session measures
    jobs.set_backend_override(backend)
    if background:
        jobs.FOREGROUND_S = -1.0  # no prediction is that short
    bpy.context.scene.ropar.prompt = PROMPT
    seen: dict = {"running": [], "clicks": []}
    steps = iter(range(10_000))
    state = {"clicked": 0.0}

    def areas():
        win = bpy.context.window_manager.windows[0]
        area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
        return win, area, next(r for r in area.regions if r.type == "WINDOW"), next(
            r for r in area.regions if r.type == "UI")

    def click_generate():
        win, area, view, _ = areas()
        state["clicked"] = time.monotonic()  # the clock of jobs.Job.applied_at
        with bpy.context.temp_override(window=win, area=area, region=view):
            bpy.ops.ropar.generate("INVOKE_DEFAULT", True)  # undo=True: a button pushes an undo step
        seen.setdefault("invoke_s", []).append(round(time.monotonic() - state["clicked"], 3))
        seen.setdefault("foreground", []).append(jobs._job.foreground)

    def active_action() -> str | None:
        arm = bpy.data.objects["metarig"]
        return arm.animation_data.action.name if arm.animation_data and arm.animation_data.action else None

    def keyed_after() -> float:  # from the click to the keys on the rig
        return jobs._job.applied_at - state["clicked"]

    def tick():
        win, area, view, ui = areas()
        step = next(steps)
        with open(out_dir / "trail.txt", "a") as trail:  # where a crashed session got to
            trail.write(f"{step} {jobs.status()[0]} clicks={len(seen['clicks'])}\n")
        if step == 0:
            area.spaces.active.show_region_ui = True
            return 1.0
        if step == 1:
            if bpy.app.use_event_simulate:
                x, y = ui.x + ui.width - 10, ui.y + ui.height - TAB_FROM_TOP
                win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
                win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
                win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
            return 1.0
        if step == 2:
            click_generate()
            return 0.02
        job_state, message, progress = jobs.status()
        if job_state == "running":
            seen["running"].append([round(progress, 3), message])
            if len(seen["running"]) == 1:
                with bpy.context.temp_override(window=win, area=area):
                    bpy.ops.screen.screenshot_area(filepath=str(out_dir / "running.png"))
            return 0.02
        if len(seen["clicks"]) == 0:
            seen["clicks"].append(keyed_after())
            seen["cold_server_s"] = jobs._job.motions[0].info.get("elapsed_s")
            seen["status"] = [job_state, message]
            seen["action"] = active_action()
            return 1.0  # let the sidebar redraw before the screenshot
        if "sidebar" not in seen:
            with bpy.context.temp_override(window=win, area=area):
                bpy.ops.screen.screenshot_area(filepath=str(out_dir / "sidebar.png"))
            seen["sidebar"] = [ui.x - area.x, ui.width, ui.height]
            seen["info"] = info_reports(win)
            seen["warm_running"] = [[]]
            return 0.5
        if len(seen["clicks"]) < 1 + warm_clicks:  # warm clicks, the UI running as usual: a loaded server
            if jobs.is_running():  # what the status line shows, sampled as the panel draws it
                seen["warm_running"][-1].append([round(v, 3) if isinstance(v, float) else v
                                                 for v in jobs.status()[::-1][:2]])
                return 0.02
            if state.get("warm"):
                seen["clicks"].append(keyed_after())
                seen.setdefault("actions", []).append(active_action())
                job = jobs._job
                seen.setdefault("server_s", []).append(job.motions[0].info.get("elapsed_s") if job else None)
                seen.setdefault("job_s", []).append(round(job.finished_at - job.started, 3) if job else None)
                if len(seen["clicks"]) == 1 + warm_clicks:
                    return 0.02
                seen["warm_running"].append([])
            state["warm"] = True
            bpy.context.scene.ropar.seed += 1
            bpy.context.scene.ropar.prompt = WARM_PROMPT
            click_generate()
            return 0.02
        if "undo" not in seen:  # Ctrl+Z after the last (foreground) click: the click before it is back
            seen["undo"] = [active_action()]
            with bpy.context.temp_override(window=win, area=area):
                bpy.ops.ed.undo()
            return 0.5
        if len(seen["undo"]) == 1:
            seen["undo"].append(active_action())
        (out_dir / "session.json").write_text(json.dumps(seen, indent=1))
        jobs.shutdown()
        backend.close()
        bpy.ops.wm.quit_blender()
        return None

    bpy.app.timers.register(tick, first_interval=2.0)


def info_reports(win) -> str:
    """The Info editor's reports, as a user would copy them: an area turned into an Info editor."""
    area = next(a for a in win.screen.areas if a.type in ("TIMELINE", "DOPESHEET_EDITOR", "OUTLINER"))
    old = area.type
    area.type = "INFO"
    try:
        with bpy.context.temp_override(window=win, area=area):
            bpy.ops.info.select_all(action="SELECT")
            bpy.ops.info.report_copy()
        return bpy.context.window_manager.clipboard
    finally:
        area.type = old


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1:]
    main(Path(args[0]), args[1], int(args[2]) if len(args) > 2 else 3, args[3:4] == ["background"])
