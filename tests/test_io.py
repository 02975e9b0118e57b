"""io.py: BVH reading (any channel layout), bone maps, BVH writing (round trip, Blender import),
load_motion/save_motion for every format, and every bad-file case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import io
from ropar_core import skeleton as sk
from ropar_core.bone_maps import bvh_to_smpl22, detect_bone_map
from ropar_core.bvh import read_bvh, write_bvh
from ropar_core.errors import MotionFileError
from ropar_core.resample import resample
from tests.helpers.motion_files import (
    BANDAI,
    CMU_SKELETON,
    SAMPLE,
    cmu_fk,
    make_cmu_motion,
    write_cmu_bvh,
)
from tests.helpers.optional import installed_or_skip

# name, parent, offset (cm, Y up, facing +Z, left = +X), rotation channel order










@pytest.fixture(scope="module")
def sample_joints():
    if not (SAMPLE / "012314_joints.npy").exists():
        pytest.skip(f"HumanML3D sample not found at {SAMPLE}")
    return np.load(SAMPLE / "012314_joints.npy")


@pytest.fixture()
def cmu_file(tmp_path):
    root, angles = make_cmu_motion()
    return write_cmu_bvh(tmp_path / "cmu_walk.bvh", root, angles), cmu_fk(root, angles)


# ---------------------------------------------------------------------------------------------
# Reading.
def test_read_bandai():
    bvh = read_bvh(BANDAI)
    assert bvh.names[:2] == ["joint_Root", "Hips"] and len(bvh.names) == 22
    assert bvh.frames == 19 and bvh.fps == 30.0
    assert all(c[3:] == ("Zrotation", "Xrotation", "Yrotation") for c in bvh.channels)
    # position channels of non-root joints replace the OFFSET: Hips -> Spine keeps its 15.7357 cm
    hips, spine = bvh.names.index("Hips"), bvh.names.index("Spine")
    np.testing.assert_allclose(np.linalg.norm(bvh.positions[:, spine] - bvh.positions[:, hips], axis=-1),
                               15.7357, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(bvh.rotations, axis=-1), 1.0, atol=1e-9)


def test_bandai_to_smpl22_picks_hips_as_pelvis():
    bvh = read_bvh(BANDAI)
    assert detect_bone_map(bvh.names)[0] == "bandai"
    joints, fps = bvh_to_smpl22(bvh)
    assert joints.shape == (19, 22, 3) and fps == 30.0
    hips = bvh.positions[:, bvh.names.index("Hips")] / 100.0
    np.testing.assert_allclose(joints[:, 0], hips, atol=1e-6)  # metres; joint_Root (the origin) is skipped
    height = joints[:, 15, 1].mean() - joints[:, [7, 8], 1].mean()
    assert 1.0 < height < 1.8  # head above the ankles: Y up, metres
    assert joints[0, 1, 0] > joints[0, 2, 0] - 0.5  # left hip is a real left hip (not NaN, same scale)
    spine, chest = (bvh.positions[:, bvh.names.index(n)] / 100.0 for n in ("Spine", "Chest"))
    np.testing.assert_allclose(joints[:, 6], (spine + chest) / 2, atol=1e-6)


def test_read_cmu_style_with_mixed_channel_orders(cmu_file):
    path, expected = cmu_file
    bvh = read_bvh(path)
    assert bvh.channels[bvh.names.index("LeftArm")] == ("Yrotation", "Zrotation", "Xrotation")
    np.testing.assert_allclose(bvh.positions, expected, atol=1e-4)
    assert detect_bone_map(bvh.names)[0] == "cmu"
    joints, fps = bvh_to_smpl22(bvh)
    assert fps == 30.0
    names = [j[0] for j in CMU_SKELETON]
    np.testing.assert_allclose(joints[:, 20], expected[:, names.index("LeftHand")] / 100, atol=1e-6)
    np.testing.assert_allclose(joints[:, 10], expected[:, names.index("LeftToeBase")] / 100, atol=1e-6)


def test_z_up_bvh_is_turned_y_up(tmp_path):
    root, angles = make_cmu_motion(frames=10)
    expected = cmu_fk(root, angles) / 100
    text = write_cmu_bvh(tmp_path / "a.bvh", root, angles).read_text()
    # rotate the whole file Z-up by a +90 deg turn of the root about X (Y -> Z): extra root X rotation
    lines = text.splitlines()
    start = lines.index("MOTION") + 3
    zup = tmp_path / "zup.bvh"
    body = lines[:start]
    body[body.index("  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation")] = \
        "  CHANNELS 7 Xposition Yposition Zposition Xrotation Zrotation Yrotation Xrotation"
    for t, line in enumerate(lines[start:]):
        vals = line.split()
        p = root[t]
        vals[:3] = [f"{p[0]:.6f}", f"{-p[2]:.6f}", f"{p[1]:.6f}"]  # R_x(90) applied to the root path
        body.append(" ".join(vals[:3] + ["90"] + vals[3:]))
    zup.write_text("\n".join(body) + "\n")
    joints, _ = bvh_to_smpl22(read_bvh(zup))
    names = [j[0] for j in CMU_SKELETON]
    np.testing.assert_allclose(joints[:, 15], expected[:, names.index("Head")], atol=1e-5)


def test_smpl_named_bvh_is_detected(tmp_path, sample_joints):
    path = tmp_path / "smpl.bvh"
    write_bvh(path, sample_joints[:5])
    text = path.read_text().replace("JOINT l_hip", "JOINT m_avg_L_Hip")
    path.write_text(text)
    assert detect_bone_map(read_bvh(path).names)[0] == "smpl"


def test_missing_bones_are_named(cmu_file):
    path, _ = cmu_file
    path.write_text(path.read_text().replace("LeftForeArm", "LeftElbowThing"))
    with pytest.raises(MotionFileError, match="missing bones LeftForeArm"):
        bvh_to_smpl22(read_bvh(path))


# ---------------------------------------------------------------------------------------------
# Bad files: every message names the file and a line.
def _bandai_lines():
    return BANDAI.read_text().splitlines()


def _motion_line():
    return _bandai_lines().index("MOTION")


@pytest.mark.parametrize("case,match", [
    ("empty", r"x\.bvh: empty file"),
    ("no_hierarchy", r"x\.bvh:1: missing HIERARCHY"),
    ("truncated", r"x\.bvh:\d+: truncated: 'Frames: 19' but only 17 frame lines"),
    ("nan", r"x\.bvh:137: value 7 is nan"),
    ("count", r"x\.bvh:136: frame 1 has 131 values, the hierarchy has 132 channels"),
    ("text", r"x\.bvh:135: non-numeric value"),
    ("extra", r"x\.bvh:154: more frame lines than 'Frames: 19'"),
    ("no_motion", r"x\.bvh:\d+: missing MOTION"),
    ("bad_channel", r"x\.bvh:5: unknown channel 'Wrotation'"),
    ("bad_offset", r"x\.bvh:8: expected a number for OFFSET"),
    ("frame_time", r"x\.bvh:134: frame time must be positive"),
    ("unclosed", r"x\.bvh:\d+: unexpected end of HIERARCHY"),
])
def test_bad_bvh(tmp_path, case, match):
    lines = _bandai_lines()
    m = _motion_line()  # index of "MOTION"; frames start at index m + 3 = file line 135
    if case == "empty":
        lines = ["", "  "]
    elif case == "no_hierarchy":
        lines = lines[1:]
    elif case == "truncated":
        lines = lines[:-2]
    elif case == "nan":
        lines[m + 5] = " ".join(["0"] * 6 + ["nan"] + ["0"] * 125)
    elif case == "count":
        lines[m + 4] = " ".join(lines[m + 4].split()[:-1])
    elif case == "text":
        lines[m + 3] = lines[m + 3].replace("0.000000", "abc", 1)
    elif case == "extra":
        lines.append(lines[-1])
    elif case == "no_motion":
        lines = lines[:m]
    elif case == "bad_channel":
        lines[4] = lines[4].replace("Zrotation", "Wrotation", 1)
    elif case == "bad_offset":
        lines[7] = "\t\tOFFSET 4.5 nope 1"
    elif case == "frame_time":
        lines[m + 2] = "Frame Time: 0"
    elif case == "unclosed":
        lines = [ln for i, ln in enumerate(lines) if not (i > m - 5 and i < m and ln.strip() == "}")]
    path = tmp_path / "x.bvh"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFileError, match=match):
        read_bvh(path)
    with pytest.raises(MotionFileError):
        io.load_motion(path)


def test_missing_file(tmp_path):
    with pytest.raises(MotionFileError, match="no such motion file"):
        io.load_motion(tmp_path / "nope.bvh")


# ---------------------------------------------------------------------------------------------
# Writing.
@pytest.mark.parametrize("order,unit", [("ZXY", "m"), ("XYZ", "cm")])
def test_write_read_round_trip_sample(tmp_path, sample_joints, order, unit):
    path = tmp_path / "out.bvh"
    write_bvh(path, sample_joints, None, fps=20, order=order, unit=unit)
    bvh = read_bvh(path)
    assert bvh.names[0] == "pelvis" and set(bvh.names) == set(sk.JOINT_NAMES)
    assert bvh.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert bvh.channels[1] == tuple(f"{a}rotation" for a in order)
    back, fps = bvh_to_smpl22(bvh)
    assert fps == 20.0
    assert np.abs(back - sample_joints).max() < 1e-5  # measured 1.4e-6


def test_write_with_feature_rotations(tmp_path, sample_joints):
    vecs = np.load(SAMPLE / "012314_vecs.npy")
    path = tmp_path / "rot.bvh"
    write_bvh(path, F.features_to_joints(vecs), F.features_to_rotations(vecs), fps=20)
    back, _ = bvh_to_smpl22(read_bvh(path))
    assert np.abs(back - sample_joints).max() < 1e-5  # measured 2.7e-6


def test_write_read_round_trip_bandai(tmp_path):
    joints, fps = bvh_to_smpl22(read_bvh(BANDAI))
    path = tmp_path / "bandai_smpl.bvh"
    write_bvh(path, joints, None, fps=fps)
    back, fps2 = bvh_to_smpl22(read_bvh(path))
    assert fps2 == 30.0
    assert np.abs(back - joints).max() < 1e-5  # the Bandai skeleton is rigid: exact up to print precision


def test_write_standard_bone_lengths(tmp_path, sample_joints):
    path = tmp_path / "std.bvh"
    write_bvh(path, sample_joints[:4], lengths=sk.BONE_LENGTHS)
    bvh = read_bvh(path)
    knee = bvh.names.index("l_knee")
    np.testing.assert_allclose(np.linalg.norm(bvh.offsets[knee]), sk.BONE_LENGTHS[4], atol=1e-6)


def test_write_rejects_bad_input(tmp_path, sample_joints):
    with pytest.raises(MotionFileError, match="order"):
        write_bvh(tmp_path / "a.bvh", sample_joints, order="XXY")
    with pytest.raises(MotionFileError, match="NaN"):
        write_bvh(tmp_path / "a.bvh", np.full((3, 22, 3), np.nan))
    with pytest.raises(MotionFileError, match="rotations must have shape"):
        write_bvh(tmp_path / "a.bvh", sample_joints, np.ones((3, 22, 4)))
    assert not (tmp_path / "a.bvh").exists()


@pytest.mark.blender
def test_written_bvh_imports_in_blender(tmp_path, sample_joints):
    bpy = installed_or_skip("bpy", "bpy (Blender as a module) is not installed")
    joints = sample_joints[:30]
    path = tmp_path / "blender.bvh"
    write_bvh(path, joints, None, fps=20)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.import_anim.bvh(filepath=str(path), rotate_mode="NATIVE", update_scene_fps=True)
    assert result == {"FINISHED"}
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    scene = bpy.context.scene
    assert scene.render.fps == 20
    worst = 0.0
    for t in (0, 7, 29):
        scene.frame_set(scene.frame_start + t)
        evaluated = arm.evaluated_get(bpy.context.evaluated_depsgraph_get())
        for j, name in enumerate(sk.JOINT_NAMES):
            head = evaluated.matrix_world @ evaluated.pose.bones[name].head
            x, y, z = joints[t, j]
            worst = max(worst, float(np.abs(np.array(head) - np.array([x, -z, y])).max()))  # Blender Z up
    assert worst < 1e-4, worst


# ---------------------------------------------------------------------------------------------
# load_motion / save_motion.
def test_load_bvh_resamples_to_20fps():
    motion = io.load_motion(BANDAI)
    assert motion.fps == 20.0 and motion.frames == 13  # 18 steps at 30 fps = 0.6 s -> 12 steps at 20 fps
    raw = io.load_motion(BANDAI, fps=None)
    np.testing.assert_allclose(motion.joints[3], raw.joints[[4, 5]].mean(0), atol=1e-6)  # t = 0.15 s
    assert motion.rotations is None


def test_resample_linear():
    x = np.arange(7, dtype=np.float32)[:, None] * np.array([[1.0, 2.0]], dtype=np.float32)
    y = resample(x, 30, 20)
    np.testing.assert_allclose(y[:, 0], [0, 1.5, 3, 4.5, 6])
    np.testing.assert_allclose(resample(y, 20, 30)[:, 0], x[:, 0])


@pytest.mark.parametrize("suffix", [".npz", ".json", ".bvh"])
def test_save_load_round_trip(tmp_path, sample_joints, suffix):
    vecs = np.load(SAMPLE / "012314_vecs.npy")
    motion = io.Motion(F.features_to_joints(vecs), F.features_to_rotations(vecs), 20.0, "a person waves", 7)
    path = tmp_path / f"m{suffix}"
    io.save_motion(path, motion)
    back = io.load_motion(path)
    assert back.frames == motion.frames and back.fps == 20.0
    assert np.abs(back.joints - motion.joints).max() < 1e-5
    if suffix != ".bvh":
        assert back.text == "a person waves" and back.seed == 7
        assert np.abs(back.rotations - motion.rotations).max() < 1e-6
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            assert set(data.files) == {"joints", "rotations", "fps", "text", "seed"}


def test_npy_formats(tmp_path, sample_joints):
    vecs = np.load(SAMPLE / "012314_vecs.npy")
    motion = io.Motion(sample_joints, None, 20.0)
    io.save_motion(tmp_path / "f.npy", motion)  # .npy defaults to h3d263 (T-1 rows)
    feats = np.load(tmp_path / "f.npy")
    assert feats.shape == (169, 263)
    np.testing.assert_allclose(feats[:80], vecs[:80], atol=2e-5)
    back = io.load_motion(tmp_path / "f.npy")
    assert back.frames == 169 and back.rotations is not None
    io.save_motion(tmp_path / "j.npy", motion, fmt="joints")
    assert np.load(tmp_path / "j.npy").shape == (170, 22, 3)
    assert io.load_motion(tmp_path / "j.npy").rotations is None
    with pytest.raises(MotionFileError, match="shape"):
        io.load_motion(tmp_path / "f.npy", fmt="joints")


def test_save_resamples_before_features(tmp_path, sample_joints):
    io.save_motion(tmp_path / "f.npy", io.Motion(sample_joints, None, 40.0))
    assert np.load(tmp_path / "f.npy").shape == (84, 263)  # 170 frames at 40 fps -> 85 at 20 fps


@pytest.mark.parametrize("case,match", [
    ("pickle_npz", "not a readable .npz"),
    ("no_joints_npz", "no 'joints' array"),
    ("bad_json", r"bad\.json:1: invalid JSON"),
    ("ragged_json", "not a rectangular array"),
    ("nan_json", "NaN"),
    ("one_frame_json", "at least 2 frames"),
    ("bad_fps_json", "frame rate"),
    ("object_npy", "not a readable .npy"),
    ("wrong_npy", "shape"),
    ("suffix", "unknown motion file type"),
])
def test_bad_motion_files(tmp_path, case, match):
    good = np.zeros((3, 22, 3)).tolist()
    if case == "pickle_npz":
        path = tmp_path / "bad.npz"
        np.savez(path, joints=np.array([{"a": 1}], dtype=object))
    elif case == "no_joints_npz":
        path = tmp_path / "bad.npz"
        np.savez(path, poses=np.zeros((3, 22, 3)))
    elif case == "object_npy":
        path = tmp_path / "bad.npy"
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif case == "wrong_npy":
        path = tmp_path / "bad.npy"
        np.save(path, np.zeros((5, 100)))
    elif case == "suffix":
        path = tmp_path / "bad.txt"
        path.write_text("1 2 3")
    else:
        path = tmp_path / "bad.json"
        payload = {"bad_json": "{'joints': ", "ragged_json": json.dumps({"joints": [[[0, 0, 0]], [[0, 0]]]}),
                   "nan_json": json.dumps({"joints": good}).replace("0.0", "NaN", 1),
                   "one_frame_json": json.dumps({"joints": good[:1]}),
                   "bad_fps_json": json.dumps({"joints": good, "fps": -3})}[case]
        path.write_text(payload)
    with pytest.raises(MotionFileError, match=match):
        io.load_motion(path)


def test_unknown_format_name(tmp_path):
    with pytest.raises(MotionFileError, match="unknown motion format"):
        io.load_motion(BANDAI, fmt="fbx")


def test_namespaced_names_and_explicit_map(cmu_file):
    path, expected = cmu_file
    text = path.read_text()
    for name, *_ in CMU_SKELETON:
        text = text.replace(f"JOINT {name}\n", f"JOINT mixamorig:{name}\n").replace(f"ROOT {name}\n",
                                                                                  f"ROOT mixamorig:{name}\n")
    path.write_text(text)
    bvh = read_bvh(path)
    assert bvh.names[0] == "mixamorig:Hips"
    joints, _ = bvh_to_smpl22(bvh, "cmu")
    np.testing.assert_allclose(joints[:, 0], expected[:, 0] / 100, atol=1e-6)
    with pytest.raises(MotionFileError, match="unknown bone map"):
        bvh_to_smpl22(bvh, "fbx")
    with pytest.raises(MotionFileError, match="does not fit: the BVH has no joint Spine2"):
        bvh_to_smpl22(bvh, "mixamo")  # needs Spine2
