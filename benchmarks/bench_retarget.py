"""Time to retarget and key one generated motion (196 frames, HumanML3D's longest) onto a 60+-bone rig.

    python benchmarks/bench_retarget.py [--frames 196] [--repeats 20]

Rig: Rigify's human metarig (159 bones, 22 driven); motion: the fake backend's walk at 20 fps in a
20-fps scene (no resampling). Goal: retarget + keyframes <= 50 ms. Prints the median and the spread of
each stage: retarget (numpy), keyframes (bpy, bulk foreach_set), the whole apply_motion (both plus
bone-map detection and the action's metadata), and retarget with foot lock.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_MS = 50.0


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this process) milliseconds per call. On a shared machine the wall clock
    also counts time spent waiting for a core; the CPU time is what the work itself costs."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(1000 * (time.perf_counter() - w))
        cpu.append(1000 * (time.process_time() - c))
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    import bpy

    from blender_addon import keyframes, pipeline, retarget, rig
    from blender_addon.backend import Motion
    from blender_addon.fake_motion import fake_motion

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 20, 1.0
    obj = rig.build_metarig("metarig")
    joints, rotations, root, fps = fake_motion("a person walks forward", args.frames / 20.0, seed=0)
    motion = Motion(joints, fps, "a person walks forward", 0, rotations, root)
    prep = pipeline.prepare(obj.name)
    j64 = joints.astype("float64")
    result = retarget.retarget(j64, prep.rest, prep.bone_map.joints, fps=fps)

    def keys_only():
        action = keyframes.write_action(obj, result, name="bench", fit_timeline=False)
        bpy.data.actions.remove(action)

    def apply_all():
        applied = pipeline.apply_motion(motion, armature=obj.name, fit_timeline=False, report=lambda *a: None)
        bpy.data.actions.remove(bpy.data.actions[applied.action])

    rows = {
        "retarget (numpy)": timed(lambda: retarget.retarget(j64, prep.rest, prep.bone_map.joints, fps=fps),
                                  args.repeats),
        "retarget + foot lock": timed(lambda: retarget.retarget(j64, prep.rest, prep.bone_map.joints, fps=fps,
                                                                foot_lock=True), args.repeats),
        "keyframes (bpy)": timed(keys_only, args.repeats),
        "apply_motion (all)": timed(apply_all, args.repeats),
    }
    n_curves = sum(4 for _ in result.bone_names) + 3 * len(result.located)
    print(f"Blender {bpy.app.version_string}; rig {obj.name!r}: {len(obj.data.bones)} bones, "
          f"{len(result.bone_names)} keyed, {n_curves} F-curves x {joints.shape[0]} frames")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {args.repeats} runs")
    for name, (wall, cpu) in rows.items():
        print(f"  {name:22s} wall {statistics.median(wall):7.2f} ms (min {min(wall):6.2f})   "
              f"cpu {statistics.median(cpu):7.2f} ms")
    wall, cpu = (statistics.median(x) for x in rows["apply_motion (all)"])
    verdict = "meets" if min(wall, cpu) <= GOAL_MS else "MISSES"
    print(f"retarget + key {joints.shape[0]} frames: wall {wall:.1f} ms, cpu {cpu:.1f} ms "
          f"({verdict} the {GOAL_MS:.0f} ms goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
