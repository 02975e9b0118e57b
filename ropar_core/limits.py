"""Hard limits on what an input may ask for, checked before anything is allocated.

A tiny file or request can otherwise ask for gigabytes: a frame rate of 1e-4 turns one second into
200 000 frames at 20 fps, a keypoint "frame": 1e9 asks for a billion empty frames, a JSON nested a
million deep overflows the parser. Every reader and command checks its sizes here, so the bounds are
one set of numbers and the messages one style."""

from __future__ import annotations

import errno
import json
import math
import numbers
import os
import stat
from pathlib import Path

from ropar_core.errors import MotionFileError, RoparError

MIN_FPS = 1.0
MAX_FPS = 1000.0  # high-speed mocap runs at 240-480 fps; above 1000 fps is a unit mistake
# Frames of any one motion read or resampled, at any frame rate: 2.8 h at 20 fps, 28 min at 120 fps, about
# 100 MB of float64 joints (request.MAX_FRAMES, 2 minutes, is the far smaller limit of what is generated).
MAX_MOTION_FRAMES = 200_000
MAX_JSON_BYTES = 128 * 2**20  # JSON motion / keypoint / config files; parsing costs ~8x this in memory
MAX_THREADS = 256  # torch aborts creating ~100 000 OpenMP threads; no machine here has more cores
MAX_ABS_VALUE = 1e6  # metres / feature values: anything beyond is corrupt, and overflows float32 maths
MAX_TEXT_BYTES = 64 * 2**20  # text inputs such as prompts files: 100 000 prompts are about 5 MB


def check_fps(value, what: str = "frame rate", error: type[Exception] = RoparError) -> float:
    """A frame rate as a float within MIN_FPS..MAX_FPS (NaN, inf, bools and strings refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{what} must be a number of frames per second, got {value!r}")
    fps = float(value)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise error(f"{what} must be between {MIN_FPS:g} and {MAX_FPS:g} fps, got {value!r}")
    return fps


def check_frames(count: int, what: str = "motion", error: type[Exception] = RoparError) -> int:
    """A frame count (of an input, or of a resampled output computed before allocating it)."""
    if count > MAX_MOTION_FRAMES:
        raise error(f"{what} would have {count} frames; at most {MAX_MOTION_FRAMES} are allowed")
    return int(count)


def resampled_count(frames: int, src_fps: float, dst_fps: float) -> int:
    """Frames of a `frames`-long motion resampled from src_fps to dst_fps (same rule as io.resample)."""
    if frames < 1:
        return 0
    return int(math.floor((frames - 1) / src_fps * dst_fps + 1e-6)) + 1


def check_threads(threads, error: type[Exception] = RoparError) -> int | None:
    """torch CPU threads: None (the default) or 1..MAX_THREADS."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise error(f"threads must be a whole number from 1 to {MAX_THREADS}, got {threads!r}")
    return threads


def parse_json(text: str, what: str, error: type[Exception] = MotionFileError):
    """json.loads whose failures (bad syntax, nesting deep enough to exhaust the parser's recursion)
    are one `error` line instead of a traceback, or in a server thread a 500."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip())  # the parser ran out of text: a file cut short
        raise error(f"{what}:{exc.lineno}: invalid JSON ({'truncated: ' if cut else ''}{exc.msg})") from None
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise error(f"{what}: invalid JSON ({str(exc)[:80]})") from None


def check_npy_header(path: str | os.PathLike, error: type[Exception] = MotionFileError) -> tuple:
    """-> the shape, read from a .npy header before numpy allocates anything: real numbers only (complex
    would be cast silently, objects need pickle) and at most MAX_MOTION_FRAMES rows."""
    import numpy as np  # here: this module is imported by every command

    path = Path(path)
    try:
        with open_regular(path, error=error) as fh:
            version = np.lib.format.read_magic(fh)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read[version](fh)
            data_bytes = path.stat().st_size - fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise error(f"{path.name}: not a readable .npy array ({str(exc)[:80]})") from None
    if dtype.kind not in "iuf":
        raise error(f"{path.name}: not a readable .npy array: dtype {dtype} (real numbers only; pickled "
                    "objects are never loaded)")
    if shape and shape[0] > MAX_MOTION_FRAMES:
        raise error(f"{path.name}: {shape[0]} frames; at most {MAX_MOTION_FRAMES}")
    count = math.prod(shape)
    if count > MAX_MOTION_FRAMES * 263:  # the widest motion array: 263 features per frame
        raise error(f"{path.name}: array of shape {shape} is too large")
    if count * dtype.itemsize > data_bytes:
        raise error(f"{path.name}: truncated .npy ({data_bytes} bytes of data for shape {shape})")
    return shape


def _os_error(path: Path, exc: OSError, error: type[Exception]) -> Exception:
    reason = {errno.ENOENT: "no such file", errno.ELOOP: "a symbolic link loop",
              errno.ENOTDIR: "a path component is not a folder"}.get(exc.errno, exc.strerror or str(exc))
    return error(f"cannot read {path}: {reason}")


def open_regular(path: str | os.PathLike, what: str = "file", error: type[Exception] = MotionFileError):
    """Open a regular file for reading (symbolic links followed). Devices (/dev/zero), FIFOs and sockets
    are refused: they have no size to check and can be endless or block forever. O_NONBLOCK makes the
    open itself return at once on a FIFO without a writer; the check then uses the opened file."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_error(path, exc, error) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise _os_error(path, exc, error) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise error(f"{path}: not a regular {what} ({kind}); only regular files are read")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: str | os.PathLike, limit: int, what: str = "file",
               error: type[Exception] = MotionFileError) -> bytes:
    """A regular file's bytes, refused above `limit` before they are read (and again should it grow)."""
    path = Path(path)
    with open_regular(path, what, error) as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise error(f"{path.name}: {what} of {max(size, len(data)) / 2**20:.1f} MiB exceeds the limit of "
                    f"{limit / 2**20:.0f} MiB")
    return data


def read_text_file(path: str | os.PathLike, limit: int = MAX_TEXT_BYTES, what: str = "text file",
                   error: type[Exception] = RoparError) -> str:
    """A bounded regular UTF-8 text file (a leading BOM dropped); undecodable bytes are refused."""
    data = read_bytes(path, limit, what, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{Path(path).name}:{line}: not UTF-8 text ({what})") from None


def check_file_size(path: str | os.PathLike, limit: int, what: str = "file",
                    error: type[Exception] = MotionFileError) -> int:
    """The size of a regular file (devices, FIFOs and sockets refused), at most `limit` bytes."""
    path = Path(path)
    with open_regular(path, what, error) as fh:
        size = os.fstat(fh.fileno()).st_size
    if size > limit:
        raise error(f"{path.name}: {what} of {size / 2**20:.1f} MiB exceeds the limit of "
                    f"{limit / 2**20:.0f} MiB")
    return size


def read_json_file(path: str | os.PathLike, what: str | None = None,
                   error: type[Exception] = MotionFileError):
    """Read a JSON file with size and nesting limits; every failure is one `error` line."""
    path = Path(path)
    what = what or path.name
    text = read_text_file(path, MAX_JSON_BYTES, "JSON file", error)
    return parse_json(text, what, error)
