"""Give a model its own text-motion agreement judge (ropar_core/agreement.py) and calibrate its warning.

    python -m training.build_agreement --model assets/default --data data/cache-multi [--steps N]
    python -m training.build_agreement --model assets/default --data data/cache --keep-judge  # recalibrate

1. Trains the TMR-style evaluator (training/train/train_evaluator.py) on the clean train split of the
   model's own training data (CACHE/clean, or CACHE itself when it is a clean cache), in --work (resumable);
   --keep-judge skips 1 and 2 and recalibrates the judge already in the model directory.
2. Action vectors: per action label of that split, the mean of the judge's embeddings of its captions.
3. Calibration on held-out prompts: the model generates motions (--seeds each) for captions of the test
   split (actions it knows, takes it never saw), for the known paraphrases of --prompts (actions the model
   knows, in words its captions do not use) and for its unknown actions (none of our data holds them),
   plus the unknown prompts of assets/prompt_familiarity.json; all kept apart from
   benchmarks/bench_warning.py's lists. Each motion gets the warning rule's score (ropar_core/warning.py:
   the prompt's familiarity margin from knowledge.safetensors, a listed unknown action judged against the
   other ones, plus AGREEMENT_WEIGHT times its agreement); the threshold chosen warns on the most unknown
   motions while warning on at most --max-false of the paraphrase motions and of the test-split ones.
4. Writes agreement.safetensors into the model directory (atomically), the rule and the calibration in its
   metadata, and prints the rates with the misjudged prompts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from ropar_core import warning
from ropar_core.agreement import AgreementJudge, action_vectors, calibration_line
from ropar_core.errors import RoparError, cli_error
from ropar_core.knowledge import action_phrase, label_of
from training.train.build_knowledge import DEFAULT_PROMPTS as FAMILIARITY_PROMPTS
from training.train.build_knowledge import held_out

DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "assets" / "agreement_calibration.json"
DEFAULT_SEEDS = (0, 1, 2)


def clean_cache(data: str | Path) -> Path:
    """prepare / prepare_multi output (its clean/) or a clean cache itself."""
    data = Path(data)
    for cand in (data / "clean", data):
        if (cand / "meta.json").is_file():
            return cand
    raise RoparError(f"{data}: neither a dataset cache nor a folder holding clean/ (no meta.json)")


def split_captions(cache: Path, split: str) -> dict[str, list[list[str]]]:
    """action label -> the caption lists of the split's clips (one list per clip). A mirrored clip keeps
    its original's content tag, so its label is mirrored here ("walk turn left" of a right turn)."""
    from training.data.mirror import mirror_text

    out: dict[str, list[list[str]]] = {}
    for clip in json.loads((cache / "meta.json").read_text())["clips"]:
        texts = [t for t in clip.get("texts", []) if t.strip()]
        if clip.get("split") == split and texts:
            label = label_of(clip.get("content") or clip.get("source") or "motion")
            if str(clip.get("id", "")).endswith("_mirror"):
                label = mirror_text(label)
            out.setdefault(label, []).append(texts)
    return out


