"""Walking along a floor path (ropar_core/path.py): how closely the pelvis follows L-shaped, S-shaped and
circular paths, walking and jogging, and whether the feet and bones stay as real mocap's.

    python benchmarks/bench_path.py [--model DIR] [--seeds 3] [--bandai ARCHIVE] [--out path.json]

Per motion: pelvis distance to the polyline (median and max over frames), distance of the last frame
from the last point, the body's facing against the path's direction (median absolute difference),
skating ratio and the worst bone's length variation (training/evaluation/plausibility.py). Skating is
compared, in the same run, with the real straight walks and runs of Bandai-Namco-Research-
Motiondataset-1 (the shared archive; 15 clips each), read the way the model sees motion (through the 263
features). Every motion is generated at its prompt's own pace (no --seconds). The paths and prompts
are not the tests' (tests/test_path.py). Then every
group again with the seconds given (the path's length over the group's pace: how the Blender panel's
curve + Seconds work). The targets are those of the path feature's issue: distance
<= 10 cm median and 30 cm max, end <= 30 cm, heading <= 25 deg median, skating <= 1.5 x real + 0.02,
bones <= 1 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from ropar_core import features as feats  # noqa: E402
from ropar_core import path as floor_path  # noqa: E402
from ropar_core.io import load_motion  # noqa: E402
from training.evaluation import plausibility as pl  # noqa: E402

DEFAULT_BANDAI = ROOT.parent / "shared" / "datasets" / "bandai-namco-1.tar.xz"
_t = np.linspace(0.0, 2.0 * np.pi, 73)
PATHS = {
    "L": np.array([[0.0, 0.0], [0.0, 4.0], [3.5, 4.0]]),  # 4 m ahead, then a right turn
    "S": np.stack([1.0 * np.sin(np.linspace(0.0, 2.0 * np.pi, 81)), np.linspace(0.0, 8.0, 81)], 1),
    "circle": np.stack([2.0 - 2.0 * np.cos(_t), 2.0 * np.sin(_t)], 1),  # a full 2 m-radius loop
}
# group -> (Bandai-1 content of the real clips it is compared with, prompts, pace in m/s when the seconds
# are given: the path's length over it)
GROUPS = {
    "walk": ("walk", ("a person takes an ordinary walk", "he is out walking, relaxed"), 1.3),
    "jog": ("run", ("a man jogs lightly", "she goes for a jog"), 2.8),
    "sneak": ("walk", ("someone sneaks along quietly", "a burglar creeping forward"), 0.8),
    "elderly": ("walk", ("an elderly man walking with small steps", "a frail old woman walks"), 0.8),
}
TARGETS = {"distance_median_m": 0.10, "distance_max_m": 0.30, "end_error_m": 0.30, "heading_median_deg": 25.0,
           "bone_variation": 0.01}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model directory (default: assets/default)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--bandai", default=str(DEFAULT_BANDAI), help="bandai-namco-1.tar.xz (real walks, runs)")
    p.add_argument("--out", default=None, help="write every number as JSON here")
    return p.parse_args(argv)


def real_skating(archive: str) -> dict[str, float]:
    """Bandai-1 content ("walk", "run") -> mean skating ratio of its clips."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            content = name.split("_")[1] if name.count("_") >= 3 else ""
            if name.endswith(".bvh") and content in {g[0] for g in GROUPS.values()}:
                tar.extract(member, tmp, filter="data")
                joints = load_motion(Path(tmp) / member.name, fps=20).joints
                truth = feats.features_to_joints(feats.joints_to_features(joints))
                out.setdefault(content, []).append(pl.skating_ratio(truth))
    return {c: float(np.mean(v)) for c, v in out.items()}


def measure(gen, prompts, points, seeds: int, speed: float | None) -> list[dict]:
    """Every prompt x seed along `points`: at the prompt's own pace (speed None) or in the seconds the
    path takes at `speed`."""
    rows = []
    seconds = None if speed is None else floor_path.polyline_length(points) / speed
    for seed in range(seeds):
        for m in gen.generate(list(prompts), path=points, seed=seed * len(prompts), seconds=seconds):
            row = floor_path.tracking(m.joints, points)
            row.update(skating=pl.skating_ratio(m.joints), bone_variation=pl.bone_length_variation(m.joints),
                       seconds=m.seconds, prompt=m.prompt, seed=m.seed)
            rows.append(row)
    return rows


def summary(rows: list[dict], skating_limit: float) -> dict:
    col = lambda k: np.array([r[k] for r in rows])  # noqa: E731
    s = {"distance_median_m": float(np.median(col("distance_median_m"))),
         "distance_max_m": float(col("distance_max_m").max()), "end_error_m": float(col("end_error_m").max()),
         "heading_median_deg": float(np.median(col("heading_median_deg"))),
         "skating": float(col("skating").mean()), "skating_limit": skating_limit,
         "bone_variation": float(col("bone_variation").max()), "seconds": float(col("seconds").mean())}
    s["pass"] = bool(all(s[k] <= v for k, v in TARGETS.items()) and s["skating"] <= skating_limit)
    return s


def main(argv=None) -> int:
    args = parse_args(argv)
    from ropar_core.generator import Generator

    t0 = time.perf_counter()
    real = real_skating(args.bandai)
    gen = Generator.from_pretrained(args.model)
    print("real Bandai-1 skating: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(real.items())))
    print(f"{'own pace / given pace':<22}{'dist md':>8}{'dist mx':>8}{'end':>7}{'head':>7}{'skate':>7}"
          f"{'limit':>7}{'bone%':>7}{'secs':>7}  pass")
    results = {"real_skating": real, "groups": {}}
    runs = [(group, name, speed) for speed in (None, "given") for group in GROUPS for name in PATHS]
    for group, name, speed in runs:
        content, prompts, pace = GROUPS[group]
        limit = 1.5 * real[content] + 0.02
        rows = measure(gen, prompts, PATHS[name], args.seeds, None if speed is None else pace)
        s = summary(rows, limit)
        key = f"{group}/{name}" + ("" if speed is None else f" {pace:g}m/s")
        results["groups"][key] = {"summary": s, "motions": rows}
        print(f"{key:<22}{100 * s['distance_median_m']:>7.1f}c"
              f"{100 * s['distance_max_m']:>7.1f}c{100 * s['end_error_m']:>6.1f}c"
              f"{s['heading_median_deg']:>7.1f}{s['skating']:>7.3f}{limit:>7.3f}"
              f"{100 * s['bone_variation']:>7.3f}{s['seconds']:>7.1f}  {'yes' if s['pass'] else 'NO'}")
    results["elapsed_s"] = time.perf_counter() - t0
    print(f"all pass: {all(g['summary']['pass'] for g in results['groups'].values())} "
          f"({results['elapsed_s']:.0f} s)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
