"""SMPL-22 joints <-> the 263-d HumanML3D representation, both ways, with HumanML3D's quirks kept.

`joints_to_features` follows HumanML3D's process_file (ANCHOR-FACTS §1.2): uniform skeleton, floor,
XZ origin, face +Z, foot contacts, swing-only IK with the hip-swap quirk and the smoothed forward,
6D rotations, root and joint velocities. `features_to_joints` is recover_from_ric (§1.3).

Rotation convention (HumanML3D's, so that `fk` reproduces the joints exactly): `rotations[:, 0]` is
the root quaternion r_rot (world -> facing frame, a pure yaw, as HumanML3D stores it) and
`rotations[:, j]` (j >= 1) is the *local swing of the bone that ends at joint j* (rest direction
`RAW_OFFSETS[j]`), relative to the world rotation of the previous bone in j's kinematic chain; the
arm chains start from the root rotation (collars are relative to the root, not to spine3).
Quaternions are float wxyz, Hamilton product, active rotation v' = q v q^-1.
"""

from __future__ import annotations

import math

import numpy as np

from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.errors import MotionFileError
from ropar_core.filters import gaussian_smooth
from ropar_core.limits import MAX_ABS_VALUE
from ropar_core.quaternion import (
    cont6d_to_matrix,
    matrix_to_quat,
    qbetween,
    qinv,
    qmul,
    qnormalize,
    qrot,
    quat_to_cont6d,
    quat_to_matrix,
)
from ropar_core.resample import resample

FOOT_VELOCITY_THRESHOLD = 0.002  # squared displacement per frame (m^2), HumanML3D's velfactor
FORWARD_SIGMA = 20  # frames, gaussian smoothing of the facing direction in the IK
_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Validation.
def _finite_float64(arr: np.ndarray, what: str) -> np.ndarray:
    """Numeric, finite, as float64; errors name the first bad frame."""
    if arr.dtype.kind not in "iuf":  # complex would be cast to its real part without a word
        raise MotionFileError(f"{what} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise MotionFileError(f"{what} contain NaN or infinite values (first at frame {bad})")
    if arr.size and np.abs(arr).max() > MAX_ABS_VALUE:  # corrupt; and SVD/FK maths overflows on them
        bad = int(np.argwhere(np.abs(arr) > MAX_ABS_VALUE)[0, 0])
        raise MotionFileError(f"{what} contain values beyond +-{MAX_ABS_VALUE:g} (first at frame {bad})")
    return arr


def _check_joints(joints, what: str = "joints") -> np.ndarray:
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[1:] != (sk.NUM_JOINTS, 3):
        raise MotionFileError(f"{what} must have shape (frames, 22, 3), got {tuple(arr.shape)}")
    if arr.shape[0] < 2:
        raise MotionFileError(f"{what} need at least 2 frames, got {arr.shape[0]}")
    return _finite_float64(arr, what)


def _check_features(features, min_frames: int = 1) -> np.ndarray:
    arr = np.asarray(features)
    if arr.ndim != 2 or arr.shape[1] != sk.FEATURE_DIM:
        raise MotionFileError(f"features must have shape (frames, 263), got {tuple(arr.shape)}")
    if arr.shape[0] < min_frames:
        raise MotionFileError(f"features need at least {min_frames} frames, got {arr.shape[0]}")
    return _finite_float64(arr, "features")


# ---------------------------------------------------------------------------------------------
# Joints -> 263.
def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) -> (..., 22) length of the bone ending at each joint (0 for the root)."""
    parents = np.array(sk.PARENTS[1:])
    lengths = np.zeros(joints.shape[:-1])
    lengths[..., 1:] = np.linalg.norm(joints[..., 1:, :] - joints[..., parents, :], axis=-1)
    return lengths


def uniform_skeleton(joints: np.ndarray, target_offsets: np.ndarray = sk.REST_OFFSETS) -> np.ndarray:
    """Re-target to the standard bone lengths: every bone keeps its direction, takes the target's length;
    the root path is scaled by the ratio of leg lengths (frame 0). Equal to HumanML3D's IK + FK with the
    target offsets, which only ever changes bone lengths."""
    a, b = sk.LEG_LENGTH_JOINTS
    src_len = _bone_lengths(joints[0])
    src_leg = src_len[a] + src_len[b]
    tgt_leg = np.abs(target_offsets[a]).max() + np.abs(target_offsets[b]).max()
    if src_leg < 1e-8:
        raise MotionFileError("cannot measure the leg length (right knee/ankle coincide with their parents)")
    tgt_len = np.linalg.norm(target_offsets, axis=-1)
    return pose_with_lengths(joints, tgt_len, joints[:, 0] * (tgt_leg / src_leg))


def pose_with_lengths(joints: np.ndarray, lengths: np.ndarray, root: np.ndarray,
                      eps: float = 1e-12) -> np.ndarray:
    """(T, 22, 3) joints re-posed from `root` (T, 3): every bone keeps its direction in `joints` and takes
    `lengths[c]`, parents first; a bone shorter than `eps` points along its rest offset."""
    out = np.empty_like(joints)
    out[:, 0] = root
    for c in range(1, sk.NUM_JOINTS):  # parents come before children in SMPL order
        p = sk.PARENTS[c]
        bone = joints[:, c] - joints[:, p]
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(norm > eps, bone / np.maximum(norm, eps), sk.RAW_OFFSETS[c])
        out[:, c] = out[:, p] + direction * lengths[c]
    return out


def _facing_quat(frame: np.ndarray) -> np.ndarray:
    """Yaw quaternion turning one frame's facing (correct hip order) onto +Z."""
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    across = (frame[r_hip] - frame[l_hip]) + (frame[r_sh] - frame[l_sh])
    across = across / max(np.linalg.norm(across), 1e-12)
    forward = np.cross(_UP, across)
    norm = np.linalg.norm(forward)
    if norm < 1e-8:
        raise MotionFileError("cannot find the facing direction at frame 0 (hips and shoulders are vertical)")
    return qbetween(forward / norm, _FORWARD)


