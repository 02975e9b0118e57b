"""Evaluate a text-to-motion model (or a P-VAE's reconstructions) on a cache split with the judge of
training/evaluation/evaluator.py, following the standard T2M protocol (Guo et al. 2022) where our
data allows.

    python -m training.evaluate --model DIR --data CACHE --split test [--evaluator runs/evaluator]
        [--repeats 3] [--seed 0] [--mm-captions 32 --mm-repeats 10] [--out results.json]
    python -m training.evaluate --mode reconstruct --model DIR ...      (P-VAE: FID + MPJPE)

Per repeat (fresh caption draws, crops and sampling seeds):
- every clip of the split gives one item: a random caption and its ground-truth length, capped at the
  evaluator's max_frames and floored to a multiple of 4 (a random window of that length when the clip is
  longer); the model generates at exactly those lengths (as MDM / MoMask / MARDM do);
- generated and ground-truth windows (the clean ground truth in a noisy cache) are embedded; FID is
  measured against the ground truth of the same items (MoMask / MARDM), R-precision top-1/2/3 and MM-Dist
  in batches of 32, Diversity over 300 pairs, MultiModality (optional) over mm_captions x mm_repeats
  generations;
- a "real motions" row scores the ground truth itself; its FID compares the test ground truth with as
  many clips of another split (val, else train): how far two real sets lie apart. It is not a lower bound:
  a model is compared with the ground truth of its own items and can score below it.
Each number is reported as mean +- 1.96 * std / sqrt(repeats) (metrics.confidence_interval).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import features as feats
from ropar_core.atomic import write_text
from ropar_core.errors import RoparError, cli_error
from ropar_core.skeleton import TOKEN_FRAMES
from training.evaluation import metrics, plausibility
from training.evaluation.evaluator import EvalClip, TextMotionEvaluator, load_clips

DEFAULT_EVALUATOR = Path(__file__).resolve().parents[2] / "runs" / "evaluator"


@dataclass
class Item:
    clip: int  # index into the clip list
    caption: str
    start: int
    length: int  # frames, a multiple of 4


def draw_items(clips: list[EvalClip], max_frames: int, rng: np.random.Generator) -> list[Item]:
    """One item per clip: a random caption, the GT length (<= max_frames, floored to whole tokens), a
    random window start."""
    items = []
    for i, clip in enumerate(clips):
        length = min(len(clip.features), max_frames) // TOKEN_FRAMES * TOKEN_FRAMES
        if length < TOKEN_FRAMES:
            continue
        start = int(rng.integers(len(clip.features) - length + 1))
        items.append(Item(i, clip.texts[int(rng.integers(len(clip.texts)))], start, length))
    return items


def subset(clips: list[EvalClip], limit: int | None, seed: int = 0) -> list[EvalClip]:
    """A seeded random subset of `limit` clips in their original order (the first N would be biased:
    caches list clips grouped by content)."""
    if not limit or limit >= len(clips):
        return clips
    pick = np.sort(np.random.default_rng([seed, 7]).choice(len(clips), size=limit, replace=False))
    return [clips[int(i)] for i in pick]


def _window(clips: list[EvalClip], item: Item) -> np.ndarray:
    return clips[item.clip].features[item.start:item.start + item.length]


def score_set(ev: TextMotionEvaluator, motion_emb: np.ndarray, captions: list[str], real_emb: np.ndarray,
              seed: int) -> dict[str, float]:
    """FID vs real_emb, R-precision top-1/2/3 + MM-Dist (identical captions match), Diversity."""
    text_emb = ev.embed_texts(captions)
    prec, mm = metrics.r_precision(text_emb, motion_emb, captions=captions, seed=seed)
    return {"fid": metrics.fid(real_emb, motion_emb), "r1": float(prec[0]), "r2": float(prec[1]),
            "r3": float(prec[2]), "mm_dist": mm, "diversity": metrics.diversity(motion_emb, seed=seed)}


def summarise(runs: list[dict[str, float]]) -> dict[str, dict]:
    keys = runs[0].keys()
    return {k: metrics.confidence_interval([r[k] for r in runs]).to_dict() | {"values": [r[k] for r in runs]}
            for k in keys}


def _check_count(items: list[Item]) -> None:
    if len(items) < metrics.R_PRECISION_BATCH:
        raise RoparError(f"the split has {len(items)} usable clips; R-precision needs at least "
                         f"{metrics.R_PRECISION_BATCH}")


# ----------------------------------------------------------------------------------------------------
# Real motions, generated motions, reconstructions


def evaluate_real(ev: TextMotionEvaluator, clips: list[EvalClip], reference: list[EvalClip] | None,
                  repeats: int = 3, seed: int = 0) -> dict:
    """The 'real motions' row: the ground truth scored like a model's output."""
    runs = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r, 1])
        items = draw_items(clips, ev.model.cfg.max_frames, rng)
        _check_count(items)
        real = ev.embed_motions([_window(clips, it) for it in items])
        if reference:
            ref_items = draw_items(reference, ev.model.cfg.max_frames, rng)
            pick = rng.choice(len(ref_items), size=min(len(items), len(ref_items)), replace=False)
            other = ev.embed_motions([_window(reference, ref_items[int(i)]) for i in pick])
        else:
            other = real
        scores = score_set(ev, real, [it.caption for it in items], other, seed + r)
        joints = (feats.features_to_joints(_window(clips, it)) for it in items)
        scores.update(plausibility.set_scores(joints))  # the same physical numbers as every model's
        runs.append(scores)
    return summarise(runs)


