"""Train the TMR-style evaluator (training/evaluation/evaluator.py) on a clean cache and report its own
retrieval accuracy on the real test motions.

    python -m training.train_evaluator --data data/cache/clean --out runs/evaluator [--preset small]
        [--steps N] [--batch-size 32] [--lr 3e-4] [--seed 1234] [--device cpu] [--threads N] [--resume]

It trains on the shared loop of training/train/engine.py (checkpoints, --resume, logs), like the P-VAE
and RoPAR. The output directory ends up an evaluator directory (config.json written last, with the
retrieval report; evaluator.safetensors; stats.safetensors = the cache's train-split mean/std).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ropar_core.errors import RoparError, cli_error
from training.data.cache import Cache
from training.evaluation import metrics
from training.evaluation.evaluator import (
    EvalClip,
    Evaluator,
    EvaluatorConfig,
    TextMotionEvaluator,
    contrastive_loss,
    load_clips,
    pad_batch,
)
from training.train import engine
from training.train.config import (
    TrainConfig,
    add_train_flags,
    apply_overrides,
    load_yaml,
    model_overrides,
    train_config,
)

# Model sizes. "full" is TMR's (6 layers, width/latent 256, one token per frame); "small" fits a CPU budget
# of minutes (4 frames per token); "tiny" exists for tests.
PRESETS = {
    "tiny": dict(latent_dim=16, width=32, layers=1, heads=2, ff_dim=64, text_hidden=64, patch_frames=4),
    "small": dict(latent_dim=128, width=128, layers=2, heads=4, ff_dim=256, text_hidden=256, patch_frames=4),
    "full": dict(latent_dim=256, width=256, layers=6, heads=4, ff_dim=1024, text_hidden=512),
}
# Each size's training budget on the evaluator's optimiser: AdamW with torch's betas and weight decay
# 0.01, no weight averaging (ema_decay 0 keeps the trained weights), whole clips up to 196 frames.
_OPTIMISER = TrainConfig(betas=(0.9, 0.999), weight_decay=0.01, warmup=100, ema_decay=0.0, seed=1234,
                         crop_frames=EvaluatorConfig.max_frames, eval_every=0)
TRAIN_PRESETS = {
    "tiny": dataclasses.replace(_OPTIMISER, steps=30, batch_size=16, lr=1e-3, log_every=3, ckpt_every=15),
    "small": dataclasses.replace(_OPTIMISER, steps=1500, batch_size=32, lr=3e-4, log_every=150,
                                 ckpt_every=250),
    "full": dataclasses.replace(_OPTIMISER, steps=20000, batch_size=32, lr=1e-4, log_every=2000,
                                ckpt_every=1000),
}


def train_defaults(preset: str = "small") -> TrainConfig:
    """The training budget of a size preset."""
    if preset not in TRAIN_PRESETS:
        raise RoparError(f"unknown evaluator preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return TRAIN_PRESETS[preset]


def model_config(preset: str, overrides: dict | None = None, text_dim: int = 384) -> EvaluatorConfig:
    """A size preset with overrides (YAML model section, --set, --negative-filter) applied."""
    if preset not in PRESETS:
        raise RoparError(f"unknown evaluator preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = apply_overrides(EvaluatorConfig(**PRESETS[preset], text_dim=text_dim), overrides or {}, "evaluator")
    cfg.validate()
    return cfg


# ----------------------------------------------------------------------------------------------------
# Batches


class CaptionedClips(Dataset):
    """Whole clips (a random window beyond crop_frames) with one random caption each; the randomness comes
    from (seed, epoch, index) only, so a resumed run replays the same items."""

    def __init__(self, clips: list[EvalClip], text_table: dict[str, torch.Tensor], crop_frames: int,
                 seed: int = 0):
        self.clips, self.text_table, self.crop = clips, text_table, crop_frames
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, idx: int) -> dict:
        clip = self.clips[idx]
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        start = int(rng.integers(len(clip.features) - self.crop + 1)) if len(clip.features) > self.crop else 0
        caption = clip.texts[int(rng.integers(len(clip.texts)))]
        return {"features": clip.features[start:start + self.crop], "caption": caption,
                "text_emb": self.text_table[caption], "label": clip.label}


class Collate:
    """Items -> normalised x (B, T, 263), valid (B, T), text_emb (B, D), captions, labels."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, max_frames: int):
        self.mean, self.std, self.max_frames = mean, std, max_frames

    def __call__(self, items: list[dict]) -> dict:
        x, valid = pad_batch([it["features"] for it in items], self.mean, self.std, self.max_frames)
        return {"x": x, "valid": valid, "text_emb": torch.stack([it["text_emb"] for it in items]),
                "captions": [it["caption"] for it in items], "labels": [it["label"] for it in items]}


