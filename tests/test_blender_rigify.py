"""A real Rigify control rig, generated from the human metarig in the bpy 5.0 module: its FK controls (or
its IK controls) get the keys and the DEF bones, which deform the mesh, follow the motion: upright,
hands over the neck on "raises both hands", walking on "walks forward", within a centimetre of the
metarig itself. A DEF-only export of such a rig is driven like any rig."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.optional import installed_or_skip

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

from blender_addon import control_rig, pipeline, presets, rig  # noqa: E402
from blender_addon.backend import FakeBackend, GenerationRequest  # noqa: E402
from blender_addon.errors import RigError  # noqa: E402
from tests.blender_rig_layouts import apply_raised_hands, hips_travel, measure, world_joints  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]
ROOT = Path(__file__).resolve().parents[1]
MAKE_RIGIFY_FILE = """
import sys, addon_utils, bpy
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
bpy.ops.pose.rigify_generate()
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
"""


@pytest.fixture(scope="module")
def rigify_file(tmp_path_factory):
    """A .blend with the human metarig and the rig Rigify generates from it (generated once: ~5 s)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    meta = rig.build_metarig("metarig")
    bpy.ops.pose.rigify_generate()
    generated = bpy.context.object
    assert generated.name == "rig" and "rig_id" in generated.data and generated is not meta
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


@pytest.fixture
def scene(blender_scene, rigify_file, tmp_path, monkeypatch):
    monkeypatch.setenv(presets.USER_DIR_ENV, str(tmp_path / "user_presets"))
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = 20, 1.0
    sc.frame_start, sc.frame_end = 1, 250
    return sc


def deform_map(org: dict[int, str]) -> dict[int, str]:
    """The DEF bone at each joint: what the mesh follows."""
    return {j: "DEF-" + b.removeprefix("ORG-") for j, b in org.items()}


def keyed_paths(obj) -> set[str]:
    action = obj.animation_data.action
    if hasattr(action, "fcurves"):  # before Blender 4.4
        curves = action.fcurves
    else:
        from bpy_extras import anim_utils

        curves = anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot).fcurves
    return {fc.data_path for fc in curves}


def value_at(obj, path: str, frame: int) -> float:
    action = obj.animation_data.action
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot)
    return bag.fcurves.find(path).evaluate(frame)


def metarig_gap(control_rig_obj, joints: dict[int, str], applied) -> np.ndarray:
    """(frames, 22) distance (m) between the control rig's DEF joints and the metarig's own joints
    under the same motion: the metarig is what the control rig was generated from."""
    meta = bpy.data.objects["metarig"]
    on_meta, meta_map = apply_raised_hands(meta)
    frames = range(applied.frame_start, applied.frame_start + applied.frames)
    gaps = []
    for f in frames:
        a, b = world_joints(control_rig_obj, joints, f), world_joints(meta, meta_map, f)
        gaps.append([np.linalg.norm(a[j] - b[j]) for j in range(22)])
    return np.array(gaps)


@pytest.mark.parametrize("mode", ["FK", "IK"])
def test_the_control_rig_is_keyed_on_its_controls_and_its_deform_bones_follow(scene, mode):
    obj = bpy.data.objects["rig"]
    assert rig.detect_label(obj).startswith(rig.CONTROL_RIG_LABEL)
    prep = pipeline.prepare(obj.name, controls=mode)
    assert prep.controls is not None and prep.controls.mode == mode
    assert prep.bone_map.describe() == f"rigify ({mode} controls) (22/22)"

    applied, org = apply_raised_hands(obj, controls=mode)
    defs = deform_map(org)
    m = measure(obj, defs, applied.frame_start, applied.frame_start + applied.frames - 1)
    rest_ankle = min(obj.data.bones[defs[j]].head_local[2] for j in (7, 8))
    print(f"{mode}: {m}; {applied.frames} frames keyed in {applied.seconds_retarget:.2f} s, "
          f"{control_rig.STATS}")
    assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1 and abs(m["ankle_z"] - rest_ankle) < 0.1
    assert m["faces_front"] > 0.99

    paths = keyed_paths(obj)
    limb = "upper_arm_fk.L" if mode == "FK" else "hand_ik.L"
    assert f'pose.bones["{limb}"].rotation_quaternion' in paths
    assert {'pose.bones["torso"].location', 'pose.bones["spine_fk.001"].rotation_quaternion'} <= paths
    if mode == "IK":
        assert {'pose.bones["hand_ik.R"].location', 'pose.bones["foot_ik.L"].location',
                'pose.bones["upper_arm_ik_target.L"].location'} <= paths
    # Nothing is keyed where constraints would hide it: only controls, and the limbs' switches.
    hidden = tuple(f'pose.bones["{prefix}-' for prefix in ("DEF", "ORG", "MCH"))
    assert not [p for p in paths if p.startswith(hidden)]
    switch = 'pose.bones["upper_arm_parent.L"]["IK_FK"]'
    assert value_at(obj, switch, applied.frame_start) == (1.0 if mode == "FK" else 0.0)

    gaps = metarig_gap(obj, defs, applied)
    print(f"{mode}: metarig gap per joint (cm, worst frame)", np.round(100 * gaps.max(axis=0), 1))
    # Every joint where the metarig puts it; with IK the knees and elbows bend where Rigify's IK puts
    # them (towards the poles), within a couple of centimetres.
    bends = (4, 5, 18, 19)
    others = [j for j in range(22) if mode == "FK" or j not in bends]
    assert gaps[:, others].max() < 0.005
    assert gaps.max() < 0.03
    walk = FakeBackend().generate(GenerationRequest("a person walks forward", seconds=4.0))
    done = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None, controls=mode)
    travel = hips_travel(obj, defs, done.frame_start, done.frame_start + done.frames - 1)
    print(f"{mode}: walks {travel:.2f} m; {done.frames} frames keyed in {done.seconds_retarget:.2f} s, "
          f"{control_rig.STATS}")
    assert travel >= 1.5


