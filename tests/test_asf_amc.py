"""CMU's own ASF/AMC files (../shared/datasets/cmu-asf-amc.tar.xz): the skeleton's units, dofs and
limits, forward kinematics, SMPL-22 joints in metres, `ropar convert x.amc`, and the proof that the
reader is right: 22 trials of that archive are the same takes as cmu-iclone.tar.xz, converted by
another project onto Reallusion's rig, so their joint angles and paths must agree with ours."""

from __future__ import annotations

import numpy as np
import pytest

from ropar_core import asf_amc, io, limits
from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.cli import main
from ropar_core.errors import MotionFileError
from ropar_core.resample import resample
from tests.helpers.shared_archives import unpack
from training.data.importers import cmu_iclone

SAME_TAKES = ("02_01", "02_03", "05_02", "06_14")  # also in cmu-iclone (as 002_01.bvh ...)


@pytest.fixture(scope="module")
def cmu(tmp_path_factory):
    dest = tmp_path_factory.mktemp("cmu")
    members = ["cmu-asf-amc/TRIALS.tsv", "cmu-asf-amc/CMU data.csv", "cmu-asf-amc/16/16.asf",
               "cmu-asf-amc/16/16_15.amc", "cmu-asf-amc/16/16_03.amc"]
    for key in SAME_TAKES:
        subject = key[:2]
        members += [f"cmu-asf-amc/{subject}/{subject}.asf", f"cmu-asf-amc/{subject}/{key}.amc"]
    root = unpack("cmu-asf-amc", sorted(set(members)), dest)
    unpack("cmu-iclone", [f"cmu-iclone/bvh/0{k}.bvh" for k in SAME_TAKES], dest)
    return root


