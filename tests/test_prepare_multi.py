"""One cache from many sources (`training.prepare_multi`): mirroring, dataset-2 kept as it was, per-source
sampling weights, the vocabulary table; on the fixtures cut from the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ropar_core import features
from ropar_core.skeleton import JOINT_INDEX as J
from training.data import prepare, prepare_multi
from training.data.cache import Cache
from training.data.dataset import MotionDataset
from training.data.importers import bandai
from training.data.mirror import mirror_features, mirror_joints, mirror_mask, mirror_text

DATA = Path(__file__).parent / "data"


def test_mirror_text_swaps_sides_but_not_right_angles():
    assert mirror_text("Left turn, then waves the right hand") == "Right turn, then waves the left hand"
    assert mirror_text("turns left at right angles") == "turns right at right angles"
    assert mirror_text("spins clockwise") == "spins counterclockwise"
    assert mirror_text("a person bright and upright") == "a person bright and upright"


def test_mirrored_raise_left_hand_raises_the_right_hand():
    feats = bandai.bvh_to_features(DATA / "bandai" / "dataset-2_raise-up-left-hand_active_020.bvh")
    j, m = features.features_to_joints(feats), features.features_to_joints(mirror_features(feats))
    assert j[:, J["l_wrist"], 1].max() > j[:, J["r_wrist"], 1].max() + 0.3
    assert m[:, J["r_wrist"], 1].max() > m[:, J["l_wrist"], 1].max() + 0.3
    assert np.abs(mirror_joints(mirror_joints(j)) - j).max() == 0.0
    mask = np.zeros((4, 5), bool)
    mask[:, 1] = True  # left arm credible
    assert mirror_mask(mask, 3).tolist() == [[False, False, True, False, False]] * 3


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    assert (
        prepare.main(
            ["--bandai-dir", str(DATA / "bandai"), "--out", str(root / "b2"), "--workers", "1", "--quiet"]
        )
        == 0
    )
    args = [
        "--bandai2-cache",
        str(root / "b2"),
        "--bandai1",
        str(DATA / "bandai1"),
        "--cmu",
        str(DATA / "cmu_iclone"),
        "--deepmimic",
        str(DATA / "deepmimic"),
        "--out",
        str(root / "m"),
        "--weights",
        "cmu=3,deepmimic=5",
        "--action-weights",
        "walk=2",
    ]
    assert prepare_multi.main(args) == 0
    return root


def test_merged_caches_keep_dataset2_and_add_mirrored_sources(multi):
    b2, clean, noisy = (
        Cache(multi / "b2" / "clean"),
        Cache(multi / "m" / "clean"),
        Cache(multi / "m" / "noisy"),
    )
    assert [c["id"] for c in clean.clips] == [c["id"] for c in noisy.clips]
    ids = {c["id"]: c for c in clean.clips}
    for c in b2.clips:  # dataset-2 exactly as prepared (same split, same captions), train clips mirrored
        assert ids[c["id"]]["split"] == c["split"] and ids[c["id"]]["texts"] == c["texts"]
        assert (c["id"] + "_mirror" in ids) == (c["split"] == "train")
    sources = {c["source"] for c in clean.clips}
    assert sources == {"bandai2", "bandai1", "cmu", "deepmimic"}
    assert "cmu_002_05_mirror" in ids and "deepmimic_cartwheel_mirror" in ids
    assert noisy.noisy and 0.3 < noisy.credible_token_ratio() < 0.7  # new sources went through the simulator
    repeats = {(c["source"], c["split"]): c["repeat"] for c in clean.clips if c["content"] != "walk"}
    assert repeats[("cmu", "train")] == 3 and repeats[("deepmimic", "train")] == 5
    assert repeats[("bandai2", "train")] == 1 and repeats.get(("bandai2", "test"), 1) == 1
    # --action-weights walk=2 multiplies the source's weight, on train clips only
    assert ids["deepmimic_walk"]["repeat"] == 10 and ids["deepmimic_walk_mirror"]["repeat"] == 10
    walks = [c for c in clean.clips if c["content"] == "walk" and c["source"] == "bandai2"]
    assert walks and all(c["repeat"] == (2 if c["split"] == "train" else 1) for c in walks)
    assert clean.meta["action_weights"] == {"walk": 2}


def test_dataset_draws_a_clip_as_often_as_its_weight(multi):
    clean = Cache(multi / "m" / "clean")
    ds = MotionDataset(clean, "train", crop_frames=16, min_frames=4)
    want = sum(c["repeat"] for c in clean.clips if c["split"] == "train" and c["length"] >= 4)
    assert len(ds) == want
    cart = [clean.clips[i]["id"] for i in ds.index].count("deepmimic_cartwheel")
    assert cart == 5


def test_vocabulary_counts_originals_with_licences(multi):
    vocab = {(r["source"], r["action"]): r for r in prepare_multi.vocabulary(Cache(multi / "m" / "clean"))}
    assert vocab[("deepmimic", "cartwheel")]["clips"] == 1  # its mirror is not a second take
    assert "MIT" in vocab[("deepmimic", "cartwheel")]["licence"]
    assert "CC BY-NC" in vocab[("bandai1", "bow")]["licence"]
    assert vocab[("cmu", "punch")]["minutes"] > 0


def test_bad_weights_and_missing_cache_fail_with_one_line(tmp_path, capsys):
    assert prepare_multi.main(["--bandai2-cache", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no clean/ cache" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare_multi.build_parser().parse_args(["--bandai2-cache", "x", "--out", "y", "--weights", "kit=2"])


def test_rare_actions_are_counted_over_sources_without_mirrors():
    from types import SimpleNamespace

    a = SimpleNamespace(
        clips=[{"content": "walk"}] * 3 + [{"content": "kick"}, {"content": "kick", "mirrored": True}]
    )
    b = SimpleNamespace(
        clips=[{"content": "walk"}] * 2
        + [{"content": "crawl"}]
        + [{"content": "kick"}] * 3
        + [{"content": "kick", "id": "k_mirror"}]
    )  # a noisy cache marks mirrors by id only
    # kick: 4 takes (its mirror does not count) is still rare; walk: 5 is not
    assert prepare_multi.rare_actions([a, b]) == {"crawl", "kick"}


def test_noise_draws_film_each_new_train_clip_again_and_share_its_repeats(multi, tmp_path):
    import shutil

    shutil.copytree(multi / "m" / "_work", tmp_path / "m3" / "_work")  # the imports and draw 0 are reused
    args = ["--bandai2-cache", str(multi / "b2"), "--out", str(tmp_path / "m3"),
            "--weights", "cmu=3,deepmimic=5", "--action-weights", "walk=2", "--noise-draws", "3"]
    assert prepare_multi.main(args) == 0
    one, three = Cache(multi / "m" / "noisy"), Cache(tmp_path / "m3" / "noisy")
    clean = Cache(tmp_path / "m3" / "clean")
    assert [c["id"] for c in clean.clips] == [c["id"] for c in Cache(multi / "m" / "clean").clips]
    ids = {c["id"]: i for i, c in enumerate(three.clips)}
    cart = [ids["deepmimic_cartwheel" + k] for k in ("", "~noise1", "~noise2")]
    assert [three.clips[i]["repeat"] for i in cart] == [2, 2, 1]  # its 5 repeats spread over the draws
    masks = [three.clip_credible(i) for i in cart]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    for i in cart:  # same ground truth, same captions, different filming
        assert np.array_equal(three.clip_clean_features(i), three.clip_clean_features(cart[0]))
        assert three.clips[i]["texts"] == three.clips[cart[0]]["texts"]
    # draw 0 is the one-draw cache's clip; dataset-2 and held-out clips are filmed once
    old = {c["id"]: i for i, c in enumerate(one.clips)}
    assert np.array_equal(three.clip_credible(cart[0]), one.clip_credible(old["deepmimic_cartwheel"]))
    once = [c for c in three.clips if c["source"] == "bandai2" or c["split"] != "train"]
    assert once and not any("~noise" in c["id"] for c in once)

    def total(cache):
        return sum(e["repeat"] for e in cache.clips if e["split"] == "train")

    assert total(one) == total(three) and three.meta["noise_draws"] == 3
    assert prepare_multi.draw_repeats(2, 8) == [1, 1] and prepare_multi.draw_repeats(7, 3) == [3, 2, 2]


def test_zero_noise_draws_fail_with_one_line(multi, tmp_path, capsys):
    args = ["--bandai2-cache", str(multi / "b2"), "--out", str(tmp_path / "o"), "--noise-draws", "0"]
    assert prepare_multi.main(args) == 2
    assert "--noise-draws must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
