"""Where motions come from: the `ropar serve` HTTP API, a server process the add-on starts, the Generator
imported in-process, or the procedural `fake` motion. No bpy here: a backend runs in a worker thread.

Every backend has `generate(request, progress=None, cancel=None) -> Motion` and `close()`.
`progress(fraction, message)` reports; `cancel` is a threading.Event checked between steps (an HTTP
call in flight cannot be interrupted: its answer is dropped instead).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BackendError, CancelledError
from .smpl22 import NUM_JOINTS, PART_NAMES

Progress = Callable[[float, str], None]
DEFAULT_URL = "http://127.0.0.1:8765"
HTTP_TIMEOUT_S = 600.0  # a long motion on CPU can take minutes
STARTUP_TIMEOUT_S = 180.0  # loading torch + the model in a fresh process


@dataclass
class GenerationRequest:
    """One generation, as the panel, the operator and the batch script describe it."""

    prompt: str  # what the motion should show
    seconds: float = 4.0  # length of the motion
    seed: int = 0  # same prompt + seed -> same motion
    cfg: float | None = None  # classifier-free guidance; None: the model's default
    steps: int | None = None  # unmasking steps; None: the model's default
    keep_parts: tuple[str, ...] = ()  # editing: parts copied from `edit_joints` (skeleton.PART_NAMES)
    edit_joints: np.ndarray | None = None  # editing: the current motion (T, 22, 3), metres, Y up
    edit_fps: float = 20.0
    path: list | None = None  # a floor path [[x, z], ...] in the motion's metres (path_curve.model_path)
    keep_frames: tuple[int, int] | None = None  # continuing: 20-fps frames [first, end) of edit_joints kept

    def __post_init__(self):
        self.prompt = " ".join(str(self.prompt).split())
        if not self.prompt:
            raise BackendError('empty prompt: describe the motion, e.g. "a person walks forward"')
        if not (np.isfinite(self.seconds) and 0 < self.seconds <= 120):
            raise BackendError(f"seconds must be in (0, 120], got {self.seconds}")
        bad = [p for p in self.keep_parts if p not in PART_NAMES]
        if bad:
            raise BackendError(f"unknown body part(s) {bad}; choose from {', '.join(PART_NAMES)}")
        if (self.keep_parts or self.keep_frames) and self.edit_joints is None:
            raise BackendError("keeping parts or frames needs a current motion to edit")

    def to_json(self) -> dict:
        body = {"prompt": self.prompt, "seconds": float(self.seconds), "seed": int(self.seed)}
        if self.cfg is not None:
            body["cfg"] = float(self.cfg)
        if self.steps is not None:
            body["steps"] = int(self.steps)
        if self.edit_joints is not None:
            body["motion"] = {"joints": np.round(self.edit_joints.astype(np.float64), 5).tolist(),
                              "fps": float(self.edit_fps)}
            if self.keep_parts:  # the server rejects an empty list: "keep nothing" is not an edit
                body["keep_parts"] = list(self.keep_parts)
            if self.keep_frames:
                body["keep_frames"] = [int(v) for v in self.keep_frames]
        if self.path is not None:
            body["path"] = [list(map(float, p)) for p in self.path]
        return body


@dataclass
class Motion:
    """A generated motion (HTTP API / Generator output)."""

    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up, SMPL-22 order
    fps: float
    prompt: str = ""
    seed: int | None = None
    rotations: np.ndarray | None = None  # (T, 22, 4) wxyz local w.r.t. the SMPL-22 rest pose
    root: np.ndarray | None = None  # (T, 3)
    info: dict = field(default_factory=dict)
    warning: str = ""  # the model's one-line "unlike anything it was trained on" note, if any

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float32)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (NUM_JOINTS, 3) or len(self.joints) < 2:
            raise BackendError(f"the backend returned joints of shape {self.joints.shape}, "
                               "expected (frames >= 2, 22, 3)")
        if not np.all(np.isfinite(self.joints)):
            raise BackendError("the backend returned NaN or inf joints")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise BackendError(f"the backend returned a bad frame rate {self.fps!r}")

    @classmethod
    def from_json(cls, obj: dict) -> Motion:
        try:
            return cls(joints=np.asarray(obj["joints"], dtype=np.float32), fps=float(obj.get("fps", 20)),
                       prompt=str(obj.get("prompt", "")), seed=obj.get("seed"),
                       rotations=_optional_array(obj.get("rotations")), root=_optional_array(obj.get("root")))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"the server's motion is malformed: {exc}") from exc


def _optional_array(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float32)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("generation cancelled")


# ---------------------------------------------------------------------------------------------------
class FakeBackend:
    """Procedural SMPL-22 motion (fake_motion.py): no model, deterministic, for tests and demos."""

    name = "fake"

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s  # lets tests exercise progress and cancel

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> Motion:
        from .fake_motion import fake_motion

        steps = 5
        for i in range(steps):
            _check_cancel(cancel)
            if progress:
                progress(i / steps, f"fake step {i + 1}/{steps}")
            if self.delay_s:
                time.sleep(self.delay_s / steps)
        joints, rotations, root, fps = fake_motion(request.prompt, request.seconds, request.seed)
        if request.edit_joints is not None and request.keep_parts:
            joints = _paste_parts(joints, request.edit_joints, request.keep_parts)
        if request.edit_joints is not None and request.keep_frames:
            joints = _paste_frames(joints, request.edit_joints, request.edit_fps, request.keep_frames)
        _check_cancel(cancel)
        return Motion(joints, fps, request.prompt, request.seed, rotations, joints[:, 0].copy())

    def close(self) -> None:
        pass


def _paste_parts(joints: np.ndarray, source: np.ndarray, parts: tuple[str, ...]) -> np.ndarray:
    """Fake editing: the kept parts' joints come from the source (root-relative), like the real edit."""
    from .smpl22 import PART_OWN_JOINTS

    out = joints.copy()
    n = min(len(out), len(source))
    for part in parts:
        idx = list(PART_OWN_JOINTS[part])
        out[:n, idx] = source[:n, idx] - source[:n, :1] + out[:n, :1]
    return out


