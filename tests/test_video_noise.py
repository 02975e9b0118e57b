"""simulate_noise --mode video: global errors where the camera lost the body, no smoothing, and a
detector that is wrong both ways (unseen parts called credible, seen parts called noisy)."""

from __future__ import annotations

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import skeleton as sk
from training.data import simulate_noise as sn
from training.data import video_noise as vn
from training.data import virtual_camera as vc
from training.data.cache import Cache

ROOT_CHANNELS = slice(0, 4)  # yaw velocity, XZ velocity, root height


@pytest.fixture(scope="module")
def video50(tmp_path_factory, clean_dir):
    out = tmp_path_factory.mktemp("video") / "noisy_video_r50"
    meta = sn.simulate_cache(clean_dir, out, 0.5, seed=0, num_candidates=6, progress=False, mode="video")
    return out, meta


def test_meta_says_which_mode_ran_and_how_wrong_the_detector_is(video50):
    _, meta = video50
    assert meta["noise_mode"] == "video" and "-video-" in meta["name"]
    err = meta["detector_errors"]
    assert 0.0 < err["unseen_called_credible"] < 0.8 and 0.0 < err["seen_called_noisy"] < 0.5
    assert abs(meta["achieved_credible_ratio"] - 0.5) < 0.1


def test_global_orientation_and_depth_errors_reach_the_root_channels(video50, clean_dir):
    out, _ = video50
    cache = Cache(out)
    root_changed = [i for i in range(len(cache))
                    if not np.allclose(cache.clip_features(i)[:, ROOT_CHANNELS],
                                       cache.clip_clean_features(i)[:, ROOT_CHANNELS], atol=1e-3)]
    lost = [i for i in range(len(cache)) if cache.clips[i]["video"]["lost_hips_frames"] > 0]
    assert lost and set(lost) <= set(root_changed)


def test_credibility_is_not_an_oracle(video50):
    out, _ = video50
    cache = Cache(out)
    wrong = 0
    for i in range(len(cache)):  # own joints of a part moved while the detector called the part credible
        noisy = F.features_to_joints(cache.clip_features(i))
        clean = F.features_to_joints(cache.clip_clean_features(i))
        cred = cache.clip_credible(i)
        for k, part in enumerate(sk.PART_NAMES[1:], start=1):
            own = list(sk.PART_OWN_JOINTS[part])
            err = np.linalg.norm(noisy[:, own] - clean[:, own], axis=-1).max(-1)  # (T,)
            wrong += int(((err > 0.05) & cred[:, k]).sum())
    assert wrong > 0


def test_limbs_mode_is_unchanged_and_keeps_the_root_clean(clean_dir, tmp_path):
    meta = sn.simulate_cache(clean_dir, tmp_path / "limbs", 0.5, seed=0, num_candidates=6, progress=False)
    assert meta["noise_mode"] == "limbs" and "detector_errors" not in meta
    cache = Cache(tmp_path / "limbs")
    for i in range(len(cache)):
        root = cache.clip_features(i)[:, ROOT_CHANNELS]
        assert np.array_equal(root, cache.clip_clean_features(i)[:, ROOT_CHANNELS])


def test_rotating_the_upper_body_keeps_bone_lengths(sources):
    longest = max(sources.values(), key=lambda c: c.length)
    joints = F.features_to_joints(longest.features[:40]).astype(np.float64)
    quat = np.tile(np.array([np.cos(0.3), 0.0, np.sin(0.3), 0.0]), (len(joints), 1))
    out = vn.rotate_subtree(joints, vn.UPPER_BODY_BASE, quat)
    bones = lambda J: np.linalg.norm(J[:, 1:] - J[:, list(sk.PARENTS[1:])], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bones(out), bones(joints), atol=1e-6)
    assert np.allclose(out[:, :10], joints[:, :10]) and not np.allclose(out[:, 16], joints[:, 16])


def test_a_fully_seen_clip_gets_no_global_error(sources):
    joints = F.features_to_joints(max(sources.values(), key=lambda c: c.length).features[:60])
    view = vc.film(joints, np.random.default_rng(0), framing="full")
    view.visibility[:] = 1.0
    out, stats = vn.global_errors(joints.astype(np.float64), view, np.random.default_rng(1))
    assert stats["lost_hips_frames"] == 0 and np.allclose(out, joints)


def test_features_round_trip_keeps_the_frame_count(sources):
    feats = next(iter(sources.values())).features[:50]
    back = vn.to_features(F.features_to_joints(feats))
    assert back.shape == feats.shape and np.abs(back - feats).mean() < 1e-3
