"""Your own motion data -> a training cache (docs/own-data.md, docs/training.md).

    python -m training.build_cache --source bvh --input mocap/ --captions captions.csv --out data/own
    python -m training.build_cache --source humanml3d --input HumanML3D/ --out data/h3d
    python -m training.build_cache --source amass --input AMASS/ --smpl-models body_models/ --out data/amass
    python -m training.build_cache --source wham --input videos/ --out data/videos
    python -m training.build_cache --source wham --input clip.npz --keypoints clip_vitpose.json \\
        --text "a person waves" --out data/one_video

Every source goes through its importer (training/data/importers/) file by file, with a progress bar
(the plans of training/data/plans.py, the one folder-import path), into `training.data.cache.CacheWriter`.
Mocap sources (bvh, humanml3d, amass) give clean caches (all parts credible). WHAM output gets its
per-part credibility from the video's 2D keypoints; when any frame is
not credible the cache is written with `noisy: true`, and since video data has no ground truth its
`clean_features.npy` is a copy of the features (meta.json says so under "clean_features").

WHAM folder layout (one sub-folder per video, the folder name is the clip id and its subject):

    videos/<name>/  wham.npz (any one *.npz; or WHAM's wham_output.pkl with --trust-pickle)
                    keypoints.json | keypoints.npy | keypoints.csv | keypoints/ (OpenPose per-frame JSON)
                      (or, without raw keypoints, credibility.json written by `ropar credibility`)
                    caption.txt   one caption per line (or an entry "<name>" in --captions)

The cache is built in a hidden sibling folder and moved into place only when complete, so a failed or
interrupted run leaves an existing cache at --out untouched (and meta.json, written last, marks a
complete cache as everywhere else). Bad input ends with one line `build_cache: error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ropar_core.credibility import DEFAULT_TAU, token_mask_from_frame_mask
from ropar_core.errors import RoparError, cli_error
from ropar_core.keypoints import FORMATS
from ropar_core.skeleton import FPS, PART_NAMES
from training.data.cache import CacheWriter, is_complete
from training.data.dataset import DEFAULT_BATCH_SIZE, DEFAULT_MIN_FRAMES
from training.data.importers import (
    SPLITS,
    Clip,
)
from training.data.plans import SOURCES, BuildSpec, iter_clips, plan_for

PROG = "build_cache"
# Per-clip importer fields copied into meta.json (plain JSON values only).
CLIP_FIELDS = ("file", "fps_in", "motion_id", "start_s", "end_s", "gender", "track", "keypoints",
               "credible_frame_ratio")
MAX_LISTED = 10  # skipped inputs named in the summary
NO_GROUND_TRUTH = "copy of features.npy: video-reconstructed data has no ground truth"


class Tally:
    """What the summary reports, gathered while clips stream past (nothing is re-read)."""

    def __init__(self) -> None:
        self.clips = self.frames = self.uncaptioned = self.short = self.train_usable = 0
        self.captions: list[str] = []
        self.splits = dict.fromkeys(SPLITS, 0)
        self.tokens = np.zeros(len(PART_NAMES))
        self.token_rows = 0

    def add(self, clip: Clip, split: str) -> None:
        self.clips += 1
        self.frames += clip.length
        self.splits[split] += 1
        self.captions += clip.texts
        self.uncaptioned += not clip.texts
        self.short += clip.length < DEFAULT_MIN_FRAMES
        self.train_usable += split == "train" and clip.length >= DEFAULT_MIN_FRAMES
        tm = token_mask_from_frame_mask(clip.frame_mask, "all")  # (ceil(T/4), 5)
        self.tokens += tm.sum(0)
        self.token_rows += len(tm)


def _clip_extra(clip: Clip) -> dict:
    return {k: clip.meta[k] for k in CLIP_FIELDS if k in clip.meta and clip.meta[k] is not None}


def write(clips: Iterator[Clip], stage: Path, name: str, noisy: bool, extra_meta: dict, tally: Tally,
          skipped: list[str]) -> dict:
    if noisy:
        extra_meta = {**extra_meta, "clean_features": NO_GROUND_TRUTH}
    with CacheWriter(stage, name, noisy=noisy, extra_meta=extra_meta) as w:
        for clip in clips:
            w.add(clip, clean_features=clip.features if noisy else None, extra=_clip_extra(clip))
            tally.add(clip, clip.meta["split"])
        if not w.clips:
            why = f": all {len(skipped)} inputs were unreadable, e.g. {skipped[0]}" if skipped else ""
            raise RoparError(f"no clips were imported{why}")
        return w.close()


def check_out(out: Path) -> None:
    """--out may be new, empty or an earlier cache (replaced on success); never a folder of other files."""
    if out.exists() and not out.is_dir():
        raise RoparError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_complete(out):
        raise RoparError(f"{out}: folder is not empty and holds no cache; remove it or choose a new --out")


def move_into_place(stage: Path, out: Path) -> None:
    """Swap the finished stage folder in for --out (an old cache is removed only after the swap)."""
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def build(spec: BuildSpec) -> tuple[dict, Tally, list[str], list[str]]:
    """Import `spec` into a cache at spec.out -> (meta.json content, tally, notes, skipped-file messages)."""
    if spec.out is None:
        raise RoparError("no output folder for the cache")
    out = spec.out
    check_out(out)
    plan = plan_for(spec)
    skipped: list[str] = []
    tally = Tally()
    extra = {"source": spec.source, "input": str(spec.input.resolve()),
             "built_by": "training.build_cache", "split_ratios": list(spec.splits),
             "split_seed": spec.split_seed}
    if spec.source == "wham":
        extra["tau"] = spec.tau
    name = spec.name or f"{spec.source}-{out.name}"
    stage = out.parent / f".{out.name}.building"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if spec.source == "wham":
            # Credibility decides noisy/clean, known only once every video is read; video sets are small.
            clips = list(iter_clips(plan, spec, skipped))
            noisy = any(not c.frame_mask.all() for c in clips)
            meta = write(iter(clips), stage, name, noisy, extra, tally, skipped)
        else:  # mocap: all credible, streamed so that AMASS-sized sets never sit in memory
            meta = write(iter_clips(plan, spec, skipped), stage, name, False, extra, tally, skipped)
        move_into_place(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return meta, tally, plan.notes, skipped


# ---------------------------------------------------------------------------------------------
# Summary and command line.


def summarise(out: Path, meta: dict, tally: Tally, notes: list[str], skipped: list[str],
              seconds: float) -> str:
    hours = tally.frames / FPS / 3600
    splits = ", ".join(f"{s} {n}" for s, n in tally.splits.items())
    lines = [f"cache    {out}: {tally.clips} clips, {tally.frames} frames = {hours:.3f} h at {FPS} fps "
             f"({'noisy' if meta['noisy'] else 'clean'})",
             f"splits   {splits}",
             f"captions {len(tally.captions)} ({len(set(tally.captions))} distinct); "
             f"{tally.uncaptioned} clips without one"]
    ratios = tally.tokens / max(tally.token_rows, 1)
    overall = float(tally.tokens.sum() / max(tally.token_rows * len(PART_NAMES), 1))
    lines.append(f"credible tokens {overall:.3f}; per part "
                 + ", ".join(f"{p} {r:.3f}" for p, r in zip(PART_NAMES, ratios)))
    if meta["noisy"]:
        lines.append(f"note     clean_features.npy is a {NO_GROUND_TRUTH}")
    lines += [f"note     {n}" for n in notes]
    if skipped:
        lines.append(f"skipped  {len(skipped)} unreadable inputs:")
        lines += [f"         {msg}" for msg in skipped[:MAX_LISTED]]
        lines += [f"         ... and {len(skipped) - MAX_LISTED} more"] if len(skipped) > MAX_LISTED else []
    if tally.short:
        lines.append(f"warning  {tally.short} clips are shorter than {DEFAULT_MIN_FRAMES} frames "
                     f"({DEFAULT_MIN_FRAMES / FPS:.1f} s); training skips them")
    if not tally.splits["train"] or not (tally.splits["val"] or tally.splits["test"]):
        lines.append("warning  training needs train clips and val or test clips; change --splits "
                     "(e.g. --splits 0.5,0.5,0) or add data")
    batch = DEFAULT_BATCH_SIZE
    if 0 < tally.train_usable < batch:
        n = tally.train_usable
        lines.append(f"warning  {n} train clips are fewer than the trainers' default batch of {batch}: "
                     f"pass --batch-size {n} (or less) to train_pvae / train_ropar")
    lines.append(f"time     {seconds:.1f} s")
    return "\n".join(lines)


def parse_splits(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(not v >= 0 for v in values) or not sum(values) > 0:
        raise RoparError(f"--splits: expected three train,val,test ratios >= 0 (not all 0), got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.build_cache",
                                 description="Your own motion data (BVH, HumanML3D, AMASS, WHAM + 2D "
                                             "keypoints) -> a training cache.")
    ap.add_argument("--source", required=True, choices=SOURCES)
    ap.add_argument("--input", required=True, help="folder (or one AMASS/WHAM file) to import")
    ap.add_argument("--out", required=True, help="cache folder to write (an earlier cache there is replaced)")
    ap.add_argument("--captions", help="caption file: CSV 'file,caption' rows or JSON {file: [captions]}")
    ap.add_argument("--bone-map", help="bvh: JSON {smpl_joint: bvh_joint} or a known map (smpl, bandai, "
                                       "mixamo, cmu); default: detect")
    ap.add_argument("--smpl-models", help="amass (and WHAM parameter output): folder with your SMPL-family "
                                          "model files")
    ap.add_argument("--keypoints",
                    help="wham, one file: the video's 2D keypoints (or a ropar credibility JSON)")
    ap.add_argument("--keypoint-format", default="auto", choices=FORMATS + ("auto",),
                    help="wham: keypoint format (default: detect)")
    ap.add_argument("--text", action="append", help="wham, one file: a caption (repeatable)")
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU, help="wham: part confidence threshold (0.5)")
    ap.add_argument("--fps", type=float, help="frame rate when the files do not say (WHAM default 30)")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="allow .pkl/.pth inputs (WHAM output, SMPL .pkl models): only files you made "
                         "yourself")
    ap.add_argument("--splits", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST",
                    help="split ratios, decided per subject/video (default 0.8,0.1,0.1)")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="stop after N clips")
    ap.add_argument("--skip-bad", action="store_true", help="skip unreadable files instead of stopping")
    ap.add_argument("--allow-uncaptioned", action="store_true", help="skip inputs without a caption")
    ap.add_argument("--name", help="cache name stored in meta.json (default <source>-<out folder name>)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    t0 = time.time()
    try:
        spec = BuildSpec(**{**vars(args), "splits": parse_splits(args.splits)})
        meta, tally, notes, skipped = build(spec)
    except RoparError as exc:
        return cli_error(PROG, exc)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return cli_error(PROG, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {args.out} is unchanged", file=sys.stderr)
        return 130
    print(summarise(Path(args.out), meta, tally, notes, skipped, time.time() - t0))
    print(f"next     python -m training.train_pvae --data {args.out} --out runs/pvae --preset small")
    return 0


if __name__ == "__main__":
    sys.exit(main())