def _paste_frames(joints: np.ndarray, source: np.ndarray, fps: float, keep: tuple[int, int]) -> np.ndarray:
    """Fake continuing: the kept 20-fps frames come from the source (as the real edit returns them),
    and the procedural motion carries on from the last kept pelvis position."""
    t = np.arange(keep[1]) * fps / 20.0  # 20-fps frame times in source frames
    i0 = np.clip(np.floor(t).astype(int), 0, len(source) - 1)
    i1 = np.clip(i0 + 1, 0, len(source) - 1)
    w = (t - np.floor(t))[:, None, None]
    kept = (1 - w) * source[i0] + w * source[i1]
    out = joints.copy()
    n = min(len(out), keep[1])
    shift = kept[n - 1, 0] - out[n - 1, 0]
    shift[1] = 0.0
    out = out + shift
    out[keep[0]:n] = kept[keep[0]:n]
    return out.astype(np.float32)


class HttpBackend:
    """Client of `ropar serve` (docs/architecture.md, HTTP API); urllib only."""

    name = "server"

    def __init__(self, url: str = DEFAULT_URL, timeout_s: float = HTTP_TIMEOUT_S, token: str | None = None):
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"server URL must start with http:// or https://, got {url!r}")
        self.url, self.timeout_s = url, timeout_s
        self.headers = {"Content-Type": "application/json"}
        if token:  # a server started with a token (ROPAR_SERVE_TOKEN) answers only requests carrying it
            self.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout_s) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise BackendError(f"server error {exc.code}: {_error_message(exc)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"cannot reach the RoPAR server at {self.url} ({reason}); start it with "
                               "`ropar serve` or choose 'Start server process' in the add-on "
                               "preferences") from None
        except ValueError as exc:
            raise BackendError(f"the server at {self.url} did not answer JSON ({exc})") from None

    def call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        """Any endpoint of the API (learn.py's /learn jobs): its JSON answer, or a BackendError."""
        return self._call(method, path, body, timeout)

    def health(self, timeout: float = 5.0) -> dict:
        return self._call("GET", "/health", timeout=timeout)

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> Motion:
        _check_cancel(cancel)
        if progress:
            progress(0.0, f"waiting for {self.url}")
        path = "/edit" if request.edit_joints is not None else "/generate"
        answer = self._call("POST", path, request.to_json())
        _check_cancel(cancel)
        motions = answer.get("motions") if isinstance(answer, dict) else None
        if not motions or not isinstance(motions[0], dict):
            raise BackendError(f"the server's answer to {path} holds no motion")
        motion = Motion.from_json(motions[0])
        motion.info["elapsed_s"] = answer.get("elapsed_s")
        warnings = answer.get("warnings")
        if isinstance(warnings, list):
            motion.warning = "; ".join(w for w in warnings if isinstance(w, str))
        return motion

    def close(self) -> None:
        pass


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read().decode("utf-8"))["error"]["message"]
    except (ValueError, KeyError, TypeError, OSError):
        return str(exc.reason)


