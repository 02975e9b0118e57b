"""Foot contacts in the generated motion and the foot lock that holds planted feet still on the rig
(retarget.py step 4): where an ankle is slow and near its lowest height it is held at the average
position of that planted stretch, and thigh and shin are re-aimed by an analytic two-bone IK that keeps
the knee on its side."""

from __future__ import annotations

import numpy as np

from .rotations import normalize
from .smpl22 import LEG_JOINTS

CONTACT_SPEED = 0.2  # m/s (1 cm per frame at 20 fps): an ankle slower than this may be planted
CONTACT_HEIGHT = 0.04  # m above the ankle's lowest height in the clip
CONTACT_MAX_DRIFT = 0.04  # m: a planted stretch ends when the generated ankle moved this far
CONTACT_MIN_FRAMES = 3
KNEE_MAX_SHIFT = 0.08  # of the thigh length: the most foot lock may move a knee
LOCK_BLEND_FRAMES = 2  # ease in after landing / out before lift-off over this many frames


def foot_contacts(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) bool: left / right foot planted = the ankle is slow and near its lowest height in the clip.

    A planted stretch whose ankle drifts more than CONTACT_MAX_DRIFT is split (a foot that shuffles or
    rolls onto its toes is not planted in one place), so a lock never pins a foot far from the motion."""
    T = joints.shape[0]
    out = np.zeros((T, 2), dtype=bool)
    if T < 2:
        return out
    for side, (_, _, ankle, _) in enumerate(LEG_JOINTS.values()):
        height = joints[:, ankle, 1]
        speed = np.linalg.norm(np.gradient(joints[:, ankle], axis=0), axis=-1) * fps  # (T,) m/s
        planted = (height < height.min() + CONTACT_HEIGHT) & (speed < CONTACT_SPEED)
        out[:, side] = _drop_short_runs(_split_drifting(planted, joints[:, ankle]), CONTACT_MIN_FRAMES)
    return out


def _split_drifting(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for a, b in _runs(mask):
        if np.linalg.norm(points[a:b] - points[a], axis=-1).max() <= CONTACT_MAX_DRIFT:
            continue  # the usual case: one planted stretch, nothing to split
        anchor = a
        for t in range(a + 1, b):
            if np.linalg.norm(points[t] - points[anchor]) > CONTACT_MAX_DRIFT:
                out[t] = False  # a one-frame gap ends this stretch; the next one starts after it
                anchor = t + 1
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _drop_short_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = np.zeros_like(mask)
    for a, b in _runs(mask):
        if b - a >= min_len:
            out[a:b] = True
    return out


def _lock_targets(ankle: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: where the ankle is held and how strongly (0 = free). Inside each planted stretch the
    weight eases in over LOCK_BLEND_FRAMES after landing and out before lift-off, so frames outside
    contacts are never touched and the foot never jumps."""
    T = ankle.shape[0]
    weight = np.zeros(T)
    held = ankle.copy()
    for a, b in _runs(contact):
        k = np.arange(b - a)
        ramp = np.minimum(k + 1, b - a - k) / (LOCK_BLEND_FRAMES + 1)
        weight[a:b] = np.clip(ramp, 0, 1)
        held[a:b] = ankle[a:b].mean(axis=0)  # the stretch's average: never far from the motion
    return held, weight


def _two_bone_ik(H: np.ndarray, K: np.ndarray, goal: np.ndarray, l1: float, l2: float):
    """Knee and reachable ankle for hip H, goal ankle, bone lengths: of all knees that reach, the one
    closest to the current knee K (so the knee never flips side)."""
    to_goal = goal - H
    dist = np.clip(np.linalg.norm(to_goal, axis=-1), abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    direction = normalize(to_goal)
    cos_hip = np.clip((l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist), -1, 1)
    bend = (K - H) - np.sum((K - H) * direction, -1, keepdims=True) * direction
    fallback = np.cross(direction, np.array([1.0, 0.0, 0.0]))
    bend = normalize(np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-9, bend, fallback))
    knee = H + l1 * (cos_hip[:, None] * direction + np.sqrt(1 - cos_hip**2)[:, None] * bend)
    return knee, H + direction * dist[:, None]


def foot_lock(rest: np.ndarray, bone_of: dict[int, int], aims: dict[int, int | None], targets: np.ndarray,
              heads: np.ndarray, contacts: np.ndarray) -> dict[int, np.ndarray]:
    """Aim overrides for hip and knee joints that keep planted ankles still (two-bone IK in rig space).

    Near full extension a small ankle shift swings the knee far (the knee circle's radius grows like a
    square root), so where the knee would move more than KNEE_MAX_SHIFT of the thigh length the lock
    is weakened for that frame: a little residual slide instead of a knee pop."""
    overrides: dict[int, np.ndarray] = {}
    for side, (hip, knee, ankle, _) in enumerate(LEG_JOINTS.values()):
        if aims.get(hip) != knee or aims.get(knee) != ankle or not contacts[:, side].any():
            continue
        bh, bk, ba = bone_of[hip], bone_of[knee], bone_of[ankle]
        l1 = np.linalg.norm(rest[bk] - rest[bh])
        l2 = np.linalg.norm(rest[ba] - rest[bk])
        H, K, A = heads[:, bh], heads[:, bk], heads[:, ba]
        held, weight = _lock_targets(A, contacts[:, side])
        for _ in range(3):  # shrink the weight where the knee would pop; converges in a step or two
            new_knee, goal = _two_bone_ik(H, K, A + weight[:, None] * (held - A), l1, l2)
            shift = np.linalg.norm(new_knee - K, axis=-1)
            limit = KNEE_MAX_SHIFT * l1
            weight = np.where(shift > limit, weight * limit / np.maximum(shift, 1e-12), weight)
        new_knee, goal = _two_bone_ik(H, K, A + weight[:, None] * (held - A), l1, l2)
        free = weight <= 0
        overrides[hip] = np.where(free[:, None], targets[:, knee] - targets[:, hip], new_knee - H)
        overrides[knee] = np.where(free[:, None], targets[:, ankle] - targets[:, knee], goal - new_knee)
    return overrides
