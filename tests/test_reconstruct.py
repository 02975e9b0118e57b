"""`ropar reconstruct`: a motion file through a P-VAE model directory, MPJPE printed, output written."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import io
from ropar_core.cli import main
from ropar_core.modeldir import save_model_dir
from ropar_core.pvae import PVAE, PVAE_PRESETS, PVAEConfig

BVH = Path(__file__).resolve().parent / "data" / "bandai_wave-left-hand_active_011.bvh"


@pytest.fixture()
def model_dir(tmp_path):
    torch.manual_seed(0)
    pvae = PVAE(PVAEConfig(**PVAE_PRESETS["tiny"]))
    mean = np.zeros(263, np.float32)
    mean[3] = 0.9
    return save_model_dir(tmp_path / "model", pvae, mean, np.full(263, 0.1, np.float32))


@pytest.mark.skipif(not BVH.is_file(), reason="tests/data Bandai BVH missing")
def test_reconstruct_bvh(model_dir, tmp_path, capsys):
    out = tmp_path / "rec.npz"
    args = ["reconstruct", str(BVH), "--out", str(out), "--model", str(model_dir), "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "MPJPE" in printed and " mm" in printed
    mpjpe = float(printed.split("MPJPE ")[1].split(" mm")[0])
    assert np.isfinite(mpjpe) and mpjpe > 0  # an untrained model is far off, but measurably so
    rec = io.load_motion(out, fps=None)
    assert rec.joints.shape[1:] == (22, 3) and rec.joints.shape[0] % 4 == 0 and rec.rotations is not None


def test_reconstruct_errors(model_dir, tmp_path, capsys):
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((5, 22, 3), np.float32) + np.linspace(0, 1, 22)[None, :, None])
    assert main(["reconstruct", str(short), "--out", str(tmp_path / "o.npz"), "--model", str(model_dir)]) == 2
    assert "too short to reconstruct" in capsys.readouterr().err
    assert main(["reconstruct", str(tmp_path / "missing.bvh"), "--out", str(tmp_path / "o.npz"),
                 "--model", str(model_dir)]) == 2
    assert "no such motion file" in capsys.readouterr().err
    assert main(["reconstruct", str(BVH), "--out", str(tmp_path / "o.npz"), "--model", str(tmp_path)]) == 2
    assert "not a model directory" in capsys.readouterr().err
