"""Learn from video, as a server job (`POST /learn`, docs/server.md): a video and a caption -> a clip
(`ropar video`) -> a fine-tuned model (`ropar finetune`) -> a complete model directory at `out`.

The server runs both steps as child processes of its own, one after the other: a child can be stopped at
once (cancel), it never holds the server's interpreter lock (/health and generation keep answering), and
its memory is returned when it ends. Everything is written inside a private folder next to `out`, which
is renamed to `out` only once the model is complete and removed on cancel or failure, so `out` appears
whole or not at all. The fine-tune step is found through the "ropar.commands" entry-point group
(ropar_core/cli.py), as `ropar finetune` is: ropar_core never imports training.

`python -m ropar_core.learn --parent-pid PID --work DIR -- COMMAND ...` is the child's entry: `ropar
COMMAND ...`, ended (and DIR removed) when the server process PID is gone, however it ended.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http import HTTPStatus
from pathlib import Path

from ropar_core.http_api import HttpError, bad_request, check_fields

LEARN_FIELDS = {"video", "caption", "out", "steps", "replay_seeds", "batch_size"}
MAX_CAPTION = 500  # `ropar video --caption`'s own limit
# tqdm bars of the children (their `desc`) -> the share of the whole job they cover
STAGES = {"pose": (0.0, 0.2), "generating": (0.2, 0.4), "RoPAR": (0.4, 0.98)}
TQDM = re.compile(r"^\s*(?P<desc>[^:|]*?):\s*\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)")
JOB_STATES = ("running", "done", "failed", "cancelled")
CANCEL_WAIT_S = 15.0  # how long POST /learn/cancel waits for the job's folder to be gone
KEEP_FINISHED = 20  # finished jobs whose status stays readable


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{key!r} (a non-empty string) is required")
    return value.strip()


def _count(body: dict, key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{key!r} must be a whole number in {low}..{high}")
    return value


def parse_learn(body) -> dict:
    """The body of POST /learn -> checked arguments (paths absolute: the server's working folder is not
    the client's)."""
    body = check_fields(body, LEARN_FIELDS)
    video, out, caption = Path(_text(body, "video")), Path(_text(body, "out")), _text(body, "caption")
    if not video.is_absolute() or not out.is_absolute():
        raise bad_request("'video' and 'out' must be absolute paths")
    if not video.is_file():
        raise bad_request(f"video {video} is not a file")
    if out.exists():
        raise bad_request(f"'out' {out} already exists; choose a new folder")
    if len(caption) > MAX_CAPTION or any(ord(c) < 32 for c in caption):
        raise bad_request(f"'caption' must be one line of at most {MAX_CAPTION} characters")
    return {"video": video, "out": out, "caption": " ".join(caption.split()),
            "steps": _count(body, "steps", 1, 100_000), "replay_seeds": _count(body, "replay_seeds", 0, 20),
            "batch_size": _count(body, "batch_size", 1, 512)}  # None: `ropar finetune`'s defaults


def finetune_installed() -> bool:
    from ropar_core.cli import plugin_commands

    return "finetune" in plugin_commands()


class LearnJob:
    """One video -> clip -> model run in a thread that drives the two child processes."""

    def __init__(self, job_id: str, args: dict, python: str, base_model: str | None):
        self.id, self.args, self.python, self.base_model = job_id, args, python, base_model
        self.state, self.stage, self.progress, self.message = "running", "video", 0.0, "starting"
        self.error: str | None = None
        self.started = time.monotonic()
        self._cancel = threading.Event()
        self._lock = threading.Lock()  # the child process and the final rename
        self._child: subprocess.Popen | None = None
        self.finished = threading.Event()
        self.work: Path | None = None
        self.thread = threading.Thread(target=self._run, name=f"ropar-learn-{job_id}", daemon=True)

    def as_json(self) -> dict:
        return {"job": self.id, "state": self.state, "stage": self.stage, "progress": round(self.progress, 4),
                "message": self.message, "error": self.error,
                "model": str(self.args["out"]) if self.state == "done" else None,
                "elapsed_s": round(time.monotonic() - self.started, 1)}

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self._child is not None and self._child.poll() is None:
                self._child.terminate()

    def _run(self) -> None:
        a = self.args
        try:
            a["out"].parent.mkdir(parents=True, exist_ok=True)
            self.work = Path(tempfile.mkdtemp(prefix=".learn-", dir=a["out"].parent))
            clip = self.work / "clip.npz"
            self._step("video", ["video", str(a["video"]), "--out", str(clip), f"--caption={a['caption']}"])
            cmd = ["finetune", str(clip), "--out", str(self.work / "model")]
            if self.base_model:
                cmd += ["--model", self.base_model]
            if a["steps"] is not None:
                cmd += ["--steps", str(a["steps"])]
            for flag in ("replay_seeds", "batch_size"):
                if a[flag] is not None:
                    cmd += ["--" + flag.replace("_", "-"), str(a[flag])]
            self._step("finetune", cmd)
            with self._lock:
                if self._cancel.is_set():
                    raise InterruptedError
                os.replace(self.work / "model", a["out"])  # appears complete or not at all
            self.state, self.progress, self.message = "done", 1.0, f"model written to {a['out']}"
        except InterruptedError:
            self.state, self.message = "cancelled", "cancelled; nothing was written"
        except Exception as exc:  # a failed step, a full disk: reported by the job, never raised
            self.state, self.error = "failed", str(exc) if isinstance(exc, StepFailed) else \
                f"{type(exc).__name__}: {exc}"
            self.message = self.error
        finally:
            if self.work is not None:
                shutil.rmtree(self.work, ignore_errors=True)
            self.finished.set()

    def _step(self, stage: str, argv: list[str]) -> None:
        """Run `ropar ARGV` as a child; its progress bars become the job's progress."""
        self.stage = stage
        with self._lock:
            if self._cancel.is_set():
                raise InterruptedError
            cmd = [self.python, "-m", "ropar_core.learn", "--parent-pid", str(os.getpid()),
                   "--work", str(self.work), "--", *argv]
            env = {**os.environ, "TQDM_MININTERVAL": "0.5"}  # progress twice a second
            self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=env)
        tail: collections.deque[str] = collections.deque(maxlen=20)
        pending = b""
        while chunk := self._child.stdout.read1(4096):
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            for line in lines:
                self._line(line.decode("utf-8", "replace").strip(), tail)
        code = self._child.wait()
        if self._cancel.is_set():
            raise InterruptedError
        if code != 0:
            errors = [ln for ln in tail if ": error: " in ln] or list(tail)[-1:] or [f"exit code {code}"]
            raise StepFailed(f"{'video -> clip' if stage == 'video' else 'fine-tune'} failed: "
                             f"{errors[-1].split(': error: ', 1)[-1]}")

    def _line(self, line: str, tail) -> None:
        if not line:
            return
        m = TQDM.match(line)
        if m is None:
            tail.append(line)
            if line.startswith("credible frames:"):  # `ropar video`'s summary: what was seen
                self.message = line
            return
        low, high = STAGES.get(m["desc"].strip(), (self.progress, self.progress))
        total = max(int(m["total"]), 1)
        self.progress = max(self.progress, low + (high - low) * min(int(m["n"]), total) / total)
        what = {"pose": "posing video frames", "generating": "replay motions", "RoPAR": "training"}
        self.message = f"{what.get(m['desc'].strip(), m['desc'].strip())} {m['n']}/{m['total']}"


