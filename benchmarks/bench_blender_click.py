"""Click -> keys in Blender's real UI: how long a warm Generate takes from the click to the keys on the
armature, with the shipped model in a `ropar serve` process (the add-on's default backend).

    python benchmarks/bench_blender_click.py [--repeats N] [--warm-clicks K]
    (needs Debian's `blender`, `xvfb-run`, and torch here)

Runs tests/blender_ui_session.py (Blender 3.4 under Xvfb, Rigify's metarig, 4 s prompts) 2N times,
alternating two modes so that both see the same load: `background`, every click a background job (the
add-on before short requests ran in the foreground), and `auto`, the add-on as shipped (a request the
backend's pace predicts to be short runs in the foreground, jobs.runs_in_foreground). Each session
makes one cold click (an unfamiliar prompt, the server's first request: always a background job) and
K warm ones, the UI running as usual between them. Goal: the median warm click keys in <= 1 s on this
project's 2-core machine. Under Xvfb Blender draws with llvmpipe (software OpenGL): while the UI draws
during a background job, the model server gets less of the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 1.0
MODES = ("background", "auto")


def make_scene(blender: str, blend: Path) -> None:
    make = ("import bpy, addon_utils\n"
            "for o in list(bpy.data.objects): bpy.data.objects.remove(o)\n"
            "addon_utils.enable('rigify', default_set=True)\n"
            "bpy.ops.object.armature_human_metarig_add()\n"
            f"bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})\n")
    subprocess.run([blender, "-b", "--factory-startup", "--python-expr", make], check=True,
                   capture_output=True, timeout=120)


def session(blender: str, xvfb: str, blend: Path, mode: str, warm_clicks: int) -> dict | None:
    """One UI session (tests/blender_ui_session.py); its record, or None when it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BLENDER_USER_CONFIG": str(Path(tmp) / "config"),
               "ROPAR_USER_PRESETS": str(Path(tmp) / "presets")}
        args = [tmp, sys.executable, str(warm_clicks)] + (["background"] if mode == "background" else [])
        out = subprocess.run([xvfb, "-a", "-s", "-screen 0 1600x1000x24", blender, "--factory-startup",
                              "--enable-event-simulate", str(blend), "--python",
                              str(ROOT / "tests" / "blender_ui_session.py"), "--", *args],
                             capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
        record = Path(tmp) / "session.json"
        if not record.is_file():
            print(out.stdout[-2000:] + out.stderr[-2000:], file=sys.stderr)
            return None
        return json.loads(record.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="sessions per mode (alternating)")
    parser.add_argument("--warm-clicks", type=int, default=5, help="warm clicks per session")
    args = parser.parse_args()
    if args.repeats < 1 or args.warm_clicks < 1:
        print("bench_blender_click: --repeats and --warm-clicks must be at least 1", file=sys.stderr)
        return 2
    blender, xvfb = shutil.which("blender"), shutil.which("xvfb-run")
    if blender is None or xvfb is None:
        print("bench_blender_click: needs `blender` and `xvfb-run` on PATH", file=sys.stderr)
        return 2
    warm: dict[str, list[float]] = {m: [] for m in MODES}
    server: dict[str, list[float]] = {m: [] for m in MODES}
    foreground: dict[str, list[bool]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        blend = Path(tmp) / "scene.blend"
        make_scene(blender, blend)
        for i in range(args.repeats):
            for mode in MODES:
                seen = session(blender, xvfb, blend, mode, args.warm_clicks)
                if seen is None:
                    return 1
                cold, *clicks = seen["clicks"]
                warm[mode] += clicks
                server[mode] += [s for s in seen["server_s"] if s is not None]
                foreground[mode] += seen["foreground"][1:]
                print(f"session {i + 1} {mode:>10}: cold {cold:.2f} s, warm "
                      + ", ".join(f"{t:.2f}" for t in clicks) + " s; server "
                      + ", ".join(f"{t:.2f}" for t in seen["server_s"]) + " s; foreground "
                      + "".join("F" if f else "b" for f in seen["foreground"]), flush=True)
    for mode in MODES:
        print(f"{mode:>10}: warm click -> keys median {statistics.median(warm[mode]):.2f} s "
              f"(min {min(warm[mode]):.2f}, max {max(warm[mode]):.2f}, n={len(warm[mode])}); the model "
              f"server's own time median {statistics.median(server[mode]):.2f} s; "
              f"{sum(foreground[mode])}/{len(foreground[mode])} warm clicks in the foreground")
    best = statistics.median(warm["auto"])
    print(f"goal: median warm click <= {GOAL_S:.1f} s: {'met' if best <= GOAL_S else 'NOT met'}")
    return 0 if best <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
