"""Metrics on synthetic embeddings with answers known in closed form."""

import numpy as np
import pytest

from training.evaluation import metrics
from training.evaluation.metrics import MetricError


def test_confidence_interval_population_std():
    est = metrics.confidence_interval([1.0, 2.0, 3.0, 4.0])
    assert est.mean == pytest.approx(2.5)
    assert est.ci95 == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2.0)  # ddof 0, sqrt(4) = 2
    assert metrics.confidence_interval([5.0]).ci95 == 0.0
    with pytest.raises(MetricError):
        metrics.confidence_interval([])
    with pytest.raises(MetricError):
        metrics.confidence_interval([1.0, float("nan")])


def test_fid_identical_distribution_is_near_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 8))
    b = rng.normal(size=(4000, 8))
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert 0.0 <= metrics.fid(a, b) < 0.05


def test_fid_shifted_gaussians_closed_form():
    dims, d = 16, 0.5
    # Exact Gaussians: ||mu1 - mu2||^2 = d^2 * dims, covariance term 0.
    eye, zero = np.eye(dims), np.zeros(dims)
    assert metrics.frechet_distance(zero, eye, np.full(dims, d), eye) == pytest.approx(d * d * dims)
    # Covariance term alone: Tr(I + 4I - 2*2I) = dims.
    assert metrics.frechet_distance(zero, eye, zero, 4 * eye) == pytest.approx(dims)
    rng = np.random.default_rng(1)
    real = rng.normal(size=(20000, dims))
    gen = rng.normal(size=(20000, dims)) + d
    assert metrics.fid(real, gen) == pytest.approx(d * d * dims, rel=0.05)


def test_fid_singular_covariance_still_finite():
    rng = np.random.default_rng(2)
    # Fewer samples than dimensions: both covariances are rank-deficient.
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(10, 32))
    value = metrics.fid(a, b)
    assert np.isfinite(value) and value > 0


def test_fid_rejects_bad_inputs():
    with pytest.raises(MetricError):
        metrics.fid(np.zeros((10, 4)), np.zeros((10, 5)))
    with pytest.raises(MetricError):
        metrics.fid(np.full((10, 4), np.nan), np.zeros((10, 4)))
    with pytest.raises(MetricError):
        metrics.fid(np.zeros(10), np.zeros(10))


def test_r_precision_perfect_matcher_is_one_and_mm_dist_zero():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(320, 16))
    prec, mm = metrics.r_precision(emb, emb)
    np.testing.assert_allclose(prec, [1.0, 1.0, 1.0])
    assert mm == pytest.approx(0.0, abs=1e-6)


def test_r_precision_random_is_k_over_32():
    rng = np.random.default_rng(4)
    n = 32 * 400
    prec, _ = metrics.r_precision(rng.normal(size=(n, 16)), rng.normal(size=(n, 16)))
    np.testing.assert_allclose(prec, np.array([1, 2, 3]) / 32, atol=0.006)


def test_r_precision_identical_captions_count_as_matches():
    rng = np.random.default_rng(5)
    n = 32  # one batch, so partners always share it
    motions = rng.normal(size=(n, 8))
    # Pairs (2i, 2i+1) share a caption, and each text sits on its partner's motion, not its own.
    partner = np.arange(n) ^ 1
    texts = motions[partner]
    captions = [f"caption {i // 2}" for i in range(n)]
    without, _ = metrics.r_precision(texts, motions, seed=0)
    with_caps, _ = metrics.r_precision(texts, motions, captions=captions, seed=0)
    assert without[0] < 0.2
    np.testing.assert_allclose(with_caps, [1.0, 1.0, 1.0])


def test_r_precision_drops_short_tail_and_needs_a_full_batch():
    rng = np.random.default_rng(6)
    emb = rng.normal(size=(40, 4))
    prec, _ = metrics.r_precision(emb, emb)  # 40 -> one batch of 32
    assert prec[0] == 1.0
    with pytest.raises(MetricError, match="at least 32"):
        metrics.r_precision(emb[:31], emb[:31])


def test_mm_dist_known_offset():
    a = np.zeros((50, 3))
    b = np.zeros((50, 3))
    b[:, 0] = 2.0
    assert metrics.mm_dist(a, b) == pytest.approx(2.0)


def test_diversity_of_standard_normals_matches_expectation():
    rng = np.random.default_rng(7)
    dims = 64
    emb = rng.normal(size=(5000, dims))
    # The distance of two independent N(0, I) points is ~ sqrt(2 * dims) for large dims.
    assert metrics.diversity(emb) == pytest.approx(np.sqrt(2 * dims), rel=0.05)
    assert metrics.diversity(np.ones((50, dims))) == 0.0


def test_multimodality_zero_for_identical_generations_and_scales():
    same = np.repeat(np.random.default_rng(8).normal(size=(20, 1, 8)), 30, axis=1)
    assert metrics.multimodality(same) == 0.0
    spread = np.random.default_rng(9).normal(size=(200, 30, 64))
    assert metrics.multimodality(spread) == pytest.approx(np.sqrt(2 * 64), rel=0.05)
    with pytest.raises(MetricError):
        metrics.multimodality(np.zeros((5, 1, 8)))


def test_mpjpe_root_alignment_and_units():
    rng = np.random.default_rng(10)
    joints = rng.normal(size=(30, 22, 3))
    drift = joints + np.array([1.0, 0.0, 0.0])  # the whole body moved by 1 m
    assert metrics.mpjpe(drift, joints, align="root") == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(drift, joints, align="none") == pytest.approx(1000.0)
    one_joint = joints.copy()
    one_joint[:, 5, 1] += 0.022  # 22 mm on one of 22 joints -> 1 mm mean
    assert metrics.mpjpe(one_joint, joints) == pytest.approx(1.0)
    valid = np.zeros(30, bool)
    valid[:10] = True
    bad = joints.copy()
    bad[10:] += 5.0  # padding frames, excluded
    bad[10:, 0] -= 5.0
    assert metrics.mpjpe(bad, joints, valid=valid) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(MetricError):
        metrics.mpjpe(joints, joints[:-1])
    with pytest.raises(MetricError):
        metrics.mpjpe(joints, joints, align="procrustes")


def test_recall_at_k_perfect_random_and_keys():
    rng = np.random.default_rng(11)
    emb = rng.normal(size=(200, 16))
    assert metrics.recall_at_k(emb, emb) == {1: 1.0, 5: 1.0, 10: 1.0}
    rand = metrics.recall_at_k(rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16)))
    assert rand[10] == pytest.approx(10 / 2000, abs=0.006)
    # Swap items 0 and 1 in the gallery: wrong by position, right by key.
    gallery = emb.copy()
    gallery[[0, 1]] = gallery[[1, 0]]
    keys = ["a", "a"] + [f"k{i}" for i in range(2, 200)]
    assert metrics.recall_at_k(emb, gallery, ks=(1,))[1] == pytest.approx(198 / 200)
    assert metrics.recall_at_k(emb, gallery, ks=(1,), keys=keys)[1] == 1.0
