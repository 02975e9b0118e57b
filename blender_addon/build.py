"""Build the installable zip: `python -m blender_addon.build [--out dist]` -> dist/ropar-<version>.zip.

The zip holds one folder, `ropar/`, with the package and `blender_manifest.toml`: Blender 4.2+ installs
it as an extension (Preferences › Get Extensions › Install from Disk; a single top-level folder with the
manifest is accepted), Blender 3.x as a classic add-on (Preferences › Add-ons › Install, via bl_info).
Built by a Python that has torch and ropar, the zip also names that interpreter (`_environment.json`),
so the installed add-on starts its own `ropar serve` with it and Generate works with no set-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ZIP_FOLDER = "ropar"  # the manifest's id: extensions are installed under this name
SKIP = {"build.py"}
ENVIRONMENT_FILE = "_environment.json"  # written into the zip: see build_environment()
# ropar_core modules the add-on uses (numpy only), copied in because the zip has no ropar_core.
VENDORED = {PACKAGE_DIR.parent / "ropar_core" / "skeleton.py": "_vendored_skeleton.py"}


def build_environment() -> dict:
    """What the zip records about the Python that built it, when that Python can run `ropar serve`
    (torch and ropar_core importable): the add-on's default backend starts its server with it."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("ropar_core") is None:
        return {}
    return {"python": sys.executable, "built_from": str(PACKAGE_DIR.parent)}


def manifest_version(manifest: Path) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', manifest.read_text(encoding="utf-8"), re.MULTILINE)
    if match is None:
        raise SystemExit(f"build: no version in {manifest}")
    return match.group(1)


def package_files(root: Path = PACKAGE_DIR) -> list[Path]:
    files = [p for p in sorted(root.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".toml")
             and p.name not in SKIP]
    return files


def build(out_dir: Path) -> Path:
    version = manifest_version(PACKAGE_DIR / "blender_manifest.toml")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"ropar-{version}.zip"
    fd, tmp = tempfile.mkstemp(prefix=".ropar-", suffix=".zip", dir=out_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in package_files():
                zf.write(path, f"{ZIP_FOLDER}/{path.relative_to(PACKAGE_DIR).as_posix()}")
            for source, name in VENDORED.items():
                zf.write(source, f"{ZIP_FOLDER}/{name}")
            environment = build_environment()
            if environment:
                zf.writestr(f"{ZIP_FOLDER}/{ENVIRONMENT_FILE}", json.dumps(environment, indent=2) + "\n")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blender_addon.build",
                                     description="Build the installable RoPAR add-on zip.")
    parser.add_argument("--out", default=str(PACKAGE_DIR.parent / "dist"),
                        help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    path = build(Path(args.out))
    print(f"built {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
