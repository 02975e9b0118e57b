"""Text-to-motion metrics of the standard protocol (Guo et al. 2022, as used by MoMask / MARDM) on
evaluator embeddings, plus MPJPE on joints.

Conventions of this module (kept deliberately close to the protocol so numbers read the same way):
- Embeddings are numpy arrays `(N, D)`; distances are Euclidean.
- R-precision / MM-Dist: the samples are shuffled (seeded), cut into batches of exactly 32 (a short last
  batch is dropped, as the protocol's drop_last loader does); per batch the 32x32 text-to-motion distance
  matrix is ranked per text. **A text whose caption is identical (exact string) to another text's caption in
  the same batch counts that other motion as a match too**: with a few dozen content x style classes, such
  duplicates are common in our data and would otherwise cap R@1 well below 1 even for a perfect matcher.
- Diversity: two independent draws of 300 indices (each without replacement), mean pair distance;
  100 when there are <= 300 samples, and at most N.
- MultiModality: per caption, two independent draws of 10 of its R generations, mean pair distance.
- MPJPE: millimetres, **root-aligned per frame** by default (the pelvis is subtracted in every frame of both
  sequences, so global drift of the root is not counted); `align="none"` compares the joints as given (both
  sequences then come out of `features_to_joints`, i.e. in the HumanML3D canonical frame: root at the
  origin in XZ and facing +Z at frame 0).
- Every repeated measurement is summarised as mean +- 1.96 * std / sqrt(n) with the population std (ddof 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ropar_core.errors import RoparError

R_PRECISION_BATCH = 32
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


class MetricError(RoparError):
    """Inputs a metric cannot be computed on (wrong shapes, too few samples, non-finite values)."""


# ----------------------------------------------------------------------------------------------------
# Repeats and confidence intervals


@dataclass(frozen=True)
class Estimate:
    """A metric over repeated runs: mean and the half-width of its 95 % confidence interval."""

    mean: float
    ci95: float
    n: int

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci95": self.ci95, "n": self.n}

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.ci95:.3f}"


def confidence_interval(values: Sequence[float]) -> Estimate:
    """mean +- 1.96 * std / sqrt(n), population std (ddof 0), as in the T2M protocol; n = 1 gives ci95 = 0."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise MetricError("confidence_interval needs a non-empty 1-D list of values")
    if not np.isfinite(arr).all():
        raise MetricError("confidence_interval got non-finite values")
    return Estimate(float(arr.mean()), float(1.96 * arr.std(ddof=0) / np.sqrt(arr.size)), int(arr.size))


def t_interval(values: Sequence[float]) -> Estimate:
    """mean +- t(0.975, n-1) * std / sqrt(n) with the sample std (ddof 1): the interval for few runs
    (training seeds), where the normal quantile and ddof 0 would be too narrow. n = 1 gives ci95 = inf."""
    from scipy import stats

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise MetricError("t_interval needs a non-empty 1-D list of values")
    if not np.isfinite(arr).all():
        raise MetricError("t_interval got non-finite values")
    if arr.size == 1:
        return Estimate(float(arr[0]), float("inf"), 1)
    half = stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / np.sqrt(arr.size)
    return Estimate(float(arr.mean()), float(half), int(arr.size))


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """mean(a) - mean(b) with its 95 % Welch-Satterthwaite t interval (unequal variances): the interval
    of a difference between two arms whose runs (e.g. training seeds) are independent."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2:
        raise MetricError("welch_difference needs at least two values per arm")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    if se == 0.0:
        return Estimate(float(a.mean() - b.mean()), 0.0, int(a.size + b.size))
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return Estimate(float(a.mean() - b.mean()), float(stats.t.ppf(0.975, dof) * se), int(a.size + b.size))


# ----------------------------------------------------------------------------------------------------
# FID


def _check_embeddings(name: str, emb: np.ndarray, min_rows: int = 1) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2:
        raise MetricError(f"{name} must be (N, D) embeddings, got shape {emb.shape}")
    if emb.shape[0] < min_rows:
        raise MetricError(f"{name} needs at least {min_rows} samples, got {emb.shape[0]}")
    if not np.isfinite(emb).all():
        raise MetricError(f"{name} contains NaN or inf")
    return emb


def gaussian_fit(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) embeddings."""
    emb = _check_embeddings("embeddings", emb, min_rows=2)
    return emb.mean(axis=0), np.cov(emb, rowvar=False)