def place_on_floor_facing_z(joints: np.ndarray) -> np.ndarray:
    """HumanML3D steps 2-4: floor at Y = 0, frame 0's root at the XZ origin, frame 0 facing +Z."""
    out = joints.copy()
    out[..., 1] -= out[..., 1].min()
    origin = out[0, 0] * np.array([1.0, 0.0, 1.0])
    out = out - origin
    q0 = _facing_quat(out[0])
    return qrot(q0, out)


def foot_contacts(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 22, 3) -> left (T-1, 2), right (T-1, 2): squared displacement below the threshold."""
    def contact(idx):
        step = positions[1:, list(idx)] - positions[:-1, list(idx)]
        return ((step ** 2).sum(-1) < FOOT_VELOCITY_THRESHOLD).astype(np.float64)
    return contact(sk.LEFT_FOOT_JOINTS), contact(sk.RIGHT_FOOT_JOINTS)


def joints_to_rotations(joints, smooth_forward: bool = True) -> np.ndarray:
    """HumanML3D's swing-only IK (inverse_kinematics_np): (T, 22, 3) -> (T, 22, 4) wxyz in the module's
    rotation convention. Keeps the hip-swap quirk and r_rot[0] = identity."""
    joints = _check_joints(joints)
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    # The quirk: HumanML3D reads the hip indices in the wrong order here (ANCHOR-FACTS §1.5).
    across = (joints[:, l_hip] - joints[:, r_hip]) + (joints[:, r_sh] - joints[:, l_sh])
    across = across / np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-12)
    forward = np.cross(_UP, across)  # (T, 3)
    if smooth_forward:
        forward = gaussian_smooth(forward, FORWARD_SIGMA)
    forward = forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-12)
    root = qbetween(forward, _FORWARD)  # (T, 4) world -> facing frame
    root[0] = (1.0, 0.0, 0.0, 0.0)
    quats = np.zeros(joints.shape[:-1] + (4,))
    quats[:, 0] = root
    for chain in sk.KINEMATIC_CHAINS:
        world = root
        for p, c in zip(chain[:-1], chain[1:]):
            bone = joints[:, c] - joints[:, p]
            swing = qbetween(np.broadcast_to(sk.RAW_OFFSETS[c], bone.shape), bone)
            local = qmul(qinv(world), swing)
            quats[:, c] = local
            world = qmul(world, local)
    return quats


def joints_to_features(joints) -> np.ndarray:
    """(T, 22, 3) joints in metres, Y up -> (T-1, 263) float32 HumanML3D features (process_file)."""
    joints = _check_joints(joints)
    positions = uniform_skeleton(joints)
    positions = place_on_floor_facing_z(positions)  # G, the "global positions"
    feet_l, feet_r = foot_contacts(positions)

    quats = joints_to_rotations(positions, smooth_forward=True)
    r_rot = quats[:, 0]  # (T, 4)
    cont6d = quat_to_cont6d(quats[:, 1:])  # (T, 21, 6)

    root_step = positions[1:, 0] - positions[:-1, 0]
    root_vel = qrot(r_rot[1:], root_step)  # (T-1, 3) in the facing frame of t+1
    q_step = qmul(r_rot[1:], qinv(r_rot[:-1]))
    yaw_vel = np.arcsin(np.clip(q_step[:, 2], -1.0, 1.0))  # half the yaw step (HumanML3D keeps it so)

    ric = positions.copy()
    ric[..., 0] -= positions[:, :1, 0]
    ric[..., 2] -= positions[:, :1, 2]
    ric = qrot(r_rot[:, None], ric)  # (T, 22, 3)

    joint_vel = qrot(r_rot[:-1, None], positions[1:] - positions[:-1])  # (T-1, 22, 3), facing frame of t

    n = len(positions) - 1
    out = np.concatenate([
        yaw_vel[:, None], root_vel[:, [0, 2]], ric[:-1, 0, 1:2],
        ric[:-1, 1:].reshape(n, -1), cont6d[:-1].reshape(n, -1),
        joint_vel.reshape(n, -1), feet_l, feet_r,
    ], axis=-1)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# 263 -> joints / rotations.
def recover_root(features) -> tuple[np.ndarray, np.ndarray]:
    """(T, 263) -> root quaternion r_rot (T, 4) wxyz (world -> facing frame) and root position (T, 3)."""
    data = _check_features(features)
    angle = np.zeros(len(data))
    angle[1:] = np.cumsum(data[:-1, 0])
    quat = np.zeros((len(data), 4))
    quat[:, 0] = np.cos(angle)
    quat[:, 2] = np.sin(angle)
    step = np.zeros((len(data), 3))
    step[1:, [0, 2]] = data[:-1, 1:3]
    pos = np.cumsum(qrot(qinv(quat), step), axis=0)
    pos[:, 1] = data[:, 3]
    return quat, pos


def features_to_joints(features) -> np.ndarray:
    """(T, 263) -> (T, 22, 3) float32 joints (recover_from_ric)."""
    data = _check_features(features)
    quat, root = recover_root(data)
    ric = data[:, sk.RIC_SLICE].reshape(len(data), sk.NUM_JOINTS - 1, 3)
    world = qrot(qinv(quat)[:, None], ric)
    world[..., 0] += root[:, None, 0]
    world[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], world], axis=1).astype(np.float32)


def features_to_rotations(features) -> np.ndarray:
    """(T, 263) -> (T, 22, 4) float32 wxyz: the decoded 6D channels, the root = recover_root's r_rot
    (see the module docstring for the convention)."""
    data = _check_features(features)
    quat, _ = recover_root(data)
    cont6d = data[:, sk.ROT_SLICE].reshape(len(data), sk.NUM_JOINTS - 1, 6)
    local = matrix_to_quat(cont6d_to_matrix(cont6d))  # (T, 21, 4)
    return np.concatenate([quat[:, None], local], axis=1).astype(np.float32)


def fk(rotations, root_pos, offsets: np.ndarray = sk.REST_OFFSETS) -> np.ndarray:
    """HumanML3D forward kinematics: rotations (T, 22, 4) wxyz, root positions (T, 3) -> (T, 22, 3)."""
    rot = qnormalize(np.asarray(rotations, dtype=np.float64))
    root_pos = np.asarray(root_pos, dtype=np.float64)
    if rot.ndim != 3 or rot.shape[1:] != (sk.NUM_JOINTS, 4) or root_pos.shape != (rot.shape[0], 3):
        raise MotionFileError(
            f"fk needs rotations (T, 22, 4) and root positions (T, 3), got {rot.shape} and {root_pos.shape}")
    joints = np.zeros(rot.shape[:2] + (3,))
    joints[:, 0] = root_pos
    for chain in sk.KINEMATIC_CHAINS:
        world = rot[:, 0]
        for p, c in zip(chain[:-1], chain[1:]):
            world = qmul(world, rot[:, c])
            joints[:, c] = joints[:, p] + qrot(world, np.broadcast_to(offsets[c], (len(rot), 3)))
    return joints.astype(np.float32)


def world_bone_rotations(rotations) -> np.ndarray:
    """(T, 22, 4) local (module convention) -> (T, 22, 4) world rotation of the bone ending at each
    joint (index 0: the root rotation). World bone j turns RAW_OFFSETS[j] onto the bone's direction."""
    rot = qnormalize(np.asarray(rotations, dtype=np.float64))
    world = np.empty_like(rot)
    world[:, 0] = rot[:, 0]
    for chain in sk.KINEMATIC_CHAINS:
        acc = rot[:, 0]
        for c in chain[1:]:
            acc = qmul(acc, rot[:, c])
            world[:, c] = acc
    return world


