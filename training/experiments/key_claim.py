"""The paper's central claim, tested fairly: on noisy data, masking the noisy parts (credibility, Eq. 1-2)
beats training on them, and beats leaving the noisy data out.

    python -m training.key_claim --caches DIR --noisy noisy_video_r50 [--preset shipped] [--seeds 8]
        [--other-seeds 3] [--arms ropar,blind_both,...] [--evaluator assets/evaluator] [--out reports]
        [--work runs/key-claim-PRESET] [--jobs 1] [--device cpu|cuda] [--estimate-only] [--report-only]

Arms (arms.py), all with the same seeds (one P-VAE per kind and seed):
- `ropar`: the credibility-aware P-VAE (Eq. 1) + RoPAR with noisy tokens masked (Eq. 2);
- `blind_both`: the paper's blind baseline: the same part P-VAE and RoPAR, both trained on the noisy
  cache with every token taken as credible (the primary comparison, `--seeds`);
- `blind`: ropar's own P-VAE + a blind RoPAR: Eq. 2 alone;
- `discard`: only the stretches in which every part is credible enter either stage (discard.py);
- `fullbody`: the earlier baseline (full-body tokens, P-VAE and RoPAR blind).
What each job trains is a runs.RunSpec (Experiment.spec) trained by runs.train_run. The paper's tables
(training.report) run the same experiment on other caches and with the ablation arms (tables.py).

Every generation run is evaluated on the whole test split with the judge (R-precision in batches of 32,
FID against the clean ground truth of the same items, MultiModality), `unmasking_steps` steps, on the
model's own output (`raw`: the T2M protocol; the Generator's cleanup is a product step, not the model). Each
finished run's metrics go to <out>/runs/<cache name>/<run>.json (small, committed; never a checkpoint) keyed
by its configuration: a rerun with the same configuration skips it, on any machine, without the trained
model, so the runs can be spread over days or moved to a GPU (`--device cuda`). Runs start in an order
that makes every stop useful (`priority`: ropar and blind_both seed by seed first). Numbers per seed are
means over evaluation repeats; arms are compared paired by seed (key_claim_report.py,
training/evaluation/statistics.py: t-intervals, p-values, power). It prints its time estimate first;
report.json gets `key_claim` and `judge` (<out>/judge/*.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError, cli_error
from training.experiments.arms import ARMS, KEY_CLAIM_ARMS, PVAES, build_view, stage_of, view_path
from training.experiments.key_claim_report import (  # noqa: F401  (the report half, re-exported)
    MIN_SEEDS,
    MIN_TEST_CLIPS,
    PRIMARY,
    PRIMARY_SEEDS,
    R1_TARGET,
    RECORDS,
    arm_block,
    assemble,
    load_records,
    verdict,
)
from training.experiments.runs import REPO, Budget, RunSpec, is_trained, recorded, train_run

VERSION, EVAL_SEED = 1, 0


@dataclass(frozen=True)
class KeyClaimEval:
    """How every run is evaluated: `repeats` per seed, unmasking `steps`, MultiModality captions x
    repeats, on the model's own output when `raw`."""

    raw: bool
    repeats: int
    steps: int
    mm_captions: int
    mm_repeats: int
    batch_size: int = 64


@dataclass(frozen=True)
class KeyClaimBudget:
    """A preset: the P-VAE and RoPAR budgets, the evaluation, and rough seconds per training step
    ("pvae", "ropar") and per generated clip-step ("gen") on the machine the preset is meant for, for the
    estimate printed before anything runs (replaced by measured figures once runs have finished)."""

    pvae: Budget
    ropar: Budget
    eval: KeyClaimEval
    seconds: dict

    def record(self) -> dict:
        """The budget as the run records' keys hold it (a finished run is reused only for the same)."""
        return {"pvae": self.pvae.record(), "ropar": self.ropar.record(),
                "eval": dataclasses.asdict(self.eval)}


def _model(preset: str, steps: int, batch_size: int, lr: float, crop_frames: int, ema_decay: float) -> Budget:
    return Budget(preset, steps, batch_size, lr, crop_frames, ema_decay, warmup_divisor=15, checkpoints=4)


