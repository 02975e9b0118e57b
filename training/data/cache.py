"""On-disk dataset cache (docs/architecture.md, "Datasets on disk"): writer and reader.

A cache directory holds every clip's frames concatenated in one array, so that training reads it
through a memory map without loading the whole set:

    meta.json            version, fps, parts, name, noisy, target_credible_ratio, clips[{id, start,
                         length, texts, split, source, subject, content, style, ...}]
    features.npy         float32 (N, 263)  un-normalised HumanML3D features
    credible.npy         bool    (N, 5)    per-frame part credibility (all True in a clean cache)
    clean_features.npy   float32 (N, 263)  noisy caches only: the ground truth
    mean.npy, std.npy    float32 (263,)    from the train split's credible frames

The writer streams clips into raw side files and only at `close()` turns them into `.npy` files, writes
the stats and finally `meta.json`; every file is replaced atomically and `meta.json` goes last, so a
directory with a `meta.json` is a complete cache (the done-marker `prepare` resumes from).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ropar_core.atomic import atomic_path, write_text
from ropar_core.errors import RoparError
from ropar_core.skeleton import FEATURE_DIM, FPS, NUM_PARTS, PART_CHANNELS, PART_NAMES
from training.data.importers import SPLITS, Clip

CACHE_VERSION = 1
# HumanML3D replaces each channel's std by its group's average (its cal_mean_variance): root yaw velocity,
# root XZ velocity, root height, ric positions, 6D rotations, joint velocities, foot contacts.
STD_GROUPS = ((0, 1), (1, 3), (3, 4), (4, 67), (67, 193), (193, 259), (259, 263))
# Guards only a group without spread (e.g. the foot contacts of in-place clips); real groups are far
# above it (HumanML3D's smallest 0.0128, Bandai's root yaw velocity 0.0075).
STD_FLOOR = 1e-3
CHUNK_ROWS = 1 << 16


def channel_part_matrix() -> np.ndarray:
    """(263, 5) bool: which parts each feature channel belongs to (root/spine channels: all five)."""
    m = np.zeros((FEATURE_DIM, NUM_PARTS), dtype=bool)
    for k, part in enumerate(PART_NAMES):
        m[PART_CHANNELS[part], k] = True
    return m


def credible_channels(credible: np.ndarray) -> np.ndarray:
    """(T, 5) part credibility -> (T, 263) channel credibility: a channel is credible in a frame when
    any part that contains it is (the P-VAE trains the shared root/spine channels through every
    credible part)."""
    return (np.asarray(credible, dtype=np.float32) @ channel_part_matrix().T.astype(np.float32)) > 0


class StatsAccumulator:
    """Streaming per-channel sums (float64) over credible frames and, as a fallback, over all frames."""

    def __init__(self) -> None:
        self.sums = {k: np.zeros((3, FEATURE_DIM)) for k in ("credible", "all")}  # count, sum, sum of squares

    def add(self, features: np.ndarray, credible: np.ndarray) -> None:
        x = np.asarray(features, dtype=np.float64)  # (T, 263)
        w = credible_channels(credible).astype(np.float64)  # (T, 263)
        self.sums["credible"] += np.stack([w.sum(0), (x * w).sum(0), (x * x * w).sum(0)])
        self.sums["all"] += np.stack([np.full(FEATURE_DIM, len(x)), x.sum(0), (x * x).sum(0)])

    def merged(self, others: list[StatsAccumulator]) -> StatsAccumulator:
        out = StatsAccumulator()
        for acc in [self, *others]:
            for k in out.sums:
                out.sums[k] += acc.sums[k]
        return out


def finish_stats(levels: list[tuple[StatsAccumulator, str]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and group-averaged std (263,) float32, each channel from the first level with data.

    levels: (accumulator, "credible" | "all") in order of preference. Returns (mean, std, number of
    channels that needed a fallback level)."""
    mean = np.full(FEATURE_DIM, np.nan)
    var = np.full(FEATURE_DIM, np.nan)
    fallbacks = 0
    for rank, (acc, kind) in enumerate(levels):
        count, total, total_sq = acc.sums[kind]
        take = np.isnan(mean) & (count > 0)
        fallbacks += int(take.sum()) if rank else 0
        mean[take] = total[take] / count[take]
        var[take] = np.maximum(total_sq[take] / count[take] - mean[take] ** 2, 0.0)
    if np.any(np.isnan(mean)):
        raise RoparError("cannot compute normalisation stats: no frames")
    return mean.astype(np.float32), group_std(np.sqrt(var)), fallbacks


def group_std(std: np.ndarray) -> np.ndarray:
    """Per-channel std -> HumanML3D-style group-averaged std with a floor (263,) float32."""
    out = np.asarray(std, dtype=np.float64).copy()
    for a, b in STD_GROUPS:
        out[a:b] = out[a:b].mean()
    return np.maximum(out, STD_FLOOR).astype(np.float32)