class ServerProcessBackend:
    """Starts `python -m ropar_core.cli serve` with the configured interpreter (one that has torch and
    ropar installed), waits for /health, then talks HTTP to it. The process lives until close()."""

    name = "server process"

    def __init__(self, python: str, model_dir: str = "", device: str = "auto",
                 startup_timeout_s: float = STARTUP_TIMEOUT_S):
        self.python, self.model_dir, self.device = python, model_dir, device
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None
        self.client: HttpBackend | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"ropar-serve-{os.getpid()}.log"
        self._lock = threading.Lock()

    def command(self, port: int) -> list[str]:
        # --parent-pid: if this process (Blender) dies without close(), the server stops by itself
        cmd = [self.python, "-m", "ropar_core.cli", "serve", "--port", str(port),
               "--parent-pid", str(os.getpid())]
        if self.model_dir:
            cmd += ["--model", self.model_dir]
        if self.device and self.device != "auto":
            cmd += ["--device", self.device]
        return cmd

    def start(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> HttpBackend:
        with self._lock:
            if self.process is not None and self.process.poll() is None and self.client is not None:
                return self.client
            python = find_python(self.python)
            if not python:
                raise BackendError("no Python with ropar found (the add-on was not built from a ropar "
                                   "environment and no `ropar` command is on PATH); set Python in the "
                                   "add-on preferences")
            if not Path(python).is_file():
                raise BackendError(f"Python interpreter {python!r} not found; set one with torch and "
                                   "ropar installed in the add-on preferences")
            self.python = python
            if self.model_dir and self.model_dir not in SHIPPED_MODELS and not Path(self.model_dir).is_dir():
                raise BackendError(f"model directory {self.model_dir!r} does not exist")
            port = free_port()
            token = secrets.token_urlsafe(32)  # per start, in the environment: no other local program
            env = {**os.environ, "ROPAR_SERVE_TOKEN": token}  # can use the server we started
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(self.command(port), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=env)
            client = HttpBackend(f"http://127.0.0.1:{port}", token=token)
            deadline = time.monotonic() + self.startup_timeout_s
            while True:
                if cancel is not None and cancel.is_set():
                    self.close()
                    raise CancelledError("generation cancelled while the server was starting")
                code = self.process.poll()
                if code is not None:
                    raise BackendError(f"`ropar serve` exited with code {code}: {self._log_tail()}")
                try:
                    client.health(timeout=2.0)
                    break
                except BackendError:
                    if time.monotonic() > deadline:
                        self.close()
                        raise BackendError(f"`ropar serve` did not answer within "
                                           f"{self.startup_timeout_s:.0f} s (log: {self.log_path})") from None
                    if progress:
                        progress(0.0, "starting the RoPAR server")
                    time.sleep(0.25)
            self.client = client
            return client

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no output"

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> Motion:
        return self.start(progress, cancel).generate(request, progress, cancel)

    def close(self) -> None:
        proc, self.process, self.client = self.process, None, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc is not None:
            self.log_path.unlink(missing_ok=True)  # start-up failures were already reported from it


class InProcessBackend:
    """`from ropar_core import Generator` inside Blender's own Python (needs torch installed there)."""

    name = "in-process"

    def __init__(self, model_dir: str = "", device: str = "auto"):
        self.model_dir, self.device = model_dir or None, device or "auto"
        self.generator = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self.generator is None:
                try:
                    from ropar_core import Generator
                except ImportError as exc:
                    raise BackendError(f"ropar_core is not importable in this Python ({exc}); install ropar "
                                       "(with torch) here or use the server backend") from None
                try:
                    self.generator = Generator.from_pretrained(self.model_dir, device=self.device)
                except Exception as exc:  # RoparError / ModelError from the core: show their message
                    raise BackendError(f"could not load the model: {exc}") from None
            return self.generator

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> Motion:
        _check_cancel(cancel)
        if progress:
            progress(0.0, "loading the model" if self.generator is None else "generating")
        gen = self._load()
        _check_cancel(cancel)
        kwargs = dict(seconds=request.seconds, seed=request.seed, cfg=request.cfg, steps=request.steps)
        try:
            if request.edit_joints is not None:
                keep = list(request.keep_parts) or None
                out = gen.edit(request.prompt, request.edit_joints, keep_parts=keep,
                               keep_frames=request.keep_frames, fps=request.edit_fps, **kwargs)
            else:
                [out] = gen.generate([request.prompt], path=request.path, **kwargs)
        except Exception as exc:  # the core raises RoparError subclasses with one-line messages
            raise BackendError(str(exc)) from None
        _check_cancel(cancel)
        return Motion(out.joints, float(out.fps), out.prompt, out.seed, out.rotations, out.root,
                      warning=getattr(out, "warning", None) or "")

    def close(self) -> None:
        self.generator = None


ENVIRONMENT_FILE = Path(__file__).resolve().parent / "_environment.json"  # written by build.py


def find_python(configured: str = "") -> str:
    """The interpreter that runs `ropar serve`: the one set in the preferences, else the one the zip was
    built with (when it still exists), else the one behind a `ropar` command on PATH; "" if none."""
    if configured:
        return configured
    try:
        built = json.loads(ENVIRONMENT_FILE.read_text(encoding="utf-8")).get("python", "")
    except (OSError, ValueError, AttributeError):
        built = ""
    if built and Path(built).is_file():
        return built
    script = shutil.which("ropar")
    if script:
        try:
            with open(script, "rb") as f:
                first = f.readline().decode("utf-8", "replace").strip()
        except OSError:
            first = ""
        if first.startswith("#!") and Path(first[2:].split()[0]).is_file():
            return first[2:].split()[0]  # a pip-installed console script names its interpreter
    return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BACKENDS = ("IN_PROCESS", "SERVER_PROCESS", "URL", "FAKE")
# The models that ship with ropar (`ropar --model NAME`), for the preferences; a model directory
# overrides them.
SHIPPED_MODELS = {
    "default": ("Default (non-commercial)",
                "The most actions, trained with Bandai Namco's motion data: CC BY-NC 4.0, non-commercial "
                "use only"),
    "open": ("Open (commercial use)",
             "Trained only on CMU, DeepMimic and ReActIdle motion, free for commercial use with credit "
             "to CMU's motion capture database; fewer actions"),
}


def make_backend(kind: str, *, url: str = DEFAULT_URL, python: str = "", model_dir: str = "",
                 device: str = "auto"):
    """Backend by preference name (AddonPreferences.backend / batch --server/--python/--backend)."""
    if kind == "URL":
        return HttpBackend(url)
    if kind == "SERVER_PROCESS":
        return ServerProcessBackend(python, model_dir, device)
    if kind == "IN_PROCESS":
        return InProcessBackend(model_dir, device)
    if kind == "FAKE":
        return FakeBackend()
    raise BackendError(f"unknown backend {kind!r}; choose from {', '.join(BACKENDS)}")
