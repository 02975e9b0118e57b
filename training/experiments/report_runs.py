"""What the report trains: its budgets, the run list (models, ablations, the credibility-blind baseline's
view of each noisy cache) and the RunSpecs of one run."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from training.experiments.key_claim import PRESETS as KEY_CLAIM_PRESETS
from training.experiments.runs import Budget, RunSpec, train_run

RATIO_CACHES = {0.3: "noisy_r30", 0.5: "noisy_r50", 0.7: "noisy_r70", 1.0: "clean"}
SEEDS = {"pvae": 1, "ropar": 2, "evaluator": 1234, "eval": 0}


@dataclass(frozen=True)
class ReportEval:
    """How every model of the report is evaluated."""

    repeats: int
    limit: int | None  # a seeded random subset of N test clips (None: all)
    steps: int  # unmasking steps
    batch_size: int = 64
    raw: bool = False  # score the model's own output (the T2M protocol), not the Generator's cleanup

    def record(self) -> dict:
        out = dataclasses.asdict(self)
        return out if self.raw else {k: v for k, v in out.items() if k != "raw"}


@dataclass(frozen=True)
class ReportBudget:
    """What one report preset trains and evaluates, with how many training seeds per row and CPU
    threads. With several seeds a row's interval is Student-t over the seeds (each seed: the mean of the
    evaluation repeats); with one, over the evaluation repeats only."""

    pvae: Budget
    ropar: Budget
    evaluator: Budget
    eval: ReportEval
    threads: int  # torch threads for training (0: torch's default)
    eval_threads: int | None = None  # torch threads for evaluation (None: `threads`)
    seeds: tuple[int, ...] = (0,)  # training seeds per row (added to SEEDS["pvae"] / SEEDS["ropar"])

    def record(self) -> dict:
        """The budget as report.json's meta holds it."""
        out = {"pvae": self.pvae.record(), "ropar": self.ropar.record(), "evaluator": self.evaluator.record(),
               "eval": self.eval.record(), "threads": self.threads}
        if self.eval_threads is not None:
            out["eval_threads"] = self.eval_threads
        return out if self.seeds == (0,) else {**out, "seeds": list(self.seeds)}


def _model(preset: str, steps: int, batch_size: int, lr: float, crop_frames: int) -> Budget:
    return Budget(preset, steps, batch_size, lr, crop_frames, warmup_divisor=10)


# "tiny": CI on a synthetic cache in about two minutes; "small": this shared 2-core CPU in about 40 minutes
# (tiny models, few steps: the numbers show trends at best); "paper": the key claim's budget (P-VAE `small`
# x 1500, RoPAR `mini` x 1400, where the models learn: R@1 about 0.46), 3 seeds per row, the whole test
# split, raw output; "full": a GPU.
_KEY_CLAIM = KEY_CLAIM_PRESETS["shipped"]
PRESETS = {
    "tiny": ReportBudget(pvae=_model("tiny", 24, 16, 2e-3, 32), ropar=_model("tiny", 24, 16, 1e-3, 64),
                         evaluator=Budget("tiny", 150), eval=ReportEval(2, None, 2), threads=1),
    "small": ReportBudget(pvae=_model("tiny", 80, 16, 3e-3, 64), ropar=_model("tiny", 100, 16, 2e-3, 128),
                          evaluator=Budget("small", 400), eval=ReportEval(2, 64, 4), threads=2,
                          # on a 2-core machine that others load too, 2 OpenMP threads spin-wait and
                          # evaluated up to 10x slower than 1 thread
                          eval_threads=1),
    "paper": ReportBudget(pvae=_KEY_CLAIM.pvae, ropar=_KEY_CLAIM.ropar, evaluator=Budget("small", 400),
                          eval=ReportEval(_KEY_CLAIM.eval.repeats, None, _KEY_CLAIM.eval.steps,
                                          _KEY_CLAIM.eval.batch_size, raw=True),
                          threads=1, eval_threads=1, seeds=(0, 1, 2)),
    "full": ReportBudget(pvae=_model("base", 20000, 64, 2e-4, 64), ropar=_model("base", 50000, 64, 2e-4, 196),
                         evaluator=Budget("full", 20000), eval=ReportEval(20, None, 18), threads=0),
}