PRESETS = {
    "tiny": KeyClaimBudget(  # CI: synthetic caches, minutes
        _model("tiny", 20, 16, 2e-3, 32, 0.9), _model("tiny", 20, 16, 1e-3, 64, 0.9),
        KeyClaimEval(raw=True, repeats=1, steps=2, mm_captions=4, mm_repeats=3),
        {"pvae": 0.05, "ropar": 0.08, "gen": 0.002}),
    "small": KeyClaimBudget(  # this shared CPU: the pipeline end to end; models do NOT reach the R@1 target
        _model("tiny", 150, 32, 3e-3, 64, 0.98), _model("tiny", 200, 32, 2e-3, 128, 0.98),
        KeyClaimEval(raw=True, repeats=1, steps=10, mm_captions=10, mm_repeats=10),
        {"pvae": 0.35, "ropar": 0.6, "gen": 0.004}),
    "shipped": KeyClaimBudget(  # the shipped default model's budget (assets/default/config.json)
        _model("small", 1500, 64, 1e-3, 64, 0.998), _model("mini", 1400, 32, 1e-3, 128, 0.998),
        KeyClaimEval(raw=True, repeats=2, steps=10, mm_captions=32, mm_repeats=10),
        {"pvae": 1.2, "ropar": 1.5, "gen": 0.01}),
    "device": KeyClaimBudget(  # one H200: 2x the shipped steps, parallel jobs (scripts/device_experiment.sh)
        _model("small", 3000, 64, 1e-3, 64, 0.998), _model("mini", 2800, 32, 1e-3, 128, 0.998),
        KeyClaimEval(raw=True, repeats=2, steps=10, mm_captions=32, mm_repeats=10, batch_size=128),
        {"pvae": 0.02, "ropar": 0.03, "gen": 0.0004}),
}


@dataclass(frozen=True)
class Job:
    """One trained model + its evaluation: a P-VAE kind (reconstruction) or an arm (generation)."""

    kind: str  # a key of PVAES or of ARMS
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}_s{self.seed}"

    @property
    def stage(self) -> str:
        return stage_of(self.kind)

    @property
    def pvae_kind(self) -> str:
        return self.kind if self.kind in PVAES else ARMS[self.kind].pvae

    @property
    def view(self) -> str:
        """The view of the noisy cache its model trains on (a key of arms.VIEWS)."""
        return PVAES[self.kind].view if self.kind in PVAES else ARMS[self.kind].view


def plan(seeds: list[int], kinds: tuple[str, ...] = KEY_CLAIM_ARMS,
         other_seeds: list[int] | None = None) -> tuple[list[Job], list[Job]]:
    """(P-VAE jobs, RoPAR jobs): the second stage needs the first's models. `kinds`: arms, and P-VAE kinds
    measured for reconstruction alone. The primary pair (ropar and PRIMARY[0]) gets `seeds`, the others
    `other_seeds` (None: the same); besides the P-VAE kinds asked for, only the P-VAEs the arms use."""
    others = seeds if other_seeds is None else other_seeds
    every = sorted(set(seeds) | set(others))
    wanted = {a: seeds if a in ("ropar", PRIMARY[0]) else others for a in ARMS if a in kinds}
    stage2 = [Job(a, s) for s in every for a in wanted if s in wanted[a]]
    stage1 = [Job(k, s) for s in every for k in PVAES
              if (k in kinds and s in others) or any(ARMS[j.kind].pvae == k and j.seed == s for j in stage2)]
    return stage1, stage2


def priority(job: Job) -> tuple:
    """The order arm runs start in, so that every stop leaves a useful set: the primary pair's first
    MIN_SEEDS seeds (ropar and its blind arm interleaved, seed by seed), then the other arms' first
    MIN_SEEDS seeds, then the primary pair's further seeds."""
    primary = job.kind in ("ropar", PRIMARY[0])
    return (job.seed >= MIN_SEEDS, not primary, job.seed, list(ARMS).index(job.kind))


def schedule(stage1: list[Job], stage2: list[Job], todo: list[Job]) -> list[tuple[str, Job, str | None]]:
    """Tasks (what, job, needs) in the order they should start: arms by `priority`, each preceded by its
    P-VAE when that is not scheduled yet. what: "run" (train + evaluate + record) or "train" (a P-VAE
    whose evaluation is on record but whose model a RoPAR job still needs). P-VAEs whose arms are all on
    record but which are themselves not come last."""
    tasks, scheduled = [], set()
    pvaes = {j.name: j for j in stage1}
    for job in sorted((j for j in stage2 if j in todo), key=priority):
        need = f"{job.pvae_kind}_s{job.seed}"
        if need not in scheduled:
            scheduled.add(need)
            tasks.append(("run" if pvaes[need] in todo else "train", pvaes[need], None))
        tasks.append(("run", job, need))
    tasks += [("run", p, None) for p in stage1 if p in todo and p.name not in scheduled]
    return tasks


