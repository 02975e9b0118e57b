"""The add-on inside Blender (the bpy 5.0 module): registration, the operator on a Rigify metarig, an
SMPL-like rig and a Bandai BVH skeleton, keyframes, fidelity of the evaluated pose, atomic failure,
background jobs and cancel, editing with kept parts, NLA strips.

Fidelity is measured on Blender's own evaluation: after `frame_set` and a depsgraph update the pose
bones' world-space heads are mapped back (object matrix⁻¹, Z up -> Y up, placement scale) and compared
with the joints the fake backend generated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.optional import installed_or_skip

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

import blender_addon  # noqa: E402
from blender_addon import jobs, keyframes, operators, pipeline, retarget, rig  # noqa: E402
from blender_addon.backend import FakeBackend, GenerationRequest  # noqa: E402
from blender_addon.errors import RigError  # noqa: E402
from blender_addon.fake_motion import fake_motion  # noqa: E402
from blender_addon.rotations import Y_UP_TO_Z_UP, normalize  # noqa: E402
from blender_addon.smpl22 import AIM_CHILD, PART_OWN_JOINTS  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]
BANDAI_BVH = Path(__file__).parent / "data" / "bandai_wave-left-hand_active_011.bvh"
PROMPT = "a person walks forward"


@pytest.fixture(autouse=True)
def scene(blender_scene):
    return blender_scene


def world_heads(obj, names):
    """(B, 3) evaluated world-space heads of pose bones `names` at the current frame."""
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mw = np.array(ev.matrix_world)
    heads = np.array([ev.pose.bones[n].head for n in names])
    return heads @ mw[:3, :3].T + mw[:3, 3]


def evaluated_joints(obj, result, bone_map, frames):
    """Evaluated heads of the mapped bones over `frames`, back in generated space (metres, Y up)."""
    names = [bone_map[j] for j in sorted(bone_map)]
    mw = np.array(obj.matrix_world)
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        arm = (world_heads(obj, names) - mw[:3, 3]) @ np.linalg.inv(mw[:3, :3]).T
        out.append(result.placement.to_motion(arm))
    return np.array(out)  # (F, J, 3)


def worst_bone_angle_deg(got, gen):
    """Largest angle between evaluated and generated bone directions (joint -> its aim child)."""
    worst = 0.0
    for j, a in AIM_CHILD.items():
        cos = np.sum(normalize(got[:, a] - got[:, j]) * normalize(gen[:, a] - gen[:, j]), -1)
        worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max()))
    return worst


def generate(**kwargs):
    args = dict(prompt=PROMPT, seconds=3.0, seed=1, foot_lock=False)
    args.update(kwargs)
    return bpy.ops.ropar.generate(**args)


# ----------------------------------------------------------------------------------------------------


def test_register_and_unregister_remove_everything():
    assert hasattr(bpy.types.Scene, "ropar") and hasattr(bpy.types, "ROPAR_PT_panel")
    assert bpy.context.scene.ropar.prompt and hasattr(bpy.types, "ROPAR_OT_generate")
    blender_addon.unregister()
    try:
        assert not hasattr(bpy.types.Scene, "ropar")
        assert not hasattr(bpy.types, "ROPAR_PT_panel") and not hasattr(bpy.types, "ROPAR_OT_generate")
        assert not hasattr(bpy.types, "ROPAR_OT_cancel")
    finally:
        blender_addon.register()
    assert hasattr(bpy.types.Scene, "ropar")


def test_smpl_rig_follows_the_generated_joints_in_world_space(scene):
    obj = rig.build_smpl_armature("SMPL", scale=1.3)
    obj.location = (2.0, -1.0, 0.5)  # the motion is keyed in armature space: it follows the object
    obj.rotation_euler = (0.0, 0.0, 0.6)
    obj.scale = (1.5, 1.5, 1.5)
    scene.frame_set(7)
    assert generate(armature="SMPL") == {"FINISHED"}
    assert scene.frame_current == 7  # the user's frame is untouched

    action = obj.animation_data.action
    assert action.name == f"RoPAR {PROMPT}"
    bag = _fcurves(obj, action)
    assert len(bag) == 22 * 4 + 3  # quaternion per bone + pelvis location
    assert {len(fc.keyframe_points) for fc in bag} == {60}
    assert all(kp.interpolation == "LINEAR" for kp in bag[0].keyframe_points)

    joints = fake_motion(PROMPT, 3.0, 1)[0].astype(np.float64)  # what the fake backend generated
    prep = pipeline.prepare("SMPL")
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=20)
    path = 'pose.bones["L_Knee"].rotation_quaternion'
    fc = next(f for f in bag if f.data_path == path and f.array_index == 1)
    keyed = [kp.co[1] for kp in fc.keyframe_points]
    np.testing.assert_allclose(keyed, result.quaternions[:, result.bone_names.index("L_Knee"), 1], atol=1e-6)

    frames = range(0, 60, 6)
    got = evaluated_joints(obj, result, prep.bone_map.joints, [1 + f for f in frames])
    error_cm = 100 * np.linalg.norm(got - joints[list(frames)], axis=-1)
    print(f"SMPL rig fidelity: max {error_cm.max():.4f} cm, mean {error_cm.mean():.4f} cm")
    assert error_cm.max() < 0.01


def test_rigify_metarig_bone_directions_and_root_follow(scene):
    scene.render.fps = 30  # the 20-fps motion is resampled to the scene's rate
    obj = rig.build_metarig("metarig")
    assert len(obj.data.bones) > 60
    assert bpy.context.scene.ropar is not None
    bpy.context.scene.ropar.armature = obj  # the update callback fills the detection label
    assert bpy.context.scene.ropar.detected == "rigify_metarig (22/22)"
    assert generate(armature="metarig") == {"FINISHED"}
    action = obj.animation_data.action
    assert action["ropar_preset"] == "rigify_metarig"
    assert {len(fc.keyframe_points) for fc in _fcurves(obj, action)} == {89}  # 2.95 s at 30 fps

    joints = pipeline.resample(fake_motion(PROMPT, 3.0, 1)[0].astype(np.float64), 20, 30)
    prep = pipeline.prepare("metarig")
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=30)
    frames = list(range(0, 89, 8))
    got = evaluated_joints(obj, result, prep.bone_map.joints, [1 + f for f in frames])  # (F, 22, 3)
    gen = joints[frames]
    worst = worst_bone_angle_deg(got, gen)
    root_cm = 100 * np.linalg.norm(got[:, 0] - gen[:, 0], axis=-1).max()
    joint_cm = 100 * np.linalg.norm(got - gen, axis=-1)
    print(f"metarig fidelity: worst bone direction {worst:.4f} deg, root {root_cm:.4f} cm, joints (other "
          f"proportions) mean {joint_cm.mean():.1f} cm")
    assert worst < 0.05
    assert root_cm < 0.01


def test_euler_and_axis_angle_bones_are_keyed_in_their_own_mode(scene):
    obj = rig.build_smpl_armature("SMPL")
    modes = {"L_Hip": "XYZ", "R_Knee": "ZXY", "Spine2": "YZX", "L_Elbow": "AXIS_ANGLE", "Pelvis": "ZYX"}
    for name, mode in modes.items():
        obj.pose.bones[name].rotation_mode = mode
    assert generate(armature="SMPL", prompt="a person runs") == {"FINISHED"}
    paths = {fc.data_path for fc in _fcurves(obj, obj.animation_data.action)}
    assert 'pose.bones["L_Hip"].rotation_euler' in paths
    assert 'pose.bones["L_Elbow"].rotation_axis_angle' in paths
    assert 'pose.bones["L_Hip"].rotation_quaternion' not in paths
    joints = fake_motion("a person runs", 3.0, 1)[0].astype(np.float64)
    prep = pipeline.prepare("SMPL")
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=20)
    got = evaluated_joints(obj, result, prep.bone_map.joints, range(1, 61, 5))
    assert 100 * np.linalg.norm(got - joints[0:60:5], axis=-1).max() < 0.01


def test_a_failed_generation_leaves_the_scene_as_it_was(scene, monkeypatch):
    obj = rig.build_smpl_armature("SMPL")
    assert generate(armature="SMPL") == {"FINISHED"}
    before_action = obj.animation_data.action
    before_slot = obj.animation_data.action_slot
    before_actions = sorted(a.name for a in bpy.data.actions)
    end_before = scene.frame_end
    real_fill = keyframes.fill_action

    def fill_then_fail(*args, **kwargs):
        real_fill(*args, **kwargs)  # all keys written, then something breaks
        raise RuntimeError("disk full")

    monkeypatch.setattr(keyframes, "fill_action", fill_then_fail)
    motion = FakeBackend().generate(GenerationRequest("a person runs", seconds=20.0))
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.apply_motion(motion, armature="SMPL", fit_timeline=True)
    assert sorted(a.name for a in bpy.data.actions) == before_actions
    assert obj.animation_data.action == before_action and obj.animation_data.action_slot == before_slot
    assert scene.frame_end == end_before

    fresh = rig.build_smpl_armature("Fresh")  # no animation data before: none after
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.apply_motion(motion, armature="Fresh", use_nla=True)
    assert fresh.animation_data is None
    assert sorted(a.name for a in bpy.data.actions) == before_actions


def test_missing_bones_are_named_and_nothing_changes(scene, capsys):
    obj = rig.build_smpl_armature("SMPL")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    obj.data.edit_bones.remove(obj.data.edit_bones["L_Elbow"])
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(RigError, match=r"rig preset 'smpl' needs: l_elbow \(tried L_Elbow, left_elbow\)"):
        pipeline.prepare("SMPL", "smpl")
    with pytest.raises(RigError, match=r"no rig preset fits .*missing bones for l_elbow \(tried L_Elbow"):
        pipeline.prepare("SMPL")
    with pytest.raises(RuntimeError, match="missing bones for l_elbow"):  # the operator's ERROR report
        generate(armature="SMPL")
    assert obj.animation_data is None and len(bpy.data.actions) == 0
    with pytest.raises(RigError, match="no object named 'Nope'"):
        pipeline.prepare("Nope")


def test_background_job_applies_on_the_main_thread_and_cancel_drops_it(scene):
    obj = rig.build_smpl_armature("SMPL")
    options = dict(preset="AUTO", foot_lock=True, frame_start=1, use_nla=False)
    settings = dict(armature="SMPL", options=options)
    request = GenerationRequest(PROMPT, seconds=2.0)
    job = jobs.start(request, FakeBackend(delay_s=0.3), operators._applier(settings))
    assert jobs.is_running() and jobs._poll() == jobs.POLL_S  # still working: the timer keeps polling
    assert obj.animation_data is None  # nothing touches the scene from the worker thread
    job.finished.wait(5)
    assert jobs._poll() is None  # applied; the timer stops
    state, message, _ = jobs.status()
    assert state == "done" and "RoPAR a person walks forward" in message
    assert obj.animation_data.action.name == f"RoPAR {PROMPT}"

    job = jobs.start(GenerationRequest("a person runs", seconds=2.0), FakeBackend(delay_s=0.5),
                     operators._applier(settings))
    assert jobs.cancel() and jobs.status()[0] == "cancelled"
    job.finished.wait(5)
    assert jobs._poll() is None
    assert len(bpy.data.actions) == 1  # the cancelled motion never lands
    assert not jobs.cancel()


def test_invoke_under_background_runs_synchronously(scene):
    assert bpy.app.background
    rig.build_smpl_armature("SMPL")
    scene.ropar.prompt = "a person waves with the right hand"
    assert bpy.ops.ropar.generate("INVOKE_DEFAULT", armature="SMPL") == {"FINISHED"}
    assert bpy.data.objects["SMPL"].animation_data.action["ropar_prompt"] == scene.ropar.prompt


def test_editing_keeps_the_chosen_parts(scene):
    obj = rig.build_smpl_armature("SMPL")
    assert generate(armature="SMPL") == {"FINISHED"}
    first = np.array(obj.animation_data.action["ropar_joints"]).reshape(-1, 22, 3)
    scene.ropar.keep_parts = {"left_arm", "left_leg"}
    assert generate(armature="SMPL", prompt="a person waves with the right hand") == {"FINISHED"}
    second = np.array(obj.animation_data.action["ropar_joints"]).reshape(-1, 22, 3)
    kept = list(PART_OWN_JOINTS["left_arm"] + PART_OWN_JOINTS["left_leg"])
    np.testing.assert_allclose(second[:, kept] - second[:, :1], first[:, kept] - first[:, :1], atol=1e-5)
    right = list(PART_OWN_JOINTS["right_arm"])
    assert np.abs((second[:, right] - second[:, :1]) - (first[:, right] - first[:, :1])).max() > 0.3  # waves


def test_nla_option_adds_a_strip_that_plays(scene):
    """The new action's strip on top, the previous action pushed down to its own strip (no active
    action hides them); tests/test_blender_rigs.py checks that the strip drives the pose."""
    obj = rig.build_smpl_armature("SMPL")
    assert generate(armature="SMPL") == {"FINISHED"}
    active = obj.animation_data.action
    scene.ropar.use_nla = True
    assert generate(armature="SMPL", prompt="a person runs") == {"FINISHED"}
    assert obj.animation_data.action is None
    below, top = obj.animation_data.nla_tracks
    [strip] = top.strips
    assert strip.action.name == "RoPAR a person runs" and strip.frame_start == 1
    assert strip.action.use_fake_user and below.strips[0].action == active


def test_bandai_bvh_skeleton_is_detected_and_driven(scene):
    if not BANDAI_BVH.is_file():
        pytest.skip(f"{BANDAI_BVH} is missing")
    assert bpy.ops.import_anim.bvh(filepath=str(BANDAI_BVH)) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    prep = pipeline.prepare(obj.name)
    assert prep.bone_map.preset == "bandai" and 6 not in prep.bone_map.joints  # no spine2 bone
    assert generate(armature=obj.name, prompt="a person walks and turns left") == {"FINISHED"}
    joints = fake_motion("a person walks and turns left", 3.0, 1)[0].astype(np.float64)
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=20)
    got = evaluated_joints(obj, result, prep.bone_map.joints, range(1, 61, 10))
    js = sorted(prep.bone_map.joints)
    gen = joints[0:60:10][:, js]
    col = {j: i for i, j in enumerate(js)}
    worst = 0.0
    for j in js:
        a = result_aim(j, prep.bone_map.joints)
        if a is None:
            continue
        d_rig, d_gen = got[:, col[a]] - got[:, col[j]], gen[:, col[a]] - gen[:, col[j]]
        cos = np.sum(normalize(d_rig) * normalize(d_gen), -1)
        worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max()))
    assert worst < 0.05


def result_aim(j, bone_map):
    a = AIM_CHILD.get(j)
    while a is not None and a not in bone_map:
        a = AIM_CHILD.get(a)
    return a


def test_action_names_fit_blender_limits():
    name = keyframes.action_name("ä" * 80)
    assert len(name.encode("utf-8")) <= 63 and name.startswith("RoPAR ä")


def _fcurves(obj, action):
    if keyframes.LAYERED_ACTIONS:
        from bpy_extras import anim_utils

        return list(anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot).fcurves)
    return list(action.fcurves)


def test_rest_pose_layout_matches_blender(scene):
    obj = rig.build_metarig("metarig")
    rest = rig.read_rest(obj)
    bone = obj.data.bones["forearm.L"]
    np.testing.assert_allclose(rest.matrices[rest.index["forearm.L"]], np.array(bone.matrix_local), atol=1e-6)
    assert rest.names[rest.parents[rest.index["forearm.L"]]] == "upper_arm.L"
    np.testing.assert_allclose(Y_UP_TO_Z_UP @ [0, 0, 1], [0, -1, 0])  # +Z forward (Y up) -> -Y (Z up)


def test_editing_a_foreign_action_samples_the_rig(scene):
    """An action without stored RoPAR joints is sampled frame by frame back into SMPL-22 joints."""
    obj = rig.build_smpl_armature("SMPL")
    assert generate(armature="SMPL") == {"FINISHED"}
    action = obj.animation_data.action
    stored = np.array(action["ropar_joints"]).reshape(-1, 22, 3)  # a copy: the property goes below
    del action["ropar_joints"]  # now it looks like any hand-made action
    scene.frame_set(12)
    joints, fps = pipeline.current_motion(pipeline.prepare("SMPL"), scene)
    assert scene.frame_current == 12 and fps == 20
    assert joints.shape == stored.shape
    assert 100 * np.abs(joints - stored).max() < 0.01


def test_generate_operator_with_the_shipped_model_on_a_rigify_metarig(scene):
    """The issue's end-to-end check: a Rigify metarig, the Generate operator, the shipped model (in
    process), and the evaluated rig follows the generated joints."""
    from blender_addon.backend import InProcessBackend

    class Recording:  # keeps what the model produced, to compare the rig against it
        name = "recording"

        def __init__(self, inner):
            self.inner, self.motions = inner, []

        def generate(self, request, progress=None, cancel=None):
            motion = self.inner.generate(request, progress, cancel)
            self.motions.append(motion)
            return motion

    root = Path(__file__).resolve().parents[1]
    backend = Recording(InProcessBackend(str(root / "assets" / "default"), device="cpu"))
    jobs.set_backend_override(backend)
    obj = rig.build_metarig("metarig")
    assert generate(armature="metarig", prompt="a person walks forward in an elderly way") == {"FINISHED"}
    joints = backend.motions[0].joints.astype(np.float64)  # (60, 22, 3) at 20 fps = the scene's rate
    assert joints.shape == (60, 22, 3)
    prep = pipeline.prepare("metarig")
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=20)
    frames = list(range(0, 60, 6))
    got = evaluated_joints(obj, result, prep.bone_map.joints, [1 + f for f in frames])
    gen = joints[frames]
    worst = worst_bone_angle_deg(got, gen)
    root_cm = 100 * np.linalg.norm(got[:, 0] - gen[:, 0], axis=-1).max()
    travel = np.linalg.norm(gen[-1, 0, [0, 2]] - gen[0, 0, [0, 2]])
    print(f"shipped model on metarig: worst bone direction {worst:.4f} deg, root {root_cm:.4f} cm, "
          f"travel {travel:.2f} m")
    assert worst < 0.05 and root_cm < 0.01
    assert travel > 0.3  # it walks


def test_an_unfamiliar_prompt_is_reported_and_shown_in_the_status_line(scene):
    """The shipped model's note on a prompt unlike its training data reaches the operator's reports and
    the panel's status line (the background job's message); a prompt it knows gets none."""
    from blender_addon.backend import InProcessBackend

    backend = InProcessBackend(str(Path(__file__).resolve().parents[1] / "assets" / "default"), device="cpu")
    rig.build_smpl_armature("SMPL")
    reports = []
    applied = pipeline.generate(armature="SMPL", prompt="a person plays the guitar", backend=backend,
                                seconds=1.0, report=lambda level, msg: reports.append((level, msg)))
    assert "unlike anything this model was trained on" in applied.warning
    assert ("WARNING", applied.warning) in reports

    motion = backend.generate(GenerationRequest("a person plays the guitar", seconds=1.0))
    status, level = operators._applier({"armature": "SMPL", "options": {}})([motion])
    assert status.endswith(applied.warning) and "frames" in status and level == "WARNING"
    job = jobs.start(GenerationRequest("a person plays the guitar", seconds=1.0), backend,
                     operators._applier({"armature": "SMPL", "options": {}}))
    job.finished.wait(60)
    assert jobs._poll() is None
    state, message, _ = jobs.status()
    assert state == "warning" and message.endswith(applied.warning)  # shown with the warning icon

    reports.clear()
    known = pipeline.generate(armature="SMPL", prompt="a person walks forward", backend=backend, seconds=1.0,
                              report=lambda level, msg: reports.append((level, msg)))
    assert known.warning == "" and not [r for r in reports if r[0] == "WARNING"]


def test_status_messages_wrap_to_the_sidebar_and_long_reports_point_to_the_panel():
    from blender_addon import panel

    message = ("'a person juggles flaming torches' is unlike anything this model was trained on "
               "(similarity 0.32); the closest actions it knows: dance, run, kick")
    lines = panel.wrap(message, region_width=300)  # Blender's default sidebar width
    assert " ".join(lines) == message and len(lines) >= 3
    assert all(len(line) * panel.CHAR_PX <= 300 - 50 for line in lines)
    assert len(panel.wrap(message, region_width=600)) < len(lines)
    assert len(panel.wrap(message, region_width=300, ui_scale=2.0)) > len(lines)
    assert operators.short("no target armature") == "no target armature"
    cut = operators.short(message)
    assert len(cut) <= operators.REPORT_CHARS + 40 and cut.endswith("(in full in the RoPAR panel)")


def test_progress_is_estimated_from_the_backends_pace_while_it_cannot_report(scene):
    rig.build_smpl_armature("SMPL")

    class Quiet(FakeBackend):  # like an HTTP request: no progress until the answer comes
        name = "quiet"

        def generate(self, request, progress=None, cancel=None):
            import time

            time.sleep(0.4)
            return super().generate(request)

    settings = dict(armature="SMPL", options=dict(preset="smpl", frame_start=1))
    job = jobs.start(GenerationRequest("a person runs", seconds=2.0), Quiet(), operators._applier(settings))
    assert jobs.status()[2] == 0.0  # the first time: no pace known yet
    job.finished.wait(10)
    jobs._poll()
    job = jobs.start(GenerationRequest("a person runs", seconds=2.0), Quiet(), operators._applier(settings))
    import time

    time.sleep(0.2)
    state, message, progress = jobs.status()
    assert state == "running" and 0.2 < progress < 0.95 and "s left" in message
    job.finished.wait(10)
    jobs._poll()


def test_a_short_request_on_a_warm_backend_runs_in_the_foreground_and_long_ones_in_the_background(
        scene, monkeypatch):
    """The click's choice (jobs.runs_in_foreground): the backend's measured pace predicts each request;
    an unknown pace (the first request), many candidates or a long clip keep the background job."""
    from blender_addon.errors import BackendError

    monkeypatch.setattr(jobs, "_pace", {})
    obj = rig.build_smpl_armature("SMPL")
    settings = dict(armature="SMPL", options=dict(preset="smpl", frame_start=1))
    backend = FakeBackend(delay_s=0.2)
    short = GenerationRequest(PROMPT, seconds=2.0)
    assert jobs.predicted_s(short, backend) is None and not jobs.runs_in_foreground(short, backend)
    job = jobs.start(short, backend, operators._applier(settings))
    job.finished.wait(10)
    jobs._poll()
    pace = jobs._pace["fake"]
    assert 0.09 <= pace <= jobs.FOREGROUND_S / 2  # 0.2 s of work for 2 s of motion, and some overhead
    assert jobs.predicted_s(short, backend) == pytest.approx(2 * pace)
    assert jobs.runs_in_foreground(short, backend)
    many = pipeline.candidate_requests(GenerationRequest(PROMPT, seconds=10.0), 4)
    assert len(many) == 4 and not jobs.runs_in_foreground(many, backend)  # 40 s of motion: >= 3.6 s
    assert not jobs.runs_in_foreground(GenerationRequest(PROMPT, seconds=30.0), backend)

    # The foreground: generated and keyed before run_now returns.
    reports = []
    job = jobs.run_now(GenerationRequest("a person runs", seconds=2.0), backend,
                       operators._applier(settings), report_to=lambda *r: reports.append(r))
    assert job.foreground and job.state == "done" and job.applied_at is not None
    assert obj.animation_data.action.name == "RoPAR a person runs" and jobs.status()[0] == "done"
    assert not jobs.is_running() and reports == []

    class Refusing(FakeBackend):
        name = "refusing"

        def generate(self, request, progress=None, cancel=None):
            raise BackendError("the server at http://127.0.0.1:1 refused the request")

    job = jobs.run_now(short, Refusing(), operators._applier(settings),
                       report_to=lambda *r: reports.append(r))
    assert job.state == "failed" and jobs.status()[:2] == ("failed", "the server at http://127.0.0.1:1 "
                                                                     "refused the request")
    assert reports == [("ERROR", "the server at http://127.0.0.1:1 refused the request")]
    assert obj.animation_data.action.name == "RoPAR a person runs"  # the failure changed nothing

    # Far slower than predicted (a server restarting): the UI stops waiting, the job carries on in the
    # background with progress and Cancel, and is applied by the timer.
    monkeypatch.setattr(jobs, "HAND_OVER_S", 0.05)
    job = jobs.run_now(GenerationRequest("a person jumps", seconds=2.0), FakeBackend(delay_s=0.5),
                       operators._applier(settings), report_to=lambda *r: reports.append(r))
    assert jobs.is_running() and not job.foreground and jobs.status()[0] == "running"
    job.finished.wait(10)
    assert jobs._poll() is None and obj.animation_data.action.name == "RoPAR a person jumps"

    # A server's own time sets the pace, not the worker's wall clock (which holds the wait for a main
    # thread busy drawing); a backend that is closed (its server stopped) is cold again.
    class Timed(FakeBackend):
        name = "timed"

        def generate(self, request, progress=None, cancel=None):
            motion = super().generate(request)
            motion.info["elapsed_s"] = 0.05
            return motion

    timed = Timed(delay_s=0.3)
    job = jobs.start(short, timed, operators._applier(settings))
    job.finished.wait(10)
    jobs._poll()
    assert jobs._pace["timed"] == pytest.approx(0.025)
    monkeypatch.setitem(jobs._backend_cache, "backend", timed)
    jobs.close_backend()
    assert "timed" not in jobs._pace and not jobs.runs_in_foreground(short, timed)
