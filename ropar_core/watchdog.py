"""Leave nothing running: `ropar serve --parent-pid PID` stops by itself when process PID is gone.

A program that starts a server for itself (the Blender add-on's "Start Server Process" backend) passes
its own PID. When that program ends without stopping the server (a crash, `kill -9`, a script that
simply ends), the server would otherwise keep its port and hundreds of MB until someone finds it.

How "gone" is told: a daemon thread polls every POLL_S. On POSIX the PID is gone when `kill(pid, 0)`
finds no such process, or, when PID was our direct parent, as soon as we are re-parented (this also
catches a parent that is dead but not yet reaped, and a PID the system reuses later). On Windows the
process handle is asked whether it has exited.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from ropar_core.errors import RoparError

POLL_S = 0.5  # how often the parent is checked: the server is gone within about a second
GRACE_S = 4.0  # after a clean shutdown was asked for, the process is ended outright after this long


def process_alive(pid: int) -> bool:
    if os.name == "nt":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _windows_alive(pid: int) -> bool:
    """Not exercised by the tests (they run on Linux): OpenProcess + a zero-timeout wait."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = ctypes.c_void_p
    kernel32.WaitForSingleObject.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    kernel32.CloseHandle.argtypes = [ctypes.c_void_p]
    handle = kernel32.OpenProcess(0x00100000 | 0x1000, False, pid)  # SYNCHRONIZE | QUERY_LIMITED_INFO
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists; invalid parameter: it does not
    try:
        return kernel32.WaitForSingleObject(handle, 0) != 0  # WAIT_OBJECT_0: it has exited
    finally:
        kernel32.CloseHandle(handle)


def check_parent_pid(pid: int) -> int:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise RoparError(f"--parent-pid must be a positive process id, got {pid!r}")
    if not process_alive(pid):
        raise RoparError(f"--parent-pid {pid}: no such process")
    return pid


def watch_parent(pid: int, on_gone: Callable[[], None], poll_s: float = POLL_S) -> threading.Thread:
    """Call on_gone() once, from a daemon thread, when process `pid` has ended."""
    direct = os.name != "nt" and os.getppid() == pid

    def loop() -> None:
        while process_alive(pid) and not (direct and os.getppid() != pid):
            time.sleep(poll_s)
        on_gone()

    thread = threading.Thread(target=loop, name="ropar-parent-watchdog", daemon=True)
    thread.start()
    return thread


def stop_when_parent_ends(pid: int, shutdown: Callable[[], None]) -> threading.Thread:
    """Watch `pid`; when it ends, say so on stderr, call shutdown() (e.g. the HTTP server's) for a clean
    stop, and end the process outright if that has not finished within GRACE_S (a generation may be
    running; no one is left to receive it)."""

    def gone() -> None:
        print(f"ropar serve: parent process {pid} is gone; stopping", file=sys.stderr, flush=True)
        timer = threading.Timer(GRACE_S, os._exit, (0,))
        timer.daemon = True
        timer.start()
        shutdown()

    return watch_parent(pid, gone)
