"""Retrieval per action: for each content label of a cache split, how often the judge (the contrastive
evaluator) puts a motion nearest to the captions of its own content, for the real motions and for a
model's motions generated from the same captions at the same lengths.

    python -m training.per_action --model assets/default --data CACHE --split test \\
        --evaluator assets/evaluator [--per-action 24] [--seed 0] [--out per_action.json]

A content's prototype is the mean judge embedding of the split's captions of that content (all its
styles); a motion counts as retrieved when its embedding is closest (cosine) to its own content's
prototype. Only contents the judge was trained on are meaningful (dataset-2's ten for assets/evaluator).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError, cli_error
from ropar_core.skeleton import TOKEN_FRAMES
from training.evaluation.evaluator import EvalClip, TextMotionEvaluator, load_clips


def pick(clips: list[EvalClip], per_action: int, seed: int) -> dict[str, list[int]]:
    """Up to `per_action` clip indices per content, a seeded draw."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(clips):
        if c.label:
            by[c.label[0]].append(i)
    if not by:
        raise RoparError("the split's clips carry no content labels")
    rng = np.random.default_rng(seed)
    return {
        k: sorted(rng.choice(v, size=min(per_action, len(v)), replace=False).tolist()) for k, v in by.items()
    }


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def retrieval(
    ev: TextMotionEvaluator,
    clips: list[EvalClip],
    chosen: dict[str, list[int]],
    generator=None,
    seed: int = 0,
) -> dict[str, dict]:
    """{content: {"n", "real", "model"}}: shares of motions nearest to their own content's prototype."""
    contents = sorted(chosen)
    protos = []
    for k in contents:
        texts = sorted({t for i, c in enumerate(clips) if c.label and c.label[0] == k for t in c.texts})
        protos.append(_unit(ev.embed_texts(texts)).mean(0))
    protos = _unit(np.stack(protos))  # (K, D)
    rng = np.random.default_rng([seed, 7])
    out = {}
    for k_idx, k in enumerate(contents):
        idx = chosen[k]
        lengths = [
            min(len(clips[i].features), ev.model.cfg.max_frames) // TOKEN_FRAMES * TOKEN_FRAMES for i in idx
        ]
        real = [clips[i].features[:n] for i, n in zip(idx, lengths)]
        row = {"n": len(idx), "real": _share(ev, real, protos, k_idx)}
        if generator is not None:
            captions = [clips[i].texts[int(rng.integers(len(clips[i].texts)))] for i in idx]
            gen = generator.generate(
                captions, frames=lengths, seed=[seed * 1000 + j for j in range(len(idx))]
            )
            row["model"] = _share(ev, [m.features for m in gen], protos, k_idx)
        out[k] = row
    return out


def _share(ev: TextMotionEvaluator, motions: list[np.ndarray], protos: np.ndarray, own: int) -> float:
    emb = _unit(ev.embed_motions(motions))
    return float(np.mean(np.argmax(emb @ protos.T, axis=1) == own))


def format_table(rows: dict[str, dict]) -> str:
    lines = ["| action | clips | real motions | this model |", "|---|---|---|---|"]
    for k, r in rows.items():
        model = f"{r['model']:.2f}" if "model" in r else "-"
        lines.append(f"| {k} | {r['n']} | {r['real']:.2f} | {model} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m training.per_action", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--model", default=None, help="model directory (omit: real motions only)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--evaluator", required=True)
    ap.add_argument("--per-action", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    try:
        if args.per_action < 1:
            raise RoparError(f"--per-action must be positive, got {args.per_action}")
        ev = TextMotionEvaluator.from_dir(args.evaluator)
        clips = load_clips(args.data, args.split, min_frames=TOKEN_FRAMES)
        generator = None
        if args.model:
            from ropar_core.generator import Generator

            generator = Generator.from_pretrained(args.model, device="cpu")
        rows = retrieval(ev, clips, pick(clips, args.per_action, args.seed), generator, args.seed)
    except RoparError as exc:
        return cli_error("per_action", exc)
    print(format_table(rows))
    if args.out:
        write_text(args.out, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
