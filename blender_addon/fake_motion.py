"""Deterministic procedural motion on the SMPL-22 skeleton: the `fake` backend for tests, demos and the
batch script without a model (never a stand-in for the real generator's quality).

A walk cycle (hip/knee/ankle swing, counter-swinging arms, pelvis bob and sway) built by forward
kinematics from `smpl22.REST_OFFSETS`, so every bone has the SMPL-22 target length. Prompt words pick
variants: "run", "wave" (right hand waves; standing unless the prompt also walks), "turn left/right",
"stand"/"idle". The seed jitters phase, cadence and amplitudes;
the root moves so that the stance foot stays planted (no foot sliding).

Rotation convention (the usual SMPL one): rotations[t, j] is joint j's rotation relative to its parent,
G_j = G_parent(j) · q_j, and a child c sits at pos_j + G_j · REST_OFFSETS[c].
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from .rotations import axis_angle_to_quat, matrix_to_quat, quat_to_matrix
from .smpl22 import FPS, JOINT_INDEX, NUM_JOINTS, PARENTS, REST_OFFSETS

X, Y, Z = np.eye(3)


def fake_motion(prompt: str, seconds: float = 4.0, seed: int = 0, fps: int = FPS):
    """-> (joints (T, 22, 3) m Y-up floored, rotations (T, 22, 4) wxyz local, root (T, 3), fps)."""
    frames = max(2, int(round(seconds * fps)))
    text = prompt.lower()
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(text.encode("utf-8"))])
    jitter = 1.0 + 0.1 * rng.uniform(-1, 1, size=3)
    t = np.arange(frames) / fps

    running = "run" in text or "jog" in text
    waving = "wave" in text or "waving" in text
    moving = not any(w in text for w in ("stand", "idle")) and (not waving or "walk" in text or running)
    step_hz = (1.4 if running else 0.9) * jitter[0]
    leg_amp = (0.7 if running else 0.45) * jitter[1] if moving else 0.03
    arm_amp = (0.6 if running else 0.35) * jitter[2] if moving else 0.03
    phase = 2 * np.pi * step_hz * t + rng.uniform(0, 2 * np.pi)
    turn_word = re.search(r"turn(?:s|ing)? (left|right)", text)
    turn = 0.0 if turn_word is None else 0.6 if turn_word.group(1) == "left" else -0.6  # rad/s about +Y

    angles = np.zeros((frames, NUM_JOINTS, 3))  # per joint: rotation vector (axis * angle)
    s, c = np.sin(phase), np.cos(phase)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        ps, pc = sign * s, sign * c  # the right leg runs half a cycle behind
        hip = -leg_amp * ps
        knee = 0.08 + (1.6 if running else 1.1) * leg_amp * np.clip(pc, 0, None)
        angles[:, JOINT_INDEX[f"{side}_hip"]] = hip[:, None] * X
        angles[:, JOINT_INDEX[f"{side}_knee"]] = knee[:, None] * X
        # The ankle undoes hip + knee pitch, so the foot stays flat and the toes do not scrape.
        angles[:, JOINT_INDEX[f"{side}_ankle"]] = -(hip + knee)[:, None] * X
        arm = arm_amp * ps[:, None] * X + sign * 0.12 * Z
        angles[:, JOINT_INDEX[f"{side}_shoulder"]] = arm
        elbow = -(0.35 if running else 0.2) - 0.15 * arm_amp * (1 + ps)
        angles[:, JOINT_INDEX[f"{side}_elbow"]] = elbow[:, None] * X
    angles[:, JOINT_INDEX["spine3"]] = (0.12 * leg_amp * s)[:, None] * Y
    angles[:, JOINT_INDEX["pelvis"]] = (-0.1 * leg_amp * s)[:, None] * Y
    if waving:  # right arm up and out, forearm waving about the forward axis
        angles[:, JOINT_INDEX["r_shoulder"]] = -2.5 * Z
        wave = 0.5 * np.sin(2 * np.pi * 1.6 * t)
        angles[:, JOINT_INDEX["r_elbow"]] = (-0.6 + wave)[:, None] * Z

    heading = turn * t  # yaw of the whole body
    local = axis_angle_to_quat(angles, np.linalg.norm(angles, axis=-1))  # (T, 22, 4)
    yaw = axis_angle_to_quat(np.broadcast_to(Y, (frames, 3)), heading)
    local[:, 0] = _qmul(yaw, local[:, 0])

    # The stance foot (the left one while its hip extends, cos(phase) < 0) stays planted: the root moves by
    # minus its horizontal slide and rides on the lower ankle (the inverted-pendulum bob of a real walk).
    rel = forward_kinematics(local, np.zeros((frames, 3)))  # (T, 22, 3) around a fixed pelvis
    ankles = rel[:, (7, 8)]  # (T, 2, 3)
    stance = np.where(c < 0, 0, 1) if moving else np.argmin(ankles[:, :, 1], axis=1)
    root = np.zeros((frames, 3))
    for i in range(1, frames):
        slide = ankles[i, stance[i]] - ankles[i - 1, stance[i]]
        root[i, (0, 2)] = root[i - 1, (0, 2)] - slide[[0, 2]]
    root[:, 1] = -ankles[:, :, 1].min(axis=1)  # the lower ankle touches the floor (late stance: heel off)
    joints = forward_kinematics(local, root)
    floor = joints[:, (7, 8, 10, 11), 1].min()
    joints[..., 1] -= floor
    root = joints[:, 0].copy()
    return joints.astype(np.float32), local.astype(np.float32), root.astype(np.float32), float(fps)


def forward_kinematics(local: np.ndarray, root: np.ndarray, offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """(T, 22, 4) local rotations + (T, 3) root -> (T, 22, 3) joints (SMPL convention, see module doc)."""
    mats = quat_to_matrix(local)  # (T, 22, 3, 3)
    glob = np.empty_like(mats)
    joints = np.empty(local.shape[:-1] + (3,))
    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        if p < 0:
            glob[:, j] = mats[:, j]
            joints[:, j] = root
        else:
            glob[:, j] = glob[:, p] @ mats[:, j]
            joints[:, j] = joints[:, p] + glob[:, p] @ offsets[j]
    return joints


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return matrix_to_quat(quat_to_matrix(a) @ quat_to_matrix(b))