# ----------------------------------------------------------------------------------------------------
# Configuration keys: a run's JSON is reused only for the same data, judge, budget and seed


def cache_identity(path: Path) -> dict:
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    ident = {k: meta.get(k) for k in ("name", "fingerprint", "noise_mode", "seed", "target_credible_ratio",
                                      "achieved_credible_ratio", "num_frames")}
    ident["clips"] = len(meta["clips"])
    from training.data.cache import Cache

    ident["credible_token_ratio"] = round(Cache(path).credible_token_ratio("train"), 4)
    return ident


def evaluator_identity(path: Path) -> str:
    return hashlib.sha256((path / "evaluator.safetensors").read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Experiment:
    """One key-claim experiment: its budget, where its data, judge, models and records are, the
    identities its records are keyed by, and the machine it runs on."""

    budget: KeyClaimBudget
    preset: str
    noisy: Path  # the noisy cache; the arms read views of it (arms.VIEWS)
    clean: Path
    evaluator: Path
    work: Path  # trained models
    out: Path  # run records (records_dir), report.json, key_claim.md
    data: dict  # cache_identity(noisy)
    evaluator_id: str
    device: str = "cpu"
    threads: int = 1

    def spec(self, job: Job) -> RunSpec:
        """What job trains: its P-VAE, or its RoPAR on the P-VAE of the same seed."""
        data = view_path(job.view, self.noisy, self.work)
        if job.stage == "pvae":
            return RunSpec("pvae", data, self.work / job.name, self.budget.pvae, job.seed,
                           model=PVAES[job.kind].model, device=self.device, threads=self.threads)
        return RunSpec("ropar", data, self.work / job.name, self.budget.ropar, job.seed,
                       model=ARMS[job.kind].model, pvae=self.work / f"{job.pvae_kind}_s{job.seed}",
                       device=self.device, threads=self.threads)

    def key(self, job: Job) -> dict:
        budget = self.budget.record()
        key = {"version": VERSION, "run": job.name, "data": self.data, "evaluator": self.evaluator_id,
               "pvae": budget["pvae"], "eval": budget["eval"]}
        if job.stage == "ropar":
            key["ropar"] = budget["ropar"]
        return key

    def finished(self, job: Job) -> dict | None:
        """The run's record when it was measured with this configuration."""
        return recorded(result_path(self.out, self.data, job), self.key(job))


def records_dir(out: Path, data: dict) -> Path:
    """Where the run records of one cache live: out/runs/<the cache's own name>, no machine path."""
    return out / RECORDS / data["name"]


def result_path(out: Path, data: dict, job: Job) -> Path:
    return records_dir(out, data) / f"{job.name}.json"


# ----------------------------------------------------------------------------------------------------
# Training and evaluating one job (in this process or a worker)


def train_job(job: Job, exp: Experiment) -> tuple[Path, float]:
    """Train job's model unless its directory is complete; returns (model dir, seconds)."""
    spec = exp.spec(job)
    return spec.out, train_run(spec)


def evaluate_job(job: Job, model_dir: Path, exp: Experiment) -> dict:
    import torch

    from ropar_core.modeldir import load_pvae
    from training.evaluation import evaluate
    from training.evaluation.evaluator import TextMotionEvaluator, load_clips

    if exp.threads:
        torch.set_num_threads(exp.threads)
    ev = TextMotionEvaluator.from_dir(exp.evaluator, device=exp.device)
    clips = load_clips(exp.clean, "test")
    e = exp.budget.eval
    if job.stage == "pvae":
        pvae, mean, std = load_pvae(model_dir, exp.device)
        res = evaluate.evaluate_reconstruction(pvae, mean, std, ev, clips, repeats=e.repeats, seed=EVAL_SEED)
    else:
        from ropar_core.generator import Generator

        gen = Generator.from_pretrained(model_dir, device=exp.device)
        res = evaluate.evaluate_generation(gen, ev, clips, repeats=e.repeats, seed=EVAL_SEED,
                                           mm_captions=e.mm_captions, mm_repeats=e.mm_repeats,
                                           batch_size=e.batch_size, steps=e.steps, raw=e.raw)
    return {"test_clips": len(clips), "metrics": {k: v["values"] for k, v in res.items()}}


def run_job(job: Job, exp: Experiment) -> dict:
    """Train + evaluate one job and write its JSON (the unit that is never redone)."""
    model_dir, train_s = train_job(job, exp)
    t0 = time.time()
    result = evaluate_job(job, model_dir, exp)
    record = {"key": exp.key(job), "run": job.name, "kind": job.kind, "seed": job.seed, **result,
              "train_seconds": round(train_s, 1), "eval_seconds": round(time.time() - t0, 1),
              "device": exp.device, "preset": exp.preset}
    write_text(result_path(exp.out, exp.data, job), json.dumps(record, indent=1) + "\n")
    summary = ", ".join(f"{k} {np.mean(v):.3f}" for k, v in result["metrics"].items())
    timing = f"train {train_s:.0f}s, eval {record['eval_seconds']:.0f}s"
    print(f"[key_claim] {job.name}: {summary} ({timing})", file=sys.stderr, flush=True)
    return record


def run_tasks(tasks: list[tuple[str, Job, str | None]], exp: Experiment, workers: int) -> None:
    """Runs the schedule with at most `workers` processes; a task starts as soon as the P-VAE it needs is
    trained, so no core waits for a whole stage to end."""
    call = {"run": run_job, "train": train_job}
    if workers <= 1 or len(tasks) <= 1:
        for what, job, _ in tasks:
            call[what](job, exp)
        return
    import multiprocessing as mp

    pending, ready_models, running = list(tasks), set(), {}
    from ropar_core.text_cache import enable_for_training

    # spawned workers start bare: they share the on-disk caption-embedding cache as this command does
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=enable_for_training) as pool:
        while pending or running:
            for task in [t for t in pending if t[2] is None or t[2] in ready_models]:
                if len(running) >= workers:
                    break
                pending.remove(task)
                running[pool.submit(call[task[0]], task[1], exp)] = task
            if not running:
                raise RoparError("key_claim: a RoPAR job waits for a P-VAE that is not scheduled")
            finished_now, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished_now:
                what, job, _ = running.pop(fut)
                fut.result()  # a failed run stops the experiment with its error
                ready_models.add(job.name)


