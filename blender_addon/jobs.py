"""Generation for the UI, in the background or the foreground.

Background: the backend runs in a worker thread; `bpy.app.timers` polls it and applies the result on
the main thread, so Blender never freezes, shows progress and can Cancel (a request already at the
server finishes there, its answer is ignored). Foreground: a request the backend's measured pace
predicts to be short (`runs_in_foreground`) is waited for on the main thread, blocking the UI briefly
like most Blender operators: while the UI waits it draws nothing, and on a small machine Blender's
redraws are what would compete with the model for the CPU. A foreground job that runs far longer than
predicted becomes a background job. One job at a time. Nothing here keeps a `context`: the
apply callback gets names, not Blender objects. Under `blender -b` timers never fire, so the operator
and the batch script call `pipeline.generate` directly instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import bpy

from . import backend as backends
from .errors import CancelledError, RoparAddonError
from .props import model_choice

POLL_S = 0.1
# The longest a request may be predicted to take and still run in the foreground: a brief wait with
# the UI blocked, as for most Blender operators. Anything longer (or of unknown length) gets progress
# and Cancel.
FOREGROUND_S = 1.5
# How long the UI waits for a foreground job before it becomes a background job after all (a server
# restarting, or busy with another client): a wrong prediction must not freeze Blender.
HAND_OVER_S = 2 * FOREGROUND_S


Requests = backends.GenerationRequest | list[backends.GenerationRequest]
Apply = Callable[[list[backends.Motion]], tuple[str, str]]  # motions -> (status message, report level)
Report = Callable[[str, str], None]  # (level, message)


# Seconds a backend took per second of motion on its last job: the progress bar's estimate while a
# backend (an HTTP request) cannot report its own progress, and what decides the foreground.
_pace: dict[str, float] = {}


def predicted_s(requests: Requests, backend) -> float | None:
    """How long these requests should take on this backend, from its pace on the last job (None:
    no job has finished on it yet, e.g. a server that has not answered once)."""
    requests = requests if isinstance(requests, list) else [requests]
    pace = _pace.get(getattr(backend, "name", ""))
    return None if pace is None else pace * sum(r.seconds for r in requests)


def runs_in_foreground(requests: Requests, backend) -> bool:
    """Whether a click should run these requests on the main thread: only when the backend's pace is
    known and predicts at most FOREGROUND_S. The first request (a server starting, a model loading),
    many candidates and long clips stay in the background, with progress and Cancel."""
    predicted = predicted_s(requests, backend)
    return predicted is not None and predicted <= FOREGROUND_S


class Job:
    """Generates every request (candidates: one per seed) in turn, then hands all motions to `apply`,
    which returns (status message, report level: 'INFO' or 'WARNING')."""

    def __init__(self, requests: Requests, backend, apply: Apply, foreground: bool = False):
        self.requests = requests if isinstance(requests, list) else [requests]
        self.foreground = foreground
        self.backend, self.apply = backend, apply
        self.cancel = threading.Event()
        self.started = time.monotonic()
        self.progress, self.message = 0.0, "starting"
        self.state = "running"  # running | done | failed | cancelled
        self.motions: list[backends.Motion] = []
        self.error: str | None = None
        self.finished = threading.Event()
        self.finished_at: float | None = None
        self.applied_at: float | None = None  # when the keys were in (or the failure shown)
        self.thread = threading.Thread(target=self._run, name="ropar-generate", daemon=True)

    def _report(self, fraction: float, message: str) -> None:  # worker thread: plain attributes only
        n, done = len(self.requests), len(self.motions)
        self.progress = (done + fraction) / n
        self.message = message if n == 1 else f"candidate {done + 1}/{n}: {message}"

    @property
    def expected_s(self) -> float | None:
        """How long the whole job should take, from the backend's pace on earlier jobs (None: unknown)."""
        return predicted_s(self.requests, self.backend)

    def estimate(self) -> tuple[float, str]:
        """(progress in [0, 1], what to show): the backend's own steps, or the time estimate."""
        expected = self.expected_s
        if expected is None or self.progress > 0:
            return self.progress, self.message
        left = max(0.0, expected - self.elapsed)
        return min(0.95, self.elapsed / max(expected, 1e-6)), f"generating, about {left:.1f} s left"

    def _run(self) -> None:
        try:
            for request in self.requests:
                self.motions.append(self.backend.generate(request, self._report, self.cancel))
            seconds = sum(r.seconds for r in self.requests)
            if seconds > 0:
                _pace[getattr(self.backend, "name", "")] = self._busy_s() / seconds
        except CancelledError:
            self.error = "cancelled"
        except RoparAddonError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug must reach the status line, not die silently in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished_at = time.monotonic()
            self.finished.set()

    def _busy_s(self) -> float:
        """The backend's own time for this job when it reports it (a server's `elapsed_s`), else the
        wall-clock time: the worker's wall-clock time also holds the wait for a busy main thread."""
        own = [m.info.get("elapsed_s") for m in self.motions]
        if own and all(isinstance(t, (int, float)) and t > 0 for t in own):
            return float(sum(own))
        return self.elapsed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


_job: Job | None = None
_last_status = ("idle", "", 0.0)
_backend_cache: dict = {"key": None, "backend": None}
_backend_override = None


def is_running() -> bool:
    return _job is not None and _job.state == "running"


