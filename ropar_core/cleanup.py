"""Clean generated joints the way animation pipelines do (issue 15), on by default in Generator:

1. seams: frames around the points where a long motion's windows meet are smoothed in time;
2. rigid bones: every bone keeps its generated direction and takes the skeleton's fixed length
   (skeleton.REST_OFFSETS, the lengths every training clip was retargeted to), parents first;
3. floor: a slowly varying vertical shift puts the planted toes on the floor (Y = 0);
4. foot locking: while a foot is in contact (the model's own contact channels, confirmed by the foot
   being low and slow), its toe stays where it was planted; two-bone IK on hip-knee-ankle reaches it,
   with a short blend in and out so nothing snaps; feet never go under the floor.

Bone lengths stay exact through 3 and 4 (a shift and a two-bone IK do not stretch bones). Everything is
vectorised numpy over frames: a few milliseconds for a 196-frame motion.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ropar_core import skeleton as sk

BONE_LENGTHS = np.linalg.norm(sk.REST_OFFSETS, axis=-1)  # (22,) length of the bone ending at each joint
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))  # (hip, knee, ankle, toe) left, right
CONTACT_CHANNELS = ((259, 260), (261, 262))  # (ankle, toe) contact channels of the 263 vector per leg
TOE_FLOOR = 0.01  # m: a planted toe joint's height in real Bandai walks (median 0.4-1.2 cm)
ANKLE_FLOOR = 0.06  # m: the ankle joint never goes lower than this (real planted ankles: 9-10 cm)
CONTACT_MAX_HEIGHT = 0.12  # m above the floor: a toe higher than this is not planted, whatever the channel says
CONTACT_MAX_SPEED = 1.0  # m/s: nor is a toe moving faster than this
LOCK_BLEND = 4  # frames of blend in and out of a lock
FLOOR_SIGMA = 6.0  # frames: smoothing of the floor shift (slow, so the body does not bob)
SEAM_SIGMA = 2.0  # frames: temporal smoothing at window seams
SEAM_RADIUS = 6  # frames either side of a seam that get smoothed (weight fades out)


def window_seams(frames: int, max_tokens: int, overlap_fraction: float = 0.25) -> list[int]:
    """Frames where a motion of `frames` frames, generated window by window (Generator._sample_tokens),
    starts new tokens after the first window."""
    tokens = math.ceil(frames / sk.TOKEN_FRAMES)
    overlap = max(1, int(max_tokens * overlap_fraction))
    seams, done = [], 0
    while done < tokens:
        start = max(0, done - overlap)
        if done:
            seams.append(done * sk.TOKEN_FRAMES)
        done = min(start + max_tokens, tokens)
    return [s for s in seams if s < frames]


def blend_seams(joints: np.ndarray, seams) -> np.ndarray:
    """Replace the frames near each seam by a time-smoothed version, fading back to the original."""
    if not len(seams):
        return joints
    smooth = gaussian_filter1d(joints, SEAM_SIGMA, axis=0, mode="nearest")
    w = np.zeros(len(joints))
    for s in seams:
        d = np.abs(np.arange(len(joints)) - s)
        w = np.maximum(w, np.clip(1.0 - d / (SEAM_RADIUS + 1), 0.0, 1.0))
    return joints + w[:, None, None] * (smooth - joints)


def rigid_bones(joints: np.ndarray) -> np.ndarray:
    """Bones keep their directions and take the fixed lengths; the root path is unchanged."""
    out = joints.copy()
    for c in range(1, sk.NUM_JOINTS):  # parents come first in SMPL order
        p = sk.PARENTS[c]
        bone = joints[:, c] - joints[:, p]
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(norm > 1e-9, bone / np.maximum(norm, 1e-9), sk.RAW_OFFSETS[c])
        out[:, c] = out[:, p] + direction * BONE_LENGTHS[c]
    return out


def _speed(points: np.ndarray) -> np.ndarray:
    """(T, 3) -> (T,) horizontal speed in m/s (central differences)."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.linalg.norm(np.gradient(points[:, [0, 2]], axis=0), axis=-1) * sk.FPS


