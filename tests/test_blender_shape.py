"""Rigs no preset knows, mapped by shape in the bpy 5.0 module: MakeHuman 1.x's game skeleton (its Hips
is a sibling of the spine), CMU's real mocap skeleton (tests/data/cmu_01_01_first2s.bvh) with VRM
names, 3ds Max Biped names and names that mean nothing (jnt_00 ...). Each is mapped with no preset of
its own, stands, lifts both hands over its neck and walks. A map that would tear the body apart (a
pelvis that is not the spine's and legs' ancestor) is refused before any key is written; the panel's
rows drive generation without being saved."""

from __future__ import annotations

import pytest

from tests.helpers.optional import installed_or_skip

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

from blender_addon import mapping, pipeline, presets, rig  # noqa: E402
from blender_addon.backend import FakeBackend, GenerationRequest  # noqa: E402
from blender_addon.errors import RigError  # noqa: E402
from tests import rig_skeletons as rs  # noqa: E402
from tests.blender_rig_layouts import apply_raised_hands, build_from_rest, hips_travel, measure  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]



@pytest.fixture(autouse=True)
def scene(blender_scene, tmp_path, monkeypatch):
    monkeypatch.setenv(presets.USER_DIR_ENV, str(tmp_path / "user_presets"))  # no user presets
    return blender_scene


def makehuman_game_1():
    names, parents = rs.skeleton(rs.MAKEHUMAN_GAME_1)
    heads, tails = rs.shape_rest(names, parents, rs.MAKEHUMAN_GAME_1_JOINTS)
    obj = build_from_rest(names, parents, heads, tails, "MakeHuman")
    return obj, {j: b for b, j in rs.MAKEHUMAN_GAME_1_JOINTS.items()}


def cmu(renamed: dict[str, str]):
    from pathlib import Path

    bvh = Path(__file__).resolve().parent / "data" / "cmu_01_01_first2s.bvh"
    assert bpy.ops.import_anim.bvh(filepath=str(bvh), global_scale=0.056444) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    obj.animation_data_clear()
    for bone in obj.data.bones:
        bone.name = renamed[bone.name]
    truth = {presets.JOINT_INDEX[j]: renamed[c[0]] for j, c in presets.load_presets()["cmu"].joints}
    return obj, truth


RIGS = {
    "makehuman_game_1": makehuman_game_1,
    "cmu_vrm_names": lambda: cmu(rs.CMU_TO_VRM),
    "cmu_biped_names": lambda: cmu(rs.CMU_TO_BIPED),
    "cmu_jnt_names": lambda: cmu(rs.CMU_TO_JNT),
}


@pytest.mark.parametrize("kind", sorted(RIGS))
def test_rigs_without_a_preset_of_their_own_stand_raise_their_hands_and_walk(kind):
    obj, truth = RIGS[kind]()
    prep = pipeline.prepare(obj.name)  # AUTO: a shipped preset's names, else the shape
    assert prep.bone_map.joints == truth, prep.bone_map.describe()
    names = prep.rest.names
    shaped = presets.by_shape(names, prep.rest.parents.tolist(), rig.rest_shape(obj))
    assert shaped.joints == truth and shaped.confidence > 0.8  # by shape alone, whatever the names
    applied, bone_map = apply_raised_hands(obj)
    m = measure(obj, bone_map, applied.frame_start, applied.frame_start + applied.frames - 1)
    walk = FakeBackend().generate(GenerationRequest("a person walks forward", seconds=4.0))
    done = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None)
    travel = hips_travel(obj, bone_map, done.frame_start, done.frame_start + done.frames - 1)
    print(f"{kind}: {prep.bone_map.describe()} {m} walks {travel:.2f} m")
    rest_ankle = min(obj.data.bones[truth[j]].head_local[2] for j in (7, 8))  # the rig's own floor
    assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1 and abs(m["ankle_z"] - rest_ankle) < 0.1
    assert travel >= 1.5


def test_the_makehuman_game_skeleton_is_mapped_by_shape_and_a_torn_map_is_refused(scene):
    obj, truth = makehuman_game_1()
    prep = pipeline.prepare(obj.name)
    assert prep.bone_map.preset == presets.SHAPE and prep.bone_map.joints == truth
    scene.ropar.armature = obj  # fills the panel's rows (by shape)
    assert scene.ropar.detected.startswith("by shape (22/22, confidence")
    assert mapping.rows_for(scene.ropar, obj.name)["pelvis"] == "Root"
    next(r for r in scene.ropar.mapping if r.joint == "pelvis").bone = "Hips"  # a sibling of the spine
    with pytest.raises(RuntimeError, match=r"spine1 \(Spine1\) does not hang below pelvis \(Hips\)"):
        bpy.ops.ropar.generate(prompt="a person walks forward")  # the selected rig, the panel's rows
    assert obj.animation_data is None  # nothing was keyed
    scene.ropar.preset_name = "torn"
    with pytest.raises(RuntimeError, match="does not hang below"):
        bpy.ops.ropar.save_preset()
    with pytest.raises(RigError, match="does not hang below"):
        pipeline.prepare(obj.name, rows=mapping.rows(scene.ropar))


def test_rows_picked_by_hand_drive_generation_without_saving_a_preset(scene):
    obj, truth = makehuman_game_1()
    scene.ropar.armature = obj
    for row in scene.ropar.mapping:  # the user leaves the toes out
        if row.joint in ("l_foot", "r_foot"):
            row.bone = ""
    assert bpy.ops.ropar.generate(prompt="a person walks forward", seconds=2.0) == {"FINISHED"}
    action = obj.animation_data.action
    assert action["ropar_preset"] == presets.PANEL
    paths = {fc.data_path for fc in _fcurves(obj)}
    assert 'pose.bones["Toe_L"].rotation_quaternion' not in paths
    assert 'pose.bones["Foot_L"].rotation_quaternion' in paths
    assert not list((presets.user_presets_dir()).glob("*.json"))  # nothing was saved


def test_the_active_armature_is_the_default_rig(scene):
    obj, _ = makehuman_game_1()
    assert scene.ropar.armature is None
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.ropar.generate(prompt="a person walks forward", seconds=2.0) == {"FINISHED"}
    assert obj.animation_data.action.name == "RoPAR a person walks forward"


def _fcurves(obj):
    from blender_addon import keyframes

    action = obj.animation_data.action
    if keyframes.LAYERED_ACTIONS:
        from bpy_extras import anim_utils

        return list(anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot).fcurves)
    return list(action.fcurves)
