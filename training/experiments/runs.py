"""What an experiment trains. A `Budget` says how one kind of model is trained (size preset, steps,
optimiser); a `RunSpec` is one model to train (trainer, data, output, budget, seed, ablation switches)
and produces the one `TrainConfig`; `train_run` trains it through the typed `train()` function of its
trainer, unless its directory already holds the finished model.

Also what every experiment shares: the credibility-blind view of a noisy cache and paths as the
committed reports print them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError
from training.data.cache import Cache, recompute_stats
from training.train.config import TrainConfig, flags_for

REPO = Path(__file__).resolve().parents[2]
STAGES = ("pvae", "ropar", "evaluator")


@dataclass(frozen=True)
class Budget:
    """How one kind of model is trained in an experiment. None: the trainer's own default."""

    preset: str
    steps: int
    batch_size: int | None = None
    lr: float | None = None
    crop_frames: int | None = None
    ema_decay: float | None = None
    warmup_divisor: int | None = None  # warm-up = steps // warmup_divisor (None: the trainer's warm-up)
    checkpoints: int = 1  # checkpoints written over the run (short runs: one, at the end)

    def record(self) -> dict:
        """The budget as report.json and the run records hold it (and match finished runs by)."""
        out = {"preset": self.preset, "steps": self.steps}
        for name in ("batch_size", "lr", "crop_frames"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.ema_decay is not None:
            out["ema"] = self.ema_decay  # the key the committed run records were written with
        return out


@dataclass(frozen=True)
class RunSpec:
    """One model to train: which trainer, on which cache, into which directory, with what budget."""

    stage: str  # one of STAGES
    data: Path
    out: Path
    budget: Budget
    seed: int
    model: dict = field(default_factory=dict)  # model config changes (ablations), e.g. part_decomposition
    pvae: Path | None = None  # RoPAR: the frozen P-VAE it trains on
    init: Path | None = None  # P-VAE / RoPAR: a model directory to fine-tune from
    device: str = "cpu"
    threads: int = 0
    eval_clips: int = 16  # P-VAE: held-out clips for MPJPE

    def __post_init__(self):
        if self.stage not in STAGES:
            raise RoparError(f"unknown stage {self.stage!r}; choose one of {', '.join(STAGES)}")
        if self.stage == "ropar" and self.pvae is None:
            raise RoparError("a RoPAR run needs the directory of its P-VAE")
        if self.stage == "evaluator" and self.init is not None:
            raise RoparError("the evaluator trains from scratch (no init)")

    def defaults(self) -> TrainConfig:
        from training.train import train_evaluator, train_pvae, train_ropar

        trainer = {"pvae": train_pvae, "ropar": train_ropar, "evaluator": train_evaluator}[self.stage]
        return trainer.train_defaults(self.budget.preset)

    def train_config(self) -> TrainConfig:
        """The trainer's defaults with this run's budget, seed and machine: no periodic evaluation, a
        few log lines, `budget.checkpoints` checkpoints."""
        b = self.budget
        changes = {name: getattr(b, name) for name in ("batch_size", "lr", "crop_frames", "ema_decay")
                   if getattr(b, name) is not None}
        if b.warmup_divisor:
            changes["warmup"] = max(1, b.steps // b.warmup_divisor)
        return dataclasses.replace(self.defaults(), steps=b.steps, seed=self.seed, eval_every=0,
                                   log_every=max(1, b.steps // 5),
                                   ckpt_every=max(1, b.steps // b.checkpoints), device=self.device,
                                   threads=self.threads, **changes)

    def command(self) -> str:
        """The equivalent command line, recorded for the reader of a report."""
        flags = flags_for(self.train_config(), self.defaults())
        head = [f"python -m training.train_{self.stage} --data", shown(self.data)]
        if self.stage == "ropar":
            head += ["--pvae", shown(self.pvae)]
        head += ["--out", shown(self.out), "--preset", self.budget.preset, *flags]
        tail = {"pvae": [f"--eval-clips {self.eval_clips}", "--resume"], "ropar": ["--resume"],
                "evaluator": ["--resume"]}[self.stage]
        switches = {"part_decomposition": "--no-part-decomposition",
                    "shared_parameters": "--no-shared-parameters", "diffusion_head": "--no-diffusion-head"}
        tail += [flag for name, flag in switches.items() if self.model.get(name) is False]
        tail += ["--init", shown(self.init)] if self.init is not None else []
        return " ".join(head + tail)


def is_trained(spec: RunSpec) -> bool:
    """The output directory holds a finished model of this stage trained for the budget's steps
    (config.json is written last)."""
    try:
        config = json.loads((spec.out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return spec.stage in config and int(config.get("train", {}).get("steps", -1)) == spec.budget.steps


def train_run(spec: RunSpec, text_encoder=None) -> float:
    """Train `spec` (resuming its checkpoints) unless it is finished; returns the seconds it took.
    text_encoder: a loaded TextEncoder shared by the runs of one experiment (None: the default one)."""
    if is_trained(spec):
        return 0.0
    from training.train import train_evaluator, train_pvae, train_ropar

    t0 = time.time()
    cfg, command, preset = spec.train_config(), spec.command(), spec.budget.preset
    if spec.stage == "pvae":
        train_pvae.train(cfg, train_pvae.model_config(preset, spec.model), spec.data, spec.out, resume=True,
                         eval_clips=spec.eval_clips, preset=preset, command=command, init=spec.init)
    elif spec.stage == "ropar":
        train_ropar.train(cfg, spec.data, spec.pvae, spec.out, preset=preset, overrides=spec.model,
                          text_encoder=text_encoder, resume=True, command=command, init=spec.init)
    else:
        train_evaluator.train(cfg, spec.data, spec.out, preset=preset, overrides=spec.model,
                              text_encoder=text_encoder, resume=True, command=command)
    return time.time() - t0


# ----------------------------------------------------------------------------------------------------
# Shared by the experiments


def recorded(path: Path, key: dict) -> dict | None:
    """The JSON record at `path` when it was written for `key` (its "key" field), else None: every
    experiment keeps what it measured this way and redoes only what changed."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("key") == key else None


def shown(path) -> str:
    """A path as the reports print it: relative to the repository when inside it, else its last two parts
    (".../cache/noisy"): committed reports carry no machine paths."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(Path("...", *p.resolve().parts[-2:])) if p.is_absolute() else str(p)


def source_identity(src: Path) -> dict:
    """What a derived view of cache `src` records about it, to know when it is stale: its resolved path
    and the time its meta.json (written last) was written."""
    meta = Path(src) / "meta.json"
    return {"path": str(meta.parent.resolve()), "written": meta.stat().st_mtime_ns}


def view_is_of(dst: Path, src: Path) -> bool:
    """dst holds a complete view built from the current `src`."""
    try:
        meta = json.loads((Path(dst) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("view_of") == source_identity(src)


def blind_cache(src: Path, dst: Path) -> Path:
    """A view of cache `src` in which every part of every frame is credible (feature arrays symlinked, not
    copied); the normalisation stats are recomputed over all train frames, as a method that ignores
    credibility computes them. Built in a side directory and renamed into place when complete; a view
    built from another source (an older cache at the same path) is built again."""
    if view_is_of(dst, src):
        return dst
    cache = Cache(src)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("features.npy", "clean_features.npy"):
        if (src / name).is_file():
            (tmp / name).symlink_to((src / name).resolve())
    np.save(tmp / "credible.npy", np.ones(cache.credible.shape, bool))
    meta = {**cache.meta, "name": f"{cache.meta.get('name', src.name)}-blind", "credibility_blind": True,
            "view_of": source_identity(src)}
    write_text(tmp / "meta.json", json.dumps(meta) + "\n")
    recompute_stats(tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst
