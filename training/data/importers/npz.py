"""Reading a whole .npz file safely (never unpickling): one home for the importers that need every array."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ropar_core.errors import MotionFileError, RoparError


def read_npz(path: Path, error: type[RoparError] = MotionFileError, what: str = "file",
             skip_pickled: bool = False, label: str | None = None) -> dict[str, np.ndarray]:
    """Every array of `path` -> {name: array}. An unreadable file raises `error`; an entry holding a
    pickled object is skipped (skip_pickled) or an error, never loaded. `label` names the file in
    messages (default its name); `what` says what the file should be ("file", "body model")."""
    label = label or Path(path).name
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise error(f"{label}: not a readable .npz {what} ({exc})") from None
    out = {}
    with npz:
        for key in npz.files:
            try:
                out[key] = npz[key]
            except ValueError:  # an object array (pickled)
                if not skip_pickled:
                    raise error(f"{label}: entry {key!r} is a pickled object; export plain arrays") from None
    return out
