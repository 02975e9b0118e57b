"""The add-on's numpy core without Blender: SMPL-22 constants, rotations, rig presets, retargeting.

Retarget results are checked against an independent forward kinematics that uses Blender's pose formula
M_b = M_parent · Rest_parent⁻¹ · Rest_b · Basis_b (tests/test_blender_addon.py checks the same against
Blender itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from blender_addon import presets, rotations, smpl22
from blender_addon.errors import RigError
from blender_addon.fake_motion import fake_motion, forward_kinematics
from blender_addon.footlock import LOCK_BLEND_FRAMES, _runs, foot_contacts
from blender_addon.retarget import RigRest, retarget
from blender_addon.rotations import Y_UP_TO_Z_UP, normalize, quat_to_matrix

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SAMPLE = SHARED / "humanml3d-sample" / "012314_joints.npy"


# ----------------------------------------------------------------------------------------------------
# Helpers: rigs as plain arrays, and Blender's pose evaluation in numpy


def bone_matrix(head, tail, roll_seed):
    """A rest matrix like Blender's: Y along the bone, X/Z an arbitrary (seeded) roll."""
    y = normalize(np.asarray(tail, float) - head)
    x = normalize(np.cross(y, np.random.default_rng(roll_seed).normal(size=3)))
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, np.cross(x, y), head
    return m


def smpl_rig(scale=1.0, names=None, lengths=None):
    """SMPL-22-shaped rig (Z up, feet on the floor), optionally with other bone lengths."""
    offsets = smpl22.REST_OFFSETS if lengths is None else normalize(smpl22.REST_OFFSETS) * lengths[:, None]
    joints = np.zeros((22, 3))
    for j in range(1, 22):
        joints[j] = joints[smpl22.PARENTS[j]] + offsets[j]
    joints = joints @ Y_UP_TO_Z_UP.T * scale
    joints[:, 2] -= joints[:, 2].min()
    mats = []
    for j in range(22):
        a = smpl22.AIM_CHILD.get(j)
        tail = joints[a] if a is not None else joints[j] + 0.3 * (joints[j] - joints[smpl22.PARENTS[j]])
        mats.append(bone_matrix(joints[j], tail, j))
    names = names or [n.title() for n in smpl22.JOINT_NAMES]
    return RigRest(list(names), np.array(smpl22.PARENTS), np.array(mats))


def blender_pose_heads(rig: RigRest, result) -> np.ndarray:
    """(T, B, 3) armature-space heads Blender would show for the keyed quaternions/locations."""
    T = result.quaternions.shape[0]
    col = {n: i for i, n in enumerate(result.bone_names)}
    posed = np.zeros((T, len(rig.names), 4, 4))
    for b in rig.order:
        basis = np.tile(np.eye(4), (T, 1, 1))
        name = rig.names[b]
        if name in col:
            basis[:, :3, :3] = quat_to_matrix(result.quaternions[:, col[name]])
        if name in result.located:
            basis[:, :3, 3] = result.located[name]
        p = rig.parents[b]
        local = rig.matrices[b] if p < 0 else np.linalg.inv(rig.matrices[p]) @ rig.matrices[b]
        posed[:, b] = (local @ basis) if p < 0 else posed[:, p] @ local @ basis
    return posed[:, :, :3, 3]


@pytest.fixture(scope="module")
def walk():
    joints, rots, root, fps = fake_motion("a person walks forward", seconds=3, seed=1)
    return joints.astype(np.float64), rots, fps


# ----------------------------------------------------------------------------------------------------
# Constants and rotations


def test_smpl22_is_ropar_core_skeleton_in_the_repository():
    from ropar_core import skeleton as sk

    assert smpl22._sk is sk  # no copy: the add-on reads the core's constants (the zip vendors the file)
    assert smpl22.JOINT_NAMES is sk.JOINT_NAMES and smpl22.REST_OFFSETS is sk.REST_OFFSETS
    np.testing.assert_allclose(smpl22.rest_joints()[15], np.sum(sk.REST_OFFSETS[[3, 6, 9, 12, 15]], axis=0))