def frechet_distance(mu1, cov1, mu2, cov2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)); retried with eps on the diagonals when sqrtm fails."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise MetricError(
            f"frechet_distance: shapes differ: {mu1.shape} {cov1.shape} vs {mu2.shape} {cov2.shape}"
        )
    diff = mu1 - mu2
    covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Near-singular product (few samples, many dims): regularise both covariances slightly.
        offset = np.eye(cov1.shape[0]) * eps
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(covmean):
        # sqrtm of a product of PSD matrices is real up to round-off; a large imaginary part means trouble.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise MetricError(f"frechet_distance: sqrtm has imaginary part {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # a distance: tiny negatives are round-off


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """FID between two sets of (N, D) embeddings (Gaussian fits, scipy sqrtm)."""
    real = _check_embeddings("real embeddings", real, min_rows=2)
    generated = _check_embeddings("generated embeddings", generated, min_rows=2)
    if real.shape[1] != generated.shape[1]:
        raise MetricError(f"FID: embedding sizes differ ({real.shape[1]} vs {generated.shape[1]})")
    return frechet_distance(*gaussian_fit(real), *gaussian_fit(generated))


# ----------------------------------------------------------------------------------------------------
# R-precision and MM-Dist


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (Na, Nb) between rows of a (Na, D) and b (Nb, D)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T  # (Na, Nb)
    return np.sqrt(np.maximum(sq, 0.0))


def _batch_hits(dist: np.ndarray, match: np.ndarray, top_k: int) -> np.ndarray:
    """hits (B, top_k) bool: text i has a matching motion among its k nearest (cumulative over k)."""
    order = np.argsort(dist, axis=1, kind="stable")  # (B, B) motion indices, nearest first
    ranked_match = np.take_along_axis(match, order, axis=1)[:, :top_k]  # (B, top_k)
    return np.logical_or.accumulate(ranked_match, axis=1)