def test_the_panel_generates_onto_the_selected_control_rig(scene):
    obj = bpy.data.objects["rig"]
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.ropar.generate(prompt="a person walks forward", seconds=2.0) == {"FINISHED"}
    assert obj.animation_data.action.name == "RoPAR a person walks forward"
    assert 'pose.bones["torso"].location' in keyed_paths(obj)
    # The rig's own pose and switches are as they were: the keys drive it, not a leftover pose.
    assert obj.pose.bones["upper_arm_parent.L"]["IK_FK"] == value_at(obj, 'pose.bones["upper_arm_parent.L"]'
                                                                        '["IK_FK"]', 1)
    scene.ropar.controls = "IK"  # the panel's FK / IK switch
    assert bpy.ops.ropar.generate(prompt="a person walks forward", seconds=2.0) == {"FINISHED"}
    assert 'pose.bones["foot_ik.L"].location' in keyed_paths(obj)


def test_a_control_rig_missing_a_control_is_refused_clearly(scene):
    obj = bpy.data.objects["rig"]
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    obj.data.edit_bones.remove(obj.data.edit_bones["forearm_fk.L"])
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(RigError, match="lacks forearm_fk.L; regenerate it from its metarig"):
        pipeline.prepare(obj.name)


def def_only_export(obj, reparent: bool = True) -> None:
    """What a game exporter makes of a Rigify rig: only the DEF bones, without constraints, each under
    the DEF bone of the ORG bone it hung from (`reparent`), or left where deleting the other bones
    leaves them: thighs, shoulders and arms loose, with no parent."""
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    edit = obj.data.edit_bones
    for bone in [b for b in edit if b.name.startswith("DEF-") and reparent]:
        parent = bone.parent
        while parent is not None and not parent.name.startswith("DEF-"):
            twin = edit.get("DEF-" + parent.name.removeprefix("ORG-"))
            if parent.name.startswith("ORG-") and twin is not None and twin != bone:
                parent = twin
                break
            parent = parent.parent
        bone.parent = parent
    for bone in [b for b in edit if not b.name.startswith("DEF-")]:
        edit.remove(bone)
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        for c in list(pb.constraints):
            pb.constraints.remove(c)
    obj.data.pop("rig_id", None)
    obj.animation_data_clear()  # Rigify's drivers name the removed bones


@pytest.mark.parametrize("reparent", [True, False])
def test_a_def_only_export_is_driven_like_any_rig(scene, reparent):
    obj = bpy.data.objects["rig"]
    def_only_export(obj, reparent)
    assert all(b.name.startswith("DEF-") for b in obj.data.bones)
    thigh_parent = obj.data.bones["DEF-thigh.L"].parent
    assert (thigh_parent.name == "DEF-spine") if reparent else thigh_parent is None
    prep = pipeline.prepare(obj.name)
    assert prep.controls is None and prep.bone_map.preset == "rigify_generated", prep.bone_map.describe()
    applied, joints = apply_raised_hands(obj)
    m = measure(obj, joints, applied.frame_start, applied.frame_start + applied.frames - 1)
    assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1
    walk = FakeBackend().generate(GenerationRequest("a person walks forward", seconds=4.0))
    done = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None)
    assert hips_travel(obj, joints, done.frame_start, done.frame_start + done.frames - 1) >= 1.5


