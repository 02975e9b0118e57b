"""Your own motion data -> a training cache (docs/own-data.md, docs/training.md).

    python -m training.build_cache --source bvh --input mocap/ --captions captions.csv --out data/own
    python -m training.build_cache --source humanml3d --input HumanML3D/ --out data/h3d
    python -m training.build_cache --source amass --input AMASS/ --smpl-models body_models/ --out data/amass
    python -m training.build_cache --source wham --input videos/ --out data/videos
    python -m training.build_cache --source wham --input clip.npz --keypoints clip_vitpose.json \\
        --text "a person waves" --out data/one_video

Every source goes through its importer (training/importers/) file by file, with a progress bar, into
`training.data.cache.CacheWriter`. Mocap sources (bvh, humanml3d, amass) give clean caches (all parts
credible). WHAM output gets its per-part credibility from the video's 2D keypoints; when any frame is
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ropar_core.bone_maps import BONE_MAPS
from ropar_core.credibility import DEFAULT_TAU, token_mask_from_frame_mask
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.keypoints import FORMATS
from ropar_core.skeleton import FPS, PART_NAMES
from training.data.cache import CacheWriter, is_complete
from training.train.config import pvae_train_defaults
from training.data.dataset import DEFAULT_MIN_FRAMES
from training.data.importers import (
    SPLITS,
    Clip,
    amass,
    assign_split,
    bvh_folder,
    captions_for,
    read_captions,
    wham,
)
from training.data.importers import humanml3d as h3d

PROG = "build_cache"
SOURCES = ("bvh", "humanml3d", "amass", "wham")
KEYPOINT_NAMES = ("keypoints.json", "keypoints.npy", "keypoints.csv", "keypoints")
MASK_NAME = "credibility.json"
CAPTION_NAME = "caption.txt"
WHAM_PICKLES = ("wham_output.pkl", "wham_output.pth")
# Per-clip importer fields copied into meta.json (plain JSON values only).
CLIP_FIELDS = ("file", "fps_in", "motion_id", "start_s", "end_s", "gender", "track", "keypoints",
               "credible_frame_ratio")
MAX_LISTED = 10  # skipped inputs named in the summary
NO_GROUND_TRUTH = "copy of features.npy: video-reconstructed data has no ground truth"


@dataclass
class Job:
    """One input unit (a file, a motion id, a video folder) and how to turn it into clips."""

    label: str
    load: Callable[[], list[Clip]]


@dataclass
class Plan:
    jobs: list[Job]
    notes: list[str]  # things the summary should mention (files skipped before importing, ...)
    keep_split: Callable[[Clip], bool] = lambda clip: False  # an official split file fixed this clip's split


# ---------------------------------------------------------------------------------------------
# Per-source plans: list the inputs up front (cheap), import them one by one later.


def _captions(args) -> dict[str, list[str]] | None:
    return None if args.captions is None else read_captions(args.captions)


def _uncaptioned_error(root: Path, names: list[str]) -> RoparError:
    return RoparError(f"{root}: {len(names)} inputs have no caption (e.g. {', '.join(names[:3])}); add "
                      "them to the captions or pass --allow-uncaptioned to skip them")


def plan_bvh(args) -> Plan:
    root = Path(args.input)
    if not root.is_dir():
        raise RoparError(f"{root}: --source bvh needs a folder of .bvh files")
    if args.captions is None:
        raise RoparError("--source bvh needs --captions FILE (CSV 'file,caption' rows or JSON "
                         "{file: captions})")
    paths = sorted(root.rglob("*.bvh"), key=lambda p: p.relative_to(root).as_posix())
    if not paths:
        raise RoparError(f"{root}: no .bvh files")
    caps = _captions(args)
    bone_map = args.bone_map
    if bone_map is not None and bone_map not in BONE_MAPS:
        bone_map = bvh_folder.load_bone_map(bone_map)
    rels = [p.relative_to(root) for p in paths]
    missing = [r.as_posix() for r in rels if not captions_for(caps, r)]
    if missing and not args.allow_uncaptioned:
        raise _uncaptioned_error(root, missing)
    def load(path: Path, rel: Path) -> list[Clip]:
        return [bvh_folder.load_bvh_clip(path, root, captions_for(caps, rel), bone_map)]

    jobs = [Job(r.as_posix(), lambda p=p, r=r: load(p, r))
            for p, r in zip(paths, rels) if captions_for(caps, r)]
    notes = [f"{len(missing)} BVH files without a caption skipped"] if missing else []
    return Plan(jobs, notes)


def plan_humanml3d(args) -> Plan:
    root = Path(args.input)
    vec_dir, txt_dir = root / "new_joint_vecs", root / "texts"
    if not vec_dir.is_dir() or not txt_dir.is_dir():
        raise RoparError(f"{root}: not a HumanML3D folder (needs new_joint_vecs/ and texts/)")
    official = h3d.read_split_files(root)  # {id: split} from train/val/test.txt when present
    ids = sorted(p.stem for p in vec_dir.glob("*.npy"))
    if not ids:
        raise RoparError(f"{root}: no motions (new_joint_vecs/*.npy)")
    have_text = [i for i in ids if (txt_dir / f"{i}.txt").exists()]

    def load(motion_id: str) -> list[Clip]:
        captions = h3d.parse_text_file(txt_dir / f"{motion_id}.txt")
        feats = h3d.load_vecs(vec_dir / f"{motion_id}.npy")  # (T, 263)
        return h3d.clips_for_motion(motion_id, feats, captions, official.get(motion_id))

    lost = len(ids) - len(have_text)
    notes = [f"{lost} motions without texts/<id>.txt skipped"] if lost else []
    if official:
        notes.append("splits from the official train/val/test.txt lists")
    return Plan([Job(i, lambda i=i: load(i)) for i in have_text], notes,
                keep_split=lambda clip: clip.meta.get("motion_id") in official)


def plan_amass(args) -> Plan:
    if args.smpl_models is None:
        raise RoparError("--source amass needs --smpl-models DIR (your SMPL / SMPL+H / SMPL-X model files)")
    root = Path(args.input)
    if root.is_file():
        paths, root = [root], root.parent
    elif root.is_dir():
        paths = sorted((p for p in root.rglob("*.npz") if amass.is_motion_file(p)),
                       key=lambda p: p.relative_to(root).as_posix())
    else:
        raise RoparError(f"{root}: no such file or folder")
    if not paths:
        raise RoparError(f"{root}: no AMASS motion .npz files (with a 'poses' array)")
    caps = _captions(args)
    models = amass.ModelCache(args.smpl_models, None, args.trust_pickle)
    rels = [p.relative_to(root) for p in paths]
    if caps is None:  # motion-only clips: enough for the P-VAE, not for RoPAR's text conditioning
        keep, notes = list(zip(paths, rels)), ["no --captions: clips carry no text (P-VAE training only)"]
    else:
        keep = [(p, r) for p, r in zip(paths, rels) if captions_for(caps, r)]
        lost = len(paths) - len(keep)
        notes = [f"{lost} files without a caption skipped"] if lost else []
    jobs = [Job(r.as_posix(), lambda p=p, r=r: [amass.load_amass_clip(
        p, root, models, None if caps is None else captions_for(caps, r), args.fps)]) for p, r in keep]
    return Plan(jobs, notes)


def _one_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).exists()), None)


def video_files(folder: Path, trust_pickle: bool) -> tuple[Path, Path]:
    """A video folder -> (WHAM output, keypoints or credibility file); see the module docstring."""
    npz = sorted(folder.glob("*.npz"))
    if len(npz) > 1:
        names = ", ".join(p.name for p in npz)
        raise MotionFileError(f"{folder.name}: several .npz files ({names}); keep one WHAM output per video")
    motion = npz[0] if npz else _one_file(folder, WHAM_PICKLES)
    if motion is None:
        raise MotionFileError(f"{folder.name}: no WHAM output (a .npz export, or {' / '.join(WHAM_PICKLES)})")
    if motion.suffix != ".npz" and not trust_pickle:
        raise RoparError(f"{folder.name}/{motion.name} is a pickle and can run code when loaded; export an "
                         ".npz or pass --trust-pickle for files you produced yourself")
    found = [folder / n for n in KEYPOINT_NAMES if (folder / n).exists()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise MotionFileError(f"{folder.name}: several keypoint files ({names}); keep one per video")
    keypoints = found[0] if found else _one_file(folder, (MASK_NAME,))
    if keypoints is None:
        raise MotionFileError(f"{folder.name}: no keypoints ({', '.join(KEYPOINT_NAMES)} or {MASK_NAME})")
    return motion, keypoints


def _caption_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [ln.strip() for ln in lines if ln.strip()]


def plan_wham(args) -> Plan:
    root = Path(args.input)
    caps = _captions(args)

    def load(output: Path, keypoints: Path, texts: list[str], name: str | None) -> list[Clip]:
        return [wham.import_wham(output, keypoints, texts, keypoints_format=args.keypoint_format,
                                 model_dir=args.smpl_models, fps=args.fps, trust_pickle=args.trust_pickle,
                                 tau=args.tau, clip_id=name, subject=name or "")]

    if root.is_file():  # one video: its WHAM output + --keypoints + --text / --captions
        if args.keypoints is None:
            raise RoparError("one WHAM file needs --keypoints PATH (or give a folder of video folders)")
        texts = list(args.text or []) or (captions_for(caps, root.name) if caps else [])
        if not texts:
            raise RoparError(f"{root.name}: no caption; pass --text \"...\" (or --captions with an entry "
                             "for it)")
        return Plan([Job(root.name, lambda: load(root, Path(args.keypoints), texts, None))], [])
    if not root.is_dir():
        raise RoparError(f"{root}: no such file or folder")
    if args.keypoints is not None or args.text:
        raise RoparError("--keypoints and --text go with one WHAM file; a folder holds them per video "
                         f"(<video>/keypoints.json, <video>/{CAPTION_NAME})")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise RoparError(f"{root}: no video folders (expected <video>/wham.npz, keypoints.json, "
                         f"{CAPTION_NAME})")
    texts = {}
    for f in folders:
        texts[f.name] = (_caption_lines(f / CAPTION_NAME) if (f / CAPTION_NAME).is_file()
                         else captions_for(caps, f.name) if caps else [])
    missing = [name for name, t in texts.items() if not t]
    if missing and not args.allow_uncaptioned:
        raise _uncaptioned_error(root, missing)

    def load_folder(folder: Path) -> list[Clip]:
        output, keypoints = video_files(folder, args.trust_pickle)
        return load(output, keypoints, texts[folder.name], folder.name)

    jobs = [Job(f.name, lambda f=f: load_folder(f)) for f in folders if texts[f.name]]
    return Plan(jobs, [f"{len(missing)} video folders without a caption skipped"] if missing else [])


PLANS = {"bvh": plan_bvh, "humanml3d": plan_humanml3d, "amass": plan_amass, "wham": plan_wham}


# ---------------------------------------------------------------------------------------------
# Importing and writing.


def _load(job: Job, args, skipped: list[str]) -> list[Clip]:
    """One job's clips; an unreadable file stops the run, or with --skip-bad is noted and passed over."""
    try:
        return job.load()
    except MotionFileError as exc:
        named = job.label in str(exc) or Path(job.label).name in str(exc)
        msg = str(exc) if named else f"{job.label}: {exc}"
        if not args.skip_bad:
            raise MotionFileError(msg) from None
        skipped.append(msg)
        return []