# ---------------------------------------------------------------------------------------------
# Normalising arbitrary joint data to the HumanML3D convention.
UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
_TYPICAL_PROXY_M = 1.55  # head-to-pelvis + pelvis-to-ankle bone path of an adult, metres
_UNIT_TOLERANCE = 1.6  # a named unit fits when it makes the proxy 1.55 m within this factor (0.97-2.5 m)


def _size_proxy(joints: np.ndarray) -> float:
    """Median over frames of the bone path head..pelvis..left ankle (no height or pose dependence)."""
    lengths = _bone_lengths(joints)
    path = [3, 6, 9, 12, 15, 1, 4, 7]
    return float(np.median(lengths[:, path].sum(-1)))


def guess_unit(joints: np.ndarray) -> str:
    """The named unit (m, cm, mm, in) that gives an adult's size, or "height" when none does (CMU's
    'units' of about 5.6 cm, game rigs at odd scales): then the skeleton's own height sets the scale."""
    proxy = _size_proxy(joints)
    if not proxy > 1e-9:
        raise MotionFileError("all joints coincide: cannot guess the motion's scale")
    unit = min(UNIT_SCALE, key=lambda u: abs(np.log(proxy * UNIT_SCALE[u] / _TYPICAL_PROXY_M)))
    ratio = proxy * UNIT_SCALE[unit] / _TYPICAL_PROXY_M
    return unit if 1 / _UNIT_TOLERANCE < ratio < _UNIT_TOLERANCE else "height"


