"""A rigid SMPL-22 skeleton fitted to a video's pose landmarks: one set of bone lengths per clip, the pose
of every frame by inverse kinematics, gravity and the floor from the feet (the own-video path).

MediaPipe's world landmarks stretch bones by 3-15 % from frame to frame, so they are not a skeleton.
`smpl_targets` turns the 33 landmarks into where the 22 SMPL joints sit (the spine, neck and collars,
which have no landmark, at the fractions of the shoulder-hip line measured on HumanML3D's joints);
`fit_bone_lengths` takes each bone's median over the frames where its part is credible (left and
right averaged: one body), scaling the rest pose for bones never seen; `rigid_pose` keeps every target
bone's direction and gives it that length, parents first (the closed-form IK of a chain whose joints
are all observed). `ground` turns the clip upright (gravity from planted feet, or from the standing
body), puts planted feet on the floor, and `anchor_feet` moves the root so a planted foot stays where
it was planted (the reprojected root's depth is too noisy to hold it there by itself).
"""

from __future__ import annotations

import numpy as np

from ropar_core import skeleton as sk
from ropar_core.features import pose_with_lengths
from ropar_core.filters import gaussian_smooth
from ropar_core.quaternion import qbetween, qrot

# MediaPipe-33 indices
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 23, 24, 25, 26, 27, 28
L_HEEL, R_HEEL, L_TOE, R_TOE = 29, 30, 31, 32

# SMPL joint -> MediaPipe landmark where one corresponds directly.
DIRECT = {1: L_HIP, 2: R_HIP, 4: L_KNEE, 5: R_KNEE, 7: L_ANK, 8: R_ANK, 16: L_SH, 17: R_SH,
          18: L_EL, 19: R_EL, 20: L_WR, 21: R_WR}
# Height above the hip centre, as a fraction of the hip-to-shoulder-centre length, of the joints on the
# trunk (HumanML3D joints: pelvis 0.17, spine1 0.38, spine2 0.67, spine3 0.76, collars 1.0, neck 1.2).
TRUNK_FRACTION = {0: 0.17, 3: 0.38, 6: 0.67, 9: 0.76, 12: 1.2}
COLLAR_FRACTION, COLLAR_SIDE = 1.0, 0.35  # collars: at shoulder height, 35 % of the way to each shoulder
FOOT_FRACTION = 0.75  # SMPL's foot joint sits at the ball of the foot, 3/4 of the way to the toe tip
SYMMETRIC = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21}  # left joint -> right joint

CONTACT_SPEED = 0.35  # m/s: a foot slower than this, and low, is planted
CONTACT_HEIGHT = 0.06  # m above the clip's lowest planted level
FLOOR_SIGMA = 10.0  # frames: the floor under the feet follows the depth's drift, not the steps
UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, 1.0])


def camera_to_y_up(points: np.ndarray) -> np.ndarray:
    """Camera axes (x right, y down, z away) -> Y up, Z toward the camera (a 180 degree turn about X)."""
    return points * np.array([1.0, -1.0, -1.0], dtype=points.dtype)


def smpl_targets(lm: np.ndarray) -> np.ndarray:
    """(T, 33, 3) landmarks in metres -> (T, 22, 3) SMPL-22 joint targets (same axes)."""
    T = lm.shape[0]
    out = np.zeros((T, sk.NUM_JOINTS, 3), dtype=np.float64)
    for j, m in DIRECT.items():
        out[:, j] = lm[:, m]
    hips = (lm[:, L_HIP] + lm[:, R_HIP]) / 2
    shoulders = (lm[:, L_SH] + lm[:, R_SH]) / 2
    trunk = shoulders - hips
    for j, frac in TRUNK_FRACTION.items():
        out[:, j] = hips + frac * trunk
    for j, m in ((13, L_SH), (14, R_SH)):
        base = hips + COLLAR_FRACTION * trunk
        out[:, j] = base + COLLAR_SIDE * (lm[:, m] - shoulders)
    out[:, 15] = (lm[:, L_EAR] + lm[:, R_EAR]) / 2
    for j, ank, toe in ((10, L_ANK, L_TOE), (11, R_ANK, R_TOE)):
        out[:, j] = lm[:, ank] + FOOT_FRACTION * (lm[:, toe] - lm[:, ank])
    return out


