"""The panel's "Learn from Video" section: a video file and a caption, a button that runs video -> clip ->
fine-tuned model in the add-on's server process (learn.py), its progress and Cancel, and the switch to the
new model when it is done (the preference's Model Directory; the server restarts on it).

From the panel the work runs in a thread polled by a timer, so Blender never freezes; from a script or
under `blender -b` (timers never fire there) `bpy.ops.ropar.learn_video()` runs it to the end first.
"""

from __future__ import annotations

import threading

import bpy
from bpy.props import IntProperty, PointerProperty, StringProperty

from . import jobs, learn, props
from .errors import RoparAddonError

POLL_S = 0.25
# Blender 4.5+ warns about "//" (next to the .blend) paths unless a property says it takes them
BLEND_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()

_task: learn.LearnTask | None = None
_last = ("idle", "")  # (state, message) of the last task, for the panel


class LearnSettings(bpy.types.PropertyGroup):
    video: StringProperty(name="Video", subtype="FILE_PATH", default="", options=BLEND_RELATIVE,
                          description="A video of one person doing the motion (anything OpenCV reads: "
                                      ".mp4 .mov .avi .webm)")
    caption: StringProperty(name="Caption", default="",
                            description="What the person does, as you will prompt it, e.g. 'someone does "
                                        "jumping jacks'")
    steps: IntProperty(name="Steps", default=300, min=1, max=100_000, soft_max=2000,
                       description="Fine-tuning steps (not the sampling steps above): 300 take about "
                                   "10 minutes on a laptop CPU")


def is_running() -> bool:
    """A task runs, or has ended and waits for the timer to apply it."""
    return _task is not None


def status() -> tuple[str, str, float]:
    """(state, message, progress) for the panel."""
    if is_running():
        return "running", f"{_task.message} ({_task.elapsed:.0f} s)", _task.progress
    return (*_last, 0.0)


def start(context, backend, video: str, caption: str, steps: int, replay_seeds: int | None = None,
          batch_size: int | None = None) -> learn.LearnTask:
    global _task
    if is_running():
        raise RoparAddonError("a video is already being learned; cancel it first")
    out = learn.model_folder(caption)
    _task = learn.LearnTask(backend, bpy.path.abspath(video), caption, out, steps, replay_seeds, batch_size)
    return _task


def finish(context, task: learn.LearnTask) -> tuple[str, str]:
    """Main thread: switch the add-on to the learned model -> (state, message)."""
    global _last, _task
    if task is _task:
        _task = None
    if task.state == "done":
        prefs = props.preferences(context)
        learn.switch_model(task.backend, task.model)
        prefs.model_dir = str(task.model)  # kept in the preferences (and their file beside the presets)
        backend = jobs.get_backend(prefs)  # the server process for the new model, started now so that
        threading.Thread(target=learn.warm_up, args=(backend,), daemon=True).start()  # it is ready sooner
        _last = ("done", f"learned '{task.caption}': now using the model in {task.model}")
    else:
        _last = (task.state, task.message)
    return _last


def _poll():
    """Timer (main thread): wait for the task (and for a generation using the old model) to end."""
    task = _task
    jobs._redraw()
    if task is None:
        return None
    if not task.finished.is_set() or (task.state == "done" and jobs.is_running()):
        return POLL_S
    state, message = finish(bpy.context, task)
    if state in ("done", "failed"):
        jobs.report("INFO" if state == "done" else "ERROR", message)
    jobs._redraw()
    return None


class ROPAR_OT_learn_video(bpy.types.Operator):
    """Turn the video into a 3D clip and teach it, with its caption, to the model (in the server process);
    the add-on then uses the new model"""

    bl_idname = "ropar.learn_video"
    bl_label = "Learn from Video"

    replay_seeds: IntProperty(name="Replay Seeds", default=-1, min=-1, max=20, options={"HIDDEN"},
                              description="Replay motions per action the model knows (-1: the default)")
    batch_size: IntProperty(name="Batch Size", default=0, min=0, max=512, options={"HIDDEN"},
                            description="Training batch size (0: the default)")

    @classmethod
    def poll(cls, context):
        return not is_running()

    def execute(self, context):
        s = context.scene.ropar_learn
        try:
            task = start(context, jobs.get_backend(props.preferences(context)), s.video, s.caption, s.steps,
                         None if self.replay_seeds < 0 else self.replay_seeds, self.batch_size or None)
        except RoparAddonError as exc:
            global _last
            _last = ("failed", str(exc))
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if bpy.app.background or not self.options.is_invoke:
            task.run()  # a script or `blender -b`: no timers, so finish here
            state, message = finish(context, task)
            self.report({"INFO" if state == "done" else "ERROR"}, message)
            return {"FINISHED"} if state == "done" else {"CANCELLED"}
        task.thread.start()
        if not bpy.app.timers.is_registered(_poll):
            bpy.app.timers.register(_poll, first_interval=POLL_S)
        return {"FINISHED"}


class ROPAR_OT_learn_cancel(bpy.types.Operator):
    """Stop learning from the video; nothing is written"""

    bl_idname = "ropar.learn_cancel"
    bl_label = "Cancel Learning"

    @classmethod
    def poll(cls, context):
        return is_running()

    def execute(self, context):
        _task.cancel()
        return {"FINISHED"}


class ROPAR_PT_learn(bpy.types.Panel):
    """Learn a new motion from a video of one person."""

    bl_label = "Learn from Video"
    bl_idname = "ROPAR_PT_learn"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RoPAR"
    bl_parent_id = "ROPAR_PT_panel"

    def draw(self, context):
        from .panel import STATUS_ICONS, draw_message

        s, layout = context.scene.ropar_learn, self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(s, "video")
        layout.prop(s, "caption")
        layout.prop(s, "steps")
        state, message, progress = status()
        row = layout.row()
        row.scale_y = 1.3
        if state == "running":
            row.operator("ropar.learn_cancel", icon="CANCEL")
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=progress, type="BAR", text=f"{progress:.0%}")
            draw_message(layout, message if hasattr(layout, "progress") else f"{progress:.0%} {message}",
                         "SORTTIME", context)
        else:
            row.operator("ropar.learn_video", icon="FILE_MOVIE")
            if message:
                draw_message(layout, message, STATUS_ICONS.get(state, "INFO"), context)
        prefs = props.preferences(context)
        model = prefs.model_dir.rstrip("/\\")
        layout.label(text=f"Model: {bpy.path.basename(model) if model else 'shipped ' + prefs.model}",
                     icon="OUTLINER_DATA_ARMATURE")


CLASSES = (LearnSettings, ROPAR_OT_learn_video, ROPAR_OT_learn_cancel, ROPAR_PT_learn)


def register_settings() -> None:
    bpy.types.Scene.ropar_learn = PointerProperty(type=LearnSettings)


def unregister_settings() -> None:
    """Stop polling; a running task is cancelled (the server removes its folder)."""
    global _task, _last
    if _task is not None:
        _task.cancel()
    _task, _last = None, ("idle", "")
    if bpy.app.timers.is_registered(_poll):
        bpy.app.timers.unregister(_poll)
    del bpy.types.Scene.ropar_learn
