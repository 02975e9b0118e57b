"""Train the TMR-style evaluator (training/evaluator.py) on a clean cache and report its own retrieval
accuracy on the real test motions.

    python -m training.train_evaluator --data data/cache/clean --out runs/evaluator [--preset small]
        [--steps N] [--batch-size 32] [--lr 3e-4] [--seed 1234] [--device cpu] [--threads N] [--fresh]

The output directory is a complete model directory after every checkpoint (config.json, written last,
evaluator.safetensors, stats.safetensors = the cache's train-split mean/std) plus optimizer.safetensors
for resuming. Re-running the same command resumes from the last checkpoint; batches and noise are
seeded per step, so a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import checkpoint
from ropar_core.errors import ModelError, RoparError, cli_error
from training.data.cache import Cache
from training.evaluation import metrics
from training.evaluation.evaluator import (
    WEIGHTS_NAME,
    EvalClip,
    Evaluator,
    EvaluatorConfig,
    TextMotionEvaluator,
    load_clips,
    pad_batch,
)

OPTIMIZER_NAME = "optimizer.safetensors"

# Model sizes. "full" is TMR's (6 layers, width/latent 256, one token per frame); "small" fits a CPU budget
# of minutes (4 frames per token); "tiny" exists for tests.
PRESETS = {
    "tiny": {"model": dict(latent_dim=16, width=32, layers=1, heads=2, ff_dim=64, text_hidden=64,
                           patch_frames=4),
             "train": dict(steps=30, batch_size=16, lr=1e-3, save_every=15)},
    "small": {"model": dict(latent_dim=128, width=128, layers=2, heads=4, ff_dim=256, text_hidden=256,
                            patch_frames=4),
              "train": dict(steps=1500, batch_size=32, lr=3e-4, save_every=250)},
    "full": {"model": dict(latent_dim=256, width=256, layers=6, heads=4, ff_dim=1024, text_hidden=512),
             "train": dict(steps=20000, batch_size=32, lr=1e-4, save_every=1000)},
}


@dataclass
class TrainConfig:
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 100
    seed: int = 1234
    save_every: int = 250


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# Batches


def _crop(features: np.ndarray, max_frames: int, rng: np.random.Generator) -> np.ndarray:
    if len(features) <= max_frames:
        return features
    start = int(rng.integers(len(features) - max_frames + 1))
    return features[start:start + max_frames]


def make_batch(clips: list[EvalClip], text_table: dict[str, torch.Tensor], mean, std, cfg: EvaluatorConfig,
               batch_size: int, rng: np.random.Generator):
    """A random batch: whole clips (random crop only beyond max_frames) and one random caption each."""
    idx = rng.choice(len(clips), size=min(batch_size, len(clips)), replace=False)
    chosen = [clips[int(i)] for i in idx]
    captions = [c.texts[int(rng.integers(len(c.texts)))] for c in chosen]
    x, valid = pad_batch([_crop(c.features, cfg.max_frames, rng) for c in chosen], mean, std, cfg.max_frames)
    text_emb = torch.stack([text_table[t] for t in captions])  # (B, D)
    return x, valid, text_emb, captions, [c.label for c in chosen]


# ----------------------------------------------------------------------------------------------------
# Retrieval accuracy of the evaluator itself


def retrieval_report(ev: TextMotionEvaluator, clips: list[EvalClip], seed: int = 0) -> dict:
    """Text->motion retrieval on real motions, first caption per clip (TMR's val/test choice).

    guo_r: R@1/2/3 in shuffled batches of 32 (identical captions count as matches); full_r: R@1/5/10
    over the whole set (text->motion and motion->text); *_label: the same with any clip of the same
    (content, style) counting as a match, i.e. the ceiling a caption-level judge can reach here."""
    texts = [c.texts[0] for c in clips]
    m = ev.embed_motions([c.features for c in clips])
    t = ev.embed_texts(texts)
    labels = [str(c.label) if c.label is not None else f"clip:{c.id}" for c in clips]
    out: dict = {"num_test": len(clips)}
    if len(clips) >= metrics.R_PRECISION_BATCH:
        prec, mm = metrics.r_precision(t, m, captions=texts, seed=seed)
        out["guo_r"] = {"R@1": prec[0], "R@2": prec[1], "R@3": prec[2]}
        out["mm_dist"] = mm
        prec_l, _ = metrics.r_precision(t, m, captions=labels, seed=seed)
        out["guo_r_label"] = {"R@1": prec_l[0], "R@2": prec_l[1], "R@3": prec_l[2]}
    for name, (q, g, keys) in {"full_r_t2m": (t, m, texts), "full_r_m2t": (m, t, texts),
                               "full_r_t2m_label": (t, m, labels)}.items():
        out[name] = {f"R@{k}": v for k, v in metrics.recall_at_k(q, g, ks=(1, 5, 10), keys=keys).items()}
    out["chance_guo_R@1"] = 1.0 / metrics.R_PRECISION_BATCH
    out["chance_full_R@1"] = 1.0 / len(clips)
    return out


# ----------------------------------------------------------------------------------------------------
# Checkpoints (resumable)


def _save_optimizer(path: Path, opt: torch.optim.Optimizer, step: int) -> None:
    tensors = {}
    for idx, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{idx}.{key}"] = torch.as_tensor(value).reshape(-1) if key == "step" else value
    checkpoint.save_weights(path, tensors, metadata={"step": str(step)})


def _load_optimizer(path: Path, opt: torch.optim.Optimizer) -> None:
    flat = checkpoint.load_weights(path)
    state: dict[int, dict] = {}
    for name, value in flat.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value.reshape(()) if key == "step" else value
    try:
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{path} does not match the evaluator: {exc}") from None


def _lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % (a pure function of the step, so resuming is exact)."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


# ----------------------------------------------------------------------------------------------------
# Training


def train_evaluator(data: str | os.PathLike, out: str | os.PathLike, preset: str = "small",
                    steps: int | None = None, batch_size: int | None = None, lr: float | None = None,
                    seed: int = 1234, device: str = "cpu", fresh: bool = False, text_encoder=None,
                    model_overrides: dict | None = None, save_every: int | None = None, log=_log) -> dict:
    """Train (or resume) an evaluator in `out`; returns its retrieval report on the test split."""
    if preset not in PRESETS:
        raise RoparError(f"unknown evaluator preset {preset!r}; choose one of {', '.join(PRESETS)}")
    out = Path(out)
    tc = TrainConfig(**{**asdict(TrainConfig()), **PRESETS[preset]["train"], "seed": seed})
    for key, value in (("steps", steps), ("batch_size", batch_size), ("lr", lr), ("save_every", save_every)):
        if value is not None:
            setattr(tc, key, value)
    if tc.steps < 1 or tc.batch_size < 2:
        raise RoparError("the evaluator needs steps >= 1 and batch size >= 2")
    torch.manual_seed(seed)

    train_clips = load_clips(data, "train")
    test_clips = load_clips(data, "test")
    cache = Cache(data)
    if cache.noisy:
        log(f"note: {data} is a noisy cache; the evaluator trains on its clean ground truth")
    mean, std = cache.mean, cache.std
    if text_encoder is None:
        from ropar_core.text import TextEncoder

        text_encoder = TextEncoder(None, device=device)
    overrides = {**PRESETS[preset]["model"], **(model_overrides or {}), "text_dim": text_encoder.dim}
    cfg = EvaluatorConfig(**overrides)
    model = Evaluator(cfg)
    config = {"text_encoder": getattr(text_encoder, "name", "all-MiniLM-L6-v2"), "fps": 20}
    ev = TextMotionEvaluator(model, mean, std, text_encoder, config, device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)

    start = 0
    if not fresh and (out / "config.json").is_file():
        old = checkpoint.load_config(out)
        if old.get("evaluator") != cfg.to_dict():
            raise ModelError(f"{out} holds an evaluator with another config; pass --fresh to overwrite it")
        checkpoint.load_module_weights(model, out / WEIGHTS_NAME)
        start = int(old.get("train", {}).get("step", 0))
        if start < tc.steps:
            _load_optimizer(out / OPTIMIZER_NAME, opt)
        log(f"resuming {out} at step {start}")

    all_texts = sorted({t for c in train_clips for t in c.texts})
    table = dict(zip(all_texts, text_encoder.encode(all_texts).to(device)))  # frozen, computed once
    train_info = {**asdict(tc), "preset": preset, "data": str(data), "num_train": len(train_clips)}
    model.to(device).train()
    t0, logs = time.time(), {}
    for step in range(start, tc.steps):
        rng = np.random.default_rng([tc.seed, step])  # per-step seeding: resuming replays the same batches
        torch.manual_seed(tc.seed * 1_000_003 + step)
        x, valid, text_emb, captions, labels = make_batch(train_clips, table, ev.mean, ev.std, cfg,
                                                          tc.batch_size, rng)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, tc)
        loss, logs = model.loss(x.to(device), valid.to(device), text_emb, captions, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = step + 1
        if done % max(1, tc.steps // 10) == 0 or done == tc.steps:
            log(f"step {done}/{tc.steps} " + " ".join(f"{k} {v:.4f}" for k, v in logs.items())
                + f" ({time.time() - t0:.0f}s)")
        if done % tc.save_every == 0 or done == tc.steps:
            _save_optimizer(out / OPTIMIZER_NAME, opt, done)
            ev.save(out, train={**train_info, "step": done})
    model.eval()
    report = retrieval_report(ev, test_clips, seed=0)
    ev.config["retrieval"] = report
    ev.save(out, train={**train_info, "step": max(start, tc.steps), "final_loss": logs.get("loss")})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_evaluator",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="clean cache directory (prepare's output)")
    parser.add_argument("--out", required=True, help="evaluator directory (resumed if it exists)")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--negative-filter", choices=("label", "cosine"), help="default: label")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    overrides = {"negative_filter": args.negative_filter} if args.negative_filter else None
    try:
        report = train_evaluator(args.data, args.out, args.preset, args.steps, args.batch_size, args.lr,
                                 args.seed, args.device, args.fresh, model_overrides=overrides)
    except RoparError as exc:
        return cli_error("train_evaluator", exc)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
