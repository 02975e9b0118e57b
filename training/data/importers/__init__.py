"""Dataset importers: each turns one kind of source (Bandai BVH, a BVH folder, HumanML3D, AMASS, WHAM
output) into `Clip` records that `training.data.prepare` writes into a cache.

Shared here: the `Clip` record and `assign_split`, which decides train/val/test by a hash of the clip's
`split_key` (a subject or take), never by frame, so one performer's takes never straddle two splits.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core.skeleton import FEATURE_DIM, NUM_PARTS

SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    """One training clip.

    features: (T, 263) float32, un-normalised HumanML3D vectors at 20 fps.
    frame_mask: (T, 5) bool per-frame part credibility (PART_NAMES order); all True for clean mocap.
    split_key: what the split is decided by (subject or take), see `assign_split`.
    """

    id: str
    features: np.ndarray
    texts: list[str]
    frame_mask: np.ndarray | None = None
    source: str = ""
    subject: str = ""
    split_key: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32)
        if self.features.ndim != 2 or self.features.shape[1] != FEATURE_DIM:
            shape = self.features.shape
            raise ValueError(f"clip {self.id}: features must be (T, {FEATURE_DIM}), got {shape}")
        T = self.features.shape[0]
        if self.frame_mask is None:
            self.frame_mask = np.ones((T, NUM_PARTS), dtype=bool)
        self.frame_mask = np.asarray(self.frame_mask, dtype=bool)
        if self.frame_mask.shape != (T, NUM_PARTS):
            shape = self.frame_mask.shape
            raise ValueError(f"clip {self.id}: frame_mask must be ({T}, {NUM_PARTS}), got {shape}")
        self.texts = [str(t) for t in self.texts]
        if not self.split_key:
            self.split_key = self.subject or self.id

    @property
    def length(self) -> int:
        return int(self.features.shape[0])


def assign_split(split_key: str, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> str:
    """Deterministic 'train' / 'val' / 'test' from a hash of (seed, split_key).

    Stable across runs, machines and Python versions (sha256, not hash()); the same key always lands in
    the same split, so clips sharing a subject/take never leak between splits."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"split ratios must be three non-negative numbers, got {ratios}")
    digest = hashlib.sha256(f"{seed}:{split_key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
    total = float(sum(ratios))
    edge = 0.0
    for name, r in zip(SPLITS, ratios):
        edge += r / total
        if u < edge:
            return name
    return SPLITS[-1] if ratios[2] > 0 else ("val" if ratios[1] > 0 else "train")


def set_split(clip: Clip, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> Clip:
    """Fill `clip.meta["split"]` (what the cache writer reads) from its split key, unless the source
    already fixed it (official split files)."""
    if clip.meta.get("split") not in SPLITS:
        clip.meta["split"] = assign_split(clip.split_key, ratios, seed)
    return clip


# ---------------------------------------------------------------------------------------------
# Helpers shared by the importers.


def features_from_joints(joints: np.ndarray, fps: float) -> tuple[np.ndarray, dict]:
    """(T, 22, 3) joints of any unit / up axis / facing at `fps` -> ((T20 - 1, 263) float32 features at
    20 fps, normalise_joints report). Row i of the features uses joints i and i+1 at 20 fps."""
    from ropar_core import features  # lazy: keeps `import training.data.importers` light

    joints20, report = features.normalise_joints(joints, fps=fps)  # (T20, 22, 3)
    report["frames_20fps"] = int(len(joints20))
    return features.joints_to_features(joints20), report


def read_captions(path: str | Path) -> dict[str, list[str]]:
    """Captions per motion file: CSV rows "file,caption" (a header row is allowed; repeated files give
    several captions) or JSON {file: caption | [captions]}. Keys are kept as written; look them up with
    `captions_for`."""
    from ropar_core.errors import RoparError

    path = Path(path)
    if not path.exists():
        raise RoparError(f"{path}: caption file not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    out: dict[str, list[str]] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RoparError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise RoparError(f"{path}: expected a JSON object {{file: [captions]}}")
        for key, value in data.items():
            caps = [value] if isinstance(value, str) else value
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise RoparError(f"{path}: captions of {key!r} must be a string or a list of strings")
            out[str(key)] = [c.strip() for c in caps if c.strip()]
        return out
    rows = list(csv.reader(text.splitlines()))
    for n, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if n == 1 and [c.strip().lower() for c in row[:2]] in (["file", "caption"], ["file", "text"]):
            continue
        if len(row) < 2:
            raise RoparError(f"{path}:{n}: expected 'file,caption'")
        caption = ",".join(row[1:]).strip()  # an unquoted comma inside the caption
        if caption:
            out.setdefault(row[0].strip(), []).append(caption)
    if not out:
        raise RoparError(f"{path}: no captions")
    return out


def captions_for(captions: dict[str, list[str]], rel_path: str | Path) -> list[str]:
    """Captions keyed by the file's relative path, name or stem (with or without a suffix)."""
    rel = Path(rel_path)
    for key in (rel.as_posix(), str(rel.with_suffix("").as_posix()), rel.name, rel.stem):
        if key in captions:
            return captions[key]
    return []


def find_release(root: str | Path, is_release, missing: str) -> Path:
    """The folder of a dataset release: `root` itself or one level down, the first for which
    `is_release(folder)` holds; else a one-line error "<root>: no <missing> there"."""
    from ropar_core.errors import RoparError

    root = Path(root)
    for cand in (root, *sorted(p for p in root.glob("*") if p.is_dir())):
        if is_release(cand):
            return cand
    raise RoparError(f"{root}: no {missing} there")


def table_reader(path: str | Path, limit: int = 2**20, delimiter: str = ",") -> csv.DictReader:
    """A dataset's clip or trial list (CSV / TSV with a header) as a csv.DictReader: a regular file only,
    refused above `limit` before it is read (ropar_core.limits), stray bytes decoded as U+FFFD."""
    import io

    from ropar_core import limits
    from ropar_core.errors import RoparError

    text = limits.read_bytes(path, limit, "table", RoparError).decode("utf-8", errors="replace")
    return csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)


def segment_bounds(frames: int, fps: float, max_seconds: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges that cut a long one-action take into the fewest equal pieces of at most
    `max_seconds` (a two-minute idle take is many clips' worth of the same action: as one clip, training
    would see it as often as a three-second one)."""
    pieces = max(1, int(np.ceil(frames / (max_seconds * fps))))
    edges = np.linspace(0, frames, pieces + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
