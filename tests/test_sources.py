"""Importers of the extra motion sources on fixtures cut from the real files (tests/data/README.md):
CMU on Reallusion's CC_Base rig, DeepMimic's humanoid JSON, Bandai dataset-1; their captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ropar_core import features
from ropar_core.bone_maps import bvh_to_smpl22, detect_bone_map
from ropar_core.bvh import read_bvh
from ropar_core.errors import MotionFileError
from ropar_core.skeleton import JOINT_INDEX as J
from training.data.captions import caption_pool, make_captions
from training.data.captions_sources import (
    cmu_action,
    cmu_captions,
    cmu_parts,
    deepmimic_captions,
    deepmimic_key,
)
from training.data.importers import bandai1, cmu_iclone, deepmimic

DATA = Path(__file__).parent / "data"


def joints_of(feats: np.ndarray) -> np.ndarray:
    return features.features_to_joints(feats)  # (T, 22, 3), Y up, facing +Z at frame 0


# ---------------------------------------------------------------------------------------------
# CMU on CC_Base


def test_cc_base_bone_map_is_detected_and_gives_an_upright_adult():
    bvh = read_bvh(DATA / "cmu_iclone" / "bvh" / "002_05.bvh")
    assert detect_bone_map(bvh.names)[0] == "cc_base"
    joints, fps = bvh_to_smpl22(bvh)
    assert fps == pytest.approx(60.0)
    height = joints[:, J["head"], 1] - joints[:, [J["l_ankle"], J["r_ankle"]], 1].min(1)
    assert 1.3 < float(np.median(height)) < 1.9  # centimetres became metres, Y is up
    # SMPL order: the spine rises pelvis -> spine1 -> spine2 -> spine3 -> neck -> head
    chain = [J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")]
    assert np.all(np.diff(joints[0, chain, 1]) > 0)


def test_cmu_tpose_frame_is_dropped_only_where_it_was_added():
    with_tpose, fps, dropped = cmu_iclone.bvh_joints(DATA / "cmu_iclone" / "bvh" / "007_03.bvh")
    assert dropped and len(with_tpose) == 30 and fps == pytest.approx(60.0)
    plain, _, dropped = cmu_iclone.bvh_joints(DATA / "cmu_iclone" / "bvh" / "002_05.bvh")
    assert not dropped and len(plain) == 30
    # what was dropped is a T-pose: the wrists level with the shoulders, far out to the side
    raw, _ = bvh_to_smpl22(read_bvh(DATA / "cmu_iclone" / "bvh" / "007_03.bvh"))
    arm = raw[0, J["l_wrist"]] - raw[0, J["l_shoulder"]]
    assert abs(arm[1]) < 0.1 and np.hypot(arm[0], arm[2]) > 0.4


def test_cmu_folder_clips_have_captions_from_the_descriptions_and_20fps_features():
    clips = {c.id: c for c in cmu_iclone.load_folder(DATA / "cmu_iclone")}
    assert set(clips) == {"cmu_002_05", "cmu_007_03"}
    punch = clips["cmu_002_05"]
    assert punch.features.shape == (9, 263)  # 30 frames at 60 fps -> 10 at 20 fps -> 9 feature rows
    assert punch.texts[0] == "a person punches" and len(set(punch.texts)) == 5
    assert punch.meta["content"] == "punch" and punch.meta["split"] == "train"  # one take: kept for training
    assert clips["cmu_007_03"].meta["tpose_dropped"] is True


def test_cmu_descriptions_become_plain_sentences():
    assert cmu_parts("playground - forward jumps, turn around") == (
        "playground",
        ["jumps forward", "turns around"],
    )
    assert cmu_captions("playground - forward jumps, turn around", "001_01")[0] == (
        "a person jumps forward and turns around"
    )
    assert cmu_captions("bend over, scoop up, rise, lift arm", "002_06")[0] == (
        "a person bends over, scoops something up, rises, and lifts an arm"
    )
    dance = cmu_captions("dance - coupe dessous, jete en tourant", "005_16")
    assert dance[0] == "a person dances, does a coupe dessous and does a jete en tourant"
    assert [cmu_action(d) for d in ("slow walk", "punch/strike", "dance - pirouette")] == [
        "walk",
        "punch",
        "dance",
    ]
    assert len(set(cmu_captions("walk", "007_01", n=4))) == 4  # one-word trials still get 4 wordings


def test_cmu_bad_name_is_one_clear_error():
    with pytest.raises(MotionFileError, match="not a CMU take name"):
        cmu_iclone.take_key("walk.bvh")


# ---------------------------------------------------------------------------------------------
# DeepMimic


@pytest.fixture(scope="module")
def character():
    return deepmimic.read_character(DATA / "deepmimic" / deepmimic.CHARACTER)


def test_deepmimic_walk_is_upright_on_the_floor_and_faces_forward(character):
    feats = deepmimic.motion_to_features(DATA / "deepmimic" / "motions" / "humanoid3d_walk.txt", character)
    j = joints_of(feats)
    assert np.all(j[:, J["head"], 1] - j[:, J["pelvis"], 1] > 0.4)  # upright in every frame
    feet = j[:, [J["l_ankle"], J["r_ankle"], J["l_foot"], J["r_foot"]], 1].min(1)
    assert float(np.median(feet)) < 0.03  # a foot on the floor, not floating or sunk
    assert j[-1, 0, 2] - j[0, 0, 2] > 0.5  # walks towards +Z, the way it faces
    assert abs(j[-1, 0, 0] - j[0, 0, 0]) < 0.2
    assert np.all(j[:, J["l_hip"], 0] > j[:, J["r_hip"], 0])  # facing +Z, the left side is +X: no mirror


def test_deepmimic_cartwheel_goes_upside_down_and_sideways(character):
    feats = deepmimic.motion_to_features(
        DATA / "deepmimic" / "motions" / "humanoid3d_cartwheel.txt", character
    )
    j = joints_of(feats)
    head_up = j[:, J["head"], 1] - j[:, J["pelvis"], 1]
    assert head_up.min() < -0.3 and head_up.max() > 0.3  # head below the pelvis at some point
    wrists = j[:, [J["l_wrist"], J["r_wrist"]], 1].min(1)
    assert wrists.min() < 0.1  # a hand on the floor


def test_deepmimic_frame_layout_errors_are_clear(tmp_path, character):
    bad = tmp_path / "humanoid3d_walk.txt"
    bad.write_text('{"Loop": "wrap", "Frames": [[0.03, 1, 2], [0.03, 1, 2]]}')
    with pytest.raises(MotionFileError, match="expected frames of 44 values"):
        deepmimic.motion_to_features(bad, character)


def test_deepmimic_names_become_captions():
    assert deepmimic_key("humanoid3d_long_walk2_mirror") == "long_walk"
    assert deepmimic_key("humanoid3d_stealthy_walk0") == "stealthy_walk"
    caps = deepmimic_captions("humanoid3d_spinkick")
    assert caps[0] == "a person does a spinning kick" and len(set(caps)) == 4  # its whole pool
    # one clip of its kind carries many wordings: the first, then others drawn from the rest
    caps = deepmimic_captions("humanoid3d_crawl", n=6)
    assert caps[0] == "a person crawls forward" and len(set(caps)) == 6
    assert caps == deepmimic_captions("humanoid3d_crawl", n=6)  # deterministic
    assert caps != deepmimic_captions("humanoid3d_crawl", n=6, seed=1)


def test_a_wandering_walk_is_not_captioned_as_walking_forward(character):
    """The committed walk goes straight; the same walk bent into a 180-degree arc is 'around'."""
    path = DATA / "deepmimic" / "motions" / "humanoid3d_walk.txt"
    straight = deepmimic.motion_to_features(path, character)
    assert deepmimic.turn_range_deg(straight) < 30
    assert "forward" in " ".join(deepmimic_captions(path.stem, turn_deg=deepmimic.turn_range_deg(straight)))
    arc = straight.copy()
    arc[:, 0] = np.radians(90.0) / len(arc)  # channel 0 is half the yaw rate: 180 deg over the clip
    assert 170 < deepmimic.turn_range_deg(arc) < 190
    caps = deepmimic_captions(path.stem, turn_deg=deepmimic.turn_range_deg(arc))
    assert all("forward" not in c and "around" in c or "winding" in c or "curves" in c for c in caps)
    assert deepmimic_captions("humanoid3d_jump", turn_deg=400)[0] == "a person jumps forward"  # walks only


# ---------------------------------------------------------------------------------------------
# Bandai dataset-1


def test_bandai1_clips_labels_captions_and_splits():
    clips = {c.id: c for c in bandai1.load_folder(DATA / "bandai1")}
    back = clips["dataset-1_walk-back_chimpira_001"]
    assert back.meta["content"] == "walk-back" and back.meta["style"] == "chimpira"
    assert back.features.shape == (19, 263)  # 30 frames at 30 fps -> 20 at 20 fps -> 19 feature rows
    assert any("back" in t for t in back.texts)
    assert all(c.meta["split"] == "train" for c in clips.values())  # 1 take per content here: kept to train
    assert bandai1.parse_name("dataset-1_walk_not-confident_003.bvh") == bandai1.Bandai1Name(
        "walk", "not-confident", 3
    )


def test_bandai1_label_file_must_agree_with_the_name(tmp_path):
    import shutil

    root = tmp_path / "b1"
    shutil.copytree(DATA / "bandai1", root)
    src = root / "data" / "dataset-1_bow_normal_001"
    src.with_suffix(".json").write_text('{"content": 0, "style": 0}')  # says walk/normal
    with pytest.raises(MotionFileError, match="labels say walk/normal"):
        bandai1.load_folder(root)


def test_dataset1_styles_get_their_own_wording_and_dataset2_captions_are_unchanged():
    assert any("thug" in c for c in caption_pool("walk", "chimpira"))
    assert caption_pool("walk", "old") == caption_pool("walk", "elderly")  # an alias of dataset-2's style
    # dataset-2's grammar is untouched: the shipped model's captions stay what they were
    assert make_captions("walk", "elderly", "dataset-2_walk_elderly_001") == [
        "someone strolls forward like an old man",
        "a person takes a few steps forward with a slight stoop",
        "the person walks in a straight line stiffly and slowly",
        "a human walks ahead stiffly and slowly",
    ]
