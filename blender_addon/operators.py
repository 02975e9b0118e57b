"""Thin operators over `pipeline` (STYLE-EXAMPLES 11): gather settings, call plain functions.

`ropar.generate`: from the panel (INVOKE) a request the backend's pace predicts to be short runs at
once, in the foreground; any other starts a background job and returns at once (`jobs`). From a
script (`bpy.ops.ropar.generate(prompt=..., armature=...)`, EXEC_DEFAULT) and under `blender -b` it
runs synchronously. Properties left unset take the panel's values (`scene.ropar`).
"""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from . import jobs, mapping, pipeline
from .errors import RoparAddonError
from .props import GenerationProperties, preferences
from .smpl22 import PART_NAMES


class ROPAR_OT_generate(GenerationProperties, bpy.types.Operator):
    """Generate a motion from the prompt and key it onto the armature as a new Action"""

    bl_idname = "ropar.generate"
    bl_label = "Generate Motion"
    bl_options = {"REGISTER", "UNDO"}

    armature: StringProperty(name="Armature", description="Name of the armature object to animate")

    @classmethod
    def poll(cls, context):
        return not jobs.is_running()

    def _settings(self, context) -> dict:
        """Operator properties the caller set, else the panel's values (`scene.ropar`)."""
        s = context.scene.ropar

        def pick(name, fallback=None):
            return getattr(self, name) if self.properties.is_property_set(name) else (
                getattr(s, name) if fallback is None else fallback)

        # Setting cfg or steps on the operator implies custom sampling.
        props = self.properties
        custom = pick("override_sampling") or any(props.is_property_set(n) for n in ("cfg", "steps"))
        start = context.scene.frame_current if s.continue_current else None
        armature = pick("armature", target_armature(context))
        # The panel's rows drive its rig, unless the caller chose a preset for this call.
        rows = {} if props.is_property_set("preset") else mapping.rows_for(s, armature)
        return dict(
            prompt=pick("prompt"), seconds=pick("seconds"), seed=pick("seed"),
            cfg=pick("cfg") if custom else None, steps=pick("steps") if custom else None,
            armature=armature,
            keep_parts=tuple(p for p in PART_NAMES if p in s.keep_parts), candidates=pick("candidates"),
            options=dict(preset=pick("preset"), foot_lock=pick("foot_lock"), in_place=pick("in_place"),
                         root_motion=pick("root_motion"), loop=pick("loop"), frame_start=start,
                         use_nla=s.use_nla, rows=tuple(sorted(rows.items())),
                         continue_from=s.continue_current, path=pick("path"), controls=pick("controls")),
        )

    def _report(self, level: str, message: str) -> None:
        self.report({level}, message)

    def execute(self, context):
        st = self._settings(context)
        try:
            backend = jobs.get_backend(preferences(context))
            applied = pipeline.generate(backend=backend, report=self._report, **_flat(st))
            jobs.set_status("warning" if applied.warning else "done",
                            f"{applied.action}: {applied.frames} frames ({applied.preset})"
                            + (f". {applied.warning}" if applied.warning else ""))
        except RoparAddonError as exc:
            jobs.set_status("failed", str(exc))
            self.report({"ERROR"}, str(exc) if bpy.app.background else short(str(exc)))
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        st = self._settings(context)
        try:
            options = st["options"]
            prep = pipeline.prepare(  # a rig that cannot be driven fails now, before any generation
                st["armature"], options["preset"], dict(options["rows"]))
            request = pipeline.build_request(
                prep, prompt=st["prompt"], seconds=st["seconds"], seed=st["seed"], cfg=st["cfg"],
                steps=st["steps"], keep_parts=st["keep_parts"], path=options["path"],
                continue_at=options["frame_start"] if options["continue_from"] else None)
            backend = jobs.get_backend(preferences(context))
            requests = pipeline.candidate_requests(request, st["candidates"])
            if jobs.runs_in_foreground(requests, backend):
                return self._run_now(context, requests, backend, st)
            jobs.start(requests, backend, _applier(st))
        except RoparAddonError as exc:
            jobs.set_status("failed", str(exc))  # in full, wrapped, in the panel
            self.report({"ERROR"}, short(str(exc)))
            return {"CANCELLED"}
        # No report here: the panel's status line says it is generating, and a report's banner in the
        # status bar animates (redraws) while the model needs the CPU.
        return {"FINISHED"}

    def _run_now(self, context, requests, backend, st) -> set[str]:
        """A short request, generated and keyed before returning (the operator's UNDO step holds it),
        or handed over to a background job when it takes far longer than predicted."""
        window = context.window
        if window is not None:
            window.cursor_modal_set("WAIT")
        try:
            job = jobs.run_now(requests, backend, _applier(st), report_to=self._report_short)
        finally:
            if window is not None:
                window.cursor_modal_restore()
        return {"CANCELLED"} if job.state in ("failed", "cancelled") else {"FINISHED"}

    def _report_short(self, level: str, message: str) -> None:
        self.report({level}, short(message) if level == "ERROR" else message)