def evaluate_generation(generator, ev: TextMotionEvaluator, clips: list[EvalClip], repeats: int = 3,
                        seed: int = 0, mm_captions: int = 0, mm_repeats: int = 10, batch_size: int = 32,
                        cfg_scale: float | None = None, steps: int | None = None, log=None,
                        raw: bool = False) -> dict:
    """A generator (ropar_core.generator.Generator or anything with the same generate()) on the items of
    each repeat. Returns {metric: {mean, ci95, n, values}}. raw: score the model's own output (the T2M
    protocol, as MoMask and MARDM do) instead of the Generator's cleaned motion (ropar_core/cleanup.py:
    rigid bones cost ~0.05 R@1 under the evaluator, which reads stretched limbs as part of the action)."""
    extra = {"raw": True} if raw else {}
    runs = []
    for r in range(repeats):
        t0 = time.time()
        rng = np.random.default_rng([seed, r, 1])  # the same items as evaluate_real's repeat r
        items = draw_items(clips, ev.model.cfg.max_frames, rng)
        _check_count(items)
        captions = [it.caption for it in items]
        seeds = [seed * 1_000_003 + r * 100_003 + i for i in range(len(items))]
        out = generator.generate(captions, frames=[it.length for it in items], seed=seeds,
                                 batch_size=batch_size, cfg=cfg_scale, steps=steps, **extra)
        gen = ev.embed_motions([m.features for m in out])
        real = ev.embed_motions([_window(clips, it) for it in items])
        scores = score_set(ev, gen, captions, real, seed + r)
        scores.update(plausibility.set_scores(
            m.joints if hasattr(m, "joints") else feats.features_to_joints(m.features) for m in out))
        if mm_captions > 0:
            scores["multimodality"] = _multimodality(generator, ev, items[:mm_captions], mm_repeats,
                                                     seed * 7 + r, batch_size, cfg_scale, steps, extra)
        runs.append(scores)
        if log:
            log(f"repeat {r + 1}/{repeats}: " + " ".join(f"{k} {v:.3f}" for k, v in scores.items())
                + f" ({time.time() - t0:.0f}s)")
    return summarise(runs)


def _multimodality(generator, ev, items: list[Item], mm_repeats: int, seed: int, batch_size, cfg_scale, steps,
                   extra: dict):
    prompts = [it.caption for it in items for _ in range(mm_repeats)]
    frames = [it.length for it in items for _ in range(mm_repeats)]
    seeds = [seed * 1_000_003 + 500_000 + i for i in range(len(prompts))]
    out = generator.generate(prompts, frames=frames, seed=seeds, batch_size=batch_size, cfg=cfg_scale,
                             steps=steps, **extra)
    emb = ev.embed_motions([m.features for m in out])
    return metrics.multimodality(emb.reshape(len(items), mm_repeats, -1), seed=seed)


@torch.no_grad()
def reconstruct(pvae, mean: np.ndarray, std: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(T, 263) un-normalised, T a multiple of 4 -> the P-VAE's deterministic reconstruction (T, 263)."""
    device = next(pvae.parameters()).device
    x = torch.from_numpy((features - mean) / std).float()[None].to(device)  # (1, T, 263)
    y = pvae.reconstruct(x)[0].cpu().numpy()  # (T, 263) normalised
    return (y * std + mean).astype(np.float32)


def evaluate_reconstruction(pvae, mean, std, ev: TextMotionEvaluator, clips: list[EvalClip],
                            repeats: int = 3, seed: int = 0) -> dict:
    """P-VAE reconstruction of the ground truth: FID (vs the ground truth) and MPJPE in mm, joints
    recovered by features_to_joints and root-aligned per frame (metrics.mpjpe)."""
    pvae.eval()
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    runs = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r, 1])
        items = draw_items(clips, ev.model.cfg.max_frames, rng)
        truth = [_window(clips, it) for it in items]
        recon = [reconstruct(pvae, mean, std, f) for f in truth]
        errors = [metrics.mpjpe(feats.features_to_joints(a), feats.features_to_joints(b))
                  for a, b in zip(recon, truth)]
        frames = np.array([len(f) for f in truth], np.float64)
        runs.append({"fid": metrics.fid(ev.embed_motions(truth), ev.embed_motions(recon)),
                     "mpjpe_mm": float((np.array(errors) * frames).sum() / frames.sum()),
                     **plausibility.set_scores(feats.features_to_joints(f) for f in recon)})
    return summarise(runs)