def test_rotations_match_scipy():
    r = Rotation.random(200, random_state=3)
    m = r.as_matrix()
    q = rotations.matrix_to_quat(m)
    ref = r.as_quat()[:, [3, 0, 1, 2]]
    ref *= np.sign(ref[:, :1])
    np.testing.assert_allclose(q, ref, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), m, atol=1e-12)
    for order in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):
        e = rotations.matrix_to_euler(m, order)  # Blender's 'XYZ' = X first: scipy's extrinsic 'xyz'
        back = Rotation.from_euler(order.lower(), e[:, ["XYZ".index(c) for c in order]]).as_matrix()
        np.testing.assert_allclose(back, m, atol=1e-9)


def test_swing_is_the_smallest_rotation_and_handles_opposites():
    rng = np.random.default_rng(0)
    u, v = normalize(rng.normal(size=(50, 3))), normalize(rng.normal(size=(50, 3)))
    for target in (v, -u):
        r = rotations.swing(u, target)
        np.testing.assert_allclose(np.einsum("nij,nj->ni", r, u), target, atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    angle = Rotation.from_matrix(rotations.swing(u, v)).magnitude()
    np.testing.assert_allclose(angle, np.arccos(np.clip(np.sum(u * v, 1), -1, 1)), atol=1e-9)


def test_continuous_quats_removes_sign_flips():
    q = rotations.axis_angle_to_quat(np.tile([0.0, 0.0, 1.0], (40, 1)), np.linspace(0, 6, 40))
    q[::3] *= -1
    fixed = rotations.continuous_quats(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=1) > 0)


def test_fake_motion_is_deterministic_with_smpl_bone_lengths():
    a, rots, root, fps = fake_motion("a person walks forward", 2, seed=4)
    b = fake_motion("a person walks forward", 2, seed=4)[0]
    c = fake_motion("a person walks forward", 2, seed=5)[0]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.01
    lengths = np.linalg.norm(a[:, 1:] - a[:, list(smpl22.PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(smpl22.BONE_LENGTHS[1:], lengths.shape), atol=1e-5)
    np.testing.assert_allclose(forward_kinematics(rots, root), a, atol=1e-5)  # rotations are consistent
    assert a[..., 1].min() == pytest.approx(0.0, abs=1e-6) and fps == 20
    assert a[-1, 0, 2] > 2.0  # walks towards +Z


# ----------------------------------------------------------------------------------------------------
# Presets


RIG_NAMES = {
    "smpl": ["m_avg_Pelvis", "m_avg_L_Hip", "m_avg_R_Hip", "m_avg_Spine1", "m_avg_L_Knee", "m_avg_R_Knee",
             "m_avg_Spine2", "m_avg_L_Ankle", "m_avg_R_Ankle", "m_avg_Spine3", "m_avg_L_Foot", "m_avg_R_Foot",
             "m_avg_Neck", "m_avg_L_Collar", "m_avg_R_Collar", "m_avg_Head", "m_avg_L_Shoulder",
             "m_avg_R_Shoulder", "m_avg_L_Elbow", "m_avg_R_Elbow", "m_avg_L_Wrist", "m_avg_R_Wrist"],
    "mixamo": [f"mixamorig1:{n}" for n in (
        "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
        "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
        "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand")],
    "cmu": ["Hips", "LeftUpLeg", "RightUpLeg", "LowerBack", "LeftLeg", "RightLeg", "Spine", "LeftFoot",
            "RightFoot", "Spine1", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder",
            "Head", "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand"],
    "ue5_mannequin": ["pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_03", "foot_l",
                      "foot_r", "spine_05", "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head",
                      "upperarm_l", "upperarm_r", "lowerarm_l", "lowerarm_r", "hand_l", "hand_r"],
    "rigify_metarig": ["spine", "thigh.L", "thigh.R", "spine.001", "shin.L", "shin.R", "spine.002",
                       "foot.L", "foot.R", "spine.003", "toe.L", "toe.R", "spine.004", "shoulder.L",
                       "shoulder.R", "spine.006", "upper_arm.L", "upper_arm.R", "forearm.L", "forearm.R",
                       "hand.L", "hand.R"],
}


@pytest.mark.parametrize("preset", sorted(RIG_NAMES))
def test_presets_detect_their_rigs(preset):
    names = RIG_NAMES[preset]
    found = presets.detect(names, list(smpl22.PARENTS))
    assert found.preset == preset
    assert found.joints == {j: names[j] for j in range(22)}
    assert found.consistent == 21  # every joint's bone hangs below its SMPL parent's bone


def test_every_preset_file_loads_and_names_valid_joints():
    loaded = presets.load_presets()
    assert set(loaded) >= {"smpl", "rigify_metarig", "rigify_generated", "mixamo", "ue5_mannequin", "bandai",
                           "cmu"}
    for p in loaded.values():
        assert p.label and p.description
        assert {j for j, _ in p.joints} >= set(presets.REQUIRED_JOINTS)


def test_ue4_and_ue5_spines_both_resolve():
    ue5 = presets.match(presets.load_presets()["ue5_mannequin"],
                        RIG_NAMES["ue5_mannequin"] + ["spine_02", "spine_04"], list(smpl22.PARENTS) + [3, 6])
    assert [ue5.joints[j] for j in (3, 6, 9)] == ["spine_01", "spine_03", "spine_05"]
    ue4_names = list(RIG_NAMES["ue5_mannequin"])
    ue4_names[6], ue4_names[9] = "spine_02", "spine_03"
    ue4 = presets.match(presets.load_presets()["ue5_mannequin"], ue4_names, list(smpl22.PARENTS))
    assert [ue4.joints[j] for j in (3, 6, 9)] == ["spine_01", "spine_02", "spine_03"]


def test_missing_bones_are_named_in_the_error():
    names = [n for n in RIG_NAMES["mixamo"] if not n.endswith(("LeftForeArm", "RightToeBase"))]
    parents = list(range(-1, len(names) - 1))
    with pytest.raises(RigError, match=r"lacks bones .*l_elbow \(tried LeftForeArm\)") as info:
        presets.bone_map_for(names, parents, "mixamo", armature="Hero")
    assert "Hero" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RigError, match="no rig preset fits"):
        presets.bone_map_for(["Bone", "Bone.001"], [-1, 0])
    with pytest.raises(RigError, match="unknown rig preset 'nope'"):
        presets.bone_map_for(names, parents, "nope")


def test_a_broken_preset_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"joints": {"elbow_l": ["x"]}}')
    with pytest.raises(RigError, match="unknown joints"):
        presets.load_presets(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RigError, match="not valid preset JSON"):
        presets.load_presets(tmp_path)


