"""A HumanML3D folder -> `Clip` records.

Layout (as released): `new_joint_vecs/<id>.npy` (T, 263) features at 20 fps, `texts/<id>.txt` with
one caption per line as `caption#tokens#start#end`, and optional split lists `train.txt`, `val.txt`,
`test.txt` (one id per line). Like HumanML3D's own loader, captions whose start/end (seconds) are not
both zero describe a sub-segment: each distinct segment becomes its own clip with frames
[int(start * 20), int(end * 20)). Mirrored copies (`M<id>`) share their original's split key.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ropar_core.errors import MotionFileError
from ropar_core.skeleton import FEATURE_DIM, FPS
from training.data.importers import SPLITS, Clip, set_split

log = logging.getLogger(__name__)
SOURCE = "humanml3d"


def parse_text_file(path: str | Path) -> dict[tuple[float, float], list[str]]:
    """`caption#tokens#start#end` lines -> {(start, end) seconds: [captions]}; (0, 0) = the whole clip.
    A line without '#' is a plain caption for the whole clip."""
    path = Path(path)
    out: dict[tuple[float, float], list[str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.rsplit("#", 3) if line.count("#") >= 3 else [line]
        caption = fields[0].strip()
        start = end = 0.0
        if len(fields) == 4:
            try:
                start, end = float(fields[2] or 0.0), float(fields[3] or 0.0)
            except ValueError:
                raise MotionFileError(
                    f"{path}:{n}: start/end must be seconds, got {fields[2]!r}, {fields[3]!r}") from None
            start = 0.0 if math.isnan(start) else start
            end = 0.0 if math.isnan(end) else end
            if (start, end) != (0.0, 0.0) and not 0.0 <= start < end:
                raise MotionFileError(f"{path}:{n}: segment {start}-{end} s is empty or negative")
        if caption:
            out.setdefault((start, end), []).append(caption)
    return out


def read_split_files(root: Path) -> dict[str, str]:
    """{id: split} from train.txt / val.txt / test.txt (absent files are skipped)."""
    out: dict[str, str] = {}
    for split in SPLITS:
        f = root / f"{split}.txt"
        if f.exists():
            for line in f.read_text(encoding="utf-8").split():
                out.setdefault(line.strip(), split)
    return out


def load_vecs(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MotionFileError(f"{path.name}: not a readable .npy array ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != FEATURE_DIM or len(arr) == 0:
        raise MotionFileError(f"{path.name}: shape {arr.shape}, expected (frames, {FEATURE_DIM})")
    if not np.isfinite(arr).all():
        raise MotionFileError(f"{path.name}: NaN or infinite values")
    return arr.astype(np.float32)


def base_id(motion_id: str) -> str:
    """`M012314` (a mirrored copy) -> `012314`."""
    return motion_id[1:] if motion_id.startswith("M") and motion_id[1:].isdigit() else motion_id


def clips_for_motion(motion_id: str, feats: np.ndarray, captions: dict[tuple[float, float], list[str]],
                     split: str | None, min_frames: int = 1, split_seed: int = 0) -> list[Clip]:
    """One motion's features and captions -> one clip per distinct caption segment."""
    clips = []
    for (start, end), texts in sorted(captions.items()):
        whole = (start, end) == (0.0, 0.0)
        segment = feats if whole else feats[int(start * FPS):int(end * FPS)]
        if len(segment) < min_frames:
            log.info("%s %.2f-%.2f s: %d frames < %d, skipped", motion_id, start, end, len(segment),
                     min_frames)
            continue
        cid = motion_id if whole else f"{motion_id}#{start:g}-{end:g}"
        meta = {"motion_id": motion_id, "start_s": start, "end_s": end}
        if split:
            meta["split"] = split
        clips.append(set_split(Clip(id=cid, features=segment, texts=texts, source=SOURCE, subject="",
                                    split_key=f"{SOURCE}/{base_id(motion_id)}", meta=meta), seed=split_seed))
    return clips
