"""CMU motion capture in its usual BVH forms: the classic 120 fps conversion (31 joints, CMU's ~5.6 cm
'units', which match no metric unit) and the Reallusion CC_Base rig at 60 fps. Both convert to 20 fps
HumanML3D features on the standard skeleton with the feet on the floor; the scale comes from the skeleton's
height unless --scale gives it; BVH files in inches are read as inches."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import io
from ropar_core import skeleton as sk
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.cli import main
from tests.helpers.motion_files import BANDAI

DATA = Path(__file__).resolve().parent / "data"
CMU = DATA / "cmu_01_01_first2s.bvh"
CC_BASE = DATA / "cmu_iclone" / "bvh" / "007_03.bvh"


def _check_h3d263(path: Path, rows: int) -> np.ndarray:
    feats = np.load(path, allow_pickle=False)
    assert feats.shape == (rows, 263) and np.isfinite(feats).all()
    joints = F.features_to_joints(feats).astype(np.float64)
    lengths = F._bone_lengths(joints)[:, 1:]
    np.testing.assert_allclose(lengths, np.broadcast_to(sk.BONE_LENGTHS[1:], lengths.shape), atol=1e-5)
    lowest = joints[:, [7, 8, 10, 11], 1].min(axis=1)  # the lower foot joint of each frame
    assert abs(lowest.min()) < 1e-5  # on the floor, never below it
    return joints


def test_cmu_120fps_bvh_converts_to_20fps_features(tmp_path, capsys):
    bvh = read_bvh(CMU)
    assert bvh.fps == 120.0 and bvh.frames == 241 and len(bvh.names) == 31
    out = tmp_path / "cmu.npy"
    assert main(["convert", str(CMU), str(out)]) == 0
    line = capsys.readouterr().out
    assert "241 frames @ 120 fps" in line and "(h3d263, 40 frames @ 20 fps)" in line
    joints = _check_h3d263(out, 40)  # 2 s at 20 fps = 41 frames = 40 feature rows
    lowest = joints[:, [7, 8, 10, 11], 1].min(axis=1)
    standing = lowest[:25]  # the subject stands for the first 1.25 s, then crouches to jump
    assert np.median(standing) < 0.06
    assert 0.85 < np.median(joints[:25, 0, 1]) < 1.05  # a standing adult's pelvis height


def test_cmu_units_scale_from_the_skeleton_or_from_scale(tmp_path):
    bvh = read_bvh(CMU)
    raw, fps = bvh_to_smpl22(bvh, scale=1.0)  # CMU units
    assert fps == 120.0 and 20 < F._size_proxy(raw) < 30  # no metric unit makes that an adult
    auto, _ = bvh_to_smpl22(bvh)
    np.testing.assert_allclose(auto, raw * (1.55 / F._size_proxy(raw)), rtol=1e-5, atol=1e-6)
    given, _ = bvh_to_smpl22(bvh, scale=0.0564)  # CMU's length unit is 1/0.45 inch
    np.testing.assert_allclose(given, raw * 0.0564, rtol=1e-5, atol=1e-6)
    out = tmp_path / "scaled.npz"
    assert main(["convert", str(CMU), str(out), "--scale", "0.0564"]) == 0
    np.testing.assert_allclose(io.load_motion(out, fps=None).joints, given, atol=1e-5)


def test_bvh_in_inches_reads_like_centimetres(tmp_path):
    """The Bandai clip (cm) rewritten in inches: every OFFSET and position channel divided by 2.54."""
    text = BANDAI.read_text()
    head, motion = text.split("MOTION", 1)
    head = re.sub(r"OFFSET\s+(\S+)\s+(\S+)\s+(\S+)",
                  lambda m: "OFFSET " + " ".join(f"{float(v) / 2.54:.6f}" for v in m.groups()), head)
    bvh_cm = read_bvh(BANDAI)
    names = [c.lower() for chans in bvh_cm.channels for c in chans]
    pos_cols = [k for k, c in enumerate(names) if "position" in c]
    lines = motion.strip().splitlines()
    rows = []
    for line in lines[2:]:
        vals = [float(v) for v in line.split()]
        rows.append(" ".join(f"{v / 2.54:.6f}" if k in pos_cols else f"{v:.6f}" for k, v in enumerate(vals)))
    inches = tmp_path / "inches.bvh"
    inches.write_text(head + "MOTION\n" + "\n".join(lines[:2] + rows) + "\n")
    j_cm, _ = bvh_to_smpl22(bvh_cm)
    j_in, _ = bvh_to_smpl22(read_bvh(inches))
    assert np.abs(j_in - j_cm).max() < 1e-4


@pytest.mark.skipif(not CC_BASE.is_file(), reason="CC_Base fixture missing")
def test_cc_base_60fps_bvh_converts(tmp_path, capsys):
    bvh = read_bvh(CC_BASE)
    assert bvh.fps == 60.0
    out = tmp_path / "cc.npy"
    assert main(["convert", str(CC_BASE), str(out)]) == 0
    expected = int(np.floor((bvh.frames - 1) / 60 * 20 + 1e-6)) + 1 - 1
    assert f"(h3d263, {expected} frames @ 20 fps)" in capsys.readouterr().out
    joints = _check_h3d263(out, expected)
    assert np.median(joints[:, [7, 8, 10, 11], 1].min(axis=1)) < 0.08
