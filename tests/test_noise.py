"""Virtual camera + noise simulator on windows of four real Bandai clips."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.credibility import credibility_from_confidences
from tests.helpers.noise_data import NUM_CLIPS
from training.data import noise_model as nm
from training.data import simulate_noise as sn
from training.data import virtual_camera as vc
from training.data.cache import Cache, credible_channels


@pytest.fixture(scope="module")
def noisy50(tmp_path_factory, clean_dir):
    out = tmp_path_factory.mktemp("noise") / "noisy50"
    sn.simulate_cache(clean_dir, out, 0.5, seed=0, num_candidates=8, progress=False,
                      plots=out.parent / "plots", num_plots=1)
    return out


# ---------------------------------------------------------------------------------------------
# Camera and detector.


def test_framings_see_what_they_should(sources):
    joints = F.features_to_joints(sources["walk"].features)
    rng = np.random.default_rng(0)
    full = vc.film(joints[:40], rng, "full")
    assert full.visibility.mean() > 0.85
    close = vc.film(joints[:40], np.random.default_rng(1), "close")
    legs = list(sk.PART_OWN_JOINTS["left_leg"] + sk.PART_OWN_JOINTS["right_leg"])
    assert close.visibility[:, legs].max() < 0.05  # feet and knees are far below a head-and-shoulders shot
    assert close.visibility[:, 15].mean() > 0.8  # the head is in it
    assert close.confidence[:, legs].mean() < 0.4 < close.confidence[:, 15].mean()
    # A static camera on a 6 s walk: the walker leaves the frame.
    out = vc.film(joints, np.random.default_rng(2), "walk_out")
    assert out.visibility[:10].mean() > 0.6 and out.visibility[-10:].mean() < 0.2


def test_detector_confidences_are_noisy_but_bounded(sources):
    joints = F.features_to_joints(sources["run"].features)
    view = vc.film(joints, np.random.default_rng(3), "full")
    conf = view.confidence
    assert conf.dtype == np.float32 and conf.min() >= 0 and conf.max() <= 1
    assert 0.01 < conf.std() and np.abs(np.diff(conf, axis=0)).mean() > 0.005  # not a constant


def test_framing_prior_is_about_a_quarter_full_body():
    rng = np.random.default_rng(0)
    draws = [vc.sample_framing(rng) for _ in range(4000)]
    assert 0.22 < draws.count("full") / len(draws) < 0.28
    assert set(draws) == set(vc.FRAMING_PRIOR)


# ---------------------------------------------------------------------------------------------
# Corruption and re-encoding.


def test_envelope():
    noisy = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1], bool)
    env = nm.envelope(noisy)
    assert np.all(env[~noisy] == 0)
    assert env[1] == 0 and env[8] == 0  # runs start and end at the clean pose
    assert env[4] > 0.5 and np.all(np.diff(env[1:5]) > 0)
    assert env[-1] == 1.0  # a run that reaches the clip's end needs no ramp there
    assert np.all(nm.envelope(np.ones(6, bool)) == 1.0)


def test_reencode_is_exact_for_the_corrupted_joints(sources):
    feats = sources["walk"].features
    joints = F.features_to_joints(feats)
    quat, _ = F.recover_root(feats)
    mask = np.ones((len(feats), 5), bool)
    mask[20:90, sk.PART_NAMES.index("right_arm")] = False
    mask[:, sk.PART_NAMES.index("left_leg")] = False
    bad = nm.corrupt(joints, quat, mask, np.random.default_rng(0), nm.mean_pose_local(feats.mean(0)))
    assert bad.changed[:, [19, 21]].any() and bad.changed[:, [4, 7, 10]].all()
    assert not bad.changed[:, [0, 1, 2, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 20]].any()
    noisy = nm.reencode(feats, bad.joints, bad.changed)
    # positions: features_to_joints gives back exactly the corrupted joints
    np.testing.assert_allclose(F.features_to_joints(noisy), bad.joints, atol=2e-5)
    # rotations and velocities: what HumanML3D's own joints_to_features makes of the corrupted joints
    # (away from the clip's end, where its smoothed facing differs by construction)
    ref = F.joints_to_features(bad.joints)
    rows = slice(0, 40)
    for j in (4, 7, 10, 19, 21):
        np.testing.assert_allclose(noisy[rows, sk.rot_channels(j)], ref[rows, sk.rot_channels(j)], atol=2e-3)
        np.testing.assert_allclose(noisy[rows, sk.vel_channels(j)], ref[rows, sk.vel_channels(j)], atol=2e-3)
    np.testing.assert_array_equal(noisy[rows, 259:261], ref[rows, 259:261])  # left foot contacts
    # bone lengths are kept
    bones = lambda J: np.linalg.norm(J[:, 1:] - J[:, list(sk.PARENTS[1:])], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bones(bad.joints), bones(joints), atol=1e-4)
    # nothing moved -> identical features
    np.testing.assert_array_equal(nm.reencode(feats, joints, np.zeros_like(bad.changed)), feats)


def test_simulate_clip_keeps_credible_parts_and_corrupts_the_rest(sources):
    mean_local = nm.mean_pose_local(np.mean([c.features.mean(0) for c in sources.values()], 0))
    errors = []
    for c in sources.values():
        for k in range(6):
            sim = nm.simulate_clip(c.features, nm.clip_key(0, c.id), k, 0.5, mean_local)
            ch = credible_channels(sim.frame_mask)
            np.testing.assert_array_equal(sim.features[ch], c.features[ch])  # bit-for-bit
            clean_j, noisy_j = F.features_to_joints(c.features), F.features_to_joints(sim.features)
            for p, part in enumerate(sk.PART_NAMES):
                run = ~sim.frame_mask[:, p]
                own = list(nm.CORRUPT_JOINTS[part])
                if run.sum() >= 10:
                    errors.append(np.linalg.norm(noisy_j[run][:, own] - clean_j[run][:, own], axis=-1).mean())
    assert len(errors) > 20
    assert np.median(errors) > 0.03  # metres: unseen limbs really are wrong ...
    assert np.mean(np.array(errors) > 0.005) > 0.8  # ... nearly always


def test_choose_candidates_hits_the_target():
    rng = np.random.default_rng(0)
    tokens = rng.integers(10, 40, 200)
    ratios = rng.uniform(0, 1, (200, 8))
    credible = np.round(ratios * tokens[:, None])
    for target in (0.3, 0.5, 0.7):
        choice = nm.choose_candidates(credible, tokens, target, np.random.default_rng(1))
        got = credible[np.arange(200), choice].sum() / tokens.sum()
        assert abs(got - target) <= nm.RATIO_TOLERANCE
        assert len(set(choice.tolist())) > 3  # still a mix, not one candidate index everywhere


# ---------------------------------------------------------------------------------------------
# Whole caches.


def test_noisy_cache_hits_the_ratio_and_keeps_the_clean_features(clean_dir, noisy50):
    clean, noisy = Cache(clean_dir), Cache(noisy50)
    assert noisy.noisy and len(noisy) == NUM_CLIPS
    assert abs(noisy.credible_token_ratio() - 0.5) <= 0.05
    assert noisy.meta["achieved_credible_ratio"] == pytest.approx(noisy.credible_token_ratio(), abs=1e-4)
    np.testing.assert_array_equal(np.asarray(noisy.clean_features), np.asarray(clean.features))
    assert not np.array_equal(np.asarray(noisy.features), np.asarray(clean.features))
    for i in range(len(noisy)):
        for key in ("id", "split", "texts", "length"):
            assert noisy.clips[i][key] == clean.clips[i][key]
        ch = credible_channels(noisy.clip_credible(i))
        np.testing.assert_array_equal(noisy.clip_features(i)[ch], clean.clip_features(i)[ch])
    meta = noisy.meta
    assert sum(meta["framing_counts"].values()) == NUM_CLIPS and meta["seed"] == 0
    assert {c["framing"].split("+")[0] for c in meta["clips"]} <= set(vc.FRAMING_PRIOR)
    pngs = sorted((noisy50.parent / "plots").glob("*.png"))
    assert len(pngs) == 1 and all(p.stat().st_size > 10_000 for p in pngs)


def test_other_ratios_determinism_and_seed(tmp_path, clean_dir, noisy50):
    sn.simulate_cache(clean_dir, tmp_path / "r30", 0.3, seed=0, num_candidates=8, progress=False)
    assert abs(Cache(tmp_path / "r30").credible_token_ratio() - 0.3) <= 0.05
    sn.simulate_cache(clean_dir, tmp_path / "again", 0.5, seed=0, num_candidates=8, progress=False, workers=2)
    for name in ("features.npy", "credible.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "again" / name), np.load(noisy50 / name))
    sn.simulate_cache(clean_dir, tmp_path / "seed1", 0.5, seed=1, num_candidates=8, progress=False)
    assert not np.array_equal(np.load(tmp_path / "seed1" / "credible.npy"), np.load(noisy50 / "credible.npy"))


def test_ratio_one_is_the_clean_set(tmp_path, clean_dir):
    meta = sn.simulate_cache(clean_dir, tmp_path / "r100", 1.0, progress=False)
    c = Cache(tmp_path / "r100")
    assert meta["achieved_credible_ratio"] == 1.0 and np.asarray(c.credible).all()
    np.testing.assert_array_equal(np.asarray(c.features), np.asarray(Cache(clean_dir).features))


def test_cli(tmp_path, clean_dir, noisy50, capsys):
    assert sn.main(["--in", str(clean_dir), "--out", str(tmp_path / "x"), "--credible-ratio", "1.5"]) == 2
    assert "--credible-ratio must be in (0, 1]" in capsys.readouterr().err
    assert sn.main(["--in", str(noisy50), "--out", str(tmp_path / "x")]) == 2
    assert "already a noisy cache" in capsys.readouterr().err
    assert sn.main(["--in", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "not a dataset cache" in capsys.readouterr().err
    assert sn.main(["--in", str(clean_dir), "--out", str(tmp_path / "y"), "--credible-ratio", "0.7",
                    "--candidates", "6", "--quiet"]) == 0
    out = capsys.readouterr().out
    achieved = float(re.search(r"credible-token ratio ([0-9.]+) \(requested 0.70\)", out).group(1))
    assert abs(achieved - 0.7) <= 0.05
    assert json.loads((tmp_path / "y" / "meta.json").read_text())["target_credible_ratio"] == 0.7


def test_credibility_comes_from_the_credibility_module(sources):
    joints = F.features_to_joints(sources["raise-up-left-hand"].features)
    view, mask = nm.film_candidate(joints, 123, 0, 0.5)
    expected = credibility_from_confidences(view.confidence, "smpl22", tau=0.5, fps=20).frame_mask
    np.testing.assert_array_equal(mask, expected)
