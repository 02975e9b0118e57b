"""What the report trains: its budgets, the run list (models, ablations, the credibility-blind baseline's
view of each noisy cache) and the RunSpecs of one run."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class ReportBudget:
    """What one report preset trains and evaluates, and with how many CPU threads."""

    pvae: Budget
    ropar: Budget
    evaluator: Budget
    eval: ReportEval
    threads: int  # torch threads for training (0: torch's default)
    eval_threads: int | None = None  # torch threads for evaluation (None: `threads`)

    def record(self) -> dict:
        """The budget as report.json's meta holds it."""
        out = {"pvae": self.pvae.record(), "ropar": self.ropar.record(), "evaluator": self.evaluator.record(),
               "eval": dataclasses.asdict(self.eval), "threads": self.threads}
        return out if self.eval_threads is None else {**out, "eval_threads": self.eval_threads}


def _model(preset: str, steps: int, batch_size: int, lr: float, crop_frames: int) -> Budget:
    return Budget(preset, steps, batch_size, lr, crop_frames, warmup_divisor=10)


# "tiny": CI on a synthetic cache in about two minutes; "small": this shared 2-core CPU in about 40 minutes
# (tiny models, few steps: the numbers show trends at best); "full": a GPU.
PRESETS = {
    "tiny": ReportBudget(pvae=_model("tiny", 24, 16, 2e-3, 32), ropar=_model("tiny", 24, 16, 1e-3, 64),
                         evaluator=Budget("tiny", 150), eval=ReportEval(2, None, 2), threads=1),
    "small": ReportBudget(pvae=_model("tiny", 80, 16, 3e-3, 64), ropar=_model("tiny", 100, 16, 2e-3, 128),
                          evaluator=Budget("small", 400), eval=ReportEval(2, 64, 4), threads=2,
                          # on a 2-core machine that others load too, 2 OpenMP threads spin-wait and
                          # evaluated up to 10x slower than 1 thread
                          eval_threads=1),
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


def run_specs(run: Run, caches: dict[str, Path], work: Path, budget: ReportBudget) -> dict[str, RunSpec]:
    """The P-VAE and (unless pvae_only) the RoPAR a run trains: {"pvae": spec, "ropar": spec}. A run
    that reuses another run's P-VAE has no "pvae" spec of its own, only its directory in the RoPAR's."""
    pvae_dir = work / slug(run.pvae_from or run.name) / "pvae"
    specs = {}
    if not run.pvae_from:
        specs["pvae"] = RunSpec("pvae", caches[run.pvae_cache or run.cache], pvae_dir, budget.pvae,
                                SEEDS["pvae"], model=run.pvae, threads=budget.threads)
    if not run.pvae_only:
        specs["ropar"] = RunSpec("ropar", caches[run.cache], work / slug(run.name) / "ropar", budget.ropar,
                                 SEEDS["ropar"], model=run.ropar, pvae=pvae_dir, threads=budget.threads)
    return specs


def train_runs(run: Run, caches: dict[str, Path], work: Path, budget: ReportBudget, commands: list[str],
               timings, text_encoder) -> dict[str, Path]:
    """Train (or find finished) the models of one run; returns their directories ("pvae", "ropar") and
    appends their command lines to `commands`."""
    specs = run_specs(run, caches, work, budget)
    dirs = {"pvae": work / slug(run.pvae_from or run.name) / "pvae"}
    for stage, spec in specs.items():
        commands.append(spec.command())
        seconds = train_run(spec, text_encoder)
        if seconds:
            timings.add(f"{run.name}/{stage}", seconds)
        dirs[stage] = spec.out
    return dirs
