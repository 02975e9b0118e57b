"""The plain functions behind the operator, the timers and the batch script (keyword-only arguments and an
injected `report(level, message)`, like io_anim_bvh's `load`):

    prepare(...)        main thread: armature + rest pose + bone map (fails fast, before any generation)
    build_request(...)  main thread: the request, with the current motion when parts are kept
    backend.generate    any thread: no bpy
    apply_motion(...)   main thread: resample to the scene's fps, retarget, write one Action
    generate(...)       all of it synchronously: scripts, EXEC_DEFAULT, `blender -b`
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import bpy
import numpy as np

from . import keyframes, presets, retarget, rig
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


@dataclass
class Applied:
    action: str
    frames: int
    frame_start: int
    preset: str
    fps: float
    seconds_retarget: float  # retarget + keyframes, for the status line and the benchmark


def prepare(armature: str, preset: str = presets.AUTO) -> Prepared:
    obj = rig.armature_object(armature)
    rest = rig.read_rest(obj)
    return Prepared(obj, rest, rig.bone_map(obj, rest, preset))


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
                  scene=None) -> GenerationRequest:
    edit, fps = None, 20.0
    if keep_parts:
        edit, fps = current_motion(prep, scene or bpy.context.scene)
    return GenerationRequest(prompt=prompt, seconds=seconds, seed=seed, cfg=cfg, steps=steps,
                             keep_parts=tuple(keep_parts), edit_joints=edit, edit_fps=fps)


def apply_motion(motion: Motion, *, armature: str, preset: str = presets.AUTO, foot_lock: bool = False,
                 frame_start: int | None = None, use_nla: bool = False, fit_timeline: bool = True,
                 report: Report = print_report, scene=None) -> Applied:
    """Retarget `motion` onto the armature and key it as a new Action (atomic, see keyframes)."""
    scene = scene or bpy.context.scene
    start = time.perf_counter()
    prep = prepare(armature, preset)
    fps = scene_fps(scene)
    joints = resample(motion.joints.astype(np.float64), motion.fps, fps)
    result = retarget.retarget(joints, prep.rest, prep.bone_map.joints, fps=fps, foot_lock=foot_lock)
    first = scene.frame_start if frame_start is None else int(frame_start)
    metadata = {
        "ropar_prompt": motion.prompt, "ropar_seed": -1 if motion.seed is None else int(motion.seed),
        "ropar_fps": float(motion.fps), "ropar_preset": prep.bone_map.preset, "ropar_frame_start": first,
        JOINTS_KEY: motion.joints.astype(np.float64).ravel().tolist(),
    }
    action = keyframes.write_action(prep.obj, result, name=keyframes.action_name(motion.prompt or "motion"),
                                    frame_start=first, use_nla=use_nla, fit_timeline=fit_timeline,
                                    metadata=metadata, scene=scene)
    elapsed = time.perf_counter() - start
    applied = Applied(action.name, joints.shape[0], first, prep.bone_map.preset, fps, elapsed)
    report("INFO", f"{action.name!r}: {applied.frames} frames on {prep.obj.name!r} "
                   f"({prep.bone_map.describe()})")
    return applied


def generate(*, armature: str, prompt: str, backend, seconds: float = 4.0, seed: int = 0,
             cfg: float | None = None, steps: int | None = None, preset: str = presets.AUTO,
             keep_parts: tuple[str, ...] = (), foot_lock: bool = False, frame_start: int | None = None,
             use_nla: bool = False, fit_timeline: bool = True, report: Report = print_report,
             progress=None, cancel=None) -> Applied:
    """Generate and apply in one blocking call (scripts, EXEC_DEFAULT, `blender -b`)."""
    prep = prepare(armature, preset)
    request = build_request(prep, prompt=prompt, seconds=seconds, seed=seed, cfg=cfg, steps=steps,
                            keep_parts=keep_parts)
    motion = backend.generate(request, progress, cancel)
    return apply_motion(motion, armature=armature, preset=preset, foot_lock=foot_lock,
                        frame_start=frame_start, use_nla=use_nla, fit_timeline=fit_timeline, report=report)