# ----------------------------------------------------------------------------------------------------
# Retargeting


@pytest.mark.parametrize("scale", [1.0, 2.5, 100.0])
def test_smpl_rig_follows_the_generated_joints_exactly(walk, scale):
    joints, _, fps = walk
    rig = smpl_rig(scale)
    result = retarget(joints, rig, {j: rig.names[j] for j in range(22)}, fps=fps)
    heads = blender_pose_heads(rig, result)
    np.testing.assert_allclose(heads, result.heads, atol=1e-9 * scale)  # our FK == Blender's formula
    assert result.placement.scale == pytest.approx(scale, rel=1e-6)
    error_cm = 100 * np.linalg.norm(result.placement.to_motion(heads) - joints, axis=-1)
    assert error_cm.max() < 0.01
    assert list(result.located) == ["Pelvis"]
    assert np.all(np.sum(result.quaternions[1:] * result.quaternions[:-1], -1) > 0)  # continuous


def test_other_proportions_keep_every_bone_direction(walk):
    """A rig with other bone lengths (and a rest pose with arms out) cannot match positions, but every
    mapped bone must point where the generated bone points."""
    joints, _, fps = walk
    lengths = smpl22.BONE_LENGTHS * np.random.default_rng(7).uniform(0.7, 1.4, size=22)
    rig = smpl_rig(1.0, lengths=lengths)
    result = retarget(joints, rig, {j: rig.names[j] for j in range(22)}, fps=fps)
    heads = blender_pose_heads(rig, result)
    gen = joints @ Y_UP_TO_Z_UP.T
    worst = 0.0
    for j, a in smpl22.AIM_CHILD.items():
        d_rig = normalize(heads[:, a] - heads[:, j])
        d_gen = normalize(gen[:, a] - gen[:, j])
        worst = max(worst, np.degrees(np.arccos(np.clip(np.sum(d_rig * d_gen, -1), -1, 1))).max())
    assert worst < 0.01
    np.testing.assert_allclose(result.placement.to_motion(heads[:, 0]), joints[:, 0], atol=1e-9)  # root path