# ----------------------------------------------------------------------------------------------------
# Estimate


def estimate_seconds(todo: list[Job], budget: KeyClaimBudget, test_clips: int, done: list[dict], workers: int,
                     trained: set[str] = frozenset()) -> float:
    """Seconds for the jobs still to do: measured per-job figures when finished runs exist, else the
    preset's per-step figures; a job whose model is already trained here (`trained`: job names) costs
    its evaluation only."""
    measured: dict[str, list[float]] = {}
    for rec in done:
        if rec["train_seconds"] <= 0:  # evaluated from a model trained earlier: says nothing of training
            continue
        group = stage_of(rec["kind"])
        measured.setdefault(group, []).append(rec["train_seconds"] + rec["eval_seconds"])
    sec, e = budget.seconds, budget.eval
    gen = sec["gen"] * e.steps * (test_clips * e.repeats + e.mm_captions * e.mm_repeats)
    guess = {"pvae": sec["pvae"] * budget.pvae.steps + gen / 5,
             "ropar": sec["ropar"] * budget.ropar.steps + gen}
    total = 0.0
    for job in todo:
        group = job.stage
        if job.name in trained:
            total += gen / 5 if group == "pvae" else gen
        else:
            total += float(np.median(measured[group])) if group in measured else guess[group]
    return total / max(1, min(workers, max(1, len(todo) // 2)))


# ----------------------------------------------------------------------------------------------------
# Command line


def open_experiment(preset: str, caches: Path, noisy: str, evaluator: Path, work: Path, out: Path,
                    device: str = "cpu", threads: int = 1) -> Experiment:
    """The experiment on caches/noisy (clean ground truth: caches/clean); its models go to
    work/<the cache's name>, so experiments on several caches share a work folder without mixing."""
    noisy_dir, clean = caches / noisy, caches / "clean"
    for path, what in ((clean, "clean cache"), (noisy_dir, "noisy cache"), (evaluator, "evaluator")):
        if not ((path / "meta.json").is_file() or (path / "config.json").is_file()):
            raise RoparError(f"missing {what} {path}")
    data = cache_identity(noisy_dir)
    return Experiment(PRESETS[preset], preset, noisy_dir, clean, evaluator, work / data["name"], out, data,
                      evaluator_identity(evaluator), device, threads)


def same_budget_elsewhere(exp: Experiment) -> list[dict]:
    """Finished runs of the same budget on other caches and the same device: measured times for the
    estimate of a cache with nothing on record yet."""
    want = exp.budget.record()
    out = []
    for path in sorted((exp.out / RECORDS).glob("*/*.json")):
        if path.parent == records_dir(exp.out, exp.data):
            continue
        rec = json.loads(path.read_text(encoding="utf-8"))
        key = {**rec.get("key", {}), "ropar": rec.get("key", {}).get("ropar", want["ropar"])}
        if {k: key.get(k) for k in want} == want and rec.get("device") == exp.device:
            out.append(rec)
    return out


def run_experiment(exp: Experiment, kinds: tuple[str, ...], seeds: int, other_seeds: int, jobs: int,
                   estimate_only: bool = False) -> list[dict]:
    """Train and evaluate what is not on record yet (seeds 0..N-1; `kinds` as in `plan`), printing the
    time estimate first; returns the records of every planned run that is finished."""
    if seeds < 1 or other_seeds < 1 or jobs < 1:
        raise RoparError("--seeds, --other-seeds and --jobs must be positive")
    if not kinds or set(kinds) - set(ARMS) - set(PVAES):
        raise RoparError(f"--arms: choose from {', '.join([*ARMS, *PVAES])}")
    stage1, stage2 = plan(list(range(seeds)), kinds, list(range(other_seeds)))
    done = [r for j in stage1 + stage2 if (r := exp.finished(j))]
    todo = [j for j in stage1 + stage2 if not exp.finished(j)]
    from training.data.cache import Cache

    n_test = len(Cache(exp.clean).indices("test"))
    trained = {j.name for j in todo if is_trained(exp.spec(j))}
    est = estimate_seconds(todo, exp.budget, n_test, done + same_budget_elsewhere(exp), jobs, trained)
    print(f"key_claim: {exp.data['name']}: {len(done)} runs finished, {len(todo)} to do (preset "
          f"{exp.preset}, {seeds} seeds for ropar and {PRIMARY[0]}, {other_seeds} for the others, {n_test} "
          f"test clips, {jobs} job(s) on {exp.device}); "
          f"estimate {est / 60:.0f} min" + (f" ({len(trained)} already trained: evaluation only)"
                                            if trained else ""), flush=True)
    if estimate_only or not todo:
        return done
    for view in sorted({j.view for j in stage1 + stage2}):
        build_view(view, exp.noisy, exp.work)
    # A RoPAR job needs its P-VAE trained even when the P-VAE's own evaluation is already on record.
    run_tasks(schedule(stage1, stage2, todo), exp, jobs)
    return [r for j in stage1 + stage2 if (r := exp.finished(j))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.key_claim", description=__doc__.split("\n")[0])
    ap.add_argument("--caches", help="directory with clean/ and the noisy cache")
    ap.add_argument("--noisy", default="noisy", help="noisy cache name inside --caches")
    ap.add_argument("--preset", default="shipped", choices=sorted(PRESETS))
    ap.add_argument("--seeds", type=int, default=PRIMARY_SEEDS,
                    help=f"seeds of ropar and {PRIMARY[0]} (seeds 0..N-1; default {PRIMARY_SEEDS})")
    ap.add_argument("--other-seeds", type=int, default=MIN_SEEDS,
                    help=f"seeds of the other arms (default {MIN_SEEDS})")
    ap.add_argument("--arms", default=",".join(KEY_CLAIM_ARMS),
                    help="arms to train (comma-separated; the rest keep what is on record)")
    ap.add_argument("--evaluator", default=str(REPO / "assets" / "evaluator"))
    ap.add_argument("--out", default=str(REPO / "reports"))
    ap.add_argument("--work", default=None, help="trained models (default runs/key-claim-PRESET)")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (0: torch's default)")
    ap.add_argument("--estimate-only", action="store_true", help="print the estimate and stop")
    ap.add_argument("--report-only", action="store_true",
                    help="only rebuild report.json / key_claim.md from the run records in OUT/runs")
    args = ap.parse_args(argv)
    try:
        if args.report_only:
            print("\n".join(assemble(Path(args.out), None)["reading"]))
            return 0
        if not args.caches:
            raise RoparError("--caches is required (unless --report-only)")
        out = Path(args.out)
        work = Path(args.work) if args.work else REPO / "runs" / f"key-claim-{args.preset}"
        exp = open_experiment(args.preset, Path(args.caches), args.noisy, Path(args.evaluator), work, out,
                              args.device, args.threads)
        kinds = tuple(a.strip() for a in args.arms.split(",") if a.strip())
        run_experiment(exp, kinds, args.seeds, args.other_seeds, args.jobs, args.estimate_only)
        if not args.estimate_only:
            print("\n".join(assemble(out, exp.data)["reading"]))
    except RoparError as exc:
        return cli_error("key_claim", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
