"""Write a retargeted motion as one new Action, in bulk and atomically.

Bulk: per F-curve `keyframe_points.add(n)`, then `foreach_set("co", [f0, v0, f1, v1, ...])` and
`foreach_set("interpolation", ...)` (LINEAR: one key per frame already holds the motion), then
`fcurve.update()`. Blender >= 4.4 keeps F-curves in a channelbag per action slot
(`bpy_extras.anim_utils.action_ensure_channelbag_for_slot`; 5.0 removed `Action.fcurves`); older
versions use `action.fcurves.new(data_path, index=, action_group=)`.

Atomic: everything is built first; on any exception the new Actions (and NLA track) are removed and
the armature gets back its previous action, slot and animation data, the scene its frame range and the
previous action its fake-user flag, so a failed generation leaves the scene as it was.

The action a new one replaces gets a fake user, so saving the file right away never drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from .retarget import RetargetResult
from .rotations import continuous_eulers, matrix_to_euler, quat_to_matrix

LAYERED_ACTIONS = bpy.app.version >= (4, 4, 0)
MAX_NAME_BYTES = 63  # Blender ID names
LINEAR = 1  # KeyframePoint.interpolation enum value of 'LINEAR' (CONSTANT=0, LINEAR=1, BEZIER=2)
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


@dataclass
class Channel:
    """One animated property of one bone: data path, values (T, C) and the group (bone) name."""

    data_path: str
    values: np.ndarray
    group: str


def action_name(prompt: str, prefix: str = "RoPAR ", limit_bytes: int = MAX_NAME_BYTES) -> str:
    """'RoPAR a person walks ...' cut to Blender's 63-byte ID limit without splitting a character."""
    name = prefix + " ".join(prompt.split())
    while len(name.encode("utf-8")) > limit_bytes:
        name = name[:-1]
    return name.rstrip()


def channels_for(obj, result: RetargetResult) -> list[Channel]:
    """Rotation channels in each pose bone's own rotation mode (quaternion, axis-angle or Euler with
    continuity), plus location for the bones that carry the root."""
    out = [Channel(f'pose.bones["{_escape(name)}"].location', loc, name)
           for name, loc in result.located.items() if name not in result.bone_names]  # the root bone
    for k, name in enumerate(result.bone_names):
        pb = obj.pose.bones[name]
        q = result.quaternions[:, k]  # (T, 4) wxyz
        path = f'pose.bones["{_escape(name)}"]'
        if name in result.located:
            out.append(Channel(path + ".location", result.located[name], name))
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            out.append(Channel(path + ".rotation_quaternion", q, name))
        elif mode == "AXIS_ANGLE":
            angle = 2 * np.arccos(np.clip(q[:, :1], -1, 1))
            axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=1, keepdims=True), 1e-12)
            axis[np.linalg.norm(q[:, 1:], axis=1) < 1e-12] = (0.0, 1.0, 0.0)
            out.append(Channel(path + ".rotation_axis_angle", np.concatenate([angle, axis], 1), name))
        elif mode in EULER_ORDERS:
            euler = continuous_eulers(matrix_to_euler(quat_to_matrix(q), mode), axis=0)
            out.append(Channel(path + ".rotation_euler", euler, name))
        else:
            raise ValueError(f"bone {name!r} has an unknown rotation mode {mode!r}")
    out += [Channel(path, values, group) for path, (values, group) in result.properties.items()]
    return out


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


class _FCurveTarget:
    """Creates F-curves on an action for `obj`, hiding the pre/post-4.4 API difference."""

    def __init__(self, action, obj):
        self.action = action
        self.groups: dict[str, object] = {}
        if LAYERED_ACTIONS:
            from bpy_extras import anim_utils

            self.slot = action.slots.new(id_type="OBJECT", name=obj.name)
            self.bag = anim_utils.action_ensure_channelbag_for_slot(action, self.slot)
        else:
            self.slot, self.bag = None, None

    def new(self, data_path: str, index: int, group: str):
        if not LAYERED_ACTIONS:
            return self.action.fcurves.new(data_path, index=index, action_group=group)
        fc = self.bag.fcurves.new(data_path, index=index)
        grp = self.groups.get(group)
        if grp is None:
            grp = self.groups[group] = self.bag.groups.new(group)
        fc.group = grp
        return fc


