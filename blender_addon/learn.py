"""Learn from video, the add-on's side (no bpy): a video and a caption go to the `ropar serve` process the
add-on started (POST /learn, ropar_core/learn.py), which turns them into a clip and a fine-tuned model;
this polls its progress, cancels it on request, and names the folder the model is written to: next to the
user's rig presets (presets.user_presets_dir), in `models/`, named after the caption.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from . import presets
from .backend import ServerProcessBackend
from .errors import BackendError, CancelledError

POLL_S = 0.5
MAX_NAME = 60  # characters of the caption kept in the folder's name


def models_dir() -> Path:
    """Where learned models live: beside the user presets, so reinstalling the add-on keeps them."""
    return presets.user_presets_dir().parent / "models"


def model_folder(caption: str, root: Path | None = None) -> Path:
    """A new folder for the caption's model: its words in lower case joined by '-', numbered when taken."""
    root = models_dir() if root is None else Path(root)
    name = "-".join(re.findall(r"[a-z0-9]+", caption.lower()))[:MAX_NAME].strip("-") or "video-model"
    path, n = root / name, 2
    while path.exists():
        path, n = root / f"{name}-{n}", n + 1
    return path


class LearnTask:
    """One learn job on the server process, driven from a worker thread (or run() directly under
    `blender -b`). Attributes are plain values the panel reads: state (running | done | failed |
    cancelled), progress in [0, 1], message, error, model (the new model's folder once done)."""

    def __init__(self, backend, video: str, caption: str, out: Path, steps: int | None = None,
                 replay_seeds: int | None = None, batch_size: int | None = None):
        if not isinstance(backend, ServerProcessBackend):
            raise BackendError("Learn from video runs in the server process the add-on starts: choose "
                               "'Start server process' as the backend in the add-on preferences")
        caption = " ".join(caption.split())
        if not caption:
            raise BackendError("describe what the person in the video does (the caption), e.g. "
                               "'someone does jumping jacks'")
        if not video or not Path(video).is_file():
            raise BackendError(f"choose a video file (got {video or 'none'!r})")
        self.backend, self.caption, self.out = backend, caption, Path(out)
        self.body = {"video": str(Path(video).resolve()), "caption": caption, "out": str(self.out)}
        for key, value in (("steps", steps), ("replay_seeds", replay_seeds), ("batch_size", batch_size)):
            if value is not None:
                self.body[key] = int(value)
        self.state, self.progress, self.message = "running", 0.0, "starting the RoPAR server"
        self.error: str | None = None
        self.model: Path | None = None
        self.cancel_event = threading.Event()
        self.finished = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, name="ropar-learn", daemon=True)

    def cancel(self) -> None:
        self.cancel_event.set()
        self.message = "cancelling"

    def run(self) -> None:
        try:
            self._learn()
        except CancelledError:
            self.state, self.message = "cancelled", "learning cancelled; no model was written"
        except BackendError as exc:
            self.state, self.error, self.message = "failed", str(exc), str(exc)
        except Exception as exc:  # a bug must reach the panel, not die silently in a thread
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            self.message = self.error
        finally:
            self.finished.set()

    def _learn(self) -> None:
        client = self.backend.start(lambda f, m: None, self.cancel_event)
        if self.cancel_event.is_set():
            raise CancelledError("cancelled")
        job = client.call("POST", "/learn", self.body)["job"]
        while True:
            if self.cancel_event.is_set():  # the server stops the job and removes its folder first
                client.call("POST", "/learn/cancel", {"job": job}, timeout=60.0)
                raise CancelledError("cancelled")
            status = client.call("GET", f"/learn/{job}")
            self.progress = float(status.get("progress") or 0.0)
            self.message = str(status.get("message") or "")
            if status.get("state") == "done":
                self.model = Path(status["model"])
                self.state, self.progress = "done", 1.0
                return
            if status.get("state") == "failed":
                raise BackendError(str(status.get("error") or "the learn job failed"))
            if status.get("state") == "cancelled":
                raise CancelledError("cancelled")
            self.cancel_event.wait(POLL_S)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def switch_model(backend, model: Path) -> None:
    """Make the server process use the learned model: stopped now, it starts again on the new model
    (warm_up, or the next generation)."""
    if isinstance(backend, ServerProcessBackend):
        backend.close()
        backend.model_dir = str(model)


def warm_up(backend) -> None:
    """Start the server process (in a worker thread) so that the next generation finds the model loaded;
    a failure is left for that generation to report."""
    if isinstance(backend, ServerProcessBackend):
        try:
            backend.start()
        except BackendError:
            pass