class CacheWriter:
    """Stream clips into a cache directory.

        with CacheWriter(out, name="bandai2-clean") as w:
            for clip in clips:
                w.add(clip, split=...)
        meta = w.meta

    Leaving the `with` block by an exception removes the partial files and leaves no `meta.json`.
    `noisy=True` requires `clean_features` on every `add` (kept as `clean_features.npy`)."""

    def __init__(self, out_dir: str | Path, name: str, noisy: bool = False,
                 target_credible_ratio: float | None = None, extra_meta: dict | None = None) -> None:
        self.out = Path(out_dir)
        self.name = name
        self.noisy = bool(noisy)
        self.target = None if target_credible_ratio is None else float(target_credible_ratio)
        self.extra_meta = dict(extra_meta or {})
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "meta.json").unlink(missing_ok=True)  # no done-marker while the cache is rewritten
        self.tmp = self.out / ".partial"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self._files = {k: open(self.tmp / f"{k}.raw", "wb") for k in self._arrays()}
        self.clips: list[dict] = []
        self.rows = 0
        self.stats = {s: StatsAccumulator() for s in SPLITS}
        self.meta: dict | None = None

    def _arrays(self) -> tuple[str, ...]:
        return ("features", "credible", "clean_features") if self.noisy else ("features", "credible")

    def add(self, clip: Clip, split: str | None = None, clean_features: np.ndarray | None = None,
            extra: dict | None = None) -> None:
        """Append one clip; `split` defaults to clip.meta['split']. `extra` adds fields to its meta entry."""
        split = split or clip.meta.get("split")
        if split not in SPLITS:
            raise RoparError(f"clip {clip.id}: split must be one of {SPLITS}, got {split!r}")
        feats = clip.features  # (T, 263) float32, checked by Clip
        if not np.all(np.isfinite(feats)):
            raise RoparError(f"clip {clip.id}: features contain NaN or inf")
        if self.noisy:
            if clean_features is None or np.shape(clean_features) != feats.shape:
                raise RoparError(f"clip {clip.id}: a noisy cache needs clean_features of shape {feats.shape}")
            self._files["clean_features"].write(np.ascontiguousarray(clean_features, np.float32).tobytes())
        self._files["features"].write(np.ascontiguousarray(feats, np.float32).tobytes())
        self._files["credible"].write(np.ascontiguousarray(clip.frame_mask, np.bool_).tobytes())
        self.stats[split].add(feats, clip.frame_mask)
        entry = {
            "id": clip.id, "start": self.rows, "length": clip.length, "texts": list(clip.texts),
            "split": split, "source": clip.source, "subject": clip.subject,
            "content": clip.meta.get("content", ""), "style": clip.meta.get("style", ""),
        }
        entry.update(extra or {})
        self.clips.append(entry)
        self.rows += clip.length

    def close(self) -> dict:
        """Write the .npy arrays, the stats and meta.json (last); returns the meta dict."""
        for f in self._files.values():
            f.close()
        if not self.clips:
            self.abort()
            raise RoparError(f"{self.out}: no clips to write")
        shapes = {"features": (FEATURE_DIM, np.float32), "credible": (NUM_PARTS, np.bool_),
                  "clean_features": (FEATURE_DIM, np.float32)}
        for key in self._arrays():
            width, dtype = shapes[key]
            _raw_to_npy(self.tmp / f"{key}.raw", self.out / f"{key}.npy", dtype, (self.rows, width))
        if not self.noisy:
            (self.out / "clean_features.npy").unlink(missing_ok=True)
        mean, std, stats_split = self._stats()
        with atomic_path(self.out / "mean.npy") as tmp:
            np.save(tmp, mean)
        with atomic_path(self.out / "std.npy") as tmp:
            np.save(tmp, std)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.meta = {
            "version": CACHE_VERSION, "fps": FPS, "parts": list(PART_NAMES), "name": self.name,
            "noisy": self.noisy, "target_credible_ratio": self.target, "num_frames": self.rows,
            "stats_split": stats_split, **self.extra_meta, "clips": self.clips,
        }
        write_text(self.out / "meta.json", json.dumps(self.meta, indent=1) + "\n")
        return self.meta

    def _stats(self) -> tuple[np.ndarray, np.ndarray, str]:
        return split_stats(self.stats)

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.meta is None:
                self.close()
        else:
            self.abort()


def split_stats(stats: dict[str, StatsAccumulator]) -> tuple[np.ndarray, np.ndarray, str]:
    """Train split, credible frames; a channel without any (a tiny subset, a part never seen) falls
    back to every split's credible frames, then to all train frames, then to all frames."""
    train = stats["train"]
    every = train.merged([stats["val"], stats["test"]])
    mean, std, fallbacks = finish_stats([(train, "credible"), (every, "credible"), (train, "all"),
                                         (every, "all")])
    return mean, std, "train" if not fallbacks else f"train, {fallbacks} channels from fallbacks"