def evaluator_loss(model: Evaluator, batch: dict):
    dev = next(model.parameters()).device
    return contrastive_loss(model, batch["x"].to(dev), batch["valid"].to(dev), batch["text_emb"].to(dev),
                      batch["captions"], batch["labels"])


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
# Training


def train(cfg: TrainConfig, cache: str | Path, out: str | Path, *, preset: str = "small",
          overrides: dict | None = None, text_encoder=None, resume: bool = False,
          command: str | None = None, weighted: bool = False) -> dict:
    """Train an evaluator on the clean ground truth of `cache`; `out` becomes an evaluator directory.
    overrides: EvaluatorConfig fields changed from the preset. text_encoder: a loaded TextEncoder to reuse
    (None: the default one). weighted: a train clip is drawn as often as the cache's sampling weights say
    (its "repeat", training.prepare_multi), so that the small sources' actions are learnt too. Returns the
    summary; its "retrieval" is the report on the test split."""
    if cfg.batch_size < 2:
        raise RoparError("the evaluator needs a batch size of at least 2 (its loss contrasts pairs)")
    model_cfg = model_config(preset, overrides)  # an unknown preset or setting fails before any loading
    train_clips, test_clips = load_clips(cache, "train"), load_clips(cache, "test")
    if weighted:
        train_clips = [c for c in train_clips for _ in range(c.repeat)]
    data = Cache(cache)
    if data.noisy:
        print(f"note: {cache} is a noisy cache; the evaluator trains on its clean ground truth",
              file=sys.stderr)
    if text_encoder is None:
        from ropar_core.text import TextEncoder

        text_encoder = TextEncoder(None, device="cpu")
    model_cfg = dataclasses.replace(model_cfg, text_dim=text_encoder.dim)
    all_texts = sorted({t for c in train_clips for t in c.texts})
    table = dict(zip(all_texts, text_encoder.encode(all_texts).cpu()))  # frozen: computed once
    dataset = CaptionedClips(train_clips, table, min(cfg.crop_frames, model_cfg.max_frames), seed=cfg.seed)

    dist = engine.setup_distributed(cfg.device)
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = Evaluator(model_cfg).to(dist.device)
        collate = Collate(data.mean, data.std, model_cfg.max_frames)
        summary, ema = engine.train(model, evaluator_loss, dataset, collate, cfg, out, dist, resume=resume,
                                    progress_desc="evaluator")
        if dist.is_main and summary["stopped"]:
            print(f"stopped at step {summary['step']}; continue with --resume", file=sys.stderr)
        elif dist.is_main:
            config = {"text_encoder": getattr(text_encoder, "name", "all-MiniLM-L6-v2"), "fps": 20}
            ev = TextMotionEvaluator(ema.copy_of(model).cpu(), data.mean, data.std, text_encoder, config)
            train_info = {"data": str(cache), "preset": preset, "steps": summary["step"], "seed": cfg.seed,
                          "weighted": weighted,
                          "num_train": len(train_clips), "final_loss": summary["last"].get("loss"),
                          "config": cfg.to_dict(), "command": command or "(called from Python)"}
            ev.config["retrieval"] = summary["retrieval"] = retrieval_report(ev, test_clips, seed=0)
            ev.save(out, train=train_info)
            summary["train"] = train_info
            engine.write_summary(Path(out) / "summary.json", summary)
        return summary
    finally:
        engine.teardown_distributed(dist)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_evaluator", description=__doc__.split("\n")[0])
    add_train_flags(p, PRESETS)
    p.add_argument("--negative-filter", choices=("label", "cosine"), help="default: label")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(["python -m training.train_evaluator"] + (sys.argv[1:] if argv is None else argv))
    try:
        yaml_cfg = load_yaml(args.config)
        cfg = train_config(train_defaults(args.preset), yaml_cfg["train"], vars(args))
        overrides = model_overrides(yaml_cfg["model"], args.set, negative_filter=args.negative_filter)
        summary = train(cfg, args.data, args.out, preset=args.preset, overrides=overrides, resume=args.resume,
                        command=command)
    except RoparError as exc:
        return cli_error("train_evaluator", exc)
    if "retrieval" in summary:
        print(json.dumps(summary["retrieval"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
