"""Runs of equal values in a 1-D array (credibility gaps and islands, corrupted stretches, free frames
between edited ones): one home for finding them."""

from __future__ import annotations

import numpy as np


def runs(x: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values in a 1-D bool array as (start, end_exclusive, value), in order."""
    x = np.asarray(x, dtype=bool)
    if x.size == 0:
        return []
    edges = np.flatnonzero(x[1:] != x[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [x.size]])
    return [(int(s), int(e), bool(x[s])) for s, e in zip(starts, ends)]


def true_runs(x: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in a 1-D bool array."""
    return [(s, e) for s, e, value in runs(x) if value]
