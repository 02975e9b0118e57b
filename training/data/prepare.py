"""One command from the Bandai archive to the training caches.

    python -m training.prepare [--archive BANDAI_ARCHIVE.tar.xz | --bandai-dir DIR]
        --out data/cache [--noisy-ratio 0.5] [--variants 0.3,0.5,0.7] [--workers N] [--limit N]

Stages, each resumable (rerunning skips finished work, an interrupted run picks up where it stopped):
1. unpack the archive into OUT/_work/raw (skipped when a folder is given or it is already unpacked);
2. import every BVH -> 263 features at 20 fps, one `.npy` per clip in OUT/_work/features (a process pool,
   a progress bar; files already there are not recomputed);
3. write the clean cache OUT/clean (captions and splits are cheap and recomputed);
4. simulate video-like noise: OUT/noisy at --noisy-ratio, and OUT/noisy_r30 ... for --variants.
A cache whose meta.json records the same inputs and settings is kept as it is. Ends with a summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ropar_core.atomic import atomic_path, write_text
from ropar_core.credibility import DEFAULT_TAU, token_mask_from_frame_mask
from ropar_core.errors import RoparError, cli_error
from ropar_core.skeleton import FPS, PART_NAMES
from training.data import simulate_noise
from training.data.cache import Cache, CacheWriter, is_complete
from training.data.importers import SPLITS, bandai

DEFAULT_ARCHIVE = Path("../shared/datasets/bandai-namco-2.tar.xz")
DEFAULT_DIR = Path("data/Bandai-Namco-Research-Motiondataset-2")
NUM_CAPTIONS = 4
MAX_FAILED_SHARE = 0.05  # more unreadable files than this and the data is wrong, not unlucky


# ---------------------------------------------------------------------------------------------
# Stage 1: find or unpack the data.


def unpack(archive: Path, dest: Path) -> Path:
    """Extract the archive once (a marker file says it is complete); returns the BVH folder."""
    marker = dest / ".unpacked"
    if not marker.exists():
        if not archive.is_file():
            raise RoparError(f"{archive}: archive not found")
        print(f"prepare: unpacking {archive} into {dest} ...", file=sys.stderr)
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")  # refuses absolute paths and links out of dest
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise RoparError(f"{archive}: cannot unpack ({exc})") from None
        write_text(marker, archive.name + "\n")
    return bandai.find_data_dir(dest)


def locate_data(bandai_dir: str | Path | None, archive: str | Path | None, work: Path) -> Path:
    if bandai_dir:
        return bandai.find_data_dir(bandai_dir)
    if archive:
        return unpack(Path(archive), work / "raw")
    if DEFAULT_DIR.exists():
        return bandai.find_data_dir(DEFAULT_DIR)
    if DEFAULT_ARCHIVE.exists():
        return unpack(DEFAULT_ARCHIVE, work / "raw")
    raise RoparError(f"no data: give --archive or --bandai-dir (no {DEFAULT_DIR}, no {DEFAULT_ARCHIVE})")


# ---------------------------------------------------------------------------------------------
# Stage 2: BVH -> per-clip features (resumable).


def _import_one(task: tuple[str, str]) -> tuple[str, str | None]:
    """Worker: one BVH -> OUT/_work/features/<id>.npy; returns (id, error message or None)."""
    path, out = task
    path_ = Path(path)
    try:
        bandai.check_labels(path_, bandai.parse_name(path_))
        feats = bandai.bvh_to_features(path_)
    except RoparError as exc:
        return bandai.clip_id(path_), str(exc)
    with atomic_path(out) as tmp:
        np.save(tmp, feats)
    return bandai.clip_id(path_), None


def import_features(paths: list[Path], feat_dir: Path, workers: int, progress: bool) -> dict[str, str]:
    """Compute missing feature files; returns {clip id: error} for files that could not be read."""
    feat_dir.mkdir(parents=True, exist_ok=True)
    todo = [(str(p), str(feat_dir / f"{bandai.clip_id(p)}.npy")) for p in paths
            if not (feat_dir / f"{bandai.clip_id(p)}.npy").exists()]
    failed: dict[str, str] = {}
    if not todo:
        return failed
    bar = tqdm(total=len(todo), desc="import", unit="clip", disable=not progress, file=sys.stderr)
    if workers <= 1:
        results = map(_import_one, todo)
        for cid, err in results:
            if err:
                failed[cid] = err
            bar.update()
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            for cid, err in pool.imap_unordered(_import_one, todo, chunksize=4):
                if err:
                    failed[cid] = err
                bar.update()
    bar.close()
    return failed


# ---------------------------------------------------------------------------------------------
# Stage 3: the clean cache.


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def write_clean(paths: list[Path], feat_dir: Path, out: Path, group_splits: dict[int, str], seed: int,
                progress: bool) -> Cache:
    ids = [bandai.clip_id(p) for p in paths]
    fp = fingerprint({"ids": ids, "seed": seed, "captions": NUM_CAPTIONS,
                      "splits": sorted(group_splits.items())})
    if is_complete(out) and Cache(out).meta.get("fingerprint") == fp:
        print(f"prepare: {out} is up to date", file=sys.stderr)
        return Cache(out)
    extra = {"fingerprint": fp, "source_dataset": "Bandai-Namco-Research-Motiondataset-2 (CC BY-NC 4.0)",
             "seed": seed}
    with CacheWriter(out, "bandai2-clean", noisy=False, extra_meta=extra) as w:
        for p in tqdm(paths, desc="clean cache", unit="clip", disable=not progress, file=sys.stderr):
            feats = np.load(feat_dir / f"{bandai.clip_id(p)}.npy", allow_pickle=False)
            clip = bandai.make_clip(p, feats, group_splits, seed, NUM_CAPTIONS)
            w.add(clip, extra={"take": clip.meta["take"]})
    return Cache(out)


# ---------------------------------------------------------------------------------------------
# Stage 4: noisy caches.


def noisy_dirs(out: Path, ratio: float, variants: list[float]) -> list[tuple[Path, float]]:
    jobs = [(out / "noisy", ratio)]
    jobs += [(out / f"noisy_r{round(100 * r):02d}", r) for r in variants]
    return jobs


def write_noisy(clean: Cache, out: Path, ratio: float, seed: int, tau: float, workers: int,
                plots: Path | None, progress: bool) -> Cache:
    settings = {"clean": clean.meta.get("fingerprint"), "ratio": ratio, "seed": seed, "tau": tau,
                "candidates": simulate_noise.NUM_CANDIDATES}
    fp = fingerprint(settings)
    if is_complete(out) and Cache(out).meta.get("fingerprint") == fp:
        print(f"prepare: {out} is up to date", file=sys.stderr)
        return Cache(out)
    for twin in out.parent.glob("noisy*"):  # the same settings already simulated (noisy == noisy_r50)
        if twin != out and is_complete(twin) and Cache(twin).meta.get("fingerprint") == fp:
            print(f"prepare: {out} = {twin} (same settings), linking its files", file=sys.stderr)
            return copy_cache(twin, out)
    simulate_noise.simulate_cache(clean.path, out, ratio, seed, tau, workers, plots, progress=progress,
                                  extra_meta={"fingerprint": fp})
    return Cache(out)


def write_video_noisy(clean: Cache, out: Path, ratio: float, seed: int, tau: float, workers: int,
                      plots: Path | None, progress: bool) -> Cache:
    """OUT/noisy_video_rXX: the video-noise simulator (training/data/video_noise.py) at one ratio. Its
    meta carries no fingerprint, as `python -m training.simulate_noise --mode video` writes it, so a
    cache built either way has the same identity in the experiments' run records (key_claim.py); the
    simulation is seeded per (seed, clip), so a rebuild is the same data."""
    if is_complete(out):
        m = Cache(out).meta
        if (m.get("noise_mode"), m.get("target_credible_ratio"), m.get("seed"), m.get("tau"),
                m.get("num_frames")) == ("video", ratio, seed, tau, clean.meta.get("num_frames")):
            print(f"prepare: {out} is up to date", file=sys.stderr)
            return Cache(out)
    simulate_noise.simulate_cache(clean.path, out, ratio, seed, tau, workers, plots, progress=progress,
                                  mode="video")
    return Cache(out)


def copy_cache(src: Path, dst: Path) -> Cache:
    """Hard-link (or copy) a finished cache's files; meta.json last, so a crash leaves no done-marker."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "meta.json").unlink(missing_ok=True)
    files = sorted(p for p in src.iterdir() if p.is_file() and p.name != "meta.json") + [src / "meta.json"]
    for f in files:
        target = dst / f.name
        target.unlink(missing_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)
    return Cache(dst)


