"""The plain functions behind the operator, the timers and the batch script (keyword-only arguments and an
injected `report(level, message)`, like io_anim_bvh's `load`):

    prepare(...)        main thread: armature + rest pose + bone map (fails fast, before any generation)
    build_request(...)  main thread: the request, with the current motion when parts are kept
    backend.generate    any thread: no bpy
    apply_motions(...)  main thread: resample to the scene's fps, loop / in place, retarget, write the
                        Actions (one per candidate)
    generate(...)       all of it synchronously: scripts, EXEC_DEFAULT, `blender -b`
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import bpy
import numpy as np

from . import clip, control_rig, keyframes, path_curve, presets, retarget, rig
from .backend import GenerationRequest, Motion
from .errors import RoparAddonError

Report = Callable[[str, str], None]
JOINTS_KEY = "ropar_joints"  # action custom property: the generated joints, flat (T * 22 * 3)


def print_report(level: str, message: str) -> None:
    print(f"RoPAR {level.lower()}: {message}")


@dataclass
class Prepared:
    obj: object
    rest: retarget.RigRest
    bone_map: presets.BoneMap
    controls: control_rig.ControlRig | None = None  # a control rig: its controls get the keys


@dataclass
class Applied:
    action: str
    frames: int
    frame_start: int
    preset: str
    fps: float
    seconds_retarget: float  # retarget + keyframes, for the status line and the benchmark
    actions: list[str] = dataclasses.field(default_factory=list)  # every candidate, the active one first
    warning: str = ""  # the model's note on an unfamiliar prompt (shown in the status line)


def prepare(armature: str, preset: str = presets.AUTO, rows: dict[str, str] | None = None,
            controls: str = "FK") -> Prepared:
    """The armature, its rest pose and its validated bone map: the panel's `rows` when given (reported
    as the preset when they are what the preset gives), else `preset`. A control rig (control_rig.py)
    whose bones those name are posed by constraints gets its `controls` ("FK" or "IK") keyed instead."""
    obj = rig.armature_object(armature)
    rest = rig.read_rest(obj)
    try:
        return _prepare_bones(obj, rest, preset, rows)
    except RoparAddonError:
        found = control_rig.find(obj, controls)
        if found is None:
            raise
        return Prepared(obj, rest, found.bone_map(), found)


def _prepare_bones(obj, rest: retarget.RigRest, preset: str, rows: dict[str, str] | None) -> Prepared:
    if rows:
        custom = rig.bone_map(obj, rest, rows=rows)
        try:
            same = rig.bone_map(obj, rest, preset)
        except RoparAddonError:
            return Prepared(obj, rest, custom)
        return Prepared(obj, rest, same if same.joints == custom.joints else custom)
    return Prepared(obj, rest, rig.bone_map(obj, rest, preset))


def retarget_onto(prep: Prepared, joints: np.ndarray, *, fps: float, foot_lock: bool = False,
                  in_place: bool = False, root_motion: bool = False,
                  placement=None) -> retarget.RetargetResult:
    """`retarget.retarget` onto the prepared rig's bones, or onto its controls for a control rig."""
    if prep.controls is not None:
        return control_rig.retarget_controls(prep.obj, prep.controls, joints, prep.rest, fps=fps,
                                             foot_lock=foot_lock, in_place=in_place, root_motion=root_motion,
                                             placement=placement)
    return retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=fps, foot_lock=foot_lock,
                             in_place=in_place, root_motion=root_motion, placement=placement)


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, 22, 3) at src_fps -> the same duration at dst_fps, linear in time."""
    if abs(src_fps - dst_fps) < 1e-6:
        return joints
    T = joints.shape[0]
    n = max(2, int(round((T - 1) * dst_fps / src_fps)) + 1)
    t = np.arange(n) * (src_fps / dst_fps)
    i0 = np.clip(np.floor(t).astype(int), 0, T - 1)
    i1 = np.clip(i0 + 1, 0, T - 1)
    w = (t - i0)[:, None, None]
    return (1 - w) * joints[i0] + w * joints[i1]


def current_motion(prep: Prepared, scene) -> tuple[np.ndarray, float]:
    """The armature's current motion as SMPL-22 joints: the generated joints stored on a RoPAR action,
    else the rig sampled frame by frame over the action's range (the current frame is restored)."""
    ad = prep.obj.animation_data
    action = ad.action if ad else None
    if action is None:
        raise RoparAddonError(f"armature {prep.obj.name!r} has no action to edit; generate a motion first "
                              "or clear 'Keep parts'")
    if JOINTS_KEY in action:
        flat = np.array(action[JOINTS_KEY], dtype=np.float32)  # a copy, not a view of Blender memory
        return flat.reshape(-1, 22, 3), float(action.get("ropar_fps", 20.0))
    first, last = (int(round(v)) for v in action.frame_range)
    frame = scene.frame_current
    try:
        joints = rig.sample_joints(prep.obj, prep.bone_map, range(first, last + 1))
    finally:
        scene.frame_set(frame)
    return joints.astype(np.float32), scene_fps(scene)