REPORT_CHARS = 100  # a longer report runs off the screen in Blender's popup


def short(message: str) -> str:
    """The message, or its first clause with a pointer to the panel where it is shown in full."""
    if len(message) <= REPORT_CHARS:
        return message
    cut = message[:REPORT_CHARS]
    for mark in ("; ", ": ", ", "):
        if mark in cut:
            cut = cut[:cut.rindex(mark)]
            break
    return f"{cut}... (in full in the RoPAR panel)"


def _push_undo(message: str) -> None:
    """One undo step for a generation applied by a background job."""
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:  # no window (e.g. a script without UI): nothing to push onto
        pass


def target_armature(context) -> str:
    """The panel's Rig, else the active object when it is an armature (or a mesh it deforms)."""
    s = context.scene.ropar
    if s.armature is not None:
        return s.armature.name
    obj = getattr(context, "active_object", None)
    if obj is not None and obj.type != "ARMATURE" and hasattr(obj, "find_armature"):
        obj = obj.find_armature()
    return obj.name if obj is not None and obj.type == "ARMATURE" else ""


def _flat(st: dict) -> dict:
    out = {k: v for k, v in st.items() if k != "options"}
    out.update(st["options"])
    return out


def _applier(st: dict):
    """The main-thread half of a job; it holds names and values, never a context."""
    armature = st["armature"]
    options = pipeline.Options(**st["options"])

    def apply(motions) -> str:
        applied = pipeline.apply_motions(motions, armature=armature, options=options,
                                         report=lambda level, msg: None)
        if not jobs.in_foreground():  # a background job ends outside any operator: its own undo step
            _push_undo(f"RoPAR: {applied.action}")
        more = f" +{len(applied.actions) - 1} candidates" if len(applied.actions) > 1 else ""
        done = f"{applied.action}{more}: {applied.frames} frames ({applied.preset})"
        if applied.warning:
            return f"{done}. {applied.warning}", "WARNING"
        return done, "INFO"

    return apply


class ROPAR_OT_report(bpy.types.Operator):
    """Show a message in the status bar and the Info editor (used when a background job ends)"""

    bl_idname = "ropar.report"
    bl_label = "RoPAR Report"
    bl_options = {"INTERNAL"}

    level: StringProperty(name="Level", default="INFO")
    message: StringProperty(name="Message", default="")

    def execute(self, context):
        self.report({self._level()}, self.message)
        return {"FINISHED"}

    # Reports of an operator called from Python (a timer) reach only the terminal; those of a running
    # modal operator reach the Info editor and the status bar, so invoking it reports from modal().
    def invoke(self, context, event):
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        context.window_manager.event_timer_remove(self._timer)
        self.report({self._level()}, self.message)
        return {"FINISHED"}

    def _level(self) -> str:
        return self.level if self.level in ("INFO", "WARNING", "ERROR") else "INFO"


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


CLASSES = (ROPAR_OT_generate, ROPAR_OT_cancel, ROPAR_OT_report)