def iter_clips(plan: Plan, args, skipped: list[str]) -> Iterator[Clip]:
    """Run the jobs in order with a progress bar, re-deciding splits by --splits / --split-seed (unless an
    official split list fixed them), up to --limit clips."""
    count = 0
    bar = tqdm(total=len(plan.jobs), desc=args.source, unit="file", disable=args.quiet, file=sys.stderr)
    with bar:
        for job in plan.jobs:
            clips = _load(job, args, skipped)
            bar.update()
            for clip in clips:
                if not plan.keep_split(clip):
                    clip.meta["split"] = assign_split(clip.split_key, args.splits, args.split_seed)
                yield clip
                count += 1
                if args.limit is not None and count >= args.limit:
                    return


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


def build(args) -> tuple[dict, Tally, list[str], list[str]]:
    """-> (meta.json content, tally, notes, skipped-file messages)."""
    out = Path(args.out)
    check_out(out)
    plan = PLANS[args.source](args)
    skipped: list[str] = []
    tally = Tally()
    extra = {"source": args.source, "input": str(Path(args.input).resolve()),
             "built_by": "training.build_cache", "split_ratios": list(args.splits),
             "split_seed": args.split_seed}
    if args.source == "wham":
        extra["tau"] = args.tau
    name = args.name or f"{args.source}-{out.name}"
    stage = out.parent / f".{out.name}.building"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if args.source == "wham":
            # Credibility decides noisy/clean, known only once every video is read; video sets are small.
            clips = list(iter_clips(plan, args, skipped))
            noisy = any(not c.frame_mask.all() for c in clips)
            meta = write(iter(clips), stage, name, noisy, extra, tally, skipped)
        else:  # mocap: all credible, streamed so that AMASS-sized sets never sit in memory
            meta = write(iter_clips(plan, args, skipped), stage, name, False, extra, tally, skipped)
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
    batch = pvae_train_defaults().batch_size
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