def build_request(prep: Prepared, *, prompt: str, seconds: float = 4.0, seed: int = 0,
                  cfg: float | None = None, steps: int | None = None, keep_parts: tuple[str, ...] = (),
                  scene=None, continue_at: int | None = None, path: str = "") -> GenerationRequest:
    """The backend request; with `continue_at` (a frame) it asks the model to continue the rig's motion
    from its pose there (see continuation)."""
    edit, fps = None, 20.0
    if keep_parts and continue_at is not None:
        raise RoparAddonError("'Keep parts' edits the whole action and 'Continue from current frame' "
                              "adds to it: choose one")
    if path and (keep_parts or continue_at is not None):
        raise RoparAddonError("a Path walks a new motion, while 'Keep parts' and 'Continue from current "
                              "frame' change the current one: choose one")
    if keep_parts:
        edit, fps = current_motion(prep, scene or bpy.context.scene)
    floor_path = None
    if path:  # a curve object the motion walks along (path_curve.py; apply_motions moves the rig there)
        points = path_curve.curve_points(path_curve.curve_object(path))
        floor_path = path_curve.model_path(points, prep.rest, prep.bone_map.joints)
    request = GenerationRequest(prompt=prompt, seconds=seconds, seed=seed, cfg=cfg, steps=steps,
                                keep_parts=tuple(keep_parts), edit_joints=edit, edit_fps=fps,
                                path=floor_path)
    if continue_at is not None:
        request = continuation(prep, request, continue_at, scene or bpy.context.scene)
    return request


LEAD_S = 0.2  # of the rig's motion up to the current frame, kept as the continuation's first frames


def continuation(prep: Prepared, request: GenerationRequest, frame: int, scene) -> GenerationRequest:
    """The request for a motion that continues the rig's own from `frame`: the rig's last LEAD_S, up to
    and including `frame`, become the model's kept first frames (its in-betweening: /edit with
    keep_frames), so the new motion starts from the pose and momentum the rig has there."""
    fps = scene_fps(scene)
    lead = max(1, int(round(LEAD_S * fps)))
    current = scene.frame_current
    try:
        joints, _ = rig.sample_motion(prep.obj, prep.bone_map, range(frame - lead, frame + 1))
    finally:
        scene.frame_set(current)
    kept = int(round(lead * 20.0 / fps)) + 1  # 20-fps frames up to the current pose, inclusive
    return dataclasses.replace(request, edit_joints=joints.astype(np.float32), edit_fps=fps,
                               keep_frames=(0, kept), seconds=request.seconds + lead / fps)


