"""Store with a model what it was trained on (ropar_core/knowledge.py) and choose the warning threshold.

    python -m training.build_knowledge --model assets/default --data CACHE [CACHE ...]

Reads the train split's captions and content labels of each cache, embeds the distinct captions with the
model's text encoder, keeps per action at most --per-action of them (farthest-point selection, so every
phrasing family stays represented), and writes knowledge.safetensors into the model directory. The
threshold is chosen on held-out paraphrases (assets/prompt_familiarity.json): prompts of actions the
model has labels for must pass, prompts of other actions must not; the threshold maximising balanced
accuracy wins (midpoint of the best interval). Prints the calibration with every misjudged prompt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ropar_core.errors import RoparError, cli_error
from ropar_core.knowledge import Knowledge, action_phrase, farthest_points, label_of

DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "assets" / "prompt_familiarity.json"


def training_captions(caches: list[str], split: str = "train") -> dict[str, list[str]]:
    """action label -> distinct captions (their action phrases) of the split's clips, over all caches."""
    out: dict[str, set[str]] = {}
    for cache in caches:
        meta_path = Path(cache) / "meta.json"
        if not meta_path.is_file():
            raise RoparError(f"{cache}: not a dataset cache (no meta.json)")
        for clip in json.loads(meta_path.read_text())["clips"]:
            if clip.get("split") != split:
                continue
            label = label_of(clip.get("content") or clip.get("source") or "motion")
            texts = (action_phrase(t) for t in clip.get("texts", []) if t.strip())
            out.setdefault(label, set()).update(texts)
    return {k: sorted(v) for k, v in sorted(out.items()) if v}


def build(encoder, captions: dict[str, list[str]], per_action: int) -> Knowledge:
    labels, embs, actions = list(captions), [], []
    for a, label in enumerate(labels):
        emb = encoder.encode(captions[label]).cpu().numpy()
        keep = farthest_points(emb, per_action)
        embs.append(emb[keep])
        actions.append(np.full(len(keep), a))
    return Knowledge(np.concatenate(embs), np.concatenate(actions), labels, threshold=0.0,
                     text_encoder=getattr(encoder, "name", ""))


def is_known(matches: list[str], labels: list[str]) -> bool:
    words = [label_of(m) for m in matches]
    return any(w and w in label for w in words for label in labels)


def choose_threshold(known: np.ndarray, unknown: np.ndarray) -> tuple[float, float]:
    """Scores of known / unknown prompts -> (threshold, balanced accuracy)."""
    cands = np.unique(np.concatenate([known, unknown]))
    best, best_acc = (0.5, -1.0)
    edges = np.concatenate([[cands[0] - 1e-3], (cands[:-1] + cands[1:]) / 2, [cands[-1] + 1e-3]])
    for t in edges:
        hit = (known >= t).mean() if len(known) else 1.0
        reject = (unknown < t).mean() if len(unknown) else 1.0
        acc = 0.5 * (hit + reject)
        if acc > best_acc + 1e-9:
            best, best_acc = float(t), float(acc)
    return best, best_acc


def calibrate(knowledge: Knowledge, encoder, prompts_file: str | Path) -> dict:
    items = json.loads(Path(prompts_file).read_text())["prompts"]
    texts = [it["text"] for it in items]
    fams = knowledge.familiarity(encoder.encode([action_phrase(t) for t in texts]))
    truth = np.array([is_known(it["matches"], knowledge.labels) for it in items])
    scores = np.array([f.score for f in fams])
    threshold, acc = choose_threshold(scores[truth], scores[~truth])
    wrong = [f"{'known' if k else 'unknown'} {s:.3f} {t!r} (closest: {f.closest[0]})"
             for t, k, s, f in zip(texts, truth, scores, fams) if (s >= threshold) != k]
    return {"threshold": threshold, "balanced_accuracy": acc, "known": int(truth.sum()),
            "unknown": int((~truth).sum()), "misjudged": wrong}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.build_knowledge",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory to write knowledge.safetensors into")
    p.add_argument("--data", required=True, nargs="+", help="the cache(s) the model was trained on")
    p.add_argument("--prompts", default=str(DEFAULT_PROMPTS), help="held-out paraphrases (JSON)")
    p.add_argument("--per-action", type=int, default=48, help="captions kept per action label")
    p.add_argument("--threshold", type=float, help="use this threshold instead of calibrating")
    args = p.parse_args(argv)
    try:
        from ropar_core import checkpoint
        from ropar_core.text import TextEncoder

        config = checkpoint.load_config(Path(args.model))
        encoder = TextEncoder(config.get("text_encoder"))
        knowledge = build(encoder, training_captions(args.data), args.per_action)
        report = calibrate(knowledge, encoder, args.prompts)
        knowledge.threshold = args.threshold if args.threshold is not None else report["threshold"]
        path = knowledge.save(args.model)
    except RoparError as exc:
        return cli_error("build_knowledge", exc)
    print(f"{path}: {len(knowledge.labels)} actions, {len(knowledge.action)} captions; threshold "
          f"{knowledge.threshold:.3f} (calibrated {report['threshold']:.3f}, balanced accuracy "
          f"{report['balanced_accuracy']:.2f} on {report['known']} known + {report['unknown']} "
          f"unknown prompts)")
    for line in report["misjudged"]:
        print("  misjudged:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
