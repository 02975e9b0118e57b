"""Clean mocap -> noisy clips like the paper's video-reconstructed K700-M set (docs/training.md).

    python -m training.simulate_noise --in data/cache/clean --out data/cache/noisy \\
        --credible-ratio 0.5 --seed 0 [--plots DIR]

Per clip: `noise_model.simulate_clip` (virtual camera, credibility, corruption, re-encoding).

The requested credible-token ratio is reached by choosing, per clip, one of several filmed candidates:
the framing prior (a quarter full-body shots, as in Kinetics-700) is exponentially tilted towards
views with more or fewer credible tokens until the expected ratio matches, then a few clips are
switched to land within half a point. Everything is seeded per (seed, clip id): reruns are identical.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ropar_core.credibility import DEFAULT_TAU
from ropar_core.errors import RoparError, cli_error
from ropar_core.features import features_to_joints
from training.data import video_noise
from training.data.cache import Cache, CacheWriter
from training.data.importers import Clip
from training.data.noise_model import (
    NUM_CANDIDATES,
    SimulatedClip,
    choose_candidates,
    clip_key,
    film_candidate,
    mean_pose_local,
    simulate_clip,
    token_counts,
)
from training.data.noise_plots import plot_examples

# ---------------------------------------------------------------------------------------------
# The whole cache (multiprocessing; workers read the clean cache's memory maps themselves).

_WORKER: dict = {}


def _init_worker(cache_dir: str, seed: int, tau: float, num_candidates: int, mode: str = "limbs") -> None:
    cache = Cache(cache_dir)
    _WORKER.update(cache=cache, seed=seed, tau=tau, K=num_candidates, mean_local=mean_pose_local(cache.mean),
                   mode=mode)


def _candidate_counts(i: int) -> tuple[int, np.ndarray, int]:
    cache = _WORKER["cache"]
    joints = features_to_joints(cache.clip_features(i))
    key = clip_key(_WORKER["seed"], cache.clips[i]["id"])
    counts, total = [], 0
    for k in range(_WORKER["K"]):
        if _WORKER["mode"] == "video":
            mask = video_noise.film_candidate(joints, key, k, _WORKER["tau"]).frame_mask
        else:
            _, mask = film_candidate(joints, key, k, _WORKER["tau"])
        good, total = token_counts(mask)
        counts.append(good)
    return i, np.array(counts), total


def _simulate_index(task: tuple[int, int]) -> tuple[int, SimulatedClip]:
    i, k = task
    cache = _WORKER["cache"]
    key = clip_key(_WORKER["seed"], cache.clips[i]["id"])
    if _WORKER["mode"] == "video":
        sim, sim.detector = video_noise.simulate_clip(cache.clip_features(i), key, k, _WORKER["tau"],
                                                      _WORKER["mean_local"])
        return i, sim
    return i, simulate_clip(cache.clip_features(i), key, k, _WORKER["tau"], _WORKER["mean_local"])


def _map(fn, items, workers: int, init_args: tuple, desc: str, progress: bool):
    """Ordered map over items, in a process pool when workers > 1, with a tqdm bar."""
    bar = tqdm(total=len(items), desc=desc, unit="clip", disable=not progress, file=sys.stderr)
    if workers <= 1:
        _init_worker(*init_args)
        for item in items:
            yield fn(item)
            bar.update()
    else:
        with mp.get_context("fork").Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
            for out in pool.imap(fn, items, chunksize=8):
                yield out
                bar.update()
    bar.close()


def simulate_cache(in_dir: str | Path, out_dir: str | Path, credible_ratio: float = 0.5, seed: int = 0,
                   tau: float = DEFAULT_TAU, workers: int = 1, plots: str | Path | None = None,
                   num_candidates: int = NUM_CANDIDATES, num_plots: int = 4, progress: bool = True,
                   extra_meta: dict | None = None, mode: str = "limbs") -> dict:
    """Write a noisy cache from a clean one; returns its meta (with the measured ratio). mode: "limbs"
    (oracle credibility, distal joints, low-passed) or "video" (training/data/video_noise.py)."""
    if mode not in ("limbs", "video"):
        raise RoparError(f"unknown noise mode {mode!r}; choose limbs or video")
    if not 0.0 < credible_ratio <= 1.0:
        raise RoparError(f"--credible-ratio must be in (0, 1], got {credible_ratio}")
    clean = Cache(in_dir)
    if clean.noisy:
        raise RoparError(f"{in_dir}: is already a noisy cache; give the clean one")
    if Path(out_dir).resolve() == Path(in_dir).resolve():
        raise RoparError("--out must differ from --in")
    t0 = time.time()
    init = (str(clean.path), seed, tau, num_candidates, mode)
    n = len(clean)
    if credible_ratio >= 1.0:  # every token credible: the noisy set is the clean set
        choice = None
    else:
        credible = np.zeros((n, num_candidates))
        tokens = np.zeros(n)
        for i, counts, total in _map(_candidate_counts, list(range(n)), workers, init, "film", progress):
            credible[i], tokens[i] = counts, total
        choice = choose_candidates(credible, tokens, credible_ratio, np.random.default_rng([seed, 2]))

    framings: Counter = Counter()
    mode_counts: Counter = Counter()
    good = total = 0
    extra = {"seed": seed, "tau": tau, "source_cache": str(clean.path), "num_candidates": num_candidates,
             "clean_name": clean.meta.get("name"), "noise_mode": mode, **(extra_meta or {})}
    detector: Counter = Counter()
    tag = "-video" if mode == "video" else ""
    name = f"{clean.meta.get('name', 'cache')}-noisy{tag}-r{round(100 * credible_ratio)}"
    with CacheWriter(out_dir, name, noisy=True, target_credible_ratio=credible_ratio, extra_meta=extra) as w:
        if choice is None:
            results = ((i, SimulatedClip(clean.clip_features(i), np.ones((clean.clips[i]["length"], 5), bool),
                                         "clean", {})) for i in range(n))
        else:
            results = _map(_simulate_index, list(zip(range(n), choice.tolist())), workers, init, "corrupt",
                           progress)
        for i, sim in results:
            meta = clean.clips[i]
            clip = Clip(id=meta["id"], features=sim.features, texts=meta["texts"], frame_mask=sim.frame_mask,
                        source=meta.get("source", ""), subject=meta.get("subject", ""),
                        meta={"content": meta.get("content", ""), "style": meta.get("style", "")})
            g, t = token_counts(sim.frame_mask)
            good, total = good + g, total + t
            framings[sim.framing.split("+")[0]] += 1
            for part_modes in sim.modes.values():
                mode_counts.update(part_modes)
            detector.update({k: v for k, v in (sim.detector or {}).items() if k in video_noise.ERROR_KEYS})
            w.add(clip, split=meta["split"], clean_features=clean.clip_features(i),
                  extra={"framing": sim.framing, "credible_token_ratio": round(g / max(t, 1), 4),
                         "corruption": sim.modes, **({"video": sim.detector} if sim.detector else {})})
        w.extra_meta.update({
            "achieved_credible_ratio": round(good / max(total, 1), 4),
            "framing_counts": dict(framings.most_common()),
            "corruption_counts": dict(mode_counts.most_common()),
            **({"detector_errors": video_noise.error_rates(detector)} if mode == "video" else {}),
        })
    meta = w.meta
    if plots is not None and choice is not None:
        plot_examples(clean, choice, Path(plots), seed, tau, num_plots)
    meta["elapsed_s"] = round(time.time() - t0, 1)
    return meta


# ---------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.simulate_noise",
                                 description="Clean cache -> K700-M-like noisy cache (virtual camera).")
    ap.add_argument("--in", dest="in_dir", required=True, help="clean cache directory")
    ap.add_argument("--out", required=True, help="noisy cache directory to write")
    ap.add_argument("--credible-ratio", type=float, default=0.5,
                    help="target share of credible (token, part) cells, e.g. 0.3 / 0.5 / 0.7 / 1.0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU, help="part credibility threshold (paper: tau)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--candidates", type=int, default=NUM_CANDIDATES, help="filmed views per clip")
    ap.add_argument("--plots", default=None, help="write a few clean-vs-noisy PNGs into this folder")
    ap.add_argument("--mode", choices=("limbs", "video"), default="limbs",
                    help="limbs: oracle credibility, distal joints, low-passed (default); video: "
                         "training/data/video_noise.py (global errors, detector-decided credibility)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def summary_line(meta: dict) -> str:
    return (f"{meta['name']}: {len(meta['clips'])} clips, credible-token ratio "
            f"{meta['achieved_credible_ratio']:.3f} (requested {meta['target_credible_ratio']:.2f}), "
            f"framings {meta['framing_counts']}, mode {meta.get('noise_mode', 'limbs')}"
            + (f", detector errors {meta['detector_errors']}" if "detector_errors" in meta else ""))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        meta = simulate_cache(args.in_dir, args.out, args.credible_ratio, args.seed, args.tau,
                              args.workers, args.plots, args.candidates, progress=not args.quiet,
                              mode=args.mode)
    except RoparError as exc:
        return cli_error("simulate_noise", exc)
    print(summary_line(meta) + f" in {meta['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
