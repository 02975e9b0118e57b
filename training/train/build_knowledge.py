"""Store with a model what it was trained on (ropar_core/knowledge.py) and choose the warning threshold.

    python -m training.build_knowledge --model assets/default --data CACHE [CACHE ...]
    python -m training.build_knowledge --model assets/default --keep-captions   # recalibrate only

Reads the train split's captions and content labels of each cache, embeds the distinct captions with the
model's text encoder, keeps per action at most --per-action of them (farthest-point selection, so every
phrasing family stays represented); with --keep-captions it reuses the caption summary already in the
model directory instead (the caches are not needed). Adds the everyday actions none of our data holds
(the unknown prompts of assets/agreement_calibration.json) and those of --unknown-catalogue (default: the
KIT Motion-Language captions, less every motion the model knows: training/train/unknown_catalogue.py;
`none` leaves it out) and writes knowledge.safetensors into the model directory, atomically.

The threshold (on the margin: familiarity minus nearness to the unknown actions) is chosen on held-out
prompts: the known ones are the calibration file's paraphrases of actions the model has labels for,
written unlike the training captions; the unknown ones are the stored unknown actions, each judged
against the others (leave one out), and those of assets/prompt_familiarity.json, judged against all of
them. The threshold warns on the most unknown prompts while warning on at most --max-false of the known
ones. It decides the warning of a model without a calibrated agreement rule (ropar_core/
warning.py: a fine-tuned model, or one without agreement.safetensors); rerun build_agreement after this
command, its rule depends on these margins. Prints the calibration with every misjudged prompt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ropar_core.errors import RoparError, cli_error
from ropar_core.knowledge import TOP_K, Knowledge, action_phrase, farthest_points, label_of
from training.train import unknown_catalogue

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_PROMPTS = ASSETS / "prompt_familiarity.json"
DEFAULT_CALIBRATION = ASSETS / "agreement_calibration.json"


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
                     text_encoder=getattr(encoder, "name", ""), top_k=TOP_K)


def is_known(matches: list[str], labels: list[str]) -> bool:
    words = [label_of(m) for m in matches]
    return any(w and w in label for w in words for label in labels)


def model_knows(action: str, labels: list[str]) -> bool:
    """Whether a held-out paraphrase's action ("wave-both", "getup") is among the model's labels
    ("wave both hands", "get up"): a model trained on other sources must not be calibrated on actions it
    never saw, called known."""
    def squash(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    return any(squash(action) in squash(label) for label in labels)


def held_out(labels: list[str], prompts_file: str | Path = DEFAULT_PROMPTS,
             calibration_file: str | Path = DEFAULT_CALIBRATION) -> tuple[list[str], list[str], list[str]]:
    """-> (known paraphrases of actions among `labels`, the unknown actions stored with the model, more
    unknown actions for calibration only). The known ones and the stored unknown ones come from the
    calibration file: it holds prompts_file's paraphrases less those whose action a model only half
    shows (sitting down, lying down, climbing: 'get up' and 'playground' match them there); prompts_file's
    unknown prompts are not stored, so that some unknown prompts are judged against a list without them."""
    items = json.loads(Path(prompts_file).read_text())["prompts"]
    held = json.loads(Path(calibration_file).read_text())
    known = [p["text"] for p in held["known"] if model_knows(p["action"], labels)]
    stored = list(dict.fromkeys(held["unknown"]))
    extra = [it["text"] for it in items if not it["matches"] and it["text"] not in stored]
    return list(dict.fromkeys(known)), stored, extra


def with_unknown(knowledge: Knowledge, encoder, unknown: list[str], catalogue: list[str] | None = None,
                 catalogue_emb: np.ndarray | None = None) -> Knowledge:
    """The summary with these unknown actions (their action phrases embedded), then the catalogue's
    (already embedded action phrases), and top_k TOP_K."""
    emb = encoder.encode([action_phrase(t) for t in unknown]).cpu().numpy()
    if catalogue:
        emb = np.concatenate([emb, np.asarray(catalogue_emb, np.float32)])
    return Knowledge(knowledge.embeddings.numpy(), knowledge.action, knowledge.labels, knowledge.threshold,
                     knowledge.text_encoder or getattr(encoder, "name", ""), emb,
                     unknown + list(catalogue or []), TOP_K)


def margins(knowledge: Knowledge, encoder, prompts: list[str]) -> list:
    """Familiarity of each prompt; a prompt that is itself a listed unknown action is compared with the
    other unknown actions only (leave one out)."""
    index = {t: i for i, t in enumerate(knowledge.unknown_texts)}
    return knowledge.familiarity(encoder.encode([action_phrase(t) for t in prompts]),
                                 skip_unknown=[index.get(t, -1) for t in prompts])


def choose_threshold(known: np.ndarray, unknown: np.ndarray, max_false: float) -> tuple[float, float, float]:
    """Margins of known / unknown prompts -> (threshold, known warned, unknown warned): the most unknown
    prompts below it while at most max_false of the known ones are."""
    cands = np.unique(np.concatenate([known, unknown]))
    edges = np.concatenate([[cands[0] - 1e-3], (cands[:-1] + cands[1:]) / 2, [cands[-1] + 1e-3]])
    best = (float(edges[0]), 0.0, float(np.mean(unknown < edges[0])))
    for t in edges:
        kw, uw = float(np.mean(known < t)), float(np.mean(unknown < t))
        if kw <= max_false and uw > best[2]:
            best = (float(t), kw, uw)
    return best


def calibrate(knowledge: Knowledge, encoder, known: list[str], unknown: list[str], max_false: float) -> dict:
    fk, fu = margins(knowledge, encoder, known), margins(knowledge, encoder, unknown)
    mk, mu = np.array([f.margin for f in fk]), np.array([f.margin for f in fu])
    threshold, kw, uw = choose_threshold(mk, mu, max_false)
    wrong = [f"known {f.margin:+.3f} {t!r} (closest: {f.closest[0]}; unknown: {f.unknown_like!r})"
             for t, f in zip(known, fk) if f.margin < threshold]
    wrong += [f"unknown {f.margin:+.3f} {t!r} (closest: {f.closest[0]})"
              for t, f in zip(unknown, fu) if f.margin >= threshold]
    return {"threshold": threshold, "top_k": knowledge.top_k, "max_false": max_false,
            "known_prompts": len(known), "unknown_prompts": len(unknown),
            "known_warned": kw, "unknown_warned": uw, "misjudged": wrong}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.build_knowledge",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory to write knowledge.safetensors into")
    p.add_argument("--data", nargs="+", help="the cache(s) the model was trained on")
    p.add_argument("--keep-captions", action="store_true",
                   help="reuse the caption summary in the model directory (recalibrate; no --data)")
    p.add_argument("--prompts", default=str(DEFAULT_PROMPTS), help="held-out paraphrases (JSON)")
    p.add_argument("--calibration", default=str(DEFAULT_CALIBRATION),
                   help="more held-out known and unknown prompts (JSON; build_agreement's)")
    p.add_argument("--unknown-catalogue", default=str(unknown_catalogue.DEFAULT),
                   help="captions of many actions (KIT-ML's JSON list of {id, text}); those of motions the "
                        "model does not know are stored as unknown actions ('none': only the calibration "
                        "file's; default: %(default)s)")
    p.add_argument("--catalogue-cut", type=float,
                   help="familiarity from which a catalogue motion counts as known (default: the familiarity "
                        "all but --max-false of the known paraphrases reach)")
    p.add_argument("--per-action", type=int, default=48, help="captions kept per action label")
    p.add_argument("--max-false", type=float, default=0.05, help="known paraphrases the warning may flag")
    p.add_argument("--threshold", type=float, help="use this threshold instead of calibrating")
    args = p.parse_args(argv)
    try:
        from ropar_core import checkpoint
        from ropar_core.text import TextEncoder

        if bool(args.data) == args.keep_captions:
            raise RoparError("give either --data CACHE [CACHE ...] or --keep-captions")
        if not 0.0 <= args.max_false < 1.0:
            raise RoparError("--max-false is a share in [0, 1)")
        config = checkpoint.load_config(Path(args.model))
        encoder = TextEncoder(config.get("text_encoder"))
        if args.keep_captions:
            knowledge = Knowledge.load(args.model)
            if knowledge is None:
                raise RoparError(f"{args.model} has no knowledge.safetensors to keep: give --data")
        else:
            knowledge = build(encoder, training_captions(args.data), args.per_action)
        known, stored, extra = held_out(knowledge.labels, args.prompts, args.calibration)
        if not known or not stored:
            raise RoparError(f"no held-out known or unknown prompts for {args.model}'s actions")
        catalogue, catalogue_emb, summary = [], None, None
        if args.unknown_catalogue.lower() != "none":
            if not Path(args.unknown_catalogue).is_file():
                raise RoparError(f"no unknown-action catalogue {args.unknown_catalogue} (give its path, or "
                                 "--unknown-catalogue none)")
            cut = args.catalogue_cut
            if cut is None:
                cut = unknown_catalogue.paraphrase_cut(knowledge, encoder, known, args.max_false)
            if not 0.0 < cut <= 1.0:
                raise RoparError(f"the catalogue cut {cut:.3f} is not a cosine similarity in (0, 1]")
            catalogue, catalogue_emb, summary = unknown_catalogue.select(
                args.unknown_catalogue, knowledge, encoder, cut)
            new = [i for i, t in enumerate(catalogue) if t not in stored]  # each text once in the list
            catalogue, catalogue_emb = [catalogue[i] for i in new], catalogue_emb[new]
        knowledge = with_unknown(knowledge, encoder, stored, catalogue, catalogue_emb)
        report = calibrate(knowledge, encoder, known, stored + extra, args.max_false)
        knowledge.threshold = args.threshold if args.threshold is not None else report["threshold"]
        knowledge.calibration = {k: v for k, v in report.items() if k != "misjudged"}
        if summary is not None:
            knowledge.calibration["catalogue"] = summary
        path = knowledge.save(args.model)
    except (RoparError, OSError, ValueError, KeyError) as exc:
        return cli_error("build_knowledge", exc)
    print(f"{path}: {len(knowledge.labels)} actions, {len(knowledge.action)} captions, "
          f"{len(knowledge.unknown_texts)} unknown actions ({len(catalogue)} from the catalogue); "
          f"margin threshold {knowledge.threshold:+.3f} "
          f"(calibrated {report['threshold']:+.3f}: warns on {report['known_warned']:.1%} of "
          f"{report['known_prompts']} known paraphrases and {report['unknown_warned']:.1%} of "
          f"{report['unknown_prompts']} unknown actions, a stored one judged against the others)")
    for line in report["misjudged"]:
        print("  misjudged:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