def test_pelvis_and_chest_turn_with_the_hip_and_shoulder_lines(walk):
    joints, _, fps = walk
    rig = smpl_rig()
    result = retarget(joints, rig, {j: rig.names[j] for j in range(22)}, fps=fps)
    heads = blender_pose_heads(rig, result)
    gen = joints @ Y_UP_TO_Z_UP.T
    for left, right in ((1, 2), (13, 14)):
        rig_line, gen_line = heads[:, left] - heads[:, right], gen[:, left] - gen[:, right]
        cos = np.sum(normalize(rig_line) * normalize(gen_line), -1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.01


def test_foot_lock_stops_sliding_on_other_proportions(walk):
    joints, _, fps = walk
    lengths = smpl22.BONE_LENGTHS.copy()
    lengths[[1, 2, 3]] *= (2.0, 2.0, 1.5)  # wider hips, longer lower spine: the pelvis sway slides the feet
    rig = smpl_rig(1.0, lengths=lengths)
    bmap = {j: rig.names[j] for j in range(22)}
    free = retarget(joints, rig, bmap, fps=fps)
    locked = retarget(joints, rig, bmap, fps=fps, foot_lock=True)
    assert free.contacts.sum() > 10

    def worst_step_cm(result):
        """Largest ankle step between frames where the lock holds fully (past the ease-in/out)."""
        heads = blender_pose_heads(rig, result)
        steps = []
        for side, ankle in enumerate((7, 8)):
            full = np.zeros(len(heads), bool)
            for a, b in _runs(free.contacts[:, side]):
                full[a + LOCK_BLEND_FRAMES:b - LOCK_BLEND_FRAMES] = True
            both = full[1:] & full[:-1]
            steps.append(np.linalg.norm(np.diff(heads[:, ankle], axis=0), axis=-1)[both])
        return 100 * np.concatenate(steps).max()

    assert worst_step_cm(free) > 0.05
    assert worst_step_cm(locked) < 1e-6
    # Only the legs change, and a leg only near its own contacts (within the blend ramps).
    for side, (hip, knee) in enumerate(((1, 4), (2, 5))):
        near = np.convolve(free.contacts[:, side], np.ones(2 * LOCK_BLEND_FRAMES + 3), mode="same") > 0
        assert (~near).sum() > 5
        cols = [free.bone_names.index(rig.names[j]) for j in (hip, knee)]
        np.testing.assert_allclose(free.quaternions[~near][:, cols], locked.quaternions[~near][:, cols],
                                   atol=1e-12)
    others = [i for i, n in enumerate(free.bone_names) if n not in ("L_Hip", "L_Knee", "R_Hip", "R_Knee",
                                                                      "L_Ankle", "R_Ankle")]
    np.testing.assert_allclose(free.quaternions[:, others], locked.quaternions[:, others], atol=1e-12)


def test_contacts_follow_the_stance_feet(walk):
    joints, _, fps = walk
    contacts = foot_contacts(joints, fps)
    assert contacts[:, 0].any() and contacts[:, 1].any()
    speed = np.linalg.norm(np.gradient(joints[:, (7, 8)], axis=0), axis=-1) * fps
    assert speed[contacts].max() < 0.35
    standing = fake_motion("a person stands still", 2, 0)[0]
    assert foot_contacts(standing, 20).mean() > 0.6 > contacts.mean()


def test_joints_without_bones_are_skipped_and_unmapped_bones_follow(walk):
    """Bandai-like rig: no spine2 bone, an extra root bone above the hips and a twist bone."""
    joints, _, fps = walk
    base = smpl_rig()
    keep = [j for j in range(22) if j != 6]
    names = ["joint_Root"] + [base.names[j] for j in keep] + ["Twist"]
    old_to_new = {j: i + 1 for i, j in enumerate(keep)}
    parents = [-1]
    for j in keep:
        p = smpl22.PARENTS[j]
        p = smpl22.PARENTS[p] if p == 6 else p
        parents.append(0 if p < 0 else old_to_new[p])
    parents.append(old_to_new[16])  # a twist bone under the left upper arm
    mats = [np.eye(4)] + [base.matrices[j] for j in keep] + [base.matrices[16]]
    rig = RigRest(names, np.array(parents), np.array(mats))
    bmap = {j: base.names[j] for j in keep}
    result = retarget(joints, rig, bmap, fps=fps)
    heads = blender_pose_heads(rig, result)
    back = result.placement.to_motion(heads)
    # Every mapped joint except those that depend on the missing spine2 joint lands exactly.
    exact = [j for j in keep if j not in (3, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)]
    error_cm = 100 * np.linalg.norm(back[:, [old_to_new[j] for j in exact]] - joints[:, exact], axis=-1)
    assert error_cm.max() < 0.01
    spine3_dir = normalize(heads[:, old_to_new[9]] - heads[:, old_to_new[3]])
    gen_dir = normalize((joints[:, 9] - joints[:, 3]) @ Y_UP_TO_Z_UP.T)
    assert np.degrees(np.arccos(np.clip(np.sum(spine3_dir * gen_dir, -1), -1, 1))).max() < 0.01
    np.testing.assert_allclose(heads[:, -1], heads[:, old_to_new[16]], atol=1e-12)  # twist bone rides along
    assert "Twist" not in result.bone_names  # below a mapped bone: rides along unkeyed
    root = result.bone_names.index("joint_Root")  # above the mapped bones: keyed at rest, so a pose left
    np.testing.assert_allclose(result.quaternions[:, root], [[1, 0, 0, 0]] * len(joints))  # on it is undone
    np.testing.assert_allclose(result.located["joint_Root"], 0.0)


def rig_from_pose(joints_yup: np.ndarray, scale: float) -> RigRest:
    """A rig whose rest pose is one real frame: the skeleton's true geometry, not the raw T-shape."""
    heads = joints_yup @ Y_UP_TO_Z_UP.T * scale
    mats = []
    for j in range(22):
        a = smpl22.AIM_CHILD.get(j)
        tail = heads[a] if a is not None else heads[j] + 0.3 * (heads[j] - heads[smpl22.PARENTS[j]])
        mats.append(bone_matrix(heads[j], tail, j))
    return RigRest([n.title() for n in smpl22.JOINT_NAMES], np.array(smpl22.PARENTS), np.array(mats))


@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"HumanML3D sample not found at {SAMPLE}")
def test_real_humanml3d_motion_on_a_rig_with_its_geometry():
    joints = np.load(SAMPLE).astype(np.float64)  # (170, 22, 3) real HumanML3D clip 012314
    rig = rig_from_pose(joints[0], 1.7)
    bmap = {j: rig.names[j] for j in range(22)}

    def error_cm(result):
        back = result.placement.to_motion(blender_pose_heads(rig, result))
        return 100 * np.linalg.norm(back - joints, axis=-1)

    assert error_cm(retarget(joints, rig, bmap, fps=20)).max() < 0.05
    locked = retarget(joints, rig, bmap, fps=20, foot_lock=True)
    error_cm = error_cm(locked)
    assert locked.contacts.sum() > 20
    assert error_cm[:, [j for j in range(22) if j not in (4, 5, 7, 8, 10, 11)]].max() < 0.05  # legs only
    assert error_cm.max() < 5.0  # the lock moves a planted foot by at most a few cm