def r_precision(
    text_emb: np.ndarray,
    motion_emb: np.ndarray,
    captions: Sequence[str] | None = None,
    top_k: int = 3,
    batch_size: int = R_PRECISION_BATCH,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """R-precision top-1..top_k and MM-Dist over shuffled batches of `batch_size` (short tail dropped).

    Returns (precision (top_k,) in [0, 1], mm_dist). With `captions`, identical captions within a batch
    count as matches (module docstring)."""
    text_emb = _check_embeddings("text embeddings", text_emb)
    motion_emb = _check_embeddings("motion embeddings", motion_emb)
    n = text_emb.shape[0]
    if motion_emb.shape != text_emb.shape:
        raise MetricError(f"R-precision: text {text_emb.shape} and motion {motion_emb.shape} shapes differ")
    if n < batch_size:
        raise MetricError(f"R-precision needs at least {batch_size} text-motion pairs, got {n}")
    if captions is not None and len(captions) != n:
        raise MetricError(f"R-precision: {len(captions)} captions for {n} pairs")
    order = np.random.default_rng(seed).permutation(n)
    hits = np.zeros(top_k)
    mm_total, used = 0.0, 0
    for start in range(0, n - batch_size + 1, batch_size):
        idx = order[start : start + batch_size]
        dist = distance_matrix(text_emb[idx], motion_emb[idx])  # (B, B) texts x motions
        if captions is None:
            match = np.eye(batch_size, dtype=bool)
        else:
            batch_caps = np.asarray([captions[i] for i in idx], dtype=object)
            match = batch_caps[:, None] == batch_caps[None, :]  # (B, B), diagonal always True
        hits += _batch_hits(dist, match, top_k).sum(axis=0)
        mm_total += float(np.trace(dist))
        used += batch_size
    return hits / used, mm_total / used


def recall_at_k(query: np.ndarray, gallery: np.ndarray, ks: Sequence[int] = (1, 5, 10), keys=None) -> dict:
    """Retrieval over the whole set (TMR protocol (a)): {k: share of queries i whose own gallery item i is
    among the k nearest}. With `keys`, a gallery item whose key equals the query's key counts too."""
    query = _check_embeddings("query embeddings", query)
    gallery = _check_embeddings("gallery embeddings", gallery)
    if query.shape != gallery.shape:
        raise MetricError(f"recall@k: query {query.shape} and gallery {gallery.shape} shapes differ")
    n = query.shape[0]
    if keys is None:
        match = np.eye(n, dtype=bool)
    else:
        if len(keys) != n:
            raise MetricError(f"recall@k: {len(keys)} keys for {n} pairs")
        arr = np.asarray(list(keys), dtype=object)
        match = arr[:, None] == arr[None, :]
    kmax = min(max(ks), n)
    hits = _batch_hits(distance_matrix(query, gallery), match, kmax)  # (N, kmax)
    return {int(k): float(hits[:, min(k, n) - 1].mean()) for k in ks}


def mm_dist(text_emb: np.ndarray, motion_emb: np.ndarray) -> float:
    """Mean distance between each text embedding and its own motion's embedding (all pairs)."""
    text_emb = _check_embeddings("text embeddings", text_emb)
    motion_emb = _check_embeddings("motion embeddings", motion_emb)
    if text_emb.shape != motion_emb.shape:
        raise MetricError(f"MM-Dist: text {text_emb.shape} and motion {motion_emb.shape} embeddings differ")
    return float(np.linalg.norm(text_emb - motion_emb, axis=1).mean())


# ----------------------------------------------------------------------------------------------------
# Diversity and MultiModality


def diversity(emb: np.ndarray, pairs: int = DIVERSITY_PAIRS, seed: int = 0) -> float:
    """Mean distance of `pairs` random pairs (two independent draws without replacement); 100 pairs when
    there are <= `pairs` samples, and never more than N."""
    emb = _check_embeddings("embeddings", emb, min_rows=2)
    n = emb.shape[0]
    count = pairs if n > pairs else min(100, n)
    rng = np.random.default_rng(seed)
    first, second = rng.choice(n, count, replace=False), rng.choice(n, count, replace=False)
    return float(np.linalg.norm(emb[first] - emb[second], axis=1).mean())


def multimodality(emb: np.ndarray, pairs: int = MULTIMODALITY_PAIRS, seed: int = 0) -> float:
    """emb (C, R, D): R generations for each of C captions. Per caption, two independent draws of `pairs`
    of its R generations; the mean pair distance over all captions."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3 or emb.shape[1] < 2:
        raise MetricError(f"MultiModality needs (captions, repeats >= 2, D) embeddings, got {emb.shape}")
    if not np.isfinite(emb).all():
        raise MetricError("MultiModality embeddings contain NaN or inf")
    count = min(pairs, emb.shape[1])
    rng = np.random.default_rng(seed)
    repeats = emb.shape[1]
    first, second = rng.choice(repeats, count, replace=False), rng.choice(repeats, count, replace=False)
    return float(np.linalg.norm(emb[:, first] - emb[:, second], axis=2).mean())


# ----------------------------------------------------------------------------------------------------
# MPJPE


def mpjpe(pred: np.ndarray, target: np.ndarray, align: str = "root", valid=None) -> float:
    """Mean per-joint position error in millimetres between joints (..., T, J, 3) given in metres.

    align="root": subtract joint 0 (pelvis) per frame from both; "none": compare as given. `valid`
    (..., T) bool restricts the mean to those frames (padding)."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if pred.shape != target.shape or pred.ndim < 3 or pred.shape[-1] != 3:
        raise MetricError(f"MPJPE: joints must be (..., T, J, 3) alike, got {pred.shape} / {target.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(target).all()):
        raise MetricError("MPJPE: joints contain NaN or inf")
    if align == "root":
        pred = pred - pred[..., :1, :]
        target = target - target[..., :1, :]
    elif align != "none":
        raise MetricError(f"MPJPE: unknown alignment {align!r} (use 'root' or 'none')")
    err = np.linalg.norm(pred - target, axis=-1).mean(axis=-1)  # (..., T) metres
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != err.shape:
            raise MetricError(f"MPJPE: valid mask {valid.shape} does not match frames {err.shape}")
        if not valid.any():
            raise MetricError("MPJPE: no valid frames")
        return float(err[valid].mean() * 1000.0)
    return float(err.mean() * 1000.0)
