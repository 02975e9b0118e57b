"""features.py against HumanML3D's own sample pair (012314: new_joint_vecs + new_joints)."""

from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.errors import MotionFileError, RoparError

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "humanml3d-sample"
GAUSS_RADIUS = 4 * F.FORWARD_SIGMA  # scipy's gaussian_filter1d truncates at 4 sigma


@pytest.fixture(scope="module")
def sample():
    if not (SAMPLE / "012314_vecs.npy").exists():
        pytest.skip(f"HumanML3D sample not found at {SAMPLE}")
    return np.load(SAMPLE / "012314_joints.npy"), np.load(SAMPLE / "012314_vecs.npy")


def test_sample_shapes(sample):
    joints, vecs = sample
    assert joints.shape == (170, 22, 3) and vecs.shape == (170, 263)


def test_features_to_joints_reproduces_new_joints(sample):
    joints, vecs = sample
    out = F.features_to_joints(vecs)
    assert out.shape == joints.shape and out.dtype == np.float32
    assert np.abs(out - joints).max() < 1e-6  # measured 2.4e-7


def test_joints_to_features_reproduces_vecs(sample):
    """new_joints (170 frames) is recover_from_ric(vecs): HumanML3D's global positions G[0..169] of a clip
    that had 171 frames. Re-processing it yields 169 rows = vecs[:169]. The only information missing is
    G[170], which enters the gaussian-smoothed facing (radius 80 frames) of the last rows, so rows
    0..88 must match tightly and the rest only loosely (the facing frame differs there by < 0.04 deg)."""
    joints, vecs = sample
    feats = F.joints_to_features(joints)
    assert feats.shape == (169, 263) and feats.dtype == np.float32
    ref = vecs[:169]
    tight = len(feats) - GAUSS_RADIUS
    err = np.abs(feats - ref)
    # measured (tight rows / all rows): root 1.1e-7 / 3.0e-4, ric 1.2e-6 / 6.8e-3, rot 7.7e-6 / 1.3e-2,
    # velocities 1.9e-6 / 4.1e-4, contacts exact.
    assert err[:tight, sk.ROOT_SLICE].max() < 1e-6
    assert err[:tight, sk.RIC_SLICE].max() < 5e-6
    assert err[:tight, sk.ROT_SLICE].max() < 2e-5
    assert err[:tight, sk.VEL_SLICE].max() < 5e-6
    assert np.array_equal(feats[:, sk.CONTACT_SLICE], ref[:, sk.CONTACT_SLICE])
    assert err[:, sk.ROOT_SLICE].max() < 1e-3
    assert err[:, sk.RIC_SLICE].max() < 1e-2
    assert err[:, sk.ROT_SLICE].max() < 2e-2
    assert err[:, sk.VEL_SLICE].max() < 1e-3
    # the r_rot[0] = identity quirk: the first yaw step absorbs the smoothed facing (0.106 rad)
    assert abs(feats[0, 0] - 0.1064) < 1e-3


def test_rotations_fk_reproduces_joints(sample):
    joints, vecs = sample
    rot = F.features_to_rotations(vecs)
    assert rot.shape == (170, 22, 4)
    np.testing.assert_allclose(np.linalg.norm(rot, axis=-1), 1.0, atol=1e-5)
    quat, root = F.recover_root(vecs)
    np.testing.assert_allclose(rot[:, 0], quat, atol=1e-6)
    out = F.fk(rot, root)
    assert np.abs(out - joints).max() < 5e-6  # measured 1.3e-6 (recover_from_rot semantics)


def test_ik_then_fk_round_trip(sample):
    joints, _ = sample
    rot = F.joints_to_rotations(joints)
    out = F.fk(rot, joints[:, 0])
    assert np.abs(out - joints).max() < 5e-6  # the sample already has the target bone lengths
    np.testing.assert_allclose(rot[0, 0], [1, 0, 0, 0])  # r_rot[0] = identity


def test_world_bone_rotations_point_bones(sample):
    joints, vecs = sample
    world = F.world_bone_rotations(F.features_to_rotations(vecs))
    for c in (4, 13, 18, 15):
        bone = F.qrot(world[:, c], np.broadcast_to(sk.REST_OFFSETS[c], (len(joints), 3)))
        np.testing.assert_allclose(bone, joints[:, c] - joints[:, sk.PARENTS[c]], atol=1e-5)


def test_part_split_merge_round_trip(sample):
    _, vecs = sample
    parts = sk.split_parts(vecs)
    assert {p: v.shape[-1] for p, v in parts.items()} == sk.PART_DIMS
    assert np.array_equal(sk.merge_parts(parts), vecs)


def test_features_joints_features_is_stable(sample):
    """Features -> joints -> features is a fixed point up to the smoothing edge."""
    _, vecs = sample
    again = F.joints_to_features(F.features_to_joints(vecs))
    tight = len(again) - GAUSS_RADIUS
    assert np.abs(again[:tight] - vecs[:tight]).max() < 2e-5


def _turn_and_scale(joints, yaw_deg, scale, up="y"):
    q = F.qbetween(np.array([0.0, 0.0, 1.0]),
                   np.array([np.sin(np.radians(yaw_deg)), 0.0, np.cos(np.radians(yaw_deg))]))
    out = F.qrot(q, joints.astype(np.float64)) * scale + np.array([3.0, 0.7, -2.0]) * scale
    if up == "z":  # a proper rotation Y-up -> Z-up: (x, y, z) -> (x, -z, y)
        out = np.stack([out[..., 0], -out[..., 2], out[..., 1]], axis=-1)
    return out


