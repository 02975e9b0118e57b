"""`ropar convert`: every route between BVH, HumanML3D-263 and joints, through ropar_core.cli.main."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import io
from ropar_core import skeleton as sk
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.cli import main
from tests.helpers.motion_files import BANDAI, SAMPLE, cmu_fk, make_cmu_motion, write_cmu_bvh

REPO = Path(__file__).resolve().parents[1]


def convert(*argv) -> int:
    return main(["convert", *map(str, argv)])


def test_bandai_bvh_to_h3d263(tmp_path, capsys):
    out = tmp_path / "bandai.npy"
    assert convert(BANDAI, out) == 0
    line = capsys.readouterr().out.strip()
    assert "19 frames @ 30 fps" in line and "(h3d263, 12 frames @ 20 fps)" in line
    assert "30->20 fps" in line and "face +Z" in line
    feats = np.load(out, allow_pickle=False)
    assert feats.shape == (12, 263) and feats.dtype == np.float32 and np.isfinite(feats).all()
    # the features describe the Bandai motion re-targeted to the standard skeleton
    raw = io.load_motion(BANDAI, fps=None)
    norm, _ = F.normalise_joints(raw.joints, fps=raw.fps)
    expected = F.place_on_floor_facing_z(F.uniform_skeleton(norm.astype(np.float64)))[:-1]
    assert np.abs(F.features_to_joints(feats) - expected).max() < 1e-5
    lengths = F._bone_lengths(F.features_to_joints(feats).astype(np.float64))
    np.testing.assert_allclose(lengths[:, 1:], np.broadcast_to(sk.BONE_LENGTHS[1:], (12, 21)), atol=1e-5)


def test_bandai_round_trip_through_h3d263(tmp_path, capsys):
    """Bandai BVH -> h3d263 -> BVH: the written BVH reproduces the features' joints."""
    feats_path, bvh_path = tmp_path / "f.npy", tmp_path / "back.bvh"
    assert convert(BANDAI, feats_path) == 0
    assert convert(feats_path, bvh_path) == 0
    assert "(h3d263, 12 frames @ 20 fps) -> back.bvh (bvh, 12 frames @ 20 fps)" in capsys.readouterr().out
    back, fps = bvh_to_smpl22(read_bvh(bvh_path))
    joints = F.features_to_joints(np.load(feats_path))
    assert fps == 20.0
    assert np.linalg.norm(back - joints, axis=-1).max() < 5e-4  # measured over 30 Bandai clips: <= 0.12 mm


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"HumanML3D sample not found at {SAMPLE}")
def test_h3d263_sample_to_bvh(tmp_path):
    vecs = np.load(SAMPLE / "012314_vecs.npy")
    src = tmp_path / "sample.npy"
    np.save(src, vecs)
    assert convert(src, tmp_path / "s.bvh", "--to", "bvh") == 0
    back, _ = bvh_to_smpl22(read_bvh(tmp_path / "s.bvh"))
    assert np.abs(back - np.load(SAMPLE / "012314_joints.npy")).max() < 1e-5


def test_cmu_bvh_to_joints_formats(tmp_path, capsys):
    root, angles = make_cmu_motion(frames=31)
    src = write_cmu_bvh(tmp_path / "cmu.bvh", root, angles, fps=30)
    expected = cmu_fk(root, angles) / 100.0
    assert convert(src, tmp_path / "j.npz") == 0
    motion = io.load_motion(tmp_path / "j.npz", fps=None)
    assert motion.fps == 30.0 and motion.frames == 31
    np.testing.assert_allclose(motion.joints[:, 20], expected[:, 16], atol=1e-6)  # LeftHand -> l_wrist
    assert convert(src, tmp_path / "j.json", "--fps", 20) == 0
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["fps"] == 20 and len(data["joints"]) == 21
    assert convert(src, tmp_path / "j.npy", "--to", "joints") == 0
    assert np.load(tmp_path / "j.npy").shape == (31, 22, 3)
    assert convert(tmp_path / "j.npy", tmp_path / "j2.npz", "--in-fps", 30, "--fps", 15) == 0
    assert io.load_motion(tmp_path / "j2.npz", fps=None).frames == 16
    assert convert(src, tmp_path / "c.npy") == 0
    assert np.load(tmp_path / "c.npy").shape == (20, 263)
    assert "(joints, 31 frames @ 30 fps)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["{tmp}/nope.bvh", "{tmp}/o.npy"], "no such motion file"),
    (["{bandai}", "{tmp}/o.fbx"], "cannot tell the output format"),
    (["{bandai}", "{tmp}/o.npy", "--fps", "30"], "always 20 fps"),
    (["{bandai}", "{tmp}/o.bvh", "--fps", "-1"], "--fps must be between 1 and 1000 fps"),
    (["{bandai}", "{tmp}/o.bvh", "--fps", "1e9"], "--fps must be between 1 and 1000 fps"),
    (["{bandai}", "{tmp}/o.bvh", "--fps", "nan"], "--fps must be between 1 and 1000 fps"),
    (["{bandai}", "{tmp}/o.npz", "--to", "joints"], r"writes a \.npy file; name the output o\.npy"),
    (["{bandai}", "{tmp}/o.npy", "--to", "bvh"], r"writes a \.bvh file"),
    (["{bandai}", "{tmp}/o.npy", "--scale", "nan"], "scale must be"),
    (["{tmp}/tiny.bvh", "{tmp}/o.npy"], "between 1 and 1000 fps"),
    (["{bandai}", "{bandai}"], "same file"),
    (["{tmp}/bad.bvh", "{tmp}/o.npy"], r"bad\.bvh:\d+: truncated"),
    (["{bandai}", "{tmp}/o.npy", "--bone-map", "cmu"], "bone map does not fit"),
    (["{tmp}/bad.npy", "{tmp}/o.bvh"], "shape"),
])
def test_convert_errors(tmp_path, capsys, argv, match):
    (tmp_path / "bad.bvh").write_text("\n".join(BANDAI.read_text().splitlines()[:-3]) + "\n")
    (tmp_path / "tiny.bvh").write_text(re.sub(r"Frame Time:.*", "Frame Time: 1e-300", BANDAI.read_text()))
    np.save(tmp_path / "bad.npy", np.zeros((4, 100), dtype=np.float32))
    args = [a.format(tmp=tmp_path, bandai=BANDAI) for a in argv]
    assert main(["convert", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ropar convert: error: ") and len(err.splitlines()) == 1
    assert re.search(match, err), err
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "o.bvh").exists()


def test_cli_module_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "sub.npy"
    done = subprocess.run([sys.executable, "-m", "ropar_core.cli", "convert", str(BANDAI), str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "-> sub.npy (h3d263, 12 frames @ 20 fps)" in done.stdout
    assert np.load(out).shape == (12, 263)
    missing = str(tmp_path / "x.bvh")
    bad = subprocess.run([sys.executable, "-m", "ropar_core.cli", "convert", missing, str(out)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "no such motion file" in bad.stderr
