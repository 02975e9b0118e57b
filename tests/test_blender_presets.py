"""Rig presets without Blender: the skeletons people have (Daz Genesis 2/3/8/9, MakeHuman default and
game-engine, Reallusion CC_Base, VRoid, Unity/VRM humanoid, 3ds Max Biped) are auto-detected from their
bone names and hierarchy, names are matched tolerantly, a missing bone is named with the bones tried,
and user presets live outside the add-on and are found like shipped ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blender_addon import names, presets
from blender_addon.errors import RigError
from tests.rig_skeletons import (
    BIPED,
    CC_BASE,
    GENESIS_2,
    GENESIS_8,
    GENESIS_9,
    MAKEHUMAN_DEFAULT,
    MAKEHUMAN_GAME,
    UNITY,
    VROID,
    skeleton,
)

CASES = {
    "genesis8": (GENESIS_8, "daz_genesis", {"pelvis": "hip", "spine3": "chestLower",
                                            "l_shoulder": "lShldrBend", "r_elbow": "rForearmBend",
                                            "l_foot": "lToe", "l_collar": "lCollar"}),
    "genesis2": (GENESIS_2, "daz_genesis", {"spine1": "abdomen", "l_shoulder": "lShldr", "r_hip": "rThigh"}),
    "genesis9": (GENESIS_9, "daz_genesis", {"l_collar": "l_shoulder", "l_shoulder": "l_upperarm",
                                            "neck": "neck1", "r_foot": "r_toes"}),
    "makehuman": (MAKEHUMAN_DEFAULT, "makehuman", {"pelvis": "root", "l_hip": "upperleg01.L",
                                                   "r_wrist": "wrist.R", "spine3": "spine01"}),
    "makehuman_game": (MAKEHUMAN_GAME, "ue5_mannequin", {"l_foot": "ball_l", "spine3": "spine_03"}),
    "cc_base": (CC_BASE, "reallusion_cc", {"pelvis": "CC_Base_Hip", "neck": "CC_Base_NeckTwist01",
                                           "l_foot": "CC_Base_L_ToeBase"}),
    "vroid": (VROID, "vroid", {"spine3": "J_Bip_C_UpperChest", "r_collar": "J_Bip_R_Shoulder"}),
    "unity": (UNITY, "humanoid", {"l_foot": "LeftToes", "r_elbow": "RightLowerArm"}),
    "biped": (BIPED, "biped", {"pelvis": "Bip001 Pelvis", "l_foot": "Bip001 L Toe0"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rigs_people_have_are_detected(case):
    spec, expected, some = CASES[case]
    bone_names, parents = skeleton(spec)
    found = presets.detect(bone_names, parents)
    assert found.preset == expected, found
    assert len(found.joints) == 22 and found.consistent == 21, found
    by_name = {presets.JOINT_NAMES[j]: b for j, b in found.joints.items()}
    assert {j: by_name[j] for j in some} == some


def test_names_match_whatever_the_spelling():
    variants = {  # Unity humanoid names as other tools write them
        "lower camel (VRM)": lambda n: n[0].lower() + n[1:],
        "namespace": lambda n: f"Character1:{n}",
        "blender sides": lambda n: _blender_side(n),
        "prefix on every bone": lambda n: f"DEF_{n}",
    }
    bone_names, parents = skeleton(UNITY)
    for label, rename in variants.items():
        found = presets.detect([rename(n) for n in bone_names], parents)
        assert found.preset == "humanoid" and len(found.joints) == 22, (label, found)
    assert names.key("Bip01 L Thigh") == names.key("bip001_l_thigh") == ("L", "bip1thigh")
    assert names.key("lShldrBend") == ("L", "shldrbend") and names.key("thigh.L") == ("L", "thigh")
    assert names.key("spine_01") == names.key("Spine1") == names.key("spine.001")


def _blender_side(name: str) -> str:
    for side, mark in (("Left", ".L"), ("Right", ".R")):
        if name.startswith(side):
            return name[len(side):] + mark
    return name


def test_a_prefix_shared_by_the_rig_is_dropped_but_exact_names_rank_first():
    bone_names, parents = skeleton(UNITY)
    exact = presets.detect(bone_names, parents)
    assert exact.preset == "humanoid" and exact.shortened == 0
    hero = presets.detect([f"Hero {n}" for n in bone_names], parents)  # a character name on every bone
    assert hero.preset == "humanoid" and hero.shortened == 22 and hero.joints[0] == "Hero Hips"
    assert exact.rank > hero.rank


def test_a_missing_bone_is_named_with_the_bones_tried():
    bone_names, parents = skeleton(GENESIS_8)
    drop = bone_names.index("lForearmBend")
    kept = [n for i, n in enumerate(bone_names) if i != drop]
    kept_parents = [p - (p > drop) if p != drop else drop - 1 for i, p in enumerate(parents) if i != drop]
    with pytest.raises(RigError, match=r"closest: daz_genesis, missing bones for l_elbow "
                                       r"\(tried lForearmBend, lForeArm, l_forearm\)"):
        presets.detect(kept, kept_parents)


def test_user_presets_live_outside_the_addon_and_are_detected(tmp_path, monkeypatch):
    monkeypatch.setenv(presets.USER_DIR_ENV, str(tmp_path / "mine"))
    assert presets.user_presets_dir() == tmp_path / "mine" and not (tmp_path / "mine").exists()  # on demand
    odd = [f"bn_{k:02d}" for k in range(22)]
    with pytest.raises(RigError, match="no rig preset fits"):
        presets.detect(odd, [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])
    path = presets.save_user_preset("Odd rig", dict(zip(presets.JOINT_NAMES, odd)))
    assert path == tmp_path / "mine" / "Odd_rig.json"
    loaded = presets.load_presets()
    assert loaded["Odd_rig"].user and not loaded["mixamo"].user
    found = presets.detect(odd, [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])
    assert found.preset == "Odd_rig" and found.joints[20] == "bn_20"
    with pytest.raises(RigError, match="would lack bones for l_wrist"):
        presets.save_user_preset("part", {j: b for j, b in zip(presets.JOINT_NAMES, odd) if j != "l_wrist"})
    monkeypatch.delenv(presets.USER_DIR_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delitem(sys.modules, "bpy", raising=False)  # outside Blender (another test may load bpy)
    assert presets.user_presets_dir() == tmp_path / "xdg" / "ropar" / "presets"  # outside Blender
    assert Path(presets.__file__).parent not in presets.user_presets_dir().parents


# Mapping by shape (shape_map.py): the same skeletons in a T-pose with a person's proportions, names
# ignored. Genesis's spine3 is the chest bone the collars hang from (the preset picks the one below).
SHAPE_DIFFERS = {"genesis8": {"spine3": "chestUpper"}, "genesis9": {"spine3": "spine4"}}


def _shaped(spec, at, helpers=None):

    from tests.rig_skeletons import shape_rest

    bone_names, parents = skeleton(spec)
    heads, tails = shape_rest(bone_names, parents, at, helpers=helpers)
    rest = presets.RestShape(tuple(map(tuple, heads)), tuple(map(tuple, tails)), (0.0, 0.0, 1.0),
                             (0.0, -1.0, 0.0))
    return bone_names, parents, rest


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rigs_people_have_are_mapped_by_shape_alone(case):
    spec = CASES[case][0]
    bone_names, parents = skeleton(spec)
    truth = presets.detect(bone_names, parents).joints
    helpers = {"pelvis.L": "root", "pelvis.R": "root"} if case == "makehuman" else None  # on root's head
    bone_names, parents, rest = _shaped(spec, {b: j for j, b in truth.items()}, helpers)
    found = presets.by_shape(bone_names, parents, rest)
    expected = {presets.JOINT_NAMES[j]: b for j, b in truth.items()} | SHAPE_DIFFERS.get(case, {})
    assert {presets.JOINT_NAMES[j]: b for j, b in found.joints.items()} == expected
    assert found.confidence > 0.9 and found.preset == presets.SHAPE


def test_a_rig_no_preset_fits_is_mapped_by_shape_and_a_torn_map_is_refused():
    from tests.rig_skeletons import MAKEHUMAN_GAME_1, MAKEHUMAN_GAME_1_JOINTS

    bone_names, parents, rest = _shaped(MAKEHUMAN_GAME_1, MAKEHUMAN_GAME_1_JOINTS)
    with pytest.raises(RigError, match="no rig preset fits"):
        presets.bone_map_for(bone_names, parents)  # names only: no preset
    found = presets.bone_map_for(bone_names, parents, shape=rest)
    assert found.preset == presets.SHAPE and found.describe().startswith("by shape (22/22, confidence 0.9")
    assert found.joints == {j: b for b, j in MAKEHUMAN_GAME_1_JOINTS.items()}
    rows = {presets.JOINT_NAMES[j]: b for j, b in found.joints.items()}
    assert presets.from_rows(rows, bone_names, parents).joints == found.joints
    with pytest.raises(RigError, match=r"spine1 \(Spine1\) does not hang below pelvis \(Hips\)"):
        presets.from_rows(rows | {"pelvis": "Hips"}, bone_names, parents)  # Hips: the spine's sibling
    with pytest.raises(RigError, match=r"l_elbow \(LoArm_R\) does not hang below l_shoulder"):
        presets.from_rows(rows | {"l_elbow": "LoArm_R", "r_elbow": "LoArm_L"}, bone_names, parents)
    with pytest.raises(RigError, match="mapped to both"):
        presets.from_rows(rows | {"spine2": "Spine1"}, bone_names, parents)
    with pytest.raises(RigError, match="no bone for l_knee"):
        presets.from_rows(rows | {"l_knee": ""}, bone_names, parents)


def test_a_shape_that_is_not_a_body_gets_a_clear_error():
    bone_names = [f"b{i}" for i in range(12)]
    parents = [-1] + list(range(11))  # one long chain: a tail, a tentacle
    heads = tuple((0.0, 0.1 * i, 0.0) for i in range(12))
    tails = tuple((0.0, 0.1 * i + 0.1, 0.0) for i in range(12))
    rest = presets.RestShape(heads, tails, (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))
    with pytest.raises(RigError, match="mapping by shape failed too: no two legs found"):
        presets.bone_map_for(bone_names, parents, shape=rest)