@pytest.mark.skipif(shutil.which("blender") is None, reason="no `blender` binary (Debian's 3.4) on PATH")
def test_a_rigify_rig_in_blender_3_4():
    out = subprocess.run(["blender", "-b", "--factory-startup", "--python",
                          str(ROOT / "tests" / "blender_rigify_check.py")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("RIGIFY ")]
    assert [ln[1] for ln in lines] == ["FK", "IK"], out.stdout[-3000:] + out.stderr[-3000:]
    for _, mode, *pairs in lines:
        m = {k: float(v) for k, v in (p.split("=") for p in pairs)}
        assert m["upright"] > 0.99 and m["hands_over_neck"] > 0.1 and m["faces_front"] > 0.99, (mode, m)
        assert m["travel"] >= 1.5, (mode, m)


def test_continuing_a_control_rigs_action_starts_where_its_body_is(scene):
    obj = bpy.data.objects["rig"]
    backend = FakeBackend()
    first = pipeline.generate(armature=obj.name, prompt="a person walks forward", backend=backend,
                              seconds=2.0, report=lambda *a: None)
    end = first.frame_start + first.frames - 1
    defs = deform_map(control_rig.find(obj).joints)
    pelvis = world_joints(obj, defs, end)[0]
    scene.frame_current = end
    more = pipeline.generate(armature=obj.name, prompt="a person walks forward", backend=backend,
                             seconds=2.0, frame_start=end, continue_from=True, report=lambda *a: None)
    assert more.action == first.action and obj.animation_data.action.frame_range[1] > end + 30
    assert np.linalg.norm(world_joints(obj, defs, end)[0] - pelvis) < 1e-3  # no jump at the seam
    assert np.linalg.norm((world_joints(obj, defs, end + 10)[0] - pelvis)[:2]) > 0.5  # and walks on


def test_in_place_with_root_motion_puts_the_travel_on_the_root_control(scene):
    obj = bpy.data.objects["rig"]
    defs = deform_map(control_rig.find(obj).joints)
    walk = FakeBackend().generate(GenerationRequest("a person walks forward", seconds=4.0))
    still = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None, in_place=True)
    assert hips_travel(obj, defs, still.frame_start, still.frame_start + still.frames - 1) < 0.15
    assert 'pose.bones["root"].location' not in keyed_paths(obj)
    rooted = pipeline.apply_motion(walk, armature=obj.name, report=lambda *a: None, in_place=True,
                                   root_motion=True)
    last = rooted.frame_start + rooted.frames - 1
    assert 'pose.bones["root"].location' in keyed_paths(obj)
    assert hips_travel(obj, defs, rooted.frame_start, last) >= 1.5  # the body walks, carried by the root
    bpy.context.scene.frame_set(last)
    torso = obj.pose.bones["torso"].location  # the torso's own keys stay in place
    assert np.hypot(torso[0], torso[2]) < 0.15


@pytest.mark.skipif(shutil.which("blender") is None, reason="no `blender` binary (Debian's 3.4) on PATH")
def test_the_headless_batch_keys_a_rigify_rigs_ik_controls(scene, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks forward\n", encoding="utf-8")
    rigify_file = tmp_path / "rigify.blend"  # saved by Blender 3.4 itself: it cannot read 5.0's files
    made = subprocess.run(["blender", "-b", "--factory-startup", "--python-expr", MAKE_RIGIFY_FILE,
                           "--", str(rigify_file)], capture_output=True, text=True, timeout=300)
    assert rigify_file.is_file(), made.stdout[-3000:] + made.stderr[-3000:]
    out = subprocess.run(["blender", "-b", "--factory-startup", str(rigify_file), "--python",
                          str(ROOT / "blender_addon" / "batch.py"), "--", "--prompts", str(prompts),
                          "--out", "out", "--format", "blend", "--armature", "rig", "--backend", "fake",
                          "--controls", "IK"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "ropar_batch.blend"))
    obj = bpy.data.objects["rig"]
    obj.animation_data.action = bpy.data.actions["RoPAR a person walks forward"]
    paths = keyed_paths(obj)
    assert {'pose.bones["hand_ik.L"].location', 'pose.bones["thigh_ik_target.R"].location'} <= paths
    assert value_at(obj, 'pose.bones["thigh_parent.L"]["IK_FK"]', 1) == 0.0
