"""What the report trains: budgets, the run list (models, ablations, the credibility-blind baseline's
view of each noisy cache) and the training of one run through the ordinary trainers."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from training.data.cache import Cache, recompute_stats
from training.train.config import TrainConfig, flags_for, pvae_train_defaults, ropar_train_defaults

REPO = Path(__file__).resolve().parents[2]
RATIO_CACHES = {0.3: "noisy_r30", 0.5: "noisy_r50", 0.7: "noisy_r70", 1.0: "clean"}
SEEDS = {"pvae": 1, "ropar": 2, "evaluator": 1234, "eval": 0}

# Budgets. "tiny": CI on a synthetic cache in about two minutes; "small": this shared 2-core CPU in about
# 40 minutes (tiny models, few steps: the numbers show trends at best); "full": a GPU.
PRESETS = {
    "tiny": {
        "pvae": {"preset": "tiny", "steps": 24, "batch_size": 16, "lr": 2e-3, "crop_frames": 32},
        "ropar": {"preset": "tiny", "steps": 24, "batch_size": 16, "lr": 1e-3, "crop_frames": 64},
        "evaluator": {"preset": "tiny", "steps": 150},
        "eval": {"repeats": 2, "limit": None, "steps": 2, "batch_size": 64},
        "threads": 1,
    },
    "small": {
        "pvae": {"preset": "tiny", "steps": 80, "batch_size": 16, "lr": 3e-3, "crop_frames": 64},
        "ropar": {"preset": "tiny", "steps": 100, "batch_size": 16, "lr": 2e-3, "crop_frames": 128},
        "evaluator": {"preset": "small", "steps": 400},
        "eval": {"repeats": 2, "limit": 64, "steps": 4, "batch_size": 64},
        "threads": 2,
        # Evaluation in one thread: on a 2-core machine that others load too, 2 OpenMP threads spin-wait
        # and evaluated up to 10x slower than 1 thread.
        "eval_threads": 1,
    },
    "full": {
        "pvae": {"preset": "base", "steps": 20000, "batch_size": 64, "lr": 2e-4, "crop_frames": 64},
        "ropar": {"preset": "base", "steps": 50000, "batch_size": 64, "lr": 2e-4, "crop_frames": 196},
        "evaluator": {"preset": "full", "steps": 20000},
        "eval": {"repeats": 20, "limit": None, "steps": 18, "batch_size": 64},
        "threads": 0,
    },
}


def shown(path) -> str:
    """A path as the report prints it: relative to the repository when inside it, else its last two parts
    (".../cache/noisy"): committed reports carry no machine paths."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(Path("...", *p.resolve().parts[-2:])) if p.is_absolute() else str(p)


def log(msg: str) -> None:
    print(f"[report] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# The baseline's view of a noisy cache


def blind_cache(src: Path, dst: Path) -> Path:
    """A view of cache `src` in which every part of every frame is credible (feature arrays symlinked, not
    copied); the normalisation stats are recomputed over all train frames, as a method that ignores
    credibility computes them. Built in a side directory and renamed into place when complete."""
    if (dst / "meta.json").is_file():
        return dst
    cache = Cache(src)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("features.npy", "clean_features.npy"):
        if (src / name).is_file():
            (tmp / name).symlink_to((src / name).resolve())
    np.save(tmp / "credible.npy", np.ones(cache.credible.shape, bool))
    meta = {**cache.meta, "name": f"{cache.meta.get('name', src.name)}-blind", "credibility_blind": True}
    write_text(tmp / "meta.json", json.dumps(meta) + "\n")
    recompute_stats(tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst


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


def budget_config(defaults: TrainConfig, budget: dict, seed: int, threads: int) -> TrainConfig:
    """What train_pvae and train_ropar share: size, steps, optimiser, seed; no periodic evaluation, one
    checkpoint at the end (short runs), CPU."""
    steps = budget["steps"]
    return dataclasses.replace(
        defaults, steps=steps, batch_size=budget["batch_size"], lr=budget["lr"],
        crop_frames=budget["crop_frames"], seed=seed, warmup=max(1, steps // 10), eval_every=0,
        log_every=max(1, steps // 5), ckpt_every=steps, device="cpu", threads=threads)


def _finished(model_dir: Path, key: str, steps: int) -> bool:
    """A model directory whose config.json (written last) has `key` and was trained for `steps`."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return key in config and int(config.get("train", {}).get("steps", -1)) == steps


def train_run(run: Run, caches: dict[str, Path], work: Path, cfg: dict, record: dict, text_encoder) -> dict:
    """Train (or find finished) the P-VAE and RoPAR of one run; returns their directories + commands.
    Each is the ordinary trainer called as a function; its command line is recorded for the reader."""
    from training.train import train_pvae, train_ropar

    out: dict = {}
    if run.pvae_from:
        pvae_dir = work / slug(run.pvae_from) / "pvae"
    else:
        pvae_dir = work / slug(run.name) / "pvae"
        budget = cfg["pvae"]
        tcfg = budget_config(pvae_train_defaults(), budget, SEEDS["pvae"], cfg["threads"])
        flags = ["--no-part-decomposition"] if run.pvae.get("part_decomposition") is False else []
        flags += ["--no-shared-parameters"] if run.pvae.get("shared_parameters") is False else []
        data = caches[run.pvae_cache or run.cache]
        command = " ".join(["python -m training.train_pvae --data", shown(data), "--out",
                            shown(pvae_dir), "--preset", budget["preset"],
                            *flags_for(tcfg, pvae_train_defaults()), "--eval-clips 16 --resume", *flags])
        record.setdefault("commands", []).append(command)
        if not _finished(pvae_dir, "pvae", budget["steps"]):
            t0 = time.time()
            train_pvae.train(tcfg, train_pvae.model_config(budget["preset"], run.pvae), data,
                             pvae_dir, resume=True, eval_clips=16, preset=budget["preset"], command=command)
            record["timings"].add(f"{run.name}/pvae", time.time() - t0)
    out["pvae"] = pvae_dir
    if run.pvae_only:
        return out
    ropar_dir = work / slug(run.name) / "ropar"
    budget = cfg["ropar"]
    tcfg = budget_config(ropar_train_defaults(), budget, SEEDS["ropar"], cfg["threads"])
    flags = ["--no-diffusion-head"] if run.ropar.get("diffusion_head") is False else []
    command = " ".join(["python -m training.train_ropar --data", shown(caches[run.cache]), "--pvae",
                        shown(pvae_dir), "--out", shown(ropar_dir), "--preset", budget["preset"],
                        *flags_for(tcfg, ropar_train_defaults()), "--resume", *flags])
    record.setdefault("commands", []).append(command)
    if not _finished(ropar_dir, "ropar", budget["steps"]):
        t0 = time.time()
        train_ropar.train(tcfg, caches[run.cache], pvae_dir, ropar_dir, preset=budget["preset"],
                          overrides=run.ropar, text_encoder=text_encoder, resume=True, command=command)
        record["timings"].add(f"{run.name}/ropar", time.time() - t0)
    out["ropar"] = ropar_dir
    return out


