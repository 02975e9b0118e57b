"""Atomic writes: write to a temporary file beside the target, fsync it, then rename over it (and fsync
the directory), so a crash, a failed run or a power cut never leaves a half-written or empty output or
checkpoint under the final name.

A temporary name carries its writer's process id (`.walk.ropar-1234-k2j4_x9a.bvh`): one left behind by a
process that no longer runs (killed with -9, a power cut) is removed by the next write beside it."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

_TEMP = re.compile(r"\..+\.ropar-(?P<pid>\d+)-[a-z0-9_]{8}(\.[^./\\]*)?")  # a name atomic_path made


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success it replaces `path`.

    The temporary name keeps the target's suffix so that libraries choosing a format by suffix
    (numpy, matplotlib, PIL) still do the right thing."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"cannot write {target}: {target.parent} is not a folder (a file, or a "
                                 "symbolic link loop)") from None
    remove_stale_temps(target.parent, target.stem)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.ropar-{os.getpid()}-", suffix=target.suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        fsync_file(tmp_path)  # the data is on disk before the name points at it
        os.replace(tmp_path, target)
        fsync_dir(target.parent)  # and the rename itself survives a power cut
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Persist a directory's entries (a rename); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the file itself is already synced
    finally:
        os.close(fd)


def replace_dir(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename a finished directory (every file in it written with atomic_path) into place, durably."""
    os.replace(tmp, final)
    fsync_dir(Path(final).parent)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _running(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would signal the process on Windows: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, stem: str | None = None) -> int:
    """Delete this module's temporary files in `folder` (only those of `stem` if given) whose writing
    process has ended; -> how many. Files of running writers, and every other file, are left alone."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP.fullmatch(entry.name)
        if not m or (stem is not None and not entry.name.startswith(f".{stem}.ropar-")):
            continue
        if int(m.group("pid")) == os.getpid() or _running(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
    return removed