@dataclass(frozen=True)
class Options:
    """How a generated motion is put on the rig (operator properties, panel, batch flags)."""

    preset: str = presets.AUTO
    foot_lock: bool = False
    in_place: bool = False  # the hips' horizontal travel kept out of the action
    root_motion: bool = False  # with in_place: the travel goes onto the rig's root bone, if it has one
    loop: bool = False  # the end blended into the start (clip.make_loop)
    frame_start: int | None = None  # None: the scene's start frame
    use_nla: bool = False
    fit_timeline: bool = True  # the scene's frame range becomes the clip's
    rows: tuple[tuple[str, str], ...] = ()  # the panel's bone mapping rows (joint, bone); () = preset
    continue_from: bool = False  # continue the rig's current action from frame_start (continuation)
    path: str = ""  # a curve object the motion walks along: the rig is moved to its start (path_curve.py)
    controls: str = "FK"  # a control rig (control_rig.py): key its "FK" or its "IK" controls


def candidate_name(prompt: str, seed: int | None, count: int) -> str:
    """'RoPAR <prompt>' or, with several candidates, 'RoPAR <prompt> #<seed>' (fits Blender's limit)."""
    if count <= 1 or seed is None:
        return keyframes.action_name(prompt or "motion")
    tag = f" #{seed}"
    return keyframes.action_name(prompt or "motion", limit_bytes=keyframes.MAX_NAME_BYTES - len(tag)) + tag


def apply_motions(motions: list[Motion], *, armature: str, options: Options = Options(),
                  report: Report = print_report, scene=None) -> Applied:
    """Retarget each motion onto the armature and key it as a new Action (atomic, see keyframes): the
    first becomes the active action, the others are kept (fake user) to flip through."""
    scene = scene or bpy.context.scene
    start = time.perf_counter()
    prep = prepare(armature, options.preset, dict(options.rows), options.controls)
    if options.path:  # only now, once every motion exists: a failed generation leaves the rig where it was
        path_curve.stand_at_start(prep.obj, prep.rest, prep.bone_map.joints,
                                  path_curve.curve_points(path_curve.curve_object(options.path)))
        prep = prepare(armature, options.preset, dict(options.rows), options.controls)
    fps = scene_fps(scene)
    first = scene.frame_start if options.frame_start is None else int(options.frame_start)
    if options.continue_from:
        return _apply_continuation(motions, prep, options, first, scene, report, start)
    items, frames = [], 0
    for motion in motions:
        joints = resample(motion.joints.astype(np.float64), motion.fps, fps)
        if options.loop:
            joints = clip.make_loop(joints, fps)
        result = retarget_onto(prep, joints, fps=fps, foot_lock=options.foot_lock,
                               in_place=options.in_place, root_motion=options.root_motion)
        frames = max(frames, joints.shape[0])
        metadata = {
            "ropar_prompt": motion.prompt, "ropar_seed": -1 if motion.seed is None else int(motion.seed),
            "ropar_fps": float(motion.fps), "ropar_preset": prep.bone_map.preset, "ropar_frame_start": first,
            "ropar_in_place": bool(options.in_place), "ropar_loop": bool(options.loop),
            JOINTS_KEY: motion.joints.astype(np.float64).ravel().tolist(),
        }
        items.append((result, candidate_name(motion.prompt, motion.seed, len(motions)), metadata))
    actions = keyframes.write_actions(prep.obj, items, frame_start=first, use_nla=options.use_nla,
                                      fit_timeline=options.fit_timeline, scene=scene)
    elapsed = time.perf_counter() - start
    warning = next((m.warning for m in motions if m.warning), "")  # the same prompt for every candidate
    applied = Applied(actions[0].name, frames, first, prep.bone_map.preset, fps, elapsed,
                      [a.name for a in actions], warning)
    more = f" (+{len(actions) - 1} candidates)" if len(actions) > 1 else ""
    report("INFO", f"{applied.action!r}{more}: {applied.frames} frames on {prep.obj.name!r} "
                   f"({prep.bone_map.describe()})")
    if warning:
        report("WARNING", warning)
    return applied


