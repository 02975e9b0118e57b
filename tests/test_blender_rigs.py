"""Rigs as people have them (the bpy 5.0 module, and Debian's Blender 3.4 through a subprocess): FBX and
glTF layouts at scales 0.01 and 100 stand upright and lift their hands over the neck; a real iClone
CC_Base skeleton; in place, loops, candidates, the replaced action kept, the bone-mapping panel and a
user preset."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.optional import installed_or_skip

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

import blender_addon  # noqa: E402
from blender_addon import clip, jobs, keyframes, mapping, pipeline, presets, rig  # noqa: E402
from blender_addon.backend import FakeBackend, GenerationRequest  # noqa: E402
from blender_addon.errors import RigError  # noqa: E402
from tests import rig_skeletons  # noqa: E402
from tests.blender_rig_layouts import (  # noqa: E402
    Z_UP_TO_Y_UP,
    apply_raised_hands,
    build_layout,
    build_named,
    hips_travel,
    measure,
    world_joints,
)

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]
ROOT = Path(__file__).resolve().parents[1]
CMU_ICLONE = ROOT / "tests" / "data" / "cmu_iclone" / "bvh" / "007_03.bvh"  # cut from shared/ cmu-iclone
WALK = "a person walks forward"


@pytest.fixture(autouse=True)
def scene(blender_scene, tmp_path, monkeypatch):
    monkeypatch.setenv(presets.USER_DIR_ENV, str(tmp_path / "user_presets"))  # never the user's folder
    return blender_scene


def walk(seconds=4.0, seed=0):
    return FakeBackend().generate(GenerationRequest(WALK, seconds=seconds, seed=seed))


def last_frame(applied):
    return applied.frame_start + applied.frames - 1


@pytest.mark.parametrize("kind", ["fbx", "gltf"])
@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_fbx_and_gltf_layouts_stand_and_raise_their_hands(kind, scale):
    obj = build_layout(kind, scale)
    applied, bone_map = apply_raised_hands(obj)
    m = measure(obj, bone_map, applied.frame_start, last_frame(applied))
    print(f"{kind} x{scale:g}: {m}")
    assert m["upright"] > 0.99  # pelvis -> neck along world +Z
    assert m["hands_over_neck"] > 0.1  # metres, in the world
    assert 0.0 <= m["ankle_z"] < 0.15  # feet on the world floor, not lying at hip height
    assert m["faces_front"] > 0.99  # faces where its rest pose faces


NAMED_RIGS = {"GENESIS_8": "daz_genesis", "GENESIS_9": "daz_genesis", "MAKEHUMAN_DEFAULT": "makehuman",
              "MAKEHUMAN_GAME": "ue5_mannequin", "CC_BASE": "reallusion_cc", "VROID": "vroid",
              "UNITY": "humanoid", "BIPED": "biped"}


@pytest.mark.parametrize("spec", sorted(NAMED_RIGS))
def test_named_rigs_in_an_fbx_layout_are_detected_and_raise_their_hands(spec):
    from mathutils import Matrix

    bone_names, parents = rig_skeletons.skeleton(getattr(rig_skeletons, spec))
    bone_map = presets.detect(bone_names, parents)
    assert bone_map.preset == NAMED_RIGS[spec]
    obj = build_named(bone_names, parents, bone_map.joints, scale=100.0)  # centimetres
    obj.data.transform(Matrix(Z_UP_TO_Y_UP))  # Y up, as FBX leaves it
    obj.rotation_euler, obj.scale = (math.pi / 2, 0.0, 0.0), (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    applied, joints = apply_raised_hands(obj)
    assert applied.preset == NAMED_RIGS[spec]
    m = measure(obj, joints, applied.frame_start, last_frame(applied))
    print(f"{spec}: {m}")
    assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1 and m["faces_front"] > 0.99


def test_forward_follows_the_rest_pose_not_the_armature_axes():
    obj = build_layout("fbx", 0.01)
    obj.rotation_euler = (math.pi / 2, 0.0, 0.7)  # the character turned about world Z
    bpy.context.view_layer.update()
    applied, bone_map = apply_raised_hands(obj)
    a = world_joints(obj, bone_map, applied.frame_start)
    rest_left = np.array(obj.matrix_world)[:3, :3] @ np.array(
        obj.data.bones["L_Hip"].head_local - obj.data.bones["R_Hip"].head_local)
    left = a[1] - a[2]
    cos = left[:2] @ rest_left[:2] / np.linalg.norm(left[:2]) / np.linalg.norm(rest_left[:2])
    assert cos > 0.99


@pytest.mark.skipif(shutil.which("blender") is None, reason="no `blender` binary (Debian's 3.4) on PATH")
def test_layouts_in_blender_3_4():
    out = subprocess.run(["blender", "-b", "--factory-startup", "--python",
                          str(ROOT / "tests" / "blender_rig_layouts.py")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    extras = [ln for ln in out.stdout.splitlines() if ln.startswith("EXTRAS ")]
    assert extras == ["EXTRAS active=RoPAR_a_person_walks_#4 other_fake_user=1 old_fake_user=1 "
                      "range=1-59 keys=59"], out.stdout[-3000:] + out.stderr[-3000:]  # a loop drops a frame
    lines = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("LAYOUT ")]
    assert len(lines) == 6, out.stdout[-3000:] + out.stderr[-3000:]
    for _, kind, scale, *pairs in lines:
        m = {k: float(v) for k, v in (p.split("=") for p in pairs)}
        assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1, (kind, scale, m)
        assert m["faces_front"] > 0.99, (kind, scale, m)
        assert m["in_place_travel"] < 0.15, (kind, scale, m)


def test_in_place_keeps_the_hips_over_their_start():
    obj = build_layout("fbx", 0.01)
    bone_map = pipeline.prepare(obj.name).bone_map.joints
    moving = pipeline.apply_motion(walk(), armature=obj.name, report=lambda *a: None)
    travel = hips_travel(obj, bone_map, moving.frame_start, last_frame(moving))
    held = pipeline.apply_motion(walk(), armature=obj.name, in_place=True, report=lambda *a: None)
    still = hips_travel(obj, bone_map, held.frame_start, last_frame(held))
    print(f"hips travel: {travel:.2f} m walking, {100 * still:.2f} cm in place")
    assert travel > 2.0 and still < 0.15
    assert bpy.data.actions[held.action]["ropar_in_place"]


def _add_root_bone(obj, name="root"):
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bones = obj.data.edit_bones
    root = bones.new(name)
    root.head, root.tail = (0.0, 0.0, 0.0), (0.0, 0.3, 0.0)
    bones["Pelvis"].parent = root
    bpy.ops.object.mode_set(mode="OBJECT")


def test_root_motion_puts_the_travel_on_a_root_bone():
    obj = rig.build_smpl_armature("SMPL")
    _add_root_bone(obj)
    bone_map = pipeline.prepare("SMPL").bone_map.joints
    held = pipeline.apply_motion(walk(), armature="SMPL", in_place=True, report=lambda *a: None)
    assert hips_travel(obj, bone_map, held.frame_start, last_frame(held)) < 0.15  # no root motion asked
    held = pipeline.apply_motion(walk(), armature="SMPL", in_place=True, root_motion=True,
                                 report=lambda *a: None)
    curves = {(fc.data_path, fc.array_index): fc for fc in _fcurves(obj)}
    assert ('pose.bones["root"].location', 0) in curves  # root motion
    w = curves[('pose.bones["root"].rotation_quaternion', 0)]  # the root's rotation stays at rest
    assert {round(kp.co[1], 6) for kp in w.keyframe_points} == {1.0}
    first, last = held.frame_start, last_frame(held)
    pelvis_travel = hips_travel(obj, bone_map, first, last)  # world: the root carries the walk
    rel = []
    for f in range(first, last + 1):
        bpy.context.scene.frame_set(f)
        rel.append(np.array(obj.pose.bones["Pelvis"].head) - np.array(obj.pose.bones["root"].head))
    rel = np.array(rel)
    over_root = np.linalg.norm((rel - rel[0])[:, :2], axis=1).max()
    print(f"root motion: pelvis travels {pelvis_travel:.2f} m, {100 * over_root:.2f} cm over its root")
    assert pelvis_travel > 2.0 and over_root < 0.15


def test_loop_ends_where_it_starts():
    joints = walk().joints.astype(np.float64)
    looped = clip.make_loop(joints, 20.0)
    assert looped.shape[0] == joints.shape[0] - 1
    pose = looped - looped[:, :1] * np.array([1, 0, 1])  # travel removed
    step = np.abs(np.diff(pose, axis=0)).max()
    wrap = np.abs(pose[0] - pose[-1]).max()  # the frame after the last would be frame 0
    print(f"loop: wrap-around jump {100 * wrap:.2f} cm, largest frame step {100 * step:.2f} cm")
    assert wrap <= step + 1e-9
    np.testing.assert_allclose(looped[: joints.shape[0] // 2], joints[: joints.shape[0] // 2])
    obj = rig.build_smpl_armature("SMPL")
    applied = pipeline.apply_motion(walk(), armature="SMPL", loop=True, report=lambda *a: None)
    assert applied.frames == joints.shape[0] - 1 and bpy.data.actions[applied.action]["ropar_loop"]
    assert {len(fc.keyframe_points) for fc in _fcurves(obj)} == {joints.shape[0] - 1}


def test_candidates_are_kept_as_actions_and_the_old_action_keeps_a_user(scene):
    obj = rig.build_smpl_armature("SMPL")
    assert bpy.ops.ropar.generate(prompt="a person runs", armature="SMPL", seconds=2.0) == {"FINISHED"}
    old = obj.animation_data.action
    assert not old.use_fake_user
    scene.frame_start, scene.frame_end = 40, 500
    assert bpy.ops.ropar.generate(prompt=WALK, armature="SMPL", seconds=3.0, seed=5,
                                  candidates=3) == {"FINISHED"}
    names = [f"RoPAR {WALK} #{s}" for s in (5, 6, 7)]
    assert obj.animation_data.action.name == names[0]
    assert all(bpy.data.actions[n].use_fake_user for n in names[1:])
    assert old.use_fake_user  # saving now keeps the replaced action
    assert (scene.frame_start, scene.frame_end) == (40, 40 + 60 - 1)  # the range is the clip's
    seeds = [bpy.data.actions[n]["ropar_seed"] for n in names]
    a, b = (np.array(bpy.data.actions[n]["ropar_joints"]) for n in names[:2])
    assert seeds == [5, 6, 7] and np.abs(a - b).max() > 0.01


def test_a_failed_candidate_leaves_the_scene_as_it_was(scene, monkeypatch):
    obj = rig.build_smpl_armature("SMPL")
    assert bpy.ops.ropar.generate(prompt="a person runs", armature="SMPL", seconds=2.0) == {"FINISHED"}
    old = obj.animation_data.action
    before = sorted(a.name for a in bpy.data.actions)
    frame_range = (scene.frame_start, scene.frame_end)
    real_fill, calls = keyframes.fill_action, []

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_fill(*args, **kwargs)

    monkeypatch.setattr(keyframes, "fill_action", fail_on_second)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.apply_motions([walk(seed=1), walk(seed=2)], armature="SMPL")
    assert sorted(a.name for a in bpy.data.actions) == before
    assert obj.animation_data.action == old and not old.use_fake_user
    assert (scene.frame_start, scene.frame_end) == frame_range


def test_mapping_panel_fills_from_detection_and_saves_a_user_preset(scene, tmp_path, monkeypatch):
    obj = rig.build_smpl_armature("Odd")
    odd = {name: f"bn_{k:02d}" for k, name in enumerate(rig.SMPL_BONE_NAMES)}  # names no preset knows
    for bone in obj.data.bones:
        bone.name = odd[bone.name]
    scene.ropar.armature = obj  # the update callback fills the 22 rows: no preset fits, so by shape
    rows = mapping.rows(scene.ropar)
    assert scene.ropar.detected.startswith("by shape (22/22")
    assert rows == {name: odd[bone] for name, bone in zip(presets.JOINT_NAMES, rig.SMPL_BONE_NAMES)}
    for row, name in zip(scene.ropar.mapping, rig.SMPL_BONE_NAMES):
        row.bone = odd[name]  # what the user picks in the panel
    scene.ropar.preset_name = "my odd rig"
    assert bpy.ops.ropar.save_preset() == {"FINISHED"}
    path = tmp_path / "user_presets" / "my_odd_rig.json"
    assert path.is_file() and scene.ropar.preset == "my_odd_rig"
    assert not str(path).startswith(str(Path(blender_addon.__file__).parent))
    monkeypatch.delenv(presets.USER_DIR_ENV)  # Blender's own user configuration folder by default
    config = Path(bpy.utils.user_resource("CONFIG"))
    assert presets.user_presets_dir() == config / "ropar" / "presets"
    monkeypatch.setenv(presets.USER_DIR_ENV, str(tmp_path / "user_presets"))
    scene.ropar.preset = "AUTO"
    assert pipeline.prepare("Odd").bone_map.preset == "my_odd_rig"  # auto-detection finds it
    applied, bone_map = apply_raised_hands(obj)
    m = measure(obj, bone_map, applied.frame_start, last_frame(applied))
    assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1


@pytest.mark.parametrize("rest", ["as_imported", "stood_up"])
def test_a_real_cc_base_skeleton_is_detected_and_raises_its_hands(scene, rest):
    """The BVH's own rest pose has its legs along one axis (it does not stand); stood up, the clip's
    first pose becomes the rest pose, as a CC3/CC4 FBX has it."""
    assert bpy.ops.import_anim.bvh(filepath=str(CMU_ICLONE), global_scale=0.01) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    if rest == "stood_up":
        scene.frame_set(1)
        bpy.context.view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="POSE")
        bpy.ops.pose.armature_apply(selected=False)
        bpy.ops.object.mode_set(mode="OBJECT")
    obj.animation_data_clear()
    prep = pipeline.prepare(obj.name)
    assert prep.bone_map.preset == "reallusion_cc" and len(prep.bone_map.joints) == 22
    applied, bone_map = apply_raised_hands(obj)
    m = measure(obj, bone_map, applied.frame_start, last_frame(applied))
    print(f"CC_Base (iClone BVH 007_03, {rest}): {m}")
    assert m["upright"] > 0.95 and m["hands_over_neck"] > 0.1


def _fcurves(obj):
    action = obj.animation_data.action
    if keyframes.LAYERED_ACTIONS:
        from bpy_extras import anim_utils

        return list(anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot).fcurves)
    return list(action.fcurves)


def test_background_job_generates_every_candidate_then_keys_them_together(scene):
    from blender_addon import operators

    obj = rig.build_smpl_armature("SMPL")
    request = GenerationRequest(WALK, seconds=2.0, seed=10)
    settings = dict(armature="SMPL", options=dict(preset="smpl", frame_start=1, in_place=True))
    job = jobs.start(pipeline.candidate_requests(request, 3), FakeBackend(delay_s=0.05),
                     operators._applier(settings))
    assert obj.animation_data is None  # nothing is keyed while candidates are still being generated
    job.finished.wait(10)
    assert jobs._poll() is None
    state, message, _ = jobs.status()
    assert state == "done" and "+2 candidates" in message
    assert obj.animation_data.action.name == f"RoPAR {WALK} #10"
    assert [a["ropar_seed"] for a in bpy.data.actions] == [10, 11, 12]


def _pose(obj, frame):
    bpy.context.scene.frame_set(frame)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return np.array([(ev.matrix_world @ pb.head)[:] for pb in ev.pose.bones])


def test_continue_from_the_current_frame_appends_to_the_same_action(scene):
    """With the shipped model (its in-betweening): the continuation starts from the pose the rig has at
    the current frame and moves on as smoothly as the motion itself."""
    from blender_addon.backend import InProcessBackend

    jobs.set_backend_override(InProcessBackend(str(ROOT / "assets" / "default"), device="cpu"))
    obj = rig.build_metarig("metarig")
    assert bpy.ops.ropar.generate(prompt=WALK, armature="metarig", seconds=3.0) == {"FINISHED"}
    action = obj.animation_data.action
    before = {f: _pose(obj, f) for f in (1, 20, 35)}
    frame_range = (scene.frame_start, scene.frame_end)
    scene.frame_set(35)
    scene.ropar.continue_current = True
    assert bpy.ops.ropar.generate(prompt="a person runs", armature="metarig", seconds=2.0) == {"FINISHED"}
    assert obj.animation_data.action == action and len(bpy.data.actions) == 1  # the same action
    assert scene.frame_start == frame_range[0] and scene.frame_end == 35 + 40 - 1  # extended, not moved
    assert int(action.frame_range[1]) == 35 + 40 - 1
    for f in (1, 20):  # keys before the current frame are untouched
        np.testing.assert_allclose(_pose(obj, f), before[f], atol=1e-5)
    jump = np.linalg.norm(_pose(obj, 35) - before[35], axis=1).max()  # starts from the pose it had
    steps = [np.linalg.norm(_pose(obj, f + 1) - _pose(obj, f), axis=1).max() for f in range(30, 73)]
    seam, usual = max(steps[4:7]), float(np.median(steps))  # frames 34-36 around the seam
    print(f"continue: pose at the current frame moved {100 * jump:.3f} cm; largest bone-head step at "
          f"the seam {100 * seam:.1f} cm, median step {100 * usual:.1f} cm")
    assert jump < 0.01 and seam < 2.5 * usual
    travel = np.linalg.norm(_pose(obj, 74)[0, :2] - _pose(obj, 35)[0, :2])
    assert travel > 1.0  # and goes on running


def test_continue_from_a_posed_rig_without_an_action_starts_from_its_pose(scene):
    obj = rig.build_smpl_armature("SMPL")
    obj.pose.bones["L_Shoulder"].rotation_quaternion = (0.7071, 0.0, 0.7071, 0.0)  # an arm raised
    obj.location = (2.0, 1.0, 0.0)
    bpy.context.view_layer.update()
    posed = _pose(obj, 12)
    scene.frame_set(12)
    scene.ropar.continue_current = True
    assert bpy.ops.ropar.generate(prompt=WALK, armature="SMPL", seconds=2.0) == {"FINISHED"}
    assert scene.frame_start == 1 and int(obj.animation_data.action.frame_range[0]) == 12
    assert np.linalg.norm(_pose(obj, 12) - posed, axis=1).max() < 0.01


def test_an_nla_strip_plays_with_the_previous_action_pushed_down(scene):
    obj = rig.build_smpl_armature("SMPL")
    assert bpy.ops.ropar.generate(prompt=WALK, armature="SMPL", seconds=2.0) == {"FINISHED"}
    old = obj.animation_data.action
    scene.ropar.use_nla = True
    assert bpy.ops.ropar.generate(prompt="a person runs", armature="SMPL", seconds=2.0) == {"FINISHED"}
    ad = obj.animation_data
    assert ad.action is None  # nothing overrides the strips
    strips = {s.action.name: s for t in ad.nla_tracks for s in t.strips}
    assert set(strips) == {old.name, "RoPAR a person runs"} and not any(t.mute for t in ad.nla_tracks)
    top = ad.nla_tracks[-1].strips[0]
    assert top.action.name == "RoPAR a person runs"  # the new strip is on top: it plays
    run = bpy.data.actions["RoPAR a person runs"]
    bpy.context.scene.frame_set(20)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    playing = np.array(ev.pose.bones["Pelvis"].head)
    ad.nla_tracks[-1].mute = True
    bpy.context.scene.frame_set(20)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    assert np.linalg.norm(np.array(ev.pose.bones["Pelvis"].head) - playing) > 1e-4  # the strip was playing
    assert run.use_fake_user and old.use_fake_user


def test_a_rig_posed_by_constraints_that_is_no_known_control_rig_is_refused_with_a_clear_message(scene):
    """A generated Rigify rig without its torso control is no control rig RoPAR knows
    (tests/test_blender_rigify.py keys the whole one), and its DEF and ORG bones follow constraints:
    keys there would do nothing, so nothing is keyed and the error says what to do."""
    metarig = rig.build_metarig("metarig")
    bpy.context.view_layer.objects.active = metarig
    assert bpy.ops.pose.rigify_generate() == {"FINISHED"}
    control = bpy.data.objects["rig"]
    bpy.ops.object.mode_set(mode="EDIT")
    control.data.edit_bones.remove(control.data.edit_bones["torso"])
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(RigError, match=r"are posed by constraints, so their keys would have no effect"):
        pipeline.prepare("rig")
    with pytest.raises(RuntimeError, match="or animate its metarig"):
        bpy.ops.ropar.generate(armature="rig", prompt=WALK)
    assert control.animation_data is None or control.animation_data.action is None
    assert pipeline.prepare("metarig").bone_map.preset == "rigify_metarig"  # the metarig still works
