"""Cold start: what one `ropar generate "a person walks" --seconds 4 --out X.bvh` costs from the shell,
split into stages, next to `python -c "import torch"` measured in the same run.

    python benchmarks/bench_cold_start.py                         # this checkout, 5 repeats
    python benchmarks/bench_cold_start.py --trees /tmp/old,. --repeats 7 --out cold.json

Every measurement is a fresh interpreter (nothing warm but the OS file cache). Runs are interleaved
round-robin (tree by tree, command by command) so that a busy machine slows all of them alike; medians
are printed, and minima (on a shared machine the least disturbed run is the better estimate of the
cost itself). Two kinds of numbers:

- wall: the whole command from the shell (python -m ropar_core.cli ...), with no preview, a GIF preview
  and a PNG strip, plus the baselines `python -c pass` and `python -c "import torch"`.
- stages: one child process that walks the same path as the CLI with a timer around each stage:
  torch import, the CLI's own imports and parser, text encoder (load + first prompt), model load
  (networks + stats + Generator), generation, BVH writing, then GIF and PNG previews.

--trees names checkouts to compare (each is put first on PYTHONPATH); the default is this one.
--report FILE prints a saved --out file again.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a person walks"
SECONDS = "4"

# The stage child: mirrors ropar_core.commands.generate.run with a timer per stage. It prints one JSON
# line of {stage: seconds}. Only public seams are used, so an older checkout can be measured too.
CHILD = r"""
import json, sys, time
marks = {}
t = time.perf_counter()
def lap(name):
    global t
    now = time.perf_counter(); marks[name] = now - t; t = now
import torch
lap("torch import")
from ropar_core.cli import build_parser
args = build_parser().parse_args(["generate", PROMPT, "--seconds", SECONDS, "--out", OUT + ".bvh"])
lap("cli imports + parser")
from ropar_core import checkpoint
from ropar_core.generator import DEFAULT_MODEL_DIR, Generator
try:
    from ropar_core.device import resolve_device, set_threads
except ImportError:  # checkouts before generator.py was split
    from ropar_core.generator import resolve_device, _set_threads as set_threads
dev = resolve_device("auto"); set_threads(None, dev)
config = checkpoint.load_config(DEFAULT_MODEL_DIR)
from ropar_core.text import TextEncoder
text = TextEncoder(config.get("text_encoder"), device=dev)
text.encode([PROMPT])
lap("text encoder (load + 1 prompt)")
from ropar_core.modeldir import load_models
pvae, ropar, config, mean, std = load_models(DEFAULT_MODEL_DIR, dev)
gen = Generator(pvae, ropar, text, mean, std, config, dev, name="default")
lap("model load")
[m] = gen.generate([PROMPT], seconds=float(SECONDS), seed=0)
lap("generation")
from ropar_core.commands.generate import save
from pathlib import Path
save(m, Path(OUT + ".bvh"))
lap("BVH write")
from ropar_core.preview import save_preview
save_preview(OUT + ".gif", m.joints, fps=m.fps, title=m.prompt)
lap("GIF preview")
save_preview(OUT + ".png", m.joints, fps=m.fps, title=m.prompt)
lap("PNG preview")
print(json.dumps(marks))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", default=str(ROOT), help="comma-separated checkouts (default: this one)")
    p.add_argument("--repeats", type=int, default=5, help="runs of every command (median reported)")
    p.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    p.add_argument("--out", default=None, help="write all raw timings as JSON here")
    p.add_argument("--report", metavar="FILE", default=None, help="only print the results saved in FILE")
    return p.parse_args(argv)


def _env(tree: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = tree if tree else ""
    return env


def _wall(cmd: list[str], env: dict, cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def _stages(python: str, env: dict, cwd: str, out: str) -> dict:
    code = f"PROMPT = {PROMPT!r}\nSECONDS = {SECONDS!r}\nOUT = {out!r}\n" + CHILD
    proc = subprocess.run([python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"stage child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(args) -> dict:
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    tmp = tempfile.mkdtemp(prefix="ropar_cold_")
    py = args.python
    base_env = _env(None)
    results: dict = {"baseline": {"python -c pass": [], "python -c 'import torch'": []},
                     **{t: {"wall": {}, "stages": {}} for t in trees}}
    for rep in range(args.repeats):
        base = results["baseline"]
        base["python -c pass"].append(_wall([py, "-c", "pass"], base_env, tmp))
        base["python -c 'import torch'"].append(_wall([py, "-c", "import torch"], base_env, tmp))
        for i, tree in enumerate(trees):
            env, stem = _env(tree), os.path.join(tmp, f"t{i}_r{rep}")
            cli = [py, "-m", "ropar_core.cli", "generate", PROMPT, "--seconds", SECONDS,
                   "--out", stem + ".bvh"]
            runs = {"generate -> BVH": cli, "generate -> BVH + GIF": cli + ["--preview", stem + ".gif"],
                    "generate -> BVH + PNG": cli + ["--preview", stem + ".png"]}
            for name, cmd in runs.items():
                results[tree]["wall"].setdefault(name, []).append(_wall(cmd, env, tmp))
            for name, secs in _stages(py, env, tmp, stem + "_s").items():
                results[tree]["stages"].setdefault(name, []).append(secs)
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(results: dict) -> None:
    """Medians, minima in brackets; "+" columns are over the `import torch` baseline."""
    med = statistics.median
    torch_runs = results["baseline"]["python -c 'import torch'"]
    torch_med, torch_min = med(torch_runs), min(torch_runs)
    print("baselines (s, median [min]):")
    for name, values in results["baseline"].items():
        print(f"  {name:<40} {med(values):6.3f} [{min(values):6.3f}]")
    for tree, res in results.items():
        if tree == "baseline":
            continue
        print(f"\n{tree}\n  wall, whole command (s, median [min]; + over import torch):")
        walls = {k: (med(v), min(v)) for k, v in res["wall"].items()}
        for name, (m, lo) in walls.items():
            print(f"    {name:<32} {m:6.3f} [{lo:6.3f}]   +{m - torch_med:.3f} [+{lo - torch_min:.3f}]")
        plain = walls["generate -> BVH"]
        for kind in ("GIF", "PNG"):
            extra = walls[f"generate -> BVH + {kind}"]
            print(f"    {kind + ' preview adds':<32} {extra[0] - plain[0]:6.3f} [{extra[1] - plain[1]:6.3f}]")
        print("  stages in one process (s, median [min]):")
        for name, values in res["stages"].items():
            print(f"    {name:<32} {med(values):6.3f} [{min(values):6.3f}]")
        fixed = [n for n in res["stages"] if n not in ("torch import", "GIF preview", "PNG preview")]
        total, least = (sum(f(res["stages"][n]) for n in fixed) for f in (med, min))
        print(f"    {'all but torch and previews':<32} {total:6.3f} [{least:6.3f}]")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        report(json.loads(Path(args.report).read_text(encoding="utf-8")))
        return 0
    results = measure(args)
    report(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
