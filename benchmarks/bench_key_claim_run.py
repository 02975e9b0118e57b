"""What one key-claim run costs on this machine, and how long the runs still missing will take.

    python benchmarks/bench_key_claim_run.py [--preset shipped] [--steps 10,30] [--device cpu] [--threads 1]
        [--seeds 8] [--other-seeds 3] [--out bench.json]

Trains the preset's P-VAE and RoPAR (same sizes, batches and crops) for two short step counts on a
synthetic cache whose clips are as long as dataset-2's (about 87 frames), so the difference gives the
seconds per training step and the rest the set-up; then evaluates the shorter RoPAR with the preset's
evaluation protocol and the shipped judge (assets/evaluator) and scales it to the whole test split (294
clips). From these it extrapolates one P-VAE run, one arm run, and the runs `training.key_claim` still has
to do given the records committed in reports/runs (same plan and order as the command), one job at
a time. The figures are for this machine as loaded while it ran: rerun it where the runs will go.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from tests.helpers.synthetic import synthetic_clips, write_cache  # noqa: E402
from training.experiments import key_claim  # noqa: E402
from training.experiments.runs import RunSpec, train_run  # noqa: E402

TEST_CLIPS = 294  # dataset-2's test split, which every key-claim run is scored on


def timed_training(stage: str, data: Path, out: Path, budget, steps: int, pvae: Path | None,
                   device: str, threads: int) -> float:
    spec = RunSpec(stage, data, out, dataclasses.replace(budget, steps=steps, checkpoints=1), seed=0,
                   pvae=pvae, device=device, threads=threads)
    t0 = time.time()
    train_run(spec)
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="shipped", choices=sorted(key_claim.PRESETS))
    ap.add_argument("--steps", default="10,30", help="the two short step counts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=key_claim.PRIMARY_SEEDS)
    ap.add_argument("--other-seeds", type=int, default=key_claim.MIN_SEEDS)
    ap.add_argument("--out", help="write the figures as JSON")
    args = ap.parse_args(argv)
    from ropar_core.text_cache import enable_for_training

    enable_for_training()
    short, long = (int(s) for s in args.steps.split(","))
    budget = key_claim.PRESETS[args.preset]
    root = Path(tempfile.mkdtemp(prefix="bench_key_claim_"))
    clips = synthetic_clips(per_label=32, seed=0, frames=(60, 114))  # mean 87 frames, as dataset-2
    clean = write_cache(root / "clean", clips)
    noisy = write_cache(root / "noisy", clips, 0.5)
    seconds = {}
    for stage, b in (("pvae", budget.pvae), ("ropar", budget.ropar)):
        t = []
        for steps in (short, long):
            pvae = root / f"pvae_{steps}" if stage == "ropar" else None
            t.append(timed_training(stage, noisy, root / f"{stage}_{steps}", b, steps, pvae, args.device,
                                    args.threads))
        per_step = (t[1] - t[0]) / (long - short)
        seconds[stage] = {"per_step": per_step, "setup": max(0.0, t[0] - short * per_step),
                          "steps": b.steps, "run": max(0.0, t[0] - short * per_step) + b.steps * per_step}
        print(f"{stage}: {per_step:.3f} s/step, set-up {seconds[stage]['setup']:.0f} s -> "
              f"{seconds[stage]['run'] / 60:.1f} min for {b.steps} steps", flush=True)
    exp = key_claim.Experiment(budget, args.preset, noisy, clean, ROOT / "assets" / "evaluator", root,
                               root / "out", {}, "", args.device, args.threads)
    e = budget.eval
    t0 = time.time()
    res = key_claim.evaluate_job(key_claim.Job("ropar", 0), root / f"ropar_{short}", exp)
    items = res["test_clips"] * e.repeats + e.mm_captions * e.mm_repeats
    per_item = (time.time() - t0) / items
    eval_run = per_item * (TEST_CLIPS * e.repeats + e.mm_captions * e.mm_repeats)
    print(f"evaluation: {per_item:.3f} s per generated clip -> {eval_run / 60:.1f} min per arm on "
          f"{TEST_CLIPS} test clips ({e.repeats} repeats + MultiModality)", flush=True)
    pvae_run = seconds["pvae"]["run"] + eval_run / 5  # a P-VAE's reconstruction scoring is about a fifth
    arm_run = seconds["ropar"]["run"] + eval_run
    stage1, stage2 = key_claim.plan(list(range(args.seeds)), key_claim.KEY_CLAIM_ARMS,
                                    list(range(args.other_seeds)))
    # the key claim's cache (video noise, ratio 0.5): its records' folder holds the primary blind arm
    folders = [p.parent for p in (ROOT / "reports" / "runs").glob("*/blind_both_s0.json")]
    on_record = {p.stem for f in folders[:1] for p in f.glob("*.json")}
    todo = [j for j in stage1 + stage2 if j.name not in on_record]
    total = sum(pvae_run if j.stage == "pvae" else arm_run for j in todo)
    print(f"one P-VAE run {pvae_run / 60:.0f} min, one arm run {arm_run / 60:.0f} min; "
          f"{len(todo)} runs to do ({sum(j.stage == 'pvae' for j in todo)} P-VAEs): "
          f"{total / 3600:.1f} h one at a time on {args.device}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"preset": args.preset, "device": args.device,
                                              "threads": args.threads, "seconds": seconds,
                                              "eval_per_item": per_item, "pvae_run": pvae_run,
                                              "arm_run": arm_run, "runs_to_do": [j.name for j in todo],
                                              "total_hours": total / 3600}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