def test_bad_inputs_are_clear_errors(walk):
    joints, _, fps = walk
    rig = smpl_rig()
    bmap = {j: rig.names[j] for j in range(22)}
    with pytest.raises(RigError, match=r"\(frames, 22, 3\)"):
        retarget(joints[:, :21], rig, bmap)
    bad = joints.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(RigError, match="NaN"):
        retarget(bad, rig, bmap)
    with pytest.raises(RigError, match="does not have: Nope"):
        retarget(joints, rig, {**bmap, 0: "Nope"})
    with pytest.raises(RigError, match="cycle"):
        RigRest(["a", "b"], np.array([1, 0]), np.tile(np.eye(4), (2, 1, 1)))


def test_feet_land_on_the_floor_when_the_pelvis_bone_starts_below_the_hips(walk):
    """MakeHuman's root bone (the pelvis joint) starts some centimetres below the hips: following the
    generated pelvis with it would leave the feet floating by that much, so the motion is lowered until
    the lowest foot bone over the clip touches the rig's floor."""
    joints, _, fps = walk
    rig = smpl_rig(1.0)
    mats = rig.matrices.copy()
    mats[0, 2, 3] -= 0.10  # the pelvis head 10 cm lower; everything else as before
    low = RigRest(rig.names, rig.parents, mats)
    result = retarget(joints, low, {j: low.names[j] for j in range(22)}, fps=fps)
    heads = blender_pose_heads(low, result)
    floor = low.heads[[10, 11], 2].mean()
    lowest = heads[:, [10, 11], 2].min()
    print(f"lowest toe {100 * (lowest - floor):+.3f} cm from the floor (the pelvis bone 10 cm low)")
    assert abs(lowest - floor) < 1e-6