def fill_action(action, obj, channels: list[Channel], frame_start: int):
    """Key every channel on consecutive frames from `frame_start`; returns the action's slot (or None)."""
    target = _FCurveTarget(action, obj)
    for ch in channels:
        n = ch.values.shape[0]
        co = np.empty((n, 2), dtype=np.float32)
        co[:, 0] = frame_start + np.arange(n)
        interp = np.full(n, LINEAR, dtype=np.int32)
        for i in range(ch.values.shape[1]):
            fc = target.new(ch.data_path, i, ch.group)
            fc.keyframe_points.add(n)
            co[:, 1] = ch.values[:, i]
            fc.keyframe_points.foreach_set("co", co.ravel())
            fc.keyframe_points.foreach_set("interpolation", interp)
            fc.update()
    return target.slot


@dataclass
class _Saved:
    had_animation_data: bool
    action: object
    slot_handle: int | None
    frame_range: tuple[int, int]
    fake_user: bool


def _save(obj, scene) -> _Saved:
    ad = obj.animation_data
    slot = getattr(ad, "action_slot", None) if ad is not None else None
    action = ad.action if ad else None
    return _Saved(ad is not None, action, slot.handle if slot else None, (scene.frame_start, scene.frame_end),
                  bool(action.use_fake_user) if action is not None else False)


def _restore(obj, scene, saved: _Saved, actions: list, tracks: list) -> None:
    ad = obj.animation_data
    if ad is not None:
        for track in reversed(tracks):
            ad.nla_tracks.remove(track)
        ad.action = saved.action
        if LAYERED_ACTIONS and saved.action is not None and saved.slot_handle is not None:
            for slot in saved.action.slots:
                if slot.handle == saved.slot_handle:
                    ad.action_slot = slot
        if not saved.had_animation_data:
            obj.animation_data_clear()
    if saved.action is not None:
        saved.action.use_fake_user = saved.fake_user
    for action in actions:
        if action.name in bpy.data.actions:
            bpy.data.actions.remove(action)
    scene.frame_start, scene.frame_end = saved.frame_range


def write_action(obj, result: RetargetResult, *, name: str, **options):
    """One new Action (see write_actions)."""
    return write_actions(obj, [(result, name, options.pop("metadata", None))], **options)[0]


def write_actions(obj, items: list[tuple[RetargetResult, str, dict | None]], *, frame_start: int = 1,
                  use_nla: bool = False, fit_timeline: bool = True, scene=None) -> list:
    """Create and fill one Action per (result, name, metadata) and assign the first to `obj`; returns them.
    See the module doc for atomicity.

    The others (candidates to flip through) get a fake user and a slot for `obj`. use_nla: the first goes
    onto a new NLA track (strip at `frame_start`) on top; the active action is pushed down onto its own
    track first (unless a strip already holds it), so no active action hides the strips: both play.
    fit_timeline: the scene's frame range becomes the clip's. metadata: custom properties stored on
    the action (prompt, seed, generated joints, ...)."""
    scene = scene or bpy.context.scene
    saved = _save(obj, scene)
    actions, tracks = [], []
    try:
        slots = []
        for result, name, metadata in items:
            channels = channels_for(obj, result)
            action = bpy.data.actions.new(name)
            actions.append(action)
            slots.append(fill_action(action, obj, channels, frame_start))
            for key, value in (metadata or {}).items():
                action[key] = value
        for action in actions[1:]:
            action.use_fake_user = True
        first, slot = actions[0], slots[0]
        ad = obj.animation_data or obj.animation_data_create()
        if use_nla:
            if saved.action is not None and not _in_strip(ad, saved.action):
                tracks.append(_push_down(ad, saved.action))
            ad.action = None  # an active action would override the strips below it
            track = ad.nla_tracks.new()
            tracks.append(track)
            track.name = first.name
            strip = track.strips.new(first.name, int(frame_start), first)
            if LAYERED_ACTIONS and slot is not None:
                strip.action_slot = slot
            first.use_fake_user = True  # kept in the file even while no object uses it directly
        else:
            if saved.action is not None:
                saved.action.use_fake_user = True  # the replaced action survives a save
            ad.action = first
            if LAYERED_ACTIONS:
                ad.action_slot = slot
        if fit_timeline:
            frames = max(r.quaternions.shape[0] for r, _, _ in items)
            scene.frame_start, scene.frame_end = int(frame_start), int(frame_start) + frames - 1
        return actions
    except BaseException:
        _restore(obj, scene, saved, actions, tracks)
        raise


