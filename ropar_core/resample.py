"""Changing a motion's frame rate: linear interpolation of positions, normalised linear interpolation
of quaternions. Both keep the first frame and cover the same duration."""

from __future__ import annotations

import numpy as np

from ropar_core import limits
from ropar_core.errors import MotionFileError
from ropar_core.quaternion import qnormalize


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of positions (T, ...) from src_fps to dst_fps; keeps the first frame and
    covers the same duration (the last output frame is at or before the last input frame)."""
    for fps in (src_fps, dst_fps):
        limits.check_fps(fps, error=MotionFileError)
    arr = np.asarray(joints)
    if abs(src_fps - dst_fps) < 1e-9:
        return arr.copy()
    lo, hi, w = resample_index(len(arr), src_fps, dst_fps)
    w = w.reshape((-1,) + (1,) * (arr.ndim - 1))
    return (arr[lo] * (1.0 - w) + arr[hi] * w).astype(arr.dtype)


def resample_index(n: int, src_fps: float, dst_fps: float):
    count = limits.check_frames(limits.resampled_count(n, src_fps, dst_fps), "the resampled motion",
                                error=MotionFileError)  # before allocating it
    t = np.arange(count) * (src_fps / dst_fps)  # (count,) positions in source frames
    lo = np.clip(np.floor(t).astype(np.int64), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    return lo, hi, t - lo


def resample_quats(quats: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Normalised linear interpolation of wxyz quaternions (T, ..., 4), hemisphere-aligned per step."""
    q = np.asarray(quats, dtype=np.float64)
    if abs(src_fps - dst_fps) < 1e-9:
        return q.astype(np.float32)
    lo, hi, w = resample_index(len(q), src_fps, dst_fps)
    a, b = q[lo], q[hi]
    b = np.where((a * b).sum(-1, keepdims=True) < 0, -b, b)
    w = w.reshape((-1,) + (1,) * (q.ndim - 1))
    return qnormalize(a * (1.0 - w) + b * w).astype(np.float32)