# ---------------------------------------------------------------------------------------------
# Summary.


def part_ratios(cache: Cache) -> dict[str, float]:
    """Credible-token share per part over the whole cache ("all" rule)."""
    good = np.zeros(len(PART_NAMES))
    total = 0
    for i in range(len(cache)):
        tm = token_mask_from_frame_mask(cache.clip_credible(i), "all")
        good += tm.sum(0)
        total += len(tm)
    return {p: round(float(g / max(total, 1)), 3) for p, g in zip(PART_NAMES, good)}


def summarise(clean: Cache, noisy: list[Cache], failed: dict[str, str], timings: dict[str, float]) -> str:
    lines = []
    by_split = {s: [c for c in clean.clips if c["split"] == s] for s in SPLITS}
    frames = sum(c["length"] for c in clean.clips)
    captions = [t for c in clean.clips for t in c["texts"]]
    lines.append(f"clean  {clean.path}: {len(clean)} clips, {frames / FPS / 3600:.2f} h at {FPS} fps "
                 f"({', '.join(f'{s} {len(v)}' for s, v in by_split.items())}); "
                 f"{len(captions)} captions, {len(set(captions))} distinct")
    for cache in noisy:
        m = cache.meta
        lines.append(f"noisy  {cache.path}: credible-token ratio {cache.credible_token_ratio():.3f} "
                     f"(requested {m['target_credible_ratio']:.2f}); per part {part_ratios(cache)}")
        if m.get("framing_counts"):
            lines.append(f"       framings {m['framing_counts']}; "
                         f"corruption {m.get('corruption_counts', {})}")
    if failed:
        lines.append(f"skipped {len(failed)} unreadable files, e.g. {next(iter(failed.values()))}")
    lines.append("time   " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line.


def _ratios(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ratios like 0.3,0.5,0.7, got {text!r}") from None
    if any(not 0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"ratios must lie in (0, 1], got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.prepare",
                                 description="Bandai archive -> clean and noisy training caches.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--archive", help=f"Bandai .tar.xz (default {DEFAULT_ARCHIVE} if no unpacked copy)")
    src.add_argument("--bandai-dir", help="an unpacked Bandai folder (or its data/ folder)")
    ap.add_argument("--out", default="data/cache", help="output folder (default data/cache)")
    ap.add_argument("--noisy-ratio", type=float, default=0.5, help="credible-token ratio of OUT/noisy")
    ap.add_argument("--variants", type=_ratios, default=[],
                    help="also write OUT/noisy_rXX for these ratios, e.g. 0.3,0.5,0.7 (paper Fig. 3)")
    ap.add_argument("--video-variants", type=_ratios, default=[],
                    help="also write OUT/noisy_video_rXX (the video-noise simulator) for these ratios, e.g. "
                         "0.3,0.5,0.7 (the key claim and the paper's tables, training.report)")
    ap.add_argument("--workers", type=int, default=max(1, min(4, mp.cpu_count())))
    ap.add_argument("--limit", type=int, default=None, help="import only N clips (a spread over all labels)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU)
    ap.add_argument("--plots", action="store_true", help="write example PNGs to OUT/plots/<cache>/")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


@dataclass
class PrepareSpec:
    """What `python -m training.prepare` builds (its flags)."""

    archive: str | None = None
    bandai_dir: str | None = None
    out: str = "data/cache"
    noisy_ratio: float = 0.5
    variants: list[float] = field(default_factory=list)
    video_variants: list[float] = field(default_factory=list)
    workers: int = 1
    limit: int | None = None
    seed: int = 0
    tau: float = DEFAULT_TAU
    plots: bool = False
    quiet: bool = False


def run(spec: PrepareSpec) -> str:
    if not 0.0 < spec.noisy_ratio <= 1.0:
        raise RoparError(f"--noisy-ratio must be in (0, 1], got {spec.noisy_ratio}")
    if spec.limit is not None and spec.limit < 1:
        raise RoparError(f"--limit must be positive, got {spec.limit}")
    if spec.workers < 1:
        raise RoparError(f"--workers must be positive, got {spec.workers}")
    out = Path(spec.out)
    work = out / "_work"
    progress = not spec.quiet
    timings: dict[str, float] = {}

    t = time.time()
    data_dir = locate_data(spec.bandai_dir, spec.archive, work)
    all_paths = bandai.list_bvh(data_dir)
    group_splits = bandai.take_group_splits([bandai.parse_name(p).take for p in all_paths], spec.seed)
    paths = bandai.list_bvh(data_dir, spec.limit)
    timings["locate"] = time.time() - t

    t = time.time()
    failed = import_features(paths, work / "features", spec.workers, progress)
    if len(failed) > MAX_FAILED_SHARE * len(paths):
        first = next(iter(failed.values()))
        raise RoparError(f"{len(failed)} of {len(paths)} BVH files could not be read, e.g. {first}")
    paths = [p for p in paths if bandai.clip_id(p) not in failed]
    timings["import"] = time.time() - t

    t = time.time()
    clean = write_clean(paths, work / "features", out / "clean", group_splits, spec.seed, progress)
    timings["clean cache"] = time.time() - t

    noisy = []
    for target_dir, ratio in noisy_dirs(out, spec.noisy_ratio, spec.variants):
        t = time.time()
        plots = out / "plots" / target_dir.name if spec.plots else None
        noisy.append(write_noisy(clean, target_dir, ratio, spec.seed, spec.tau, spec.workers, plots,
                                 progress))
        timings[target_dir.name] = time.time() - t
    for ratio in spec.video_variants:
        t = time.time()
        target_dir = out / f"noisy_video_r{round(100 * ratio):02d}"
        plots = out / "plots" / target_dir.name if spec.plots else None
        noisy.append(write_video_noisy(clean, target_dir, ratio, spec.seed, spec.tau, spec.workers, plots,
                                       progress))
        timings[target_dir.name] = time.time() - t
    return summarise(clean, noisy, failed, timings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    try:
        report = run(PrepareSpec(**vars(args)))
    except RoparError as exc:
        return cli_error("prepare", exc)
    except KeyboardInterrupt:
        print("prepare: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130
    print(report)
    print(f"total  {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