class StepFailed(RuntimeError):
    """A child step ended with an error (its one-line message)."""


class Learning:
    """The server's learn jobs: one runs at a time; finished ones stay readable by id."""

    def __init__(self, base_model: str | None = None, python: str | None = None, allowed: bool = True):
        self.base_model, self.python = base_model, python or sys.executable
        self.allowed = allowed  # False on a server open to other machines (--allow-remote)
        self.jobs: dict[str, LearnJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, body) -> dict:
        if not self.allowed:  # it reads and writes files where the client says: this machine's user only
            raise HttpError(HTTPStatus.FORBIDDEN, "forbidden",
                            "learning from video is only offered by a loopback server (no --allow-remote)")
        args = parse_learn(body)
        if not finetune_installed():
            raise HttpError(HTTPStatus.NOT_IMPLEMENTED, "not_implemented",
                            "learning from video needs `ropar finetune` (the training package, entry point "
                            "'ropar.commands'), which is not installed in the server's Python")
        with self._lock:
            if any(j.state == "running" for j in self.jobs.values()):
                raise HttpError(HTTPStatus.CONFLICT, "busy",
                                "a learn job is already running; cancel it first")
            job = LearnJob(f"{next(self._ids)}-{os.urandom(4).hex()}", args, self.python, self.base_model)
            for old in list(self.jobs)[:-KEEP_FINISHED]:
                del self.jobs[old]  # all finished: only one runs at a time
            self.jobs[job.id] = job
        job.thread.start()
        return job.as_json()

    def _job(self, job_id) -> LearnJob:
        job = self.jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "bad_request", f"no learn job {str(job_id)[:40]!r}")
        return job

    def status(self, job_id: str) -> dict:
        return self._job(job_id).as_json()

    def cancel(self, body) -> dict:
        if not isinstance(body, dict) or set(body) != {"job"}:
            raise bad_request("the body must be {\"job\": \"<id from POST /learn>\"}")
        job = self._job(body["job"])
        job.cancel()
        job.finished.wait(CANCEL_WAIT_S)  # answer once its folder is gone
        return job.as_json()

    def post(self, path: str, body) -> dict:
        return self.start(body) if path == "/learn" else self.cancel(body)

    def stop(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel()
        for job in list(self.jobs.values()):
            job.finished.wait(CANCEL_WAIT_S)


def _child_main(argv: list[str]) -> int:
    """A learn job's child: `ropar COMMAND ...`, ended with its work folder removed once the server is
    gone (a server stopped with SIGTERM or killed never gets to cancel its jobs)."""
    import argparse

    from ropar_core import cli
    from ropar_core.watchdog import watch_parent

    p = argparse.ArgumentParser(prog="python -m ropar_core.learn")
    p.add_argument("--parent-pid", type=int, required=True)
    p.add_argument("--work", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)

    def gone() -> None:
        shutil.rmtree(ns.work, ignore_errors=True)
        os._exit(1)

    watch_parent(ns.parent_pid, gone)
    return cli.main(ns.command[1:] if ns.command[:1] == ["--"] else ns.command)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
