"""Can the judge see the noise? Evaluator metrics of the noisy ground truth against the clean ground truth.

    python -m training.judge_check --caches data/cache --evaluator assets/evaluator \\
        [--noisy noisy_r30 noisy noisy_r70] [--repeats 10] [--out reports/judge]

A credibility-blind model can at best reproduce its noisy training data, so the noisy ground truth scored
by the evaluator is the most such a model can be hurt by the noise. Per noisy cache and per evaluation
repeat (fresh caption draws and crop windows, the same items for both conditions):
- R@1 (batches of 32) and MM-Dist of the clean test ground truth and of the noisy test ground truth
  (same windows, same captions, same batches);
- FID against the clean test ground truth of an independent real set of the same kind: the clean val
  ground truth (what an ideal model trained on clean data would score) and the noisy val ground truth
  (what an ideal blind model would score), plus the paired FID of the noisy test windows themselves.
Each cache's result is written as a small JSON (<out>/<cache>.json), so a rerun skips finished caches.
Intervals are Student-t over repeats; the noise counts as "visible" to a metric when the paired
difference (noisy - clean, per repeat) has a 95 % interval that excludes zero.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError, cli_error
from training.data.cache import Cache
from training.evaluation import metrics
from training.evaluation.evaluate import draw_items
from training.evaluation.evaluator import TextMotionEvaluator, load_clips
from training.experiments.runs import REPO, recorded, shown

VERSION = 1


def noisy_windows(cache: Cache, split: str, ids: list[str]) -> list[np.ndarray]:
    """Noisy features of the clips `ids` (in that order) of one split."""
    by_id = {str(cache.clips[i]["id"]): i for i in cache.indices(split)}
    missing = [c for c in ids if c not in by_id]
    if missing:
        raise RoparError(f"{cache.path}: {len(missing)} {split} clips of the clean cache are missing "
                         f"(first: {missing[0]})")
    return [cache.clip_features(by_id[c]) for c in ids]


def _embed(ev: TextMotionEvaluator, feats: list[np.ndarray], items) -> np.ndarray:
    return ev.embed_motions([feats[it.clip][it.start:it.start + it.length] for it in items])


def judge_cache(ev: TextMotionEvaluator, clean_dir: Path, noisy_dir: Path, repeats: int = 10,
                seed: int = 0, log=None) -> dict:
    """Per-repeat metrics of clean vs noisy ground truth for one noisy cache."""
    cache = Cache(noisy_dir)
    if not cache.noisy:
        raise RoparError(f"{noisy_dir} is not a noisy cache")
    test = load_clips(clean_dir, "test")
    val = load_clips(clean_dir, "val")
    test_clean = [c.features for c in test]
    test_noisy = noisy_windows(cache, "test", [c.id for c in test])
    val_clean = [c.features for c in val]
    val_noisy = noisy_windows(cache, "val", [c.id for c in val])
    max_frames = ev.model.cfg.max_frames
    rows: dict[str, list[float]] = {k: [] for k in ("clean_gt_fid", "noisy_gt_fid", "noisy_gt_fid_paired",
                                                     "clean_gt_r1", "noisy_gt_r1", "clean_gt_mm_dist",
                                                     "noisy_gt_mm_dist")}
    for r in range(repeats):
        t0 = time.time()
        rng = np.random.default_rng([seed, r, 1])
        items = draw_items(test, max_frames, rng)
        ref_items = draw_items(val, max_frames, rng)
        pick = rng.choice(len(ref_items), size=min(len(items), len(ref_items)), replace=False)
        ref_items = [ref_items[int(i)] for i in pick]
        captions = [it.caption for it in items]
        text = ev.embed_texts(captions)
        e_clean, e_noisy = _embed(ev, test_clean, items), _embed(ev, test_noisy, items)
        v_clean, v_noisy = _embed(ev, val_clean, ref_items), _embed(ev, val_noisy, ref_items)
        (pc, mc), (pn, mn) = (metrics.r_precision(text, e, captions=captions, seed=seed + r)
                              for e in (e_clean, e_noisy))
        for key, value in (("clean_gt_fid", metrics.fid(e_clean, v_clean)),
                           ("noisy_gt_fid", metrics.fid(e_clean, v_noisy)),
                           ("noisy_gt_fid_paired", metrics.fid(e_clean, e_noisy)),
                           ("clean_gt_r1", pc[0]), ("noisy_gt_r1", pn[0]),
                           ("clean_gt_mm_dist", mc), ("noisy_gt_mm_dist", mn)):
            rows[key].append(float(value))
        if log:
            log(f"{noisy_dir.name} repeat {r + 1}/{repeats}: FID clean {rows['clean_gt_fid'][-1]:.4f} noisy "
                f"{rows['noisy_gt_fid'][-1]:.4f}, R@1 clean {pc[0]:.3f} noisy {pn[0]:.3f} "
                f"({time.time() - t0:.0f}s)")
    return {"cache": shown(noisy_dir), "noise_mode": cache.meta.get("noise_mode", "limbs"),
            "credible_ratio": round(cache.credible_token_ratio("train"), 4),
            "target_credible_ratio": cache.meta.get("target_credible_ratio"),
            "test_clips": len(test), "val_clips": len(val), "repeats": repeats, "seed": seed, **rows,
            "summary": summarise(rows)}


def summarise(rows: dict[str, list[float]]) -> dict:
    """Student-t intervals per metric and of the paired differences; 'visible' when a difference's
    interval excludes zero (in the direction the noise should push)."""
    out = {k: metrics.t_interval(v).to_dict() for k, v in rows.items()}
    for metric, worse in (("fid", 1.0), ("r1", -1.0), ("mm_dist", 1.0)):
        diff = np.subtract(rows[f"noisy_gt_{metric}"], rows[f"clean_gt_{metric}"])
        est = metrics.t_interval(diff)
        out[f"{metric}_noisy_minus_clean"] = {**est.to_dict(),
                                              "visible": bool(worse * est.mean - est.ci95 > 0)}
    return out


def collect(results: list[dict]) -> dict:
    """The report.json `judge` block: flat per-repeat lists aligned with `credible_ratio` (one entry per
    (cache, repeat)), plus each cache's summary."""
    keys = ("clean_gt_fid", "noisy_gt_fid", "noisy_gt_fid_paired", "clean_gt_r1", "noisy_gt_r1")
    block: dict = {"credible_ratio": [], "seed": [], **{k: [] for k in keys}}
    for res in sorted(results, key=lambda r: r["credible_ratio"]):
        n = len(res["clean_gt_r1"])
        block["credible_ratio"] += [res["credible_ratio"]] * n
        block["seed"] += list(range(res["seed"], res["seed"] + n))
        for k in keys:
            block[k] += res[k]
    block["noise_mode"] = sorted({r["noise_mode"] for r in results})
    block["test_clips"] = sorted({r["test_clips"] for r in results})
    fields = ("cache", "noise_mode", "credible_ratio", "target_credible_ratio", "test_clips", "val_clips",
              "repeats", "summary")
    block["by_cache"] = [{k: r[k] for k in fields} for r in results]
    return block


