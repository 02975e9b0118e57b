"""Thin operators over `pipeline` (STYLE-EXAMPLES 11): gather settings, call plain functions.

`ropar.generate`: from the panel (INVOKE) it starts a background job and returns at once; from a
script (`bpy.ops.ropar.generate(prompt=..., armature=...)`, EXEC_DEFAULT) and under `blender -b` it
runs synchronously. Properties left unset take the panel's values (`scene.ropar`).
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import jobs, pipeline, presets
from .errors import RoparAddonError
from .props import PRESET_ITEMS, preferences
from .smpl22 import PART_NAMES


class ROPAR_OT_generate(bpy.types.Operator):
    """Generate a motion from the prompt and key it onto the armature as a new Action"""

    bl_idname = "ropar.generate"
    bl_label = "Generate Motion"
    bl_options = {"REGISTER", "UNDO"}

    prompt: StringProperty(name="Prompt", description="What the motion should show")
    seconds: FloatProperty(name="Seconds", default=4.0, min=0.2, max=120.0, soft_min=1.0, soft_max=12.0,
                           description="Length of the motion")
    seed: IntProperty(name="Seed", default=0, min=0, soft_max=9999, description="Random seed")
    cfg: FloatProperty(name="Guidance", default=-1.0, min=-1.0, max=20.0, soft_min=-1.0, soft_max=8.0,
                       description="Classifier-free guidance scale (negative: the model's default)")
    steps: IntProperty(name="Steps", default=0, min=0, max=100, soft_max=32,
                       description="Unmasking steps (0: the model's default)")
    armature: StringProperty(name="Armature", description="Name of the armature object to animate")
    preset: EnumProperty(name="Rig Preset", items=PRESET_ITEMS, default=presets.AUTO,
                         description="Which bone sits at which joint; AUTO detects it from the bone names")
    foot_lock: BoolProperty(name="Foot Lock", default=True, description="Hold planted feet still")

    @classmethod
    def poll(cls, context):
        return not jobs.is_running()

    def _settings(self, context) -> dict:
        """Operator properties the caller set, else the panel's values."""
        s = context.scene.ropar

        def pick(name, fallback):
            return getattr(self, name) if self.properties.is_property_set(name) else fallback

        custom = s.override_sampling
        cfg = pick("cfg", s.cfg if custom else -1.0)
        steps = pick("steps", s.steps if custom else 0)
        start = context.scene.frame_current if s.start_at_current else context.scene.frame_start
        return dict(
            prompt=pick("prompt", s.prompt), seconds=pick("seconds", s.seconds), seed=pick("seed", s.seed),
            cfg=None if cfg < 0 else cfg, steps=None if steps <= 0 else steps,
            armature=pick("armature", s.armature.name if s.armature else ""),
            preset=pick("preset", s.preset), foot_lock=pick("foot_lock", s.foot_lock),
            keep_parts=tuple(p for p in PART_NAMES if p in s.keep_parts),
            frame_start=start, use_nla=s.use_nla,
        )

    def _report(self, level: str, message: str) -> None:
        self.report({level}, message)

    def execute(self, context):
        settings = self._settings(context)
        try:
            backend = jobs.get_backend(preferences(context))
            pipeline.generate(backend=backend, report=self._report, **settings)
        except RoparAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        st = self._settings(context)
        try:
            prep = pipeline.prepare(st["armature"], st["preset"])  # bad rig: fail now, not after generating
            request = pipeline.build_request(
                prep, prompt=st["prompt"], seconds=st["seconds"], seed=st["seed"], cfg=st["cfg"],
                steps=st["steps"], keep_parts=st["keep_parts"])
            backend = jobs.get_backend(preferences(context))
            jobs.start(request, backend, _applier(st))
        except RoparAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"RoPAR: generating {st['prompt']!r}")
        return {"FINISHED"}


def _applier(st: dict):
    """The main-thread half of a background job; it holds names and values, never a context."""
    options = dict(armature=st["armature"], preset=st["preset"], foot_lock=st["foot_lock"],
                   frame_start=st["frame_start"], use_nla=st["use_nla"])

    def apply(motion) -> str:
        applied = pipeline.apply_motion(motion, report=lambda level, msg: None, **options)
        try:
            bpy.ops.ed.undo_push(message=f"RoPAR: {applied.action}")
        except RuntimeError:  # no window (e.g. a script without UI): nothing to push onto
            pass
        return f"{applied.action}: {applied.frames} frames ({applied.preset})"

    return apply


class ROPAR_OT_cancel(bpy.types.Operator):
    """Cancel the running generation (its result is discarded)"""

    bl_idname = "ropar.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return jobs.is_running()

    def execute(self, context):
        jobs.cancel()
        return {"FINISHED"}


CLASSES = (ROPAR_OT_generate, ROPAR_OT_cancel)