@pytest.mark.parametrize("scale,unit", [(1.0, "m"), (100.0, "cm"), (1000.0, "mm")])
@pytest.mark.parametrize("up", ["y", "z"])
def test_normalise_joints_undoes_unit_up_and_facing(sample, scale, unit, up):
    joints, _ = sample
    ref, _ = F.normalise_joints(joints)
    moved = _turn_and_scale(joints, 130.0, scale, up)
    out, report = F.normalise_joints(moved)
    assert report["unit"] == unit
    assert report["up_axis"] == ("+Y" if up == "y" else "+Z")
    assert report["mirrored"] is False
    assert np.abs(out - ref).max() < 1e-4
    assert abs(out[..., 1].min()) < 1e-6 and np.abs(out[0, 0, [0, 2]]).max() < 1e-6
    # frame 0 faces +Z: left hip on +X
    assert out[0, 1, 0] > out[0, 2, 0]


def test_normalise_joints_detects_reflection(sample):
    joints, _ = sample
    reflected = joints * np.array([-1.0, 1.0, 1.0])
    out, report = F.normalise_joints(reflected)
    assert report["mirrored"] is True
    ref, _ = F.normalise_joints(joints)
    assert np.abs(out - ref).max() < 1e-5


def test_normalise_joints_resamples(sample):
    joints, _ = sample
    out, report = F.normalise_joints(joints, fps=40)
    assert report["fps_out"] == 20 and len(out) == 85
    assert "40->20 fps" in F.describe_report(report)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((10, 21, 3)), "shape"),
    (np.zeros((1, 22, 3)), "at least 2 frames"),
    (np.full((5, 22, 3), np.nan), "NaN"),
    (np.zeros((5, 22)), "shape"),
])
def test_bad_joints_raise(bad, match):
    with pytest.raises(MotionFileError, match=match):
        F.joints_to_features(bad)
    with pytest.raises(RoparError):
        F.normalise_joints(bad)


def test_bad_features_raise(sample):
    _, vecs = sample
    with pytest.raises(MotionFileError, match="263"):
        F.features_to_joints(vecs[:, :262])
    broken = vecs.copy()
    broken[7, 100] = np.inf
    with pytest.raises(MotionFileError, match="frame 7"):
        F.features_to_rotations(broken)


def test_inches_are_a_unit(sample):
    joints, _ = sample
    ref, _ = F.normalise_joints(joints)
    out, report = F.normalise_joints(joints / 0.0254)
    assert report["unit"] == "in" and np.abs(out - ref).max() < 1e-4


@pytest.mark.parametrize("factor", [1e5, 1 / 0.0564, 3e-3])  # no named unit fits (CMU's is 0.0564 m)
def test_any_other_scale_comes_from_the_skeletons_height(sample, factor):
    joints, _ = sample
    ref, _ = F.normalise_joints(joints)
    out, report = F.normalise_joints(joints * factor)
    assert report["unit"] == "height" and "skeleton's height" in F.describe_report(report)
    assert abs(F._size_proxy(out) - 1.55) < 1e-3  # an adult's head-to-ankle bone path
    ratio = F._size_proxy(ref) / 1.55
    assert np.abs(out * ratio - ref).max() < 1e-4  # the same motion, only its size changed


def test_scale_override_and_coinciding_joints(sample):
    joints, _ = sample
    ref, _ = F.normalise_joints(joints)
    out, report = F.normalise_joints(joints * 7.0, scale=1 / 7.0)
    assert report["unit"] == "given" and np.abs(out - ref).max() < 1e-4
    with pytest.raises(MotionFileError, match="scale"):
        F.normalise_joints(joints, scale=float("nan"))
    with pytest.raises(MotionFileError, match="coincide"):
        F.normalise_joints(np.zeros((4, 22, 3)))


def test_qbetween_handles_opposite_vectors():
    q = F.qbetween(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0]))
    np.testing.assert_allclose(F.qrot(q, np.array([0.0, 0.0, 1.0])), [0, 0, -1], atol=1e-12)


def test_yaw_sign_flip_quirk_is_kept(sample):
    """HumanML3D's r_rot keeps w >= 0, so a turn through +-180 deg from frame 0's facing stores one frame's
    half-angle step with the wrong sign (ANCHOR-FACTS §1.5, issue #156): exactly one frame for 432 deg."""
    joints, _ = sample
    pose = joints[0].astype(np.float64) - joints[0, 0] * np.array([1.0, 0.0, 1.0])
    yaw = np.radians(np.linspace(0.0, 432.0, 241))
    q = np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], axis=-1)
    turning = F.qrot(q[:, None], np.broadcast_to(pose, (241, 22, 3)))
    feats = F.joints_to_features(turning)
    half_step = np.radians(432.0 / 240) / 2
    wrong = np.flatnonzero(feats[1:, 0] > 0) + 1  # turning left stores negative steps
    assert len(wrong) == 1
    np.testing.assert_allclose(feats[wrong[0], 0], half_step, rtol=1e-4)
    heading = np.degrees(2 * np.cumsum(feats[:, 0]))[wrong[0]]
    assert 175 < abs(heading) < 180
