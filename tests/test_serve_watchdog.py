"""No orphans: `ropar serve --parent-pid PID` stops by itself once PID has ended, e.g. when the program
that started it is killed with SIGKILL and so never stops it."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ropar_core.watchdog import watch_parent

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and /proc are POSIX")

# The host stands in for Blender: the add-on's "Start Server Process" backend starts `ropar serve` and
# waits until it answers; the host prints the server's PID and idles until it is killed.
HOST = """
import sys, time
from blender_addon.backend import ServerProcessBackend
backend = ServerProcessBackend(sys.executable, device="cpu", startup_timeout_s=300)
backend.start()
print(backend.process.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (exited; whoever adopted it has not reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@posix_only
def test_server_exits_within_10_s_after_its_host_is_sigkilled(tmp_path):
    host = subprocess.Popen([sys.executable, "-c", HOST], stdout=subprocess.PIPE, text=True,
                            env={**ENV, "TMPDIR": str(tmp_path)})  # the backend's server log goes there
    log = tmp_path / f"ropar-serve-{host.pid}.log"
    server_pid = None
    try:
        line = host.stdout.readline()
        assert line.strip().isdigit(), f"the host could not start the server: {host.wait()}"
        server_pid = int(line)
        assert "listening on" in log.read_text(errors="replace")
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        t0 = time.monotonic()
        assert _wait_for(lambda: _gone(server_pid), 10.0), "server outlived its host by 10 s"
        print(f"server gone {time.monotonic() - t0:.2f} s after its host was killed")
        assert f"parent process {host.pid} is gone" in log.read_text(errors="replace")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        if server_pid is not None and not _gone(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def test_watch_parent_calls_back_once_the_process_has_ended():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = threading.Event()
    watch_parent(other.pid, ended.set, poll_s=0.05)
    time.sleep(0.3)
    assert not ended.is_set()  # alive: no callback
    other.kill()
    other.wait()
    assert ended.wait(5.0)


def test_parent_pid_of_no_process_is_a_one_line_error():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = subprocess.run([sys.executable, "-m", "ropar_core.cli", "serve", "--port", "0",
                          "--parent-pid", str(dead.pid)], capture_output=True, text=True, env=ENV,
                         timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == f"ropar serve: error: --parent-pid {dead.pid}: no such process"