def joint_credibility(frame_mask: np.ndarray) -> np.ndarray:
    """(T, 5) part credibility -> (T, 22): a joint is seen when the part that owns it is (the trunk
    joints belong to the torso)."""
    out = np.repeat(frame_mask[:, :1], sk.NUM_JOINTS, axis=1)
    for k, part in enumerate(sk.PART_NAMES):
        for j in sk.PART_OWN_JOINTS[part]:
            out[:, j] = frame_mask[:, k]
    return out


def fit_bone_lengths(targets: np.ndarray, joint_seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 22, 3) targets, (T, 22) bool -> (22,) bone lengths (of the bone ending at each joint), (22,)
    bool measured. A bone is measured over frames where both its joints are seen; left and right are
    averaged; bones never seen take the rest pose's length scaled like the measured ones."""
    parents = np.array(sk.PARENTS[1:])
    bones = np.linalg.norm(targets[:, 1:] - targets[:, parents], axis=-1)  # (T, 21)
    seen = joint_seen[:, 1:] & joint_seen[:, parents]
    lengths = np.zeros(sk.NUM_JOINTS)
    measured = np.zeros(sk.NUM_JOINTS, bool)
    for c in range(1, sk.NUM_JOINTS):
        if seen[:, c - 1].sum() >= 3:
            lengths[c] = float(np.median(bones[seen[:, c - 1], c - 1]))
            measured[c] = True
    for left, right in SYMMETRIC.items():
        both = [j for j in (left, right) if measured[j]]
        if both:
            lengths[[left, right]] = np.mean(lengths[both])
            measured[[left, right]] = True
    rest = sk.BONE_LENGTHS
    if measured.any():
        scale = float(np.median(lengths[measured] / rest[measured]))
    else:
        scale = 1.0
    lengths[~measured] = rest[~measured] * scale
    lengths[0] = 0.0
    return lengths, measured


