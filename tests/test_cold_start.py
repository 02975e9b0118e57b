"""Start-up: `ropar generate` to a BVH loads torch and what the model needs, nothing heavier (the
cost is paid on every call; benchmarks/bench_cold_start.py measures it)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("transformers", "scipy", "matplotlib", "PIL", "ropar_core.server", "ropar_core.keypoints")


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys; from ropar_core.cli import main; rc = main(sys.argv[1:]); "
            f"print(rc, *sorted(m for m in {HEAVY!r} if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROPAR_TEXT_CACHE": "off"}
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    rc, *loaded = out.stdout.strip().splitlines()[-1].split()  # after the command's own summary
    assert rc == "0"
    return set(loaded)


def test_generate_to_bvh_imports_nothing_heavy(tmp_path):
    out = tmp_path / "a.bvh"
    loaded = _modules_after(["generate", "a person walks", "--seconds", "1", "--out", str(out)])
    assert loaded == set()
    assert out.read_text().startswith("HIERARCHY")


def test_a_preview_brings_pillow_but_not_matplotlib(tmp_path):
    loaded = _modules_after(["generate", "a person walks", "--seconds", "1", "--out", str(tmp_path / "a.bvh"),
                             "--preview", str(tmp_path / "a.gif")])
    assert loaded == {"PIL"}
