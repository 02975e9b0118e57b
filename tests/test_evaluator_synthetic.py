"""Synthetic motion caches for the evaluator / evaluate / report tests (and tests of the fixture itself).

Motions are built by forward kinematics from hand-made joint rotations (walk, run, wave one hand, raise
both hands; an "elderly" style is slower and smaller), turned into HumanML3D-263 features by
`ropar_core.features.joints_to_features`, and written in the cache format of docs/architecture.md.
Noisy caches corrupt whole parts the way video reconstruction does (frozen limb + jitter, in feature
space) and mark them not credible; `clean_features.npy` keeps the ground truth.
"""

from __future__ import annotations

import json

import numpy as np

from tests.helpers.synthetic import (
    make_synthetic_caches,
    synthetic_joints,
)

# ----------------------------------------------------------------------------------------------------
# Tests of the fixture itself


def test_synthetic_cache_layout_and_ground_truth(tmp_path):
    caches = make_synthetic_caches(tmp_path, per_label=4, names=["clean", "noisy_r50"])
    meta = json.loads((caches["clean"] / "meta.json").read_text())
    feats_clean = np.load(caches["clean"] / "features.npy")
    assert feats_clean.shape[1] == 263 and np.isfinite(feats_clean).all()
    assert sum(c["length"] for c in meta["clips"]) == len(feats_clean)
    assert {c["split"] for c in meta["clips"]} == {"train", "test"}
    assert np.load(caches["clean"] / "credible.npy").all()
    noisy_dir = caches["noisy_r50"]
    credible = np.load(noisy_dir / "credible.npy")
    assert 0.3 < credible.mean() < 0.95 and credible[:, 0].all()  # torso always credible
    np.testing.assert_allclose(np.load(noisy_dir / "clean_features.npy"), feats_clean)
    noisy_feats = np.load(noisy_dir / "features.npy")
    assert not np.allclose(noisy_feats, feats_clean)


def test_synthetic_motions_differ_by_content():
    rng = np.random.default_rng(0)
    walk = synthetic_joints("walk", "normal", 40, rng)
    wave = synthetic_joints("wave-left-hand", "normal", 40, rng)
    assert walk[-1, 0, 2] > 1.0 and abs(wave[-1, 0, 2]) < 0.05  # walking moves forward (+Z)
    assert wave[-1, 20, 1] > wave[-1, 15, 1] - 0.3  # the left wrist is up near the head
    assert wave[-1, 21, 1] < wave[-1, 0, 1]  # the right wrist hangs below the pelvis
