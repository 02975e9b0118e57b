"""1-D filters along the first axis (time), numpy only, equal to scipy.ndimage's with mode="nearest".

Why not scipy.ndimage: importing it costs 0.2-0.7 s on a 2-core machine, and the IK and the motion
cleanup run these filters on every `ropar generate`; the filters themselves take microseconds.
tests/test_quaternion_numpy.py checks them against scipy.
"""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """(T, ...) -> (T, ..., left + 1 + right): each frame's neighbourhood, edges repeated."""
    padded = np.pad(x, [(left, right)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, left + 1 + right, axis=0)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """gaussian_filter1d(x, sigma, axis=0, mode="nearest") with scipy's truncation at 4 sigma."""
    radius = int(4.0 * float(sigma) + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / float(sigma)) ** 2)
    x = np.asarray(x)
    out = _windows(x.astype(np.float64), radius, radius) @ (kernel / kernel.sum())  # symmetric kernel
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out  # as scipy: same dtype


def minimum_filter(x: np.ndarray, size: int) -> np.ndarray:
    """minimum_filter1d(x, size, axis=0, mode="nearest") (scipy's centring for even sizes too)."""
    return _windows(np.asarray(x), size // 2, size - 1 - size // 2).min(-1)


def maximum_filter(x: np.ndarray, size: int) -> np.ndarray:
    """maximum_filter1d(x, size, axis=0, mode="nearest")."""
    return _windows(np.asarray(x), size // 2, size - 1 - size // 2).max(-1)