def rigid_pose(targets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every bone keeps its target direction and takes its fitted length, parents first; the root stays
    at its target. -> (T, 22, 3) with bone lengths exactly `lengths`."""
    return pose_with_lengths(targets, lengths, targets[:, 0], eps=1e-9)


def _speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) -> (T,) speed in m/s."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps


def foot_contacts(joints: np.ndarray, fps: float, up: np.ndarray = UP) -> np.ndarray:
    """(T, 22, 3) -> (T, 2) bool, left and right: the foot is low (near the clip's lowest planted level)
    and slow."""
    feet = joints[:, [10, 11]]  # (T, 2, 3) ball of each foot
    height = feet @ up  # (T, 2)
    slow = np.stack([_speed(feet[:, k], fps) < CONTACT_SPEED for k in range(2)], axis=1)
    if not slow.any():
        return slow
    floor = np.percentile(height[slow], 10)
    return slow & (height < floor + CONTACT_HEIGHT)


def gravity(joints: np.ndarray, contact: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, str]:
    """The up direction of a clip in its own axes (Y up roughly: the camera's). Planted feet spread over
    the floor give its plane; a body that stays in place gives only its standing line (feet -> neck,
    averaged over frames where the legs and torso are seen and the knees straight);
    else the camera's up is kept."""
    planted = np.concatenate([joints[contact[:, k], 10 + k] for k in range(2)])
    if len(planted) >= 10:
        centred = planted - planted.mean(0)
        evals, evecs = np.linalg.eigh(centred.T @ centred / len(planted))
        spread = np.sqrt(np.maximum(evals, 0.0))  # ascending
        normal = evecs[:, 0] * np.sign(evecs[1, 0] or 1.0)
        if spread[1] > 0.4 and spread[0] < 0.25 * spread[1] and normal @ UP > np.cos(np.radians(35)):
            return normal, "floor plane of the planted feet"
    legs_seen = seen[:, 0] & seen[:, 3] & seen[:, 4]
    if legs_seen.sum() >= 10:
        line = joints[legs_seen, 12] - joints[legs_seen][:, [7, 8]].mean(1)
        line /= np.maximum(np.linalg.norm(line, axis=-1, keepdims=True), 1e-9)
        upright = (line @ UP > np.cos(np.radians(30))) & _straight_legs(joints[legs_seen])
        if upright.sum() >= 10:
            up = line[upright].mean(0)
            return up / np.linalg.norm(up), "standing line of the body"
    return UP.copy(), "camera (level camera assumed)"


def _straight_legs(joints: np.ndarray, min_deg: float = 160.0) -> np.ndarray:
    """(T, 22, 3) -> (T,) bool: both knees nearly straight (a standing body, not a lean or a crouch)."""
    ok = np.ones(len(joints), bool)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        a, b = joints[:, hip] - joints[:, knee], joints[:, ankle] - joints[:, knee]
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-9)
        ok &= cos < np.cos(np.radians(min_deg))
    return ok


def anchor_feet(joints: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Move the whole body horizontally so a planted foot does not slide: in frames with a planted foot
    the root's step is the one that keeps that foot (both: their mean) still; elsewhere the root's own
    step is kept. Heights are untouched."""
    T = len(joints)
    if T < 2:
        return joints
    feet = joints[:, [10, 11]]
    foot_step = np.diff(feet, axis=0)  # (T-1, 2, 3)
    held = contact[1:] & contact[:-1]  # (T-1, 2): planted on both ends of the step
    n = held.sum(1)
    slip = (foot_step * held[..., None]).sum(1) / np.maximum(n, 1)[:, None]  # (T-1, 3)
    fix = np.where(n[:, None] > 0, -slip, 0.0)
    fix[:, 1] = 0.0
    shift = np.concatenate([np.zeros((1, 3)), np.cumsum(fix, axis=0)])  # (T, 3)
    return joints + shift[:, None, :]


def floor_height(joints: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """(T,) height of the floor under the body: the planted foot's height where one is planted, carried
    across the frames between plants (a jump keeps its flight) and smoothed over FLOOR_SIGMA frames. The
    reprojected depth drifts, and along a camera's slanted line of sight depth drift is height drift."""
    feet_y = joints[:, [10, 11], 1]
    planted = contact.any(1)
    if not planted.any():
        return np.full(len(joints), np.percentile(feet_y.min(1), 5))
    level = np.where(contact, feet_y, np.inf).min(1)  # (T,) lowest planted foot
    t = np.arange(len(joints))
    return smooth(np.interp(t, t[planted], level[planted]), FLOOR_SIGMA)


def ground(joints: np.ndarray, fps: float, seen: np.ndarray) -> tuple[np.ndarray, dict]:
    """Upright, planted feet held still, planted feet on the floor (Y = 0 at the foot joints' planted
    level), frame 0's root over the origin and facing +Z. -> (joints, report)."""
    contact = foot_contacts(joints, fps)
    up, how = gravity(joints, contact, seen)
    out = qrot(qbetween(up, UP), joints)
    contact = foot_contacts(out, fps)
    out = anchor_feet(out, contact)
    out[..., 1] -= floor_height(out, contact)[:, None]
    contact = foot_contacts(out, fps)  # again: planted feet the drift had lifted are found now
    out[..., 1] -= floor_height(out, contact)[:, None]
    out -= out[0, 0] * np.array([1.0, 0.0, 1.0])
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    across = (out[0, r_hip] - out[0, l_hip]) + (out[0, r_sh] - out[0, l_sh])
    forward = np.cross(UP, across)
    forward[1] = 0.0
    if np.linalg.norm(forward) > 1e-8:
        out = qrot(qbetween(forward / np.linalg.norm(forward), FORWARD), out)
    report = {"gravity": how, "tilt_deg": round(float(np.degrees(np.arccos(np.clip(up @ UP, -1, 1)))), 1),
              "planted_frames": int(contact.any(1).sum())}
    return out.astype(np.float32), report


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time of any (T, ...) array (sigma in frames; 0 leaves it)."""
    if sigma <= 0 or len(x) < 2:
        return x
    return gaussian_smooth(x, sigma)