def status() -> tuple[str, str, float]:
    """(state, message, progress in [0, 1]) for the panel. States: idle, running, done, warning (done,
    with the model's note), failed, cancelled."""
    if _job is not None and _job.state == "running":
        progress, message = _job.estimate()
        return "running", f"{message} ({_job.elapsed:.1f} s)", progress
    return _last_status


def set_status(state: str, message: str) -> None:
    """Show a result that did not come from a job (e.g. a rig error when Generate is pressed)."""
    global _last_status
    _last_status = (state, message, 0.0)
    _redraw()


def start(requests: Requests, backend, apply: Apply) -> Job:
    """Run the job in the background: a worker thread, polled by a timer (progress, Cancel)."""
    global _job
    if is_running():
        raise RoparAddonError("a generation is already running; cancel it first")
    _job = Job(requests, backend, apply)
    _job.thread.start()
    if not bpy.app.timers.is_registered(_poll):
        bpy.app.timers.register(_poll, first_interval=POLL_S)
    return _job


def run_now(requests: Requests, backend, apply: Apply, report_to: Report | None = None) -> Job:
    """Run the job in the foreground (see `runs_in_foreground`): the main thread waits for the worker,
    drawing nothing, and applies the motions before returning. Its warning or error goes to
    `report_to(level, message)` (the calling operator's own report), else to `report`. A job still
    running after HAND_OVER_S carries on in the background (its state stays 'running')."""
    global _job
    if is_running():
        raise RoparAddonError("a generation is already running; cancel it first")
    _job = Job(requests, backend, apply, foreground=True)
    _job.thread.start()
    if _job.finished.wait(HAND_OVER_S):
        _finish(_job, report_to or report)
    else:
        _job.foreground = False
        if not bpy.app.timers.is_registered(_poll):
            bpy.app.timers.register(_poll, first_interval=POLL_S)
    return _job


def in_foreground() -> bool:
    """Whether the job being applied runs in the foreground, inside the operator (whose undo step
    then holds its keys)."""
    return _job is not None and _job.foreground


def cancel() -> bool:
    global _last_status
    if not is_running():
        return False
    _job.cancel.set()
    _job.state = "cancelled"
    _last_status = ("cancelled", "generation cancelled", 0.0)
    _redraw()
    return True


def _poll():
    """Timer callback (main thread): apply a finished job; keep polling while one runs."""
    job = _job
    if job is None or job.state != "running":
        _redraw()
        return None
    if not job.finished.is_set():
        _redraw()
        return POLL_S
    _finish(job, report)
    return None


def _finish(job: Job, report_to: Report) -> None:
    """Apply a finished job's motions (main thread) and show its outcome."""
    global _last_status
    if job.error is not None:
        job.state = "failed" if job.error != "cancelled" else "cancelled"
        _last_status = (job.state, job.error, 0.0)
    else:
        try:
            message, level = job.apply(job.motions)
            job.state = "done"
            _last_status = ("warning" if level == "WARNING" else "done", message, 1.0)
        except RoparAddonError as exc:
            job.state = "failed"
            _last_status = ("failed", str(exc), 0.0)
    job.applied_at = time.monotonic()
    state, message, _ = _last_status
    if state in ("warning", "failed"):
        report_to("WARNING" if state == "warning" else "ERROR", message)
    _redraw()


def report(level: str, message: str) -> None:
    """A report in the status bar and the Info editor, from a timer (no operator is running): through
    the `ropar.report` operator in the first window; printed when there is none."""
    wm = getattr(bpy.context, "window_manager", None)
    windows = list(getattr(wm, "windows", ()))
    if not windows or not hasattr(bpy.types, "ROPAR_OT_report"):
        print(f"RoPAR {level.lower()}: {message}")
        return
    window = windows[0]
    area = next((a for a in window.screen.areas if a.type == "VIEW_3D"), window.screen.areas[0])
    try:
        with bpy.context.temp_override(window=window, area=area):
            bpy.ops.ropar.report("INVOKE_DEFAULT", level=level, message=message)
    except RuntimeError as exc:  # no usable window after all: the terminal still gets it
        print(f"RoPAR {level.lower()}: {message} ({exc})")


def _redraw() -> None:
    # Only the sidebar: redrawing the whole viewport ten times a second competes with the model for
    # the CPU.
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


def set_backend_override(backend) -> None:
    """Tests and scripts: use this backend object instead of the one the preferences describe."""
    global _backend_override
    _backend_override = backend


def get_backend(prefs):
    """The backend the preferences describe, reused while they stay the same (a started server keeps
    running between generations)."""
    if _backend_override is not None:
        return _backend_override
    key = (prefs.backend, prefs.url, bpy.path.abspath(prefs.python), model_choice(prefs), prefs.device)
    if _backend_cache["key"] != key:
        close_backend()
        _backend_cache["backend"] = backends.make_backend(
            prefs.backend, url=prefs.url, python=key[2], model_dir=key[3], device=prefs.device)
        _backend_cache["key"] = key
    return _backend_cache["backend"]


def close_backend() -> None:
    old = _backend_cache["backend"]
    _backend_cache.update(key=None, backend=None)
    if old is not None:
        old.close()
        # Its pace no longer holds: the next backend of that kind starts cold (a server to start).
        _pace.pop(getattr(old, "name", ""), None)


def shutdown() -> None:
    """Unregister: stop polling, drop the job, stop a server process the add-on started."""
    global _job, _last_status
    if _job is not None:
        _job.cancel.set()
    _job, _last_status = None, ("idle", "", 0.0)
    if bpy.app.timers.is_registered(_poll):
        bpy.app.timers.unregister(_poll)
    close_backend()
