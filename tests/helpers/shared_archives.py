"""The shared datasets' archives (../shared/datasets/*.tar.xz), unpacked in part for a test module.

Only the named members are written (the archives are 70-130 MB unpacked); `tarfile`'s "data" filter
refuses links and paths that leave the folder."""

from __future__ import annotations

import tarfile
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def unpack(archive: str, members: list[str], dest: Path) -> Path:
    """Unpack `members` (paths inside the archive, or folders: everything under them) of
    DATASETS/<archive>.tar.xz into `dest`; -> dest/<archive>, the archive's top folder."""
    wanted = [m.rstrip("/") for m in members]
    with tarfile.open(DATASETS / f"{archive}.tar.xz", "r:xz") as tar:
        picked = [m for m in tar if any(m.name == w or m.name.startswith(w + "/") for w in wanted)]
        found = {w for w in wanted for m in picked if m.name == w or m.name.startswith(w + "/")}
        if found != set(wanted):
            raise FileNotFoundError(f"{archive}.tar.xz has no {', '.join(sorted(set(wanted) - found))}")
        tar.extractall(dest, members=picked, filter="data")
    return dest / archive
