"""Motion files: BVH read/write, bone maps to SMPL-22, load_motion/save_motion (work in progress)."""

from __future__ import annotations

import numpy as np

from ropar_core.errors import MotionFileError


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of positions (T, ...) from src_fps to dst_fps; keeps the first frame and
    covers the same duration (the last output frame is at or before the last input frame)."""
    if src_fps <= 0 or dst_fps <= 0:
        raise MotionFileError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
    arr = np.asarray(joints)
    if abs(src_fps - dst_fps) < 1e-9:
        return arr.copy()
    duration = (len(arr) - 1) / src_fps
    count = int(np.floor(duration * dst_fps + 1e-6)) + 1
    t = np.arange(count) * (src_fps / dst_fps)  # (count,) positions in source frames
    lo = np.clip(np.floor(t).astype(np.int64), 0, len(arr) - 1)
    hi = np.clip(lo + 1, 0, len(arr) - 1)
    w = (t - lo).reshape((-1,) + (1,) * (arr.ndim - 1))
    return (arr[lo] * (1.0 - w) + arr[hi] * w).astype(arr.dtype)