def run(caches: Path, names: list[str], evaluator: Path, out: Path, repeats: int, seed: int,
        text_encoder=None) -> list[dict]:
    """Judge every named noisy cache of `caches` (skipping those whose JSON in `out` is current)."""
    ev = TextMotionEvaluator.from_dir(evaluator, text_encoder=text_encoder)
    results = []
    for name in names:
        path = out / f"{name}.json"
        key = {"version": VERSION, "cache": shown(caches / name), "evaluator": shown(evaluator),
               "repeats": repeats, "seed": seed}
        saved = recorded(path, key)
        if saved is not None:
            results.append(saved["result"])
            continue
        res = judge_cache(ev, caches / "clean", caches / name, repeats, seed,
                          log=lambda m: print(f"[judge] {m}", file=sys.stderr, flush=True))
        write_text(path, json.dumps({"key": key, "result": res}, indent=1) + "\n")
        results.append(res)
    return results


def format_summary(results: list[dict]) -> str:
    lines = ["cache | credible | FID clean val->test | FID noisy val->test | R@1 clean | R@1 noisy | visible"]
    for r in results:
        s = r["summary"]
        vis = ", ".join(m for m in ("fid", "r1", "mm_dist") if s[f"{m}_noisy_minus_clean"]["visible"]) or "no"
        lines.append(f"{Path(r['cache']).name} | {r['credible_ratio']:.3f} | "
                     f"{s['clean_gt_fid']['mean']:.4f} ± {s['clean_gt_fid']['ci95']:.4f} | "
                     f"{s['noisy_gt_fid']['mean']:.4f} ± {s['noisy_gt_fid']['ci95']:.4f} | "
                     f"{s['clean_gt_r1']['mean']:.3f} ± {s['clean_gt_r1']['ci95']:.3f} | "
                     f"{s['noisy_gt_r1']['mean']:.3f} ± {s['noisy_gt_r1']['ci95']:.3f} | {vis}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.judge_check", description=__doc__.split("\n")[0])
    ap.add_argument("--caches", required=True, help="directory with clean/ and the noisy caches")
    ap.add_argument("--noisy", nargs="+", default=None,
                    help="noisy cache names (default: every noisy* directory with a meta.json)")
    ap.add_argument("--evaluator", default=str(REPO / "assets" / "evaluator"))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "reports" / "judge"))
    args = ap.parse_args(argv)
    caches = Path(args.caches)
    try:
        if args.repeats < 2:
            raise RoparError("--repeats must be at least 2 (intervals need two values)")
        names = args.noisy or sorted(p.name for p in caches.glob("noisy*") if (p / "meta.json").is_file())
        if not names:
            raise RoparError(f"{caches}: no noisy caches")
        results = run(caches, names, Path(args.evaluator), Path(args.out), args.repeats, args.seed)
    except RoparError as exc:
        return cli_error("judge_check", exc)
    print(format_summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