def recompute_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Recompute mean.npy / std.npy of a finished cache from its arrays (e.g. after the stats rule
    changed), streaming clip by clip; meta.json is rewritten last."""
    cache = Cache(path)
    stats = {s: StatsAccumulator() for s in SPLITS}
    for i, clip in enumerate(cache.clips):
        stats[clip["split"]].add(cache.clip_features(i), cache.clip_credible(i))
    mean, std, how = split_stats(stats)
    with atomic_path(cache.path / "mean.npy") as tmp:
        np.save(tmp, mean)
    with atomic_path(cache.path / "std.npy") as tmp:
        np.save(tmp, std)
    write_text(cache.path / "meta.json", json.dumps({**cache.meta, "stats_split": how}, indent=1) + "\n")
    return mean, std


def _raw_to_npy(raw: Path, target: Path, dtype, shape: tuple[int, int]) -> None:
    """Copy a raw row-major file into a .npy of `shape` in chunks (never the whole array in memory)."""
    src = np.memmap(raw, dtype=dtype, mode="r", shape=shape)
    with atomic_path(target) as tmp:
        dst = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        for a in range(0, shape[0], CHUNK_ROWS):
            dst[a:a + CHUNK_ROWS] = src[a:a + CHUNK_ROWS]
        dst.flush()
        del dst
    del src


# ---------------------------------------------------------------------------------------------
# Reader.


def is_complete(path: str | Path) -> bool:
    """True when `path` holds a finished cache (its meta.json, written last, exists and parses)."""
    try:
        meta = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
        return meta.get("version") == CACHE_VERSION
    except (OSError, ValueError):
        return False


class Cache:
    """Read-only view of a cache directory; arrays are memory-mapped on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.exists():
            raise RoparError(f"{self.path}: not a dataset cache (no meta.json); run training.prepare first")
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RoparError(f"{meta_path}: unreadable ({exc})") from None
        if self.meta.get("version") != CACHE_VERSION:
            raise RoparError(f"{meta_path}: cache version {self.meta.get('version')!r}, "
                             f"this code reads {CACHE_VERSION}")
        if list(self.meta.get("parts", [])) != list(PART_NAMES):
            raise RoparError(f"{meta_path}: parts {self.meta.get('parts')} differ from {list(PART_NAMES)}")
        self.clips: list[dict] = self.meta["clips"]
        self.noisy = bool(self.meta.get("noisy", False))
        self._arrays: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        # DataLoader workers started by "spawn" get a copy: re-open the memory maps there instead of
        # pickling whole arrays.
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def _array(self, key: str, width: int) -> np.ndarray:
        if key not in self._arrays:
            file = self.path / f"{key}.npy"
            if not file.exists():
                raise RoparError(f"{self.path}: {file.name} is missing")
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
            n = self.meta.get("num_frames", sum(c["length"] for c in self.clips))
            if arr.ndim != 2 or arr.shape != (n, width):
                raise RoparError(f"{file}: shape {arr.shape}, meta.json says ({n}, {width})")
            self._arrays[key] = arr
        return self._arrays[key]

    @property
    def features(self) -> np.ndarray:
        return self._array("features", FEATURE_DIM)

    @property
    def credible(self) -> np.ndarray:
        return self._array("credible", NUM_PARTS)

    @property
    def clean_features(self) -> np.ndarray | None:
        return self._array("clean_features", FEATURE_DIM) if self.noisy else None

    def _stat(self, key: str) -> np.ndarray:
        arr = np.load(self.path / f"{key}.npy", allow_pickle=False)
        if arr.shape != (FEATURE_DIM,) or not np.all(np.isfinite(arr)):
            raise RoparError(f"{self.path / key}.npy: expected {FEATURE_DIM} finite values, got {arr.shape}")
        return arr.astype(np.float32)

    @property
    def mean(self) -> np.ndarray:
        return self._stat("mean")

    @property
    def std(self) -> np.ndarray:
        return self._stat("std")

    def __len__(self) -> int:
        return len(self.clips)

    def indices(self, split: str | None = None) -> list[int]:
        """Clip indices of one split (all clips with None)."""
        if split is not None and split not in SPLITS:
            raise RoparError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")
        return [i for i, c in enumerate(self.clips) if split is None or c["split"] == split]

    def rows(self, i: int) -> slice:
        c = self.clips[i]
        return slice(c["start"], c["start"] + c["length"])

    def clip_features(self, i: int) -> np.ndarray:
        return np.asarray(self.features[self.rows(i)], dtype=np.float32)

    def clip_credible(self, i: int) -> np.ndarray:
        return np.asarray(self.credible[self.rows(i)], dtype=bool)

    def clip_clean_features(self, i: int) -> np.ndarray:
        src = self.clean_features if self.noisy else self.features
        return np.asarray(src[self.rows(i)], dtype=np.float32)

    def credible_token_ratio(self, split: str | None = None) -> float:
        """Share of credible (4-frame token, part) cells, tokens judged by the "all" rule."""
        from ropar_core.credibility import token_mask_from_frame_mask

        good = total = 0
        for i in self.indices(split):
            tm = token_mask_from_frame_mask(self.clip_credible(i), "all")
            good += int(tm.sum())
            total += tm.size
        return good / total if total else float("nan")


def open_cache(path: str | Path) -> Cache:
    return Cache(path)