def check_args(args) -> None:
    args.splits = parse_splits(args.splits)
    if not Path(args.input).exists():
        raise RoparError(f"{args.input}: no such file or folder")
    if args.limit is not None and args.limit < 1:
        raise RoparError(f"--limit must be positive, got {args.limit}")
    if not 0.0 <= args.tau < 1.0:
        raise RoparError(f"--tau must be in [0, 1), got {args.tau}")
    if args.fps is not None and not args.fps > 0:
        raise RoparError(f"--fps must be positive, got {args.fps}")
    wrong = [flag for flag, value, ok in (
        ("--bone-map", args.bone_map, ("bvh",)), ("--keypoints", args.keypoints, ("wham",)),
        ("--text", args.text, ("wham",)), ("--smpl-models", args.smpl_models, ("amass", "wham")),
    ) if value and args.source not in ok]
    if wrong:
        raise RoparError(f"{', '.join(wrong)} does not apply to --source {args.source}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    t0 = time.time()
    try:
        check_args(args)
        meta, tally, notes, skipped = build(args)
    except RoparError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {args.out} is unchanged", file=sys.stderr)
        return 130
    print(summarise(Path(args.out), meta, tally, notes, skipped, time.time() - t0))
    print(f"next     python -m training.train_pvae --data {args.out} --out runs/pvae --preset small")
    return 0


if __name__ == "__main__":
    sys.exit(main())