def unit_scale(joints: np.ndarray, scale: float | None = None) -> tuple[float, str]:
    """-> (metres per file unit, unit name). `scale` overrides (unit "given"); otherwise a named unit,
    or a scale that makes the head-to-ankle bone path 1.55 m (unit "height"). The output is retargeted
    to standard bone lengths anyway, so the skeleton's own size is a sound unit."""
    if scale is not None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 1e-6 <= scale <= 1e6):
            raise MotionFileError(f"scale must be a number of metres per unit in [1e-6, 1e6], got {scale!r}")
        return float(scale), "given"
    unit = guess_unit(joints)
    if unit == "height":
        return _TYPICAL_PROXY_M / _size_proxy(joints), unit
    return UNIT_SCALE[unit], unit


def up_axis_rotation(joints: np.ndarray) -> tuple[np.ndarray, str]:
    """Proper rotation matrix taking the detected up axis (head above the feet) onto +Y, and its name."""
    feet = joints[:, [7, 8, 10, 11]].mean(axis=1)
    up = np.median(joints[:, 15] - feet, axis=0)
    axis = int(np.argmax(np.abs(up)))
    sign = 1.0 if up[axis] > 0 else -1.0
    name = ("+" if sign > 0 else "-") + "XYZ"[axis]
    src = np.zeros(3)
    src[axis] = sign
    return quat_to_matrix(qbetween(src, _UP)), name