def _in_strip(ad, action) -> bool:
    return any(strip.action == action for track in ad.nla_tracks for strip in track.strips)


def _push_down(ad, action):
    """Put `action` (the active one) on its own NLA track at its own frame range, as Blender's Push Down
    does, keeping its slot; returns the track."""
    slot = getattr(ad, "action_slot", None)
    track = ad.nla_tracks.new()
    track.name = action.name
    strip = track.strips.new(action.name, int(round(action.frame_range[0])), action)
    if LAYERED_ACTIONS and slot is not None:
        strip.action_slot = slot
    action.use_fake_user = True
    return track


def _channelbag(action, obj):
    """The F-curve container of `obj`'s slot in `action` (Blender >= 4.4), created when missing."""
    from bpy_extras import anim_utils

    ad = obj.animation_data
    slot = ad.action_slot or action.slots.new(id_type="OBJECT", name=obj.name)
    ad.action_slot = slot
    return anim_utils.action_ensure_channelbag_for_slot(action, slot)


def append_to_action(obj, result: RetargetResult, *, frame_start: int, fit_timeline: bool = True,
                     scene=None):
    """Key `result` into the armature's current action from `frame_start` on (continuing it): keys
    before `frame_start` stay as they are (handles and interpolation included), keys at or after it are
    replaced. Atomic: on any error the action gets back its previous keys. Returns the action."""
    scene = scene or bpy.context.scene
    action = obj.animation_data.action
    channels = channels_for(obj, result)  # everything that can fail on the data, before any change
    backup = action.copy()
    try:
        bag = _channelbag(action, obj) if LAYERED_ACTIONS else None
        curves = bag.fcurves if bag is not None else action.fcurves
        for ch in channels:
            for i in range(ch.values.shape[1]):
                fc = curves.find(ch.data_path, index=i)
                if fc is None:
                    fc = (bag.fcurves.new(ch.data_path, index=i) if bag is not None
                          else action.fcurves.new(ch.data_path, index=i, action_group=ch.group))
                _replace_tail(fc, frame_start, ch.values[:, i])
        end = frame_start + result.quaternions.shape[0] - 1
        if fit_timeline:
            scene.frame_end = max(scene.frame_end, end)
    except BaseException:
        name = action.name
        obj.animation_data.action = backup
        if LAYERED_ACTIONS and len(backup.slots):
            obj.animation_data.action_slot = backup.slots[0]
        bpy.data.actions.remove(action)
        backup.name = name
        raise
    bpy.data.actions.remove(backup)
    return action


def _replace_tail(fc, frame_start: int, values: np.ndarray) -> None:
    """Keys of `fc` from `frame_start` on become `values` (one per frame, LINEAR)."""
    points = fc.keyframe_points
    frames = np.empty(len(points) * 2, dtype=np.float32)
    points.foreach_get("co", frames)
    kept = int(np.count_nonzero(frames[0::2] < frame_start - 0.5))  # keys are sorted: a prefix stays
    for _ in range(len(points) - kept):
        points.remove(points[len(points) - 1], fast=True)  # from the end: no other key moves
    n = len(values)
    points.add(n)
    co = np.empty((kept + n) * 2, dtype=np.float32)
    points.foreach_get("co", co)
    co = co.reshape(-1, 2)
    co[kept:, 0] = frame_start + np.arange(n)
    co[kept:, 1] = values
    points.foreach_set("co", co.ravel())
    interp = np.empty(kept + n, dtype=np.int32)
    points.foreach_get("interpolation", interp)
    interp[kept:] = LINEAR
    points.foreach_set("interpolation", interp)
    handles = np.empty((kept + n) * 2, dtype=np.float32)  # new keys' handles sit on the key (LINEAR)
    for side in ("handle_left", "handle_right"):
        points.foreach_get(side, handles)
        h = handles.reshape(-1, 2)
        h[kept:] = co[kept:]
        points.foreach_set(side, h.ravel())
    fc.update()