def known_prompts(cache: Path, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(caption, label) of up to `count` test clips, one random caption each, spread round-robin over the
    actions so that the rare ones are in."""
    rng = np.random.default_rng(seed)
    pools = {label: [c[int(rng.integers(len(c)))] for c in rng.permutation(np.array(clips, dtype=object))]
             for label, clips in sorted(split_captions(cache, "test").items())}
    out: list[tuple[str, str]] = []
    while len(out) < count and any(pools.values()):
        for label, pool in pools.items():
            if pool and len(out) < count:
                out.append((pool.pop(), label))
    return out


def train_judge(cache: Path, work: Path, encoder, steps: int | None, preset: str, threads: int):
    """Train (or resume) the evaluator in `work` -> a loaded TextMotionEvaluator."""
    from ropar_core.evaluator import TextMotionEvaluator
    from training.train import train_evaluator

    cfg = dataclasses.replace(train_evaluator.train_defaults(preset), device="cpu", threads=threads)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    done = work / "config.json"
    if not (done.is_file() and json.loads(done.read_text()).get("train", {}).get("steps") == cfg.steps):
        command = f"build_agreement (--steps {cfg.steps}, --preset {preset})"
        train_evaluator.train(cfg, cache, work, preset=preset, text_encoder=encoder, resume=True,
                              weighted=True, command=command)
    return TextMotionEvaluator.from_dir(work, text_encoder=encoder)


def build_judge(ev, cache: Path) -> AgreementJudge:
    captions = {label: sorted({t for texts in clips for t in texts})
                for label, clips in split_captions(cache, "train").items()}
    labels, actions = action_vectors(ev.embed_texts, captions)
    return AgreementJudge(ev.model, ev.mean, ev.std, actions, labels, threshold=0.0,
                          text_encoder=getattr(ev.text_encoder, "name", ""))


def measure(gen, judge: AgreementJudge, prompts: list[str], seeds, seconds: float) -> dict:
    """Generate every prompt with every seed -> per motion (seed by seed, every prompt): the prompt's
    familiarity margin (a stored unknown action compared with the other ones only), agreement, looks_like."""
    from tqdm import tqdm

    know = gen.knowledge
    index = {t: i for i, t in enumerate(know.unknown_texts)}
    fams = know.familiarity(gen.text.encode([action_phrase(p) for p in prompts]),
                            skip_unknown=[index.get(p, -1) for p in prompts])
    text_emb = gen.text.encode(prompts).float()
    rows = {"margin": [], "familiar": [], "score": [], "looks_like": []}
    for seed in tqdm(list(seeds), desc="calibration seeds", unit="seed"):
        motions = gen.generate(prompts, seconds=seconds, seed=[seed] * len(prompts), progress=True)
        for fam, a in zip(fams, judge.judge(text_emb, [m.features for m in motions])):
            rows["margin"].append(fam.margin)
            rows["familiar"].append(fam.known)
            rows["score"].append(a.score)
            rows["looks_like"].append(a.looks_like[0])
    return {k: np.array(v) if k != "looks_like" else v for k, v in rows.items()}


def rule_scores(d: dict, weight: float) -> np.ndarray:
    return d["margin"] + weight * d["score"]


def choose_threshold(known: list[np.ndarray], unknown: np.ndarray, max_false: float) -> tuple[float, float]:
    """Rule scores of groups of known motions and of unknown ones -> (threshold, unknown warn rate): the
    most unknown motions below it while at most max_false of each known group are (the lowest candidate,
    which warns on nothing, when no threshold keeps that)."""
    scores = np.unique(np.concatenate([*known, unknown]))
    cands = np.concatenate([[scores[0] - 1e-3], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-3]])
    best = (float(cands[0]), float(np.mean(unknown < cands[0])))
    for t in cands:
        uw = float(np.mean(unknown < t))
        if all(np.mean(k < t) <= max_false for k in known) and uw > best[1]:
            best = (float(t), uw)
    return best


def majority_rate(warned: np.ndarray, n_prompts: int) -> float:
    """Motions in seed-major order (seed by seed, every prompt) -> the share of prompts most of whose
    seeds warn."""
    per_prompt = warned.reshape(-1, n_prompts).mean(0)
    return float(np.mean(per_prompt > 0.5))


def calibrate(gen, judge: AgreementJudge, cache: Path, prompts_file: Path, known_count: int, seeds,
              max_false: float, seconds: float, weight: float = warning.AGREEMENT_WEIGHT) -> dict:
    if gen.knowledge is None or not len(gen.knowledge.unknown):
        raise RoparError("the model's knowledge.safetensors lists no unknown actions: run "
                         "python -m training.build_knowledge first (the rule needs its margins)")
    test = [c for c, _ in known_prompts(cache, known_count)]
    para, stored, extra = held_out(gen.knowledge.labels, FAMILIARITY_PROMPTS, prompts_file)
    groups = {"test": test, "paraphrase": para, "unknown": stored + extra}
    data = {name: measure(gen, judge, prompts, seeds, seconds) for name, prompts in groups.items()}
    scores = {name: rule_scores(d, weight) for name, d in data.items()}
    threshold, _ = choose_threshold([scores["test"], scores["paraphrase"]], scores["unknown"], max_false)
    # the judge alone (a model without knowledge.safetensors): the same choice on the agreement scores
    alone, alone_uw = choose_threshold([data["test"]["score"], data["paraphrase"]["score"]],
                                       data["unknown"]["score"], max_false)
    report: dict = {"rule": {"agreement_weight": weight, "threshold": threshold}, "seeds": list(seeds),
                    "seconds": seconds, "max_false": max_false, "threshold": alone,
                    "unknown_warned_agreement_only": alone_uw}
    misjudged = []
    for name, prompts in groups.items():
        warned = scores[name] < threshold
        report[f"{name}_prompts"] = len(prompts)
        report[f"{name}_warned"] = float(np.mean(warned))
        report[f"{name}_warned_familiarity_only"] = float(np.mean(~data[name]["familiar"]))
        report[f"{name}_prompts_warned_majority"] = majority_rate(warned, len(prompts))
        report[f"{name}_score_median"] = float(np.median(scores[name]))
        wrong = ~warned if name == "unknown" else warned
        misjudged += [f"{name} {s:+.3f} {p!r} (looks like {ll})" for p, s, w, ll in
                      zip(prompts * len(seeds), scores[name], wrong, data[name]["looks_like"]) if w]
    report["misjudged"] = misjudged
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.build_agreement",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory to write agreement.safetensors into")
    p.add_argument("--data", required=True, help="the model's training data: prepare(_multi)'s output folder")
    p.add_argument("--work", help="where the judge trains (default runs/agreement/<model folder name>)")
    p.add_argument("--steps", type=int, help="judge training steps (default: the preset's)")
    p.add_argument("--preset", default="small", help="judge size (training/train/train_evaluator.py)")
    p.add_argument("--prompts", default=str(DEFAULT_PROMPTS), help="held-out calibration prompts (JSON)")
    p.add_argument("--known", type=int, default=120, help="test-split captions generated for calibration")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="seeds per calibration prompt")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the calibration motions")
    p.add_argument("--max-false", type=float, default=0.05,
                   help="share of the paraphrase (and of the test-split) motions the warning may flag")
    p.add_argument("--keep-judge", action="store_true",
                   help="recalibrate the judge already in --model (no training; --data gives the test split)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: more would only fight over a shared CPU)")
    args = p.parse_args(argv)
    try:
        from ropar_core import checkpoint
        from ropar_core.generator import Generator

        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        if not seeds or not 0.0 <= args.max_false < 1.0 or args.known < 1:
            raise RoparError("--seeds needs at least one seed, --max-false a share in [0, 1), --known >= 1")
        model = Path(args.model)
        checkpoint.load_config(model)  # a clear error before any training
        cache = clean_cache(args.data)
        gen = Generator.from_pretrained(model, device="cpu", threads=args.threads)
        if args.keep_judge:
            if gen.judge is None:
                raise RoparError(f"{model} has no agreement.safetensors to keep: leave out --keep-judge")
            judge, r_at_1 = gen.judge, gen.judge.calibration.get("retrieval_t2m_R@1_label")
        else:
            work = Path(args.work or Path("runs") / "agreement" / model.resolve().name)
            ev = train_judge(cache, work, gen.text, args.steps, args.preset, args.threads)
            judge = build_judge(ev, cache)
            r_at_1 = ev.config.get("retrieval", {}).get("full_r_t2m_label", {}).get("R@1")
        report = calibrate(gen, judge, cache, Path(args.prompts), args.known, seeds, args.max_false,
                           args.seconds)
        judge.threshold, judge.rule = report["threshold"], report["rule"]
        judge.calibration = {k: v for k, v in report.items() if k != "misjudged"}
        judge.calibration["data"] = str(cache)
        judge.calibration["retrieval_t2m_R@1_label"] = r_at_1
        path = judge.save(model)
    except (RoparError, OSError, ValueError, KeyError) as exc:
        return cli_error("build_agreement", exc)
    print(f"{path}: {len(judge.labels)} actions; warning rule: margin + {judge.rule['agreement_weight']:g} x "
          f"agreement < {judge.rule['threshold']:+.3f}")
    print(calibration_line(report))
    for line in report["misjudged"]:
        print("  misjudged:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
