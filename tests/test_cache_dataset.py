"""Cache writer/reader (layout of docs/architecture.md, stats) and MotionDataset / collate."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ropar_core.credibility import token_mask_from_frame_mask
from ropar_core.errors import RoparError
from ropar_core.skeleton import FEATURE_DIM, PART_CHANNELS, PART_NAMES
from training.data.cache import (
    STD_FLOOR,
    STD_GROUPS,
    Cache,
    CacheWriter,
    credible_channels,
    is_complete,
    recompute_stats,
)
from training.data.dataset import MotionDataset, collate
from training.data.importers import Clip

LENGTHS = [70, 30, 101, 8, 64, 45]
SPLITS = ["train", "train", "train", "val", "val", "test"]


def make_clips(seed: int = 0) -> list[Clip]:
    rng = np.random.default_rng(seed)
    clips = []
    for i, (T, split) in enumerate(zip(LENGTHS, SPLITS)):
        feats = rng.normal(i, 1.0 + i, (T, FEATURE_DIM)).astype(np.float32)
        feats[:, 0] = np.arange(T) + 1000 * i  # row identity: channel 0 tells where a crop came from
        mask = np.ones((T, 5), bool)
        mask[T // 2:, PART_NAMES.index("left_leg")] = False
        clips.append(Clip(id=f"c{i}", features=feats, texts=[f"caption {i} a", f"caption {i} b"],
                          frame_mask=mask, source="test", subject=f"s{i}",
                          meta={"split": split, "content": "walk", "style": "normal"}))
    return clips


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "noisy"
    clips = make_clips()
    with CacheWriter(out, "unit", noisy=True, target_credible_ratio=0.5) as w:
        for c in clips:
            w.add(c, clean_features=c.features + 1.0, extra={"framing": "full"})
    return out


def test_layout_and_meta(cache_dir):
    meta = json.loads((cache_dir / "meta.json").read_text())
    for key in ("version", "fps", "parts", "name", "noisy", "target_credible_ratio", "clips"):
        assert key in meta
    assert meta["fps"] == 20 and meta["parts"] == list(PART_NAMES) and meta["noisy"] is True
    assert meta["target_credible_ratio"] == 0.5
    N = sum(LENGTHS)
    feats = np.load(cache_dir / "features.npy", mmap_mode="r")
    assert feats.shape == (N, FEATURE_DIM) and feats.dtype == np.float32
    cred = np.load(cache_dir / "credible.npy")
    assert cred.shape == (N, 5) and cred.dtype == bool
    clean = np.load(cache_dir / "clean_features.npy")
    np.testing.assert_array_equal(clean, np.asarray(feats) + 1.0)
    start = 0
    clips = make_clips()
    for entry, clip in zip(meta["clips"], clips):
        keys = {"id", "start", "length", "texts", "split", "source", "subject", "content", "style"}
        assert keys <= set(entry)
        assert entry["start"] == start and entry["length"] == clip.length and entry["framing"] == "full"
        np.testing.assert_array_equal(feats[start:start + clip.length], clip.features)
        np.testing.assert_array_equal(cred[start:start + clip.length], clip.frame_mask)
        start += clip.length
    assert not (cache_dir / ".partial").exists()


def test_stats_from_train_credible_frames(cache_dir):
    clips = [c for c in make_clips() if c.meta["split"] == "train"]
    x = np.concatenate([c.features for c in clips]).astype(np.float64)
    w = np.concatenate([credible_channels(c.frame_mask) for c in clips])
    mean = (x * w).sum(0) / w.sum(0)
    std = np.sqrt((((x - mean) ** 2) * w).sum(0) / w.sum(0))
    for a, b in STD_GROUPS:
        std[a:b] = std[a:b].mean()
    cache = Cache(cache_dir)
    np.testing.assert_allclose(cache.mean, mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(cache.std, np.maximum(std, STD_FLOOR), rtol=1e-4)
    assert cache.meta["stats_split"] == "train"
    # the std is one value per group
    for a, b in STD_GROUPS:
        assert np.ptp(cache.std[a:b]) == 0


def test_credible_channel_rule():
    mask = np.ones((2, 5), bool)
    mask[:, PART_NAMES.index("left_leg")] = False
    ch = credible_channels(mask)
    assert ch[:, 0].all()  # root channels: some credible part has them
    own_left_leg = np.setdiff1d(PART_CHANNELS["left_leg"], np.concatenate(
        [PART_CHANNELS[p] for p in PART_NAMES if p != "left_leg"]))
    assert len(own_left_leg) > 0 and not ch[:, own_left_leg].any()
    assert credible_channels(np.zeros((1, 5), bool)).sum() == 0


def test_std_floor(tmp_path):
    flat = np.ones((12, FEATURE_DIM), np.float32)
    clip = Clip(id="flat", features=flat, texts=["t"], meta={"split": "train"})
    with CacheWriter(tmp_path / "c", "flat") as w:
        w.add(clip)
    assert np.all(Cache(tmp_path / "c").std == STD_FLOOR)


def test_writer_errors_and_abort(tmp_path):
    clip = make_clips()[0]
    with pytest.raises(RoparError, match="needs clean_features"):
        with CacheWriter(tmp_path / "n", "x", noisy=True) as w:
            w.add(clip)
    assert not is_complete(tmp_path / "n") and not (tmp_path / "n" / ".partial").exists()
    with pytest.raises(RoparError, match="split must be one of"):
        with CacheWriter(tmp_path / "s", "x") as w:
            w.add(clip, split="holdout")
    bad = make_clips()[1]
    bad.features[3, 7] = np.nan
    with pytest.raises(RoparError, match="NaN"):
        with CacheWriter(tmp_path / "nan", "x") as w:
            w.add(bad)
    with pytest.raises(RoparError, match="no clips"):
        CacheWriter(tmp_path / "e", "x").close()


def test_reader_errors(tmp_path, cache_dir):
    with pytest.raises(RoparError, match="not a dataset cache"):
        Cache(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    meta = json.loads((cache_dir / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(RoparError, match="cache version 99"):
        Cache(broken)
    (broken / "meta.json").write_text(json.dumps(meta))
    np.save(broken / "features.npy", np.zeros((5, FEATURE_DIM), np.float32))
    with pytest.raises(RoparError, match="meta.json says"):
        _ = Cache(broken).features
    with pytest.raises(RoparError, match="unknown split"):
        Cache(cache_dir).indices("dev")


# ---------------------------------------------------------------------------------------------
# Dataset.


def test_items(cache_dir):
    cache = Cache(cache_dir)
    ds = MotionDataset(cache_dir, "train", crop_frames=64, seed=3)
    assert len(ds) == 3
    for idx in range(len(ds)):
        it = ds[idx]
        clip = cache.clips[ds.index[idx]]
        assert it["features"].shape == (64, FEATURE_DIM) and it["features"].dtype == torch.float32
        assert it["frame_mask"].shape == (64, 5) and it["token_mask"].shape == (16, 5)
        n = it["length"]
        assert n % 4 == 0 and n == min(64, clip["length"] // 4 * 4)
        assert it["text"] in clip["texts"] and it["clip_id"] == clip["id"]
        # normalised with the cache's stats; the crop is a contiguous window of the clip
        raw = it["features"][:n].numpy() * cache.std + cache.mean
        first = int(round(raw[0, 0])) - 1000 * int(clip["id"][1:])
        rows = slice(clip["start"] + first, clip["start"] + first + n)
        np.testing.assert_allclose(raw, cache.features[rows], atol=1e-3)
        np.testing.assert_array_equal(it["frame_mask"][:n].numpy(), cache.credible[rows])
        # padding is zero and never credible; tokens follow the "all" rule
        assert not it["features"][n:].any() and not it["frame_mask"][n:].any()
        np.testing.assert_array_equal(it["token_mask"].numpy(),
                                      token_mask_from_frame_mask(it["frame_mask"].numpy(), "all", True))
    short = [ds[i] for i in range(len(ds)) if cache.clips[ds.index[i]]["length"] == 30][0]
    assert short["length"] == 28


def test_crops_are_seeded_and_move_with_the_epoch(cache_dir):
    ds = MotionDataset(cache_dir, "train", crop_frames=16, seed=1)
    a = [ds[i]["features"] for i in range(len(ds))]
    assert all(torch.equal(x, ds[i]["features"]) for i, x in enumerate(a))  # same (seed, epoch, idx)
    ds.set_epoch(1)
    assert any(not torch.equal(x, ds[i]["features"]) for i, x in enumerate(a))
    val = MotionDataset(cache_dir, "val", crop_frames=16, seed=1)
    before = val[0]["features"]
    val.set_epoch(5)
    assert torch.equal(before, val[0]["features"])  # evaluation crops stay put


def test_min_frames_and_bad_crop(cache_dir):
    assert len(MotionDataset(cache_dir, "val", min_frames=24)) == 1  # the 8-frame clip is dropped
    assert len(MotionDataset(cache_dir, "val", min_frames=4)) == 2
    with pytest.raises(RoparError, match="multiple of 4"):
        MotionDataset(cache_dir, "train", crop_frames=30)
    with pytest.raises(RoparError, match="no test clip"):
        MotionDataset(cache_dir, "test", min_frames=100)


def test_collate_pads_to_the_longest(cache_dir):
    ds = MotionDataset(cache_dir, "train", crop_frames=None)
    items = [ds[i] for i in range(len(ds))]
    lengths = sorted(it["length"] for it in items)
    assert lengths == [28, 68, 100]
    batch = collate(items)
    B, L = 3, 100
    assert batch["features"].shape == (B, L, FEATURE_DIM)
    assert batch["frame_mask"].shape == (B, L, 5) and batch["token_mask"].shape == (B, L // 4, 5)
    assert batch["valid"].shape == (B, L) and batch["valid"].dtype == torch.bool
    for b, it in enumerate(items):
        n = it["length"]
        assert batch["valid"][b].sum() == n and batch["length"][b] == n
        assert torch.equal(batch["features"][b, :n], it["features"])
        assert not batch["features"][b, n:].any() and not batch["frame_mask"][b, n:].any()
        assert not batch["token_mask"][b, n // 4:].any()
    assert batch["text"] == [it["text"] for it in items]
    with pytest.raises(ValueError):
        collate([])


def test_distributed_sampler_two_ranks(cache_dir):
    ds = MotionDataset(cache_dir, "train", crop_frames=32)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0, drop_last=False)
        sampler.set_epoch(0)
        loader = DataLoader(ds, batch_size=2, sampler=sampler, collate_fn=collate, num_workers=0)
        ids = []
        for batch in loader:
            assert batch["features"].shape[1:] == (32, FEATURE_DIM)
            assert torch.all(batch["length"] % 4 == 0)
            ids += batch["clip_id"]
        assert len(ids) == 2  # ceil(3 / 2) per rank (one index repeated to even out)
        seen.append(ids)
    assert set(seen[0]) | set(seen[1]) == {"c0", "c1", "c2"}


def test_dataloader_workers(cache_dir):
    ds = MotionDataset(cache_dir, "train", crop_frames=32)
    loader = DataLoader(ds, batch_size=3, collate_fn=collate, num_workers=2)
    batch = next(iter(loader))
    direct = collate([ds[i] for i in range(3)])
    assert torch.equal(batch["features"], direct["features"])  # workers see the same crops


def test_stats_fall_back_when_a_part_is_never_credible(tmp_path):
    rng = np.random.default_rng(1)
    mask = np.ones((20, 5), bool)
    mask[:, PART_NAMES.index("left_arm")] = False
    clip = Clip(id="a", features=rng.normal(size=(20, FEATURE_DIM)), texts=["t"], frame_mask=mask,
                meta={"split": "val"})
    with CacheWriter(tmp_path / "c", "x") as w:
        w.add(clip)
    cache = Cache(tmp_path / "c")
    assert np.all(np.isfinite(cache.mean)) and np.all(cache.std >= STD_FLOOR)
    own = np.setdiff1d(PART_CHANNELS["left_arm"], PART_CHANNELS["torso"])
    np.testing.assert_allclose(cache.mean[own], clip.features[:, own].mean(0), atol=1e-5)  # all frames
    assert cache.meta["stats_split"] == f"train, {FEATURE_DIM} channels from fallbacks"


def test_recompute_stats_matches_the_writer(tmp_path, cache_dir):
    copy = tmp_path / "copy"
    shutil.copytree(cache_dir, copy)
    np.save(copy / "std.npy", np.ones(FEATURE_DIM, np.float32))
    mean, std = recompute_stats(copy)
    np.testing.assert_allclose(std, np.load(cache_dir / "std.npy"), rtol=1e-6)
    np.testing.assert_allclose(np.load(copy / "mean.npy"), np.load(cache_dir / "mean.npy"), rtol=1e-6)
    assert Cache(copy).meta["clips"] == Cache(cache_dir).meta["clips"]