def contacts(joints: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    """(T, 2) bool per leg: the model's contact channels say so (either joint), and the toe is low and
    slow enough to be planted. Without features: low and slow alone."""
    T = len(joints)
    toes = joints[:, [LEGS[0][3], LEGS[1][3]]]  # (T, 2, 3)
    floor = joints[:, [10, 11], 1].min()
    out = np.zeros((T, 2), bool)
    for leg in range(2):
        low = toes[:, leg, 1] < floor + CONTACT_MAX_HEIGHT
        slow = _speed(toes[:, leg]) < CONTACT_MAX_SPEED
        said = np.ones(T, bool)
        if features is not None:
            said = (features[:T, list(CONTACT_CHANNELS[leg])] > 0.5).any(1)
        out[:, leg] = said & low & slow
    return out


def _runs(mask: np.ndarray, min_len: int = 2) -> list[tuple[int, int]]:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    return [(int(r[0]), int(r[-1]) + 1) for r in runs if len(r) >= min_len]


def floor_shift(joints: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """(T,) vertical shift that puts the planted toe on the floor: measured in contact frames,
    interpolated between them, smoothed; without any contact, the lowest foot joint goes to the floor."""
    toe_y = joints[:, [10, 11], 1]  # (T, 2)
    planted = np.where(contact, toe_y, np.inf).min(1)  # (T,)
    have = np.isfinite(planted)
    if not have.any():
        return np.full(len(joints), TOE_FLOOR - joints[:, [7, 8, 10, 11], 1].min())
    t = np.arange(len(joints))
    shift = np.interp(t, t[have], TOE_FLOOR - planted[have])
    return gaussian_filter1d(shift, FLOOR_SIGMA, mode="nearest")


def _lock_targets(toe: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One leg: (T, 3) toe, (T,) contact -> toe targets (T, 3) and blend weights (T,) in 0..1.
    A planted toe stays at its mean XZ position over the contact, on the floor."""
    T = len(toe)
    target, weight = toe.copy(), np.zeros(T)
    for s, e in _runs(contact):
        spot = toe[s:e].mean(0)
        spot[1] = TOE_FLOOR
        lo, hi = max(0, s - LOCK_BLEND), min(T, e + LOCK_BLEND)
        for t in range(lo, hi):
            w = 1.0 if s <= t < e else 1.0 - (s - t if t < s else t - e + 1) / (LOCK_BLEND + 1)
            if w > weight[t]:
                weight[t], target[t] = w, spot
    return target, weight


def two_bone_ik(hip, knee, ankle, goal, l1: float, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle (T, 3) that bring the ankle to `goal` (or as near as the leg reaches) with the
    thigh and shin lengths l1, l2, the knee bending in the plane of its current pose."""
    axis = goal - hip
    d = np.linalg.norm(axis, axis=-1, keepdims=True)
    u = axis / np.maximum(d, 1e-9)
    d = np.clip(d, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    pole = (knee - hip) - ((knee - hip) * u).sum(-1, keepdims=True) * u
    pole = pole / np.maximum(np.linalg.norm(pole, axis=-1, keepdims=True), 1e-9)
    a = (l1**2 - l2**2 + d**2) / (2 * d)
    h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    new_knee = hip + a * u + h * pole
    return new_knee, hip + d * u


def lock_feet(joints: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Toes held at their planted spots while in contact (blended), feet kept above the floor."""
    out = joints.copy()
    for leg, (hip, knee, ankle, toe) in enumerate(LEGS):
        foot = joints[:, toe] - joints[:, ankle]  # the foot keeps its generated orientation
        target, w = _lock_targets(joints[:, toe], contact[:, leg])
        toe_goal = joints[:, toe] + w[:, None] * (target - joints[:, toe])
        ankle_goal = toe_goal - foot
        lift = np.maximum(0.0, np.maximum(ANKLE_FLOOR - ankle_goal[:, 1], -toe_goal[:, 1]))
        ankle_goal[:, 1] += lift
        new_knee, new_ankle = two_bone_ik(joints[:, hip], joints[:, knee], joints[:, ankle], ankle_goal,
                                          BONE_LENGTHS[knee], BONE_LENGTHS[ankle])
        out[:, knee], out[:, ankle], out[:, toe] = new_knee, new_ankle, new_ankle + foot
    return out


def clean_joints(joints: np.ndarray, features: np.ndarray | None = None, seams=()) -> np.ndarray:
    """Generated joints (T, 22, 3) (+ their 263 features for the contact channels, + window seams)
    -> cleaned joints (T, 22, 3) float64."""
    out = blend_seams(np.asarray(joints, dtype=np.float64), seams)
    out = rigid_bones(out)
    contact = contacts(out, features)
    out[..., 1] += floor_shift(out, contact)[:, None]
    return lock_feet(out, contact)