def _angle(joints: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """The angle at joint b between the bones to a and to c, per frame, in degrees."""
    u, v = joints[:, a] - joints[:, b], joints[:, c] - joints[:, b]
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


LIMBS = {"left thigh": (1, 4), "right shin": (5, 8), "left upper arm": (16, 18),
         "right upper arm": (17, 19), "left forearm": (18, 20), "right forearm": (19, 21)}
HINGES = {"left knee": (1, 4, 7), "right knee": (2, 5, 8), "left elbow": (16, 18, 20),
          "right elbow": (17, 19, 21)}


def _limb_directions(joints: np.ndarray) -> np.ndarray:
    d = np.stack([joints[:, b] - joints[:, a] for a, b in LIMBS.values()], axis=1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _yaw_aligned(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """`theirs` (T, L, 3) directions turned about +Y by the one angle that best matches `ours` (the other
    project turned some takes to face another way)."""
    u, v = ours.reshape(-1, 3), theirs.reshape(-1, 3)
    cross = (u[:, 0] * v[:, 2] - u[:, 2] * v[:, 0]).sum()
    yaw = np.arctan2(cross, (u[:, 0] * v[:, 0] + u[:, 2] * v[:, 2]).sum())  # maximises sum(u . R v)
    c, s = np.cos(yaw), np.sin(yaw)
    return theirs @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T


def test_skeleton_units_axes_dofs_and_limits(cmu):
    skel = asf_amc.read_asf(cmu / "16" / "16.asf")
    assert len(skel.bones) == 31 and skel.bones[0].name == "root" and skel.name == "VICON"
    assert skel.degrees and skel.length_unit == 0.45
    assert skel.metres_per_unit == pytest.approx(0.0254 / 0.45)
    bones = {b.name: b for b in skel.bones}
    assert skel.bones[bones["lfemur"].parent].name == "lhipjoint"
    assert skel.bones[bones["lhumerus"].parent].name == "lclavicle"
    assert bones["ltibia"].dofs == ("rx",) and bones["ltibia"].limits == [(-10.0, 170.0)]
    assert bones["lclavicle"].dofs == ("ry", "rz") and bones["lhipjoint"].dofs == ()
    assert bones["lfemur"].limits == [(-160.0, 20.0), (-70.0, 70.0), (-60.0, 70.0)]
    assert bones["lfemur"].length == pytest.approx(7.03469)
    # "axis 0 0 20 XYZ": the femur's local frame is turned 20 degrees about z
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    np.testing.assert_allclose(bones["lfemur"].axis, [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-9)
    names = [b.name for b in skel.bones]
    assert all(names.index(skel.bones[b.parent].name) < i for i, b in enumerate(skel.bones) if i)


def test_forward_kinematics_keeps_every_bone_its_asf_length(cmu):
    skel = asf_amc.read_asf(cmu / "16" / "16.asf")
    motion = asf_amc.read_amc(cmu / "16" / "16_15.amc", skel)
    assert motion.frames == 471 and motion.root.shape == (471, 6)
    assert motion.dofs["lclavicle"].shape == (471, 2)
    np.testing.assert_allclose(motion.root[0], [1.22935, 17.2598, -26.9208, 0.489518, -4.81374, -3.87663])
    ends = asf_amc.forward_kinematics(skel, motion)
    starts = asf_amc.bone_starts(skel, ends)
    lengths = np.linalg.norm(ends - starts, axis=-1)  # (T, B)
    np.testing.assert_allclose(lengths, np.broadcast_to([b.length for b in skel.bones], lengths.shape),
                               atol=1e-9)
    np.testing.assert_allclose(ends[:, 0], motion.root[:, :3])  # the root sits where its channels say
    joints = asf_amc.amc_to_smpl22(skel, motion)
    thigh = np.linalg.norm(joints[:, 4] - joints[:, 1], axis=-1)  # l_hip -> l_knee: CMU's lfemur
    np.testing.assert_allclose(thigh, 7.03469 * 0.0254 / 0.45, rtol=1e-5)


def test_a_standing_adult_in_metres_walking_forward(cmu):
    joints, fps = asf_amc.load_amc(cmu / "16" / "16_15.amc")  # "walk", 471 frames at 120 fps
    assert fps == 120.0 and joints.shape == (471, 22, 3) and joints.dtype == np.float32
    feet = joints[:, [7, 8, 10, 11], 1].min(axis=1)
    assert 0.9 < np.median(joints[:, 0, 1] - feet) < 1.05  # pelvis height of an adult
    assert 1.45 < np.median(joints[:, 15, 1] - feet) < 1.7  # the head joint (the skull's base)
    travel = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
    speed = np.linalg.norm(travel) / (470 / fps)
    assert 0.8 < speed < 1.8  # metres per second of a walk


@pytest.mark.parametrize("key", SAME_TAKES)
def test_same_take_as_the_iclone_conversion(cmu, key):
    """The other project retargeted CMU's AMC onto a larger CC_Base body: bone lengths differ, but every
    limb must point the same way frame by frame (posing with the dofs in the wrong order, or without
    the bones' axis frames, puts the arms tens of degrees off), and the hinges bend alike."""
    ours, fps = asf_amc.load_amc(cmu / key[:2] / f"{key}.amc")
    theirs, their_fps, _ = cmu_iclone.bvh_joints(cmu.parent / "cmu-iclone" / "bvh" / f"0{key}.bvh")
    ours = resample(ours, fps, their_fps)
    assert abs(len(ours) - len(theirs)) <= 1
    n = min(len(ours), len(theirs))
    mine = _limb_directions(ours[:n])
    other = _yaw_aligned(mine, _limb_directions(theirs[:n]))
    off = np.degrees(np.arccos(np.clip((mine * other).sum(-1), -1, 1)))  # (T, limbs)
    for i, name in enumerate(LIMBS):
        assert np.median(off[:, i]) < 3.0, name
        assert np.percentile(off[:, i], 95) < 10.0, name
    for name, (a, b, c) in HINGES.items():
        bend, their_bend = _angle(ours[:n], a, b, c), _angle(theirs[:n], a, b, c)
        assert np.abs(bend - their_bend).mean() < 3.5, name


@pytest.mark.parametrize("key", ("02_01", "02_03"))
def test_walk_and_run_paths_scale_with_the_legs(cmu, key):
    ours, fps = asf_amc.load_amc(cmu / "02" / f"{key}.amc")
    theirs, their_fps, _ = cmu_iclone.bvh_joints(cmu.parent / "cmu-iclone" / "bvh" / f"0{key}.bvh")
    ours = resample(ours, fps, their_fps)
    n = min(len(ours), len(theirs))

    def travel(j):
        return np.linalg.norm(j[n - 1, 0, [0, 2]] - j[0, 0, [0, 2]])

    def leg(j):
        return np.linalg.norm(j[0, 1] - j[0, 4]) + np.linalg.norm(j[0, 4] - j[0, 7])

    assert travel(ours) > 2.5
    assert travel(ours) / travel(theirs) == pytest.approx(leg(ours) / leg(theirs), rel=0.06)


def test_frame_rate_from_the_trial_list_or_the_user(cmu, tmp_path):
    fps, where = asf_amc.trial_fps(cmu / "16" / "16_15.amc")
    assert fps == 120.0 and where.name == "TRIALS.tsv"
    (cmu / "TRIALS.tsv").rename(tmp_path / "TRIALS.tsv")
    try:
        assert asf_amc.trial_fps(cmu / "16" / "16_15.amc")[1].name == "CMU data.csv"
    finally:
        (tmp_path / "TRIALS.tsv").rename(cmu / "TRIALS.tsv")
    loose = tmp_path / "16_15.amc"
    loose.write_bytes((cmu / "16" / "16_15.amc").read_bytes())
    assert asf_amc.trial_fps(loose) is None
    with pytest.raises(MotionFileError, match="do not store a frame rate"):
        asf_amc.load_amc(loose, cmu / "16" / "16.asf")
    joints, fps = asf_amc.load_amc(loose, cmu / "16" / "16.asf", fps=60)
    assert fps == 60.0 and len(joints) == 471
    motion = io.load_motion(loose, asf=cmu / "16" / "16.asf", amc_fps=60)  # resampled to 20 fps
    assert motion.fps == 20.0 and motion.frames == limits.resampled_count(471, 60, 20)


def test_convert_amc_to_features_and_bvh(cmu, tmp_path, capsys):
    out = tmp_path / "walk.npy"
    amc, asf = cmu / "16" / "16_15.amc", cmu / "16" / "16.asf"
    assert main(["convert", str(amc), "--asf", str(asf), str(out)]) == 0
    line = capsys.readouterr().out
    assert "16_15.amc (amc, 471 frames @ 120 fps)" in line and "(h3d263, 78 frames @ 20 fps)" in line
    feats = np.load(out)
    assert feats.shape == (78, 263) and np.isfinite(feats).all()
    walked = F.features_to_joints(feats)
    np.testing.assert_allclose(F._bone_lengths(walked.astype(np.float64))[:, 1:],
                               np.broadcast_to(sk.BONE_LENGTHS[1:], (78, 21)), atol=1e-5)
    assert walked[-1, 0, 2] - walked[0, 0, 2] > 2.5  # walks forward (+Z) for 3.9 s
    bvh = tmp_path / "jump.bvh"  # the skeleton found beside the AMC, the rate from TRIALS.tsv
    assert main(["convert", str(cmu / "16" / "16_03.amc"), str(bvh), "--fps", "30"]) == 0
    assert "(bvh, 103 frames @ 30 fps)" in capsys.readouterr().out
    back = io.load_motion(bvh, fps=None)
    assert back.fps == 30.0 and back.frames == 103
    source = resample(asf_amc.load_amc(cmu / "16" / "16_03.amc")[0], 120, 30)
    assert np.ptp(back.joints[:, 0, 1]) == pytest.approx(np.ptp(source[:, 0, 1]), rel=0.15)  # the jump


ASF_OK = """:version 1.10
:units
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name thigh
     direction 0 -1 0
     length 7
     axis 0 0 0 XYZ
    dof rx
    limits (-10 170)
  end
:hierarchy
  begin
    root thigh
  end
"""
AMC_OK = ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 17 0 0 0 0\nthigh 10\n2\nroot 0 17 1 0 0 0\nthigh 20\n"


def _write(tmp_path, asf=ASF_OK, amc=AMC_OK):
    (tmp_path / "s.asf").write_text(asf)
    (tmp_path / "s_01.amc").write_text(amc)
    return tmp_path / "s.asf", tmp_path / "s_01.amc"


def test_a_small_skeleton_poses_by_the_acclaim_rule(tmp_path):
    asf, amc = _write(tmp_path)
    skel = asf_amc.read_asf(asf)
    ends = asf_amc.forward_kinematics(skel, asf_amc.read_amc(amc, skel))
    for f, deg in enumerate((10, 20)):  # rx turns the downward thigh about +x (towards -z)
        a = np.radians(deg)
        np.testing.assert_allclose(ends[f, 1] - ends[f, 0], 7 * np.array([0, -np.cos(a), -np.sin(a)]),
                                   atol=1e-9)


BAD = {
    "no hierarchy": (ASF_OK.split(":hierarchy")[0], AMC_OK, "no :hierarchy section"),
    "translation dof": (ASF_OK.replace("dof rx", "dof tx"), AMC_OK, "dof 'tx' not supported"),
    "limits count": (ASF_OK.replace("(-10 170)", "(-10 170) (0 1)"), AMC_OK, "2 limits for 1 dofs"),
    "orphan bone": (ASF_OK.replace("root thigh", "root"), AMC_OK, "not connected to the root"),
    "unknown bone in hierarchy": (ASF_OK.replace("root thigh", "root thigh shin"), AMC_OK, "bone 'shin'"),
    "bad axis order": (ASF_OK.replace("0 0 0 XYZ", "0 0 0 XXZ"), AMC_OK, "permutation of XYZ"),
    "bad length unit": (ASF_OK.replace("length 0.45", "length -1"), AMC_OK, "must be positive"),
    "non-number in ASF": (ASF_OK.replace("direction 0 -1 0", "direction 0 x 0"), AMC_OK, "not a number"),
    "missing bone in a frame": (ASF_OK, AMC_OK.replace("thigh 20\n", ""), "frame 2 has no line for thigh"),
    "wrong value count": (ASF_OK, AMC_OK.replace("thigh 20", "thigh 20 3"), "has 2 values; its dofs need 1"),
    "frames out of order": (ASF_OK, AMC_OK.replace("\n2\n", "\n3\n"), "frame 3 follows frame 1"),
    "unknown bone in AMC": (ASF_OK, AMC_OK.replace("thigh 20", "arm 20"), "'arm' is not animated"),
    "not a number in AMC": (ASF_OK, AMC_OK.replace("thigh 20", "thigh nan"), "not finite or out of range"),
    "twice in a frame": (ASF_OK, AMC_OK.replace("thigh 20", "thigh 20\nthigh 2"), "appears twice in frame 2"),
    "no frames": (ASF_OK, ":DEGREES\n", "no frames"),
    "values before a frame": (ASF_OK, "root 0 0 0 0 0 0\n", "expected a frame number"),
    "header after a frame": (ASF_OK, AMC_OK + ":RADIANS\n", "header line ':RADIANS' after the first frame"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys, case):
    asf_text, amc_text, message = BAD[case]
    asf, amc = _write(tmp_path, asf_text, amc_text)
    out = tmp_path / "o.npz"
    assert main(["convert", str(amc), "--asf", str(asf), "--in-fps", "120", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ropar convert: error:") and message in err and "\n" not in err, err
    assert not out.exists()


def test_sizes_are_capped(tmp_path, capsys, monkeypatch):
    asf, amc = _write(tmp_path)
    monkeypatch.setattr(asf_amc, "MAX_AMC_BYTES", 16)
    with pytest.raises(MotionFileError, match="exceeds the limit"):
        asf_amc.read_amc(amc, asf_amc.read_asf(asf))
    monkeypatch.setattr(asf_amc, "MAX_AMC_BYTES", 2**20)
    monkeypatch.setattr(limits, "MAX_MOTION_FRAMES", 1)
    with pytest.raises(MotionFileError, match="more than 1 frames"):
        asf_amc.read_amc(amc, asf_amc.read_asf(asf))


def test_a_non_cmu_skeleton_and_other_misuse_are_refused(tmp_path, capsys):
    asf, amc = _write(tmp_path)
    with pytest.raises(MotionFileError, match="not a CMU skeleton: no bone"):
        io.load_motion(amc, asf=asf, amc_fps=120)
    assert main(["convert", str(amc), str(tmp_path / "o.npz"), "--in-fps", "120"]) == 2  # s.asf found
    assert "not a CMU skeleton" in capsys.readouterr().err
    assert main(["convert", str(amc), str(tmp_path / "o.npz"), "--asf", str(tmp_path / "none.asf"),
                 "--in-fps", "120"]) == 2
    assert "none.asf: no such file" in capsys.readouterr().err
    (tmp_path / "t.asf").write_text(ASF_OK)  # two skeletons and none named after the trial
    (tmp_path / "s.asf").rename(tmp_path / "u.asf")
    assert main(["convert", str(amc), str(tmp_path / "o.npz"), "--in-fps", "120"]) == 2
    assert "pass --asf FILE" in capsys.readouterr().err
    npz = tmp_path / "m.npz"
    io.save_motion(npz, io.Motion(np.zeros((3, 22, 3), np.float32), None, 20.0))
    assert main(["convert", str(npz), str(tmp_path / "o.npz"), "--asf", str(asf)]) == 2
    assert "--asf goes with an .amc input" in capsys.readouterr().err
    with pytest.raises(MotionFileError, match="AMC is read only"):
        io.save_motion(tmp_path / "x.amc", io.Motion(np.zeros((3, 22, 3), np.float32), None, 20.0))