def log(msg: str) -> None:
    print(f"[report] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One trained model: a P-VAE (+ RoPAR unless pvae_only) on one cache."""

    name: str
    cache: str  # key into the cache paths (a "-blind" suffix means the blind view)
    pvae: dict = field(default_factory=dict)  # P-VAE flags: part_decomposition / shared_parameters
    ropar: dict = field(default_factory=dict)  # RoPAR flags: diffusion_head
    pvae_from: str | None = None  # reuse another run's P-VAE
    pvae_only: bool = False
    pvae_cache: str | None = None  # the P-VAE's data when it differs from `cache`


def plan(ratios_available: dict[float, str]) -> list[Run]:
    runs = []
    datasets = ["clean", "noisy"] + [name for r, name in sorted(ratios_available.items())
                                     if name not in ("clean", "noisy")]
    for d in dict.fromkeys(datasets):
        runs.append(Run(f"ropar@{d}", d))
        blind = d if d == "clean" else f"{d}-blind"
        runs.append(Run(f"baseline@{d}", blind, pvae={"part_decomposition": False}))
    runs += [
        # Without parts the P-VAE cannot leave a noisy limb out: it reads the blind view (noisy channels
        # in its input and loss); RoPAR on top still skips tokens in which any part is noisy.
        Run("ropar-nopart@noisy", "noisy", pvae={"part_decomposition": False}, pvae_cache="noisy-blind"),
        Run("pvae-noshared@noisy", "noisy", pvae={"shared_parameters": False}, pvae_only=True),
        Run("ropar-nodiffusion@noisy", "noisy", ropar={"diffusion_head": False}, pvae_from="ropar@noisy"),
    ]
    return runs


def slug(name: str) -> str:
    return name.replace("@", "_at_")


def run_dir(work: Path, name: str, budget: ReportBudget, seed: int) -> Path:
    """Where one seed of a run keeps its models and evaluations (one seed: the run's directory)."""
    return work / slug(name) if budget.seeds == (0,) else work / slug(name) / f"s{seed}"


def run_specs(run: Run, caches: dict[str, Path], work: Path, budget: ReportBudget,
              seed: int = 0) -> dict[str, RunSpec]:
    """The P-VAE and (unless pvae_only) the RoPAR one seed of a run trains: {"pvae": spec, "ropar": spec}.
    A run that reuses another run's P-VAE (pvae_from: same data and P-VAE flags) names that P-VAE's
    directory, so the P-VAE is trained there when it is not yet (its evaluations may be on record while
    its model is not on this machine)."""
    pvae_dir = run_dir(work, run.pvae_from or run.name, budget, seed) / "pvae"
    specs = {"pvae": RunSpec("pvae", caches[run.pvae_cache or run.cache], pvae_dir, budget.pvae,
                             SEEDS["pvae"] + seed, model=run.pvae, threads=budget.threads)}
    if not run.pvae_only:
        specs["ropar"] = RunSpec("ropar", caches[run.cache], run_dir(work, run.name, budget, seed) / "ropar",
                                 budget.ropar, SEEDS["ropar"] + seed, model=run.ropar, pvae=pvae_dir,
                                 threads=budget.threads)
    return specs


def commands_of(run: Run, specs: dict[str, RunSpec]) -> list[str]:
    """The command lines of a run's own models (a shared P-VAE is listed by the run that owns it)."""
    return [spec.command() for stage, spec in specs.items() if not (stage == "pvae" and run.pvae_from)]


def train_specs(specs: dict[str, RunSpec], label: str, timings, text_encoder) -> dict[str, Path]:
    """Train (or find finished) the models of one seed of a run; returns their directories."""
    for stage, spec in specs.items():
        seconds = train_run(spec, text_encoder)
        if seconds:
            timings.add(f"{label}/{stage}", seconds)
    return {stage: spec.out for stage, spec in specs.items()}