def _mirrored(joints: np.ndarray) -> bool:
    """True when the toes point backwards relative to the hip/shoulder facing: left and right are swapped
    (or the data went through a reflection, e.g. a bare Y<->Z swap)."""
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sh] - joints[:, l_sh])
    facing = np.cross(_UP, across)
    toes = (joints[:, 10] - joints[:, 7]) + (joints[:, 11] - joints[:, 8])
    toes[:, 1] = 0.0
    return float(np.median((facing * toes).sum(-1))) < 0.0


def normalise_joints(joints, fps: float | None = None,
                     scale: float | None = None) -> tuple[np.ndarray, dict]:
    """Bring joints of any unit, up axis and facing into the HumanML3D convention: metres, Y up, feet on
    Y = 0, frame 0's pelvis above the origin and facing +Z, 20 fps when `fps` is given. `scale` (metres
    per unit) overrides the unit guess (see unit_scale).

    Returns (joints (T', 22, 3) float32, report) where report says what was changed:
    {"unit", "scale", "up_axis", "mirrored", "yaw_deg", "floor_shift_m", "fps_in", "fps_out"}."""
    arr = _check_joints(joints)
    report: dict = {}
    factor, unit = unit_scale(arr, scale)
    arr = arr * factor
    report["unit"] = unit
    report["scale"] = factor

    rot, up_name = up_axis_rotation(arr)
    arr = arr @ rot.T
    report["up_axis"] = up_name

    mirrored = _mirrored(arr)
    if mirrored:
        arr = arr * np.array([-1.0, 1.0, 1.0])
    report["mirrored"] = mirrored

    if fps is not None:
        fps = limits.check_fps(fps, error=MotionFileError)
        arr = resample(arr, float(fps), float(sk.FPS)).astype(np.float64)
        if len(arr) < 2:
            raise MotionFileError("motion is shorter than two frames at 20 fps")
    report["fps_in"] = fps
    report["fps_out"] = sk.FPS if fps is not None else None

    floor = float(arr[..., 1].min())
    arr[..., 1] -= floor
    arr = arr - arr[0, 0] * np.array([1.0, 0.0, 1.0])
    q0 = _facing_quat(arr[0])
    arr = qrot(q0, arr)
    report["floor_shift_m"] = -floor
    report["yaw_deg"] = float(np.degrees(2.0 * np.arctan2(q0[2], q0[0])))
    return arr.astype(np.float32), report


def describe_report(report: dict) -> str:
    """One human-readable line for a normalise_joints report."""
    parts = []
    if report.get("unit", "m") in ("height", "given"):
        why = "from the skeleton's height" if report["unit"] == "height" else "given"
        parts.append(f"scale x{report['scale']:.4g} ({why})")
    elif report.get("unit", "m") != "m":
        parts.append(f"{report['unit']}->m")
    if report.get("up_axis", "+Y") != "+Y":
        parts.append(f"up {report['up_axis']}->+Y")
    if report.get("mirrored"):
        parts.append("mirrored left/right")
    if abs(report.get("yaw_deg", 0.0)) > 0.05:
        parts.append(f"turned {report['yaw_deg']:.1f} deg to face +Z")
    if report.get("fps_in") is not None and report["fps_in"] != report.get("fps_out"):
        parts.append(f"{report['fps_in']:g}->{report['fps_out']:g} fps")
    parts.append(f"floor shift {report.get('floor_shift_m', 0.0) * 100:.1f} cm")
    return ", ".join(parts)
