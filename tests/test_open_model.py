"""The shipped commercial-use model (assets/open): `--model open` finds it, `ropar info` names its
licence and CMU's credit, nothing in it comes from Bandai's non-commercial data, and it walks: the
pelvis travels, the feet meet the floor, the bones keep their lengths."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import Generator
from ropar_core.generator import model_path, shipped_models
from ropar_core.skeleton import PARENTS

ROOT = Path(__file__).resolve().parents[1]
OPEN = ROOT / "assets" / "open"


@pytest.fixture(scope="module")
def generator():
    torch.set_num_threads(1)
    return Generator.from_pretrained("open", device="cpu")


def test_open_is_a_shipped_model_trained_without_bandai_data():
    assert "open" in shipped_models() and model_path("open") == OPEN
    sources = {row["source"] for row in json.loads((OPEN / "vocabulary.json").read_text())}
    assert sources and not any("bandai" in s for s in sources), sources
    assert "bandai" not in json.dumps(json.loads((OPEN / "config.json").read_text())["train"]).lower()


def test_info_names_the_licence_and_cmus_credit():
    out = subprocess.run([sys.executable, "-m", "ropar_core.cli", "info", "--model", "open"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    licence = next(line for line in out.stdout.splitlines() if line.startswith("licence:"))
    assert "commercial use" in licence and "mocap.cs.cmu.edu" in licence, licence
    assert "reactidle" in out.stdout and "28 actions" in out.stdout


def test_open_model_walks(generator):
    motions = generator.generate(["a man goes for a walk down the street"] * 3, seconds=5.0, seed=[0, 1, 2])
    for m in motions:
        root = m.joints[:, 0, [0, 2]]
        assert np.linalg.norm(root[-1] - root[0]) > 2.5  # 5 s of walking goes somewhere (3.5-3.9 m)
        feet = m.joints[:, [10, 11], 1]  # SMPL-22 toes
        assert abs(feet.min()) < 0.03  # on the floor, not under it
        bones = np.linalg.norm(m.joints[:, 1:] - m.joints[:, list(PARENTS[1:])], axis=-1)
        assert (bones.std(0) / bones.mean(0)).max() < 0.01  # rigid after the cleanup
        assert m.warning is None
