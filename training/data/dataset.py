"""torch Dataset and collate over a cache (docs/architecture.md, "Datasets on disk").

Items are fixed-length crops whose valid length is a multiple of 4 (one latent token = 4 frames):
clips longer than `crop_frames` get a random window, shorter ones keep all their whole tokens and are
padded with zeros (frame_mask False, so padding is never credible). Randomness comes from
(seed, epoch, index) only, so a run is reproducible, DataLoader workers and DistributedSampler ranks
need no shared state, and `set_epoch` varies the crops between epochs like DistributedSampler does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ropar_core.credibility import token_mask_from_frame_mask
from ropar_core.errors import RoparError
from ropar_core.skeleton import FEATURE_DIM, NUM_PARTS, TOKEN_FRAMES
from training.data.cache import Cache

DEFAULT_MIN_FRAMES = 24  # 6 tokens, 1.2 s; Bandai's shortest raise-hand takes are ~1 s
DEFAULT_BATCH_SIZE = 64  # the trainers' default batch (training.train.config.TrainConfig)


class MotionDataset(Dataset):
    """One split of a cache as training items.

    Each item: features float32 (L, 263) normalised, frame_mask bool (L, 5), token_mask bool (L//4, 5)
    ("all" rule), length int (valid frames, multiple of 4), text str (a random caption), clip_id str.
    L = crop_frames, or the clip's whole-token length when crop_frames is None. `mean`/`std` default to
    the cache's own stats (pass a model's stats to normalise another set the same way)."""

    def __init__(self, cache_dir: str | Path | Cache, split: str = "train", crop_frames: int | None = 64,
                 min_frames: int = DEFAULT_MIN_FRAMES, seed: int = 0, mean: np.ndarray | None = None,
                 std: np.ndarray | None = None, random_crop: bool | None = None) -> None:
        if crop_frames is not None and (crop_frames <= 0 or crop_frames % TOKEN_FRAMES):
            raise RoparError(f"crop_frames must be a positive multiple of {TOKEN_FRAMES}, got {crop_frames}")
        self.cache = cache_dir if isinstance(cache_dir, Cache) else Cache(cache_dir)
        self.split = split
        self.crop_frames = crop_frames
        self.min_frames = max(int(min_frames), TOKEN_FRAMES)
        self.seed = int(seed)
        self.epoch = 0
        # Training crops move every epoch; val/test crops stay put so that metrics are comparable.
        self.random_crop = (split == "train") if random_crop is None else bool(random_crop)
        self.mean = (self.cache.mean if mean is None else np.asarray(mean, np.float32)).reshape(FEATURE_DIM)
        self.std = (self.cache.std if std is None else np.asarray(std, np.float32)).reshape(FEATURE_DIM)
        clips = self.cache.clips
        self.index = [i for i in self.cache.indices(split) if clips[i]["length"] >= self.min_frames]
        if split == "train":  # per-source sampling weights (training.prepare_multi): a clip drawn k times
            self.index = [i for i in self.index for _ in range(int(clips[i].get("repeat", 1)))]
        if not self.index:
            raise RoparError(f"{self.cache.path}: no {split} clip has at least {self.min_frames} frames")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def _rng(self, idx: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if self.random_crop else 0, idx])

    def __getitem__(self, idx: int) -> dict:
        ci = self.index[idx]
        clip = self.cache.clips[ci]
        rng = self._rng(idx)
        total = clip["length"]
        whole = total // TOKEN_FRAMES * TOKEN_FRAMES
        length = whole if self.crop_frames is None else min(self.crop_frames, whole)
        start = int(rng.integers(0, total - length + 1))
        rows = slice(clip["start"] + start, clip["start"] + start + length)
        L = length if self.crop_frames is None else self.crop_frames

        feats = np.zeros((L, FEATURE_DIM), dtype=np.float32)
        feats[:length] = (self.cache.features[rows] - self.mean) / self.std  # (length, 263)
        frame_mask = np.zeros((L, NUM_PARTS), dtype=bool)
        frame_mask[:length] = self.cache.credible[rows]
        token_mask = token_mask_from_frame_mask(frame_mask, "all", drop_partial=True)  # (L//4, 5)
        texts = clip["texts"]
        return {
            "features": torch.from_numpy(feats),
            "frame_mask": torch.from_numpy(frame_mask),
            "token_mask": torch.from_numpy(token_mask),
            "length": length,
            "text": texts[int(rng.integers(len(texts)))] if texts else "",
            "clip_id": clip["id"],
        }


def collate(items: list[dict]) -> dict:
    """Stack items, padding to the longest L (a multiple of 4); adds `valid` bool (B, L)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    L = max(int(it["features"].shape[0]) for it in items)
    B = len(items)
    feats = torch.zeros(B, L, FEATURE_DIM)
    frame_mask = torch.zeros(B, L, NUM_PARTS, dtype=torch.bool)
    token_mask = torch.zeros(B, L // TOKEN_FRAMES, NUM_PARTS, dtype=torch.bool)
    valid = torch.zeros(B, L, dtype=torch.bool)
    for b, it in enumerate(items):
        n = int(it["features"].shape[0])
        feats[b, :n] = it["features"]  # (n, 263)
        frame_mask[b, :n] = it["frame_mask"]
        token_mask[b, :n // TOKEN_FRAMES] = it["token_mask"]
        valid[b, :int(it["length"])] = True
    return {
        "features": feats, "frame_mask": frame_mask, "token_mask": token_mask, "valid": valid,
        "length": torch.tensor([int(it["length"]) for it in items], dtype=torch.long),
        "text": [it["text"] for it in items], "clip_id": [it["clip_id"] for it in items],
    }
