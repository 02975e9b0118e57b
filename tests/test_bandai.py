"""Bandai importer (file names, labels, features, splits) and the caption grammar, on four real clips."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core.errors import MotionFileError, RoparError
from training.data.captions import ACTIONS, CONTENTS, STYLE_WAYS, STYLES, caption_pool, make_captions
from training.data.importers import SPLITS, bandai

FIXTURES = Path(__file__).resolve().parent / "data" / "bandai"
WALK = FIXTURES / "dataset-2_walk_active_009.bvh"
TURN_RIGHT = FIXTURES / "dataset-2_walk-turn-right_exhausted_027.bvh"
RAISE_LEFT = FIXTURES / "dataset-2_raise-up-left-hand_active_020.bvh"


@pytest.fixture(scope="module")
def clips():
    return {c.meta["content"]: c for c in bandai.load_folder(FIXTURES)}


# ---------------------------------------------------------------------------------------------
# Names, labels, features.


def test_parse_name():
    n = bandai.parse_name("x/dataset-2_walk-turn-left_elderly_017.bvh")
    assert (n.content, n.style, n.take) == ("walk-turn-left", "elderly", 17)
    for bad in ("walk_elderly_001.bvh", "dataset-2_fly_elderly_001.bvh", "dataset-2_walk_angry_001.bvh",
                "dataset-2_walk_elderly.bvh"):
        with pytest.raises(MotionFileError, match="not a Bandai"):
            bandai.parse_name(bad)


def test_labels_must_match_the_name(tmp_path):
    shutil.copy(WALK, tmp_path / WALK.name)
    (tmp_path / WALK.with_suffix(".json").name).write_text(json.dumps({"content": 3, "style": 0}))
    with pytest.raises(MotionFileError, match="labels say run/active"):
        bandai.check_labels(tmp_path / WALK.name, bandai.parse_name(WALK))
    (tmp_path / WALK.with_suffix(".json").name).write_text("{not json")
    with pytest.raises(MotionFileError, match="not a Bandai label file"):
        bandai.check_labels(tmp_path / WALK.name, bandai.parse_name(WALK))


def test_find_data_dir(tmp_path):
    nested = tmp_path / "Bandai-Namco-Research-Motiondataset-2" / "data"
    nested.mkdir(parents=True)
    shutil.copy(WALK, nested / WALK.name)
    assert bandai.find_data_dir(tmp_path) == nested
    with pytest.raises(RoparError, match="no Bandai dataset-2 BVH"):
        bandai.find_data_dir(tmp_path / "Bandai-Namco-Research-Motiondataset-2" / "nothing")


def test_clip_features_are_real_motion(clips):
    assert set(clips) == {"walk", "run", "walk-turn-right", "raise-up-left-hand"}
    for c in clips.values():
        assert c.features.dtype == np.float32 and c.features.shape[1] == 263
        assert np.all(np.isfinite(c.features))
        assert c.frame_mask.all() and c.source == "bandai2" and c.subject == "bandai2"
    # 185 frames at 30 fps span 184/30 s -> 123 frames at 20 fps -> 122 feature rows.
    assert clips["walk"].length == 122
    walk = F.features_to_joints(clips["walk"].features)
    forward, sideways = walk[-1, 0, 2] - walk[0, 0, 2], walk[-1, 0, 0] - walk[0, 0, 0]
    assert forward > 6.0 and abs(sideways) < 0.2 * forward  # 6 s forward (+Z), roughly straight
    turn = F.features_to_joints(clips["walk-turn-right"].features)
    assert turn[-1, 0, 0] < -0.5  # the subject's right is -X when facing +Z
    raise_left = F.features_to_joints(clips["raise-up-left-hand"].features)
    left_rise = raise_left[:, 20, 1].max() - raise_left[0, 20, 1]
    right_rise = raise_left[:, 21, 1].max() - raise_left[0, 21, 1]
    assert left_rise > 0.5 and right_rise < 0.2
    height = walk[0, 15, 1] - walk[0, :, 1].min()
    assert 1.4 < height < 1.8  # metres, HumanML3D's skeleton


# ---------------------------------------------------------------------------------------------
# Splits.

ALL_TAKES = [t for t in range(1, 105) if t % 10 != 3]  # the release lacks every take ending in 3


def test_take_group_split_is_deterministic_and_disjoint():
    a = bandai.take_group_splits(ALL_TAKES, seed=0)
    assert a == bandai.take_group_splits(list(reversed(ALL_TAKES)), seed=0)
    assert set(a) == {0, 1, 2, 4, 5, 6, 7, 8, 9}  # only groups that occur
    assert Counter(a.values()) == {"train": 7, "val": 1, "test": 1}
    # a take id has exactly one split whatever its content and style
    per_take = {t: bandai.split_of(t, a) for t in ALL_TAKES}
    for t in ALL_TAKES:
        assert per_take[t] == a[t % 10]
    seeds = {tuple(sorted(bandai.take_group_splits(ALL_TAKES, seed=s).items())) for s in range(6)}
    assert len(seeds) > 1  # the seed matters
    with pytest.raises(RoparError, match="group 3"):
        bandai.split_of(13, a)


def test_too_few_groups_train_on_everything():
    assert set(bandai.take_group_splits([1, 11, 2], seed=0).values()) == {"train"}


def test_clips_carry_their_split(clips):
    for c in clips.values():
        assert c.meta["split"] in SPLITS
        assert c.split_key == f"bandai2/take-group-{c.meta['take'] % 10}"
    # four groups: one test, one val, two train
    assert Counter(c.meta["split"] for c in clips.values()) == {"train": 2, "val": 1, "test": 1}


def test_limit_spreads_over_labels():
    picked = bandai.list_bvh(FIXTURES, limit=2)
    assert len(picked) == 2 and picked == bandai.list_bvh(FIXTURES, limit=2)
    assert len({bandai.parse_name(p).content for p in picked}) == 2


# ---------------------------------------------------------------------------------------------
# Captions.


def test_captions_deterministic_varied_and_on_topic():
    first = make_captions("wave-right-hand", "elderly", "clip-a")
    assert first == make_captions("wave-right-hand", "elderly", "clip-a")
    assert len(first) == 4 and len(set(first)) == 4
    assert make_captions("wave-right-hand", "elderly", "clip-a", seed=1) != first
    seen = set()
    for k in range(40):
        caps = make_captions("wave-right-hand", "elderly", f"clip-{k}")
        seen.update(caps)
        for cap in caps:
            assert "right" in cap and "left" not in cap
            assert cap == cap.strip() and "  " not in cap
        # the first caption always names the style explicitly
        assert any(caps[0].endswith(w) for w in STYLE_WAYS["elderly"])
    assert len(seen) > 80  # 160 captions drawn, mostly different


def test_every_label_pair_has_a_rich_pool():
    for content in CONTENTS:
        for style in STYLES:
            pool = caption_pool(content, style)
            assert len(pool) >= 100
            assert all(any(a in cap for a in ACTIONS[content]) for cap in pool)
    walks = " ".join(caption_pool("walk", "elderly"))
    assert "an old man slowly walks" in walks and "in an elderly way" in walks
    assert "with small, shuffling steps" in walks
    assert "steps" not in " ".join(caption_pool("wave-left-hand", "elderly"))  # gait words only for gaits


def test_caption_errors():
    with pytest.raises(ValueError, match="unknown Bandai content"):
        make_captions("swim", "normal", "x")
    with pytest.raises(ValueError, match="unknown Bandai style"):
        make_captions("walk", "sleepy", "x")  # "angry" is a dataset-1 style now
    with pytest.raises(ValueError, match="at least one caption"):
        make_captions("walk", "normal", "x", n=0)