def _apply_continuation(motions: list[Motion], prep: Prepared, options: Options, frame: int, scene,
                        report: Report, start: float) -> Applied:
    """Key the continuation into the rig's current action from `frame` on (a new action when it has
    none): the kept lead-in is dropped, the rest is placed where the rig is."""
    if len(motions) != 1 or options.loop or options.in_place or options.use_nla:
        raise RoparAddonError("'Continue from current frame' takes one candidate, without Loop, In Place "
                              "or NLA strip")
    fps = scene_fps(scene)
    lead = max(1, int(round(LEAD_S * fps)))
    motion = motions[0]
    joints = resample(motion.joints.astype(np.float64), motion.fps, fps)[lead:]
    if joints.shape[0] < 2:
        raise RoparAddonError("the continuation is too short; ask for more seconds")
    current = scene.frame_current
    try:
        _, placement = rig.sample_motion(prep.obj, prep.bone_map, range(frame - lead, frame + 1))
    finally:
        scene.frame_set(current)
    result = retarget_onto(prep, joints, fps=fps, foot_lock=options.foot_lock, placement=placement)
    ad = prep.obj.animation_data
    if ad is not None and ad.action is not None:
        action = keyframes.append_to_action(prep.obj, result, frame_start=frame, scene=scene,
                                            fit_timeline=options.fit_timeline)
        if JOINTS_KEY in action:  # its stored joints no longer describe the whole action
            del action[JOINTS_KEY]
    else:
        end = scene.frame_end
        [action] = keyframes.write_actions(prep.obj, [(result, candidate_name(motion.prompt, None, 1), None)],
                                           frame_start=frame, fit_timeline=False, scene=scene)
        scene.frame_end = max(end, frame + joints.shape[0] - 1) if options.fit_timeline else end
    applied = Applied(action.name, joints.shape[0], frame, prep.bone_map.preset, fps,
                      time.perf_counter() - start, [action.name], motion.warning)
    report("INFO", f"{action.name!r}: continued from frame {frame} with {applied.frames} frames of "
                   f"{motion.prompt!r} ({prep.bone_map.describe()})")
    if motion.warning:
        report("WARNING", motion.warning)
    return applied


def apply_motion(motion: Motion, *, armature: str, report: Report = print_report, scene=None,
                 **options) -> Applied:
    """One motion (see apply_motions); keyword options are `Options` fields."""
    return apply_motions([motion], armature=armature, options=Options(**options), report=report, scene=scene)


def candidate_requests(request: GenerationRequest, candidates: int) -> list[GenerationRequest]:
    """The request once per candidate, seeds request.seed, request.seed + 1, ..."""
    return [dataclasses.replace(request, seed=request.seed + k) for k in range(max(1, int(candidates)))]


def generate(*, armature: str, prompt: str, backend, seconds: float = 4.0, seed: int = 0,
             cfg: float | None = None, steps: int | None = None, keep_parts: tuple[str, ...] = (),
             candidates: int = 1, report: Report = print_report, progress=None, cancel=None,
             **options) -> Applied:
    """Generate and apply in one blocking call (scripts, EXEC_DEFAULT, `blender -b`). Every candidate is
    generated before anything is keyed, so a failure leaves the scene untouched."""
    opts = Options(**options)
    prep = prepare(armature, opts.preset, dict(opts.rows), opts.controls)
    at = (bpy.context.scene.frame_start if opts.frame_start is None else opts.frame_start) \
        if opts.continue_from else None
    request = build_request(prep, prompt=prompt, seconds=seconds, seed=seed, cfg=cfg, steps=steps,
                            keep_parts=keep_parts, continue_at=at, path=opts.path)
    motions = [backend.generate(r, progress, cancel) for r in candidate_requests(request, candidates)]
    return apply_motions(motions, armature=armature, options=opts, report=report)