# ----------------------------------------------------------------------------------------------------
# Command line


def _reference_split(data: str, split: str) -> list[EvalClip] | None:
    for other in ("val", "train"):
        if other == split:
            continue
        try:
            ref = load_clips(data, other)
        except RoparError:
            continue
        if len(ref) >= 2:
            return ref
    return None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class EvalSpec:
    """What `python -m training.evaluate` evaluates, and how (its flags)."""

    model: str
    data: str
    split: str = "test"
    evaluator: str = str(DEFAULT_EVALUATOR)
    mode: str = "generate"  # or "reconstruct" (a P-VAE)
    repeats: int = 3
    seed: int = 0
    mm_captions: int = 0
    mm_repeats: int = 10
    batch_size: int = 32
    cfg_scale: float | None = None  # guidance scale (None: the model's)
    steps: int | None = None
    limit: int | None = None
    raw: bool = False
    device: str = "cpu"
    command: str = ""


def run(spec: EvalSpec) -> dict:
    if spec.repeats < 1:
        raise RoparError("--repeats must be at least 1")
    torch.manual_seed(spec.seed)
    ev_dir = Path(spec.evaluator)
    if not (ev_dir / "config.json").is_file():
        raise RoparError(f"no evaluator at {ev_dir}; train one with python -m training.train_evaluator "
                         f"--data CLEAN_CACHE --out {ev_dir}")
    clips = subset(load_clips(spec.data, spec.split), spec.limit, spec.seed)
    ev = TextMotionEvaluator.from_dir(ev_dir, device=spec.device)
    result = {"model": str(spec.model), "data": str(spec.data), "split": spec.split, "evaluator": str(ev_dir),
              "repeats": spec.repeats, "seed": spec.seed, "num_items": len(clips), "mode": spec.mode,
              "raw": spec.raw,
              "command": spec.command}
    if spec.mode == "generate":
        from ropar_core.generator import Generator

        gen = Generator.from_pretrained(spec.model, device=spec.device)
        result["real"] = evaluate_real(ev, clips, _reference_split(spec.data, spec.split), spec.repeats,
                                       spec.seed)
        result["generated"] = evaluate_generation(
            gen, ev, clips, spec.repeats, spec.seed, spec.mm_captions, spec.mm_repeats, spec.batch_size,
            spec.cfg_scale, spec.steps, _log, raw=spec.raw)
    else:
        from ropar_core.modeldir import load_pvae

        pvae, mean, std = load_pvae(spec.model, spec.device)
        result["reconstruction"] = evaluate_reconstruction(pvae, mean, std, ev, clips, spec.repeats,
                                                           spec.seed)
    return result


def format_table(result: dict) -> str:
    lines = []
    for row in ("real", "generated", "reconstruction"):
        if row in result:
            cells = "  ".join(f"{k} {v['mean']:.3f}±{v['ci95']:.3f}" for k, v in result[row].items())
            lines.append(f"{row:>14}: {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory (RoPAR + P-VAE, or a P-VAE)")
    parser.add_argument("--data", required=True, help="cache directory")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--evaluator", default=str(DEFAULT_EVALUATOR))
    parser.add_argument("--mode", default="generate", choices=("generate", "reconstruct"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mm-captions", type=int, default=0, help="MultiModality: captions (0 = skip)")
    parser.add_argument("--mm-repeats", type=int, default=10, help="MultiModality: generations per caption")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cfg", dest="cfg_scale", type=float, help="guidance scale (default: the model's)")
    parser.add_argument("--steps", type=int, help="unmasking steps (default: the model's)")
    parser.add_argument("--limit", type=int, help="evaluate a seeded random subset of N clips (quick checks)")
    parser.add_argument("--raw", action="store_true",
                        help="score the model's own output, without the Generator's cleanup (T2M protocol)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    command = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    fields = {k: v for k, v in vars(args).items() if k != "out"}
    try:
        result = run(EvalSpec(**fields, command=command))
    except RoparError as exc:
        return cli_error("evaluate", exc)
    text = json.dumps(result, indent=2, default=float)
    if args.out:
        write_text(args.out, text + "\n")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
