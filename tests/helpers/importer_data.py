"""Inputs for the importer and build_cache tests: a walking skeleton, a synthetic SMPL body model, AMASS
sequences and COCO keypoint files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ropar_core import skeleton as sk
from ropar_core.layouts import COCO17_JOINTS


def walking_joints(T: int = 60, fps: float = 30.0, speed: float = 1.2) -> np.ndarray:
    """SMPL-22 rest skeleton walking along +Z with legs swinging about the hips (bone lengths fixed)."""
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[sk.PARENTS[j]] + sk.REST_OFFSETS[j]
    rest[:, 1] -= rest[:, 1].min()
    t = np.arange(T) / fps
    J = np.repeat(rest[None], T, 0)
    J[:, :, 2] += speed * t[:, None]
    ang = 0.4 * np.sin(2 * np.pi * 1.5 * t)
    for chain, sign in (((1, 4, 7, 10), 1.0), ((2, 5, 8, 11), -1.0)):
        hip = J[:, chain[0]].copy()
        c, s = np.cos(sign * ang), np.sin(sign * ang)
        for j in chain[1:]:
            d = J[:, j] - hip
            J[:, j, 1] = hip[:, 1] + c * d[:, 1] - s * d[:, 2]
            J[:, j, 2] = hip[:, 2] + s * d[:, 1] + c * d[:, 2]
    return J.astype(np.float32)


SMPL_PARENTS = list(sk.PARENTS) + [20, 21]  # 24 SMPL joints: the 22 + two hands


def make_smpl_model(path: Path, num_vertices: int = 64, num_joints: int = 24, num_betas: int = 10, seed=0):
    """A synthetic SMPL-layout .npz model (the keys smplx reads): the first joints' vertices sit on a
    standing skeleton (Y up, facing +Z) and J_regressor picks them; betas move the vertices a little."""
    rng = np.random.default_rng(seed)
    parents = SMPL_PARENTS + [20 + j % 2 for j in range(24, num_joints)]
    extra = np.tile([[0.0, -0.05, 0.0]], (num_joints - 22, 1))
    offsets = np.vstack([sk.REST_OFFSETS, extra])
    rest = np.zeros((num_joints, 3))
    for j in range(1, num_joints):
        rest[j] = rest[parents[j]] + offsets[j]
    rest[:, 1] += 0.95
    n_extra = num_vertices - num_joints
    v = np.vstack([rest, rest[rng.integers(0, num_joints, n_extra)] + rng.normal(0, 0.03, (n_extra, 3))])
    owner = np.concatenate([np.arange(num_joints), rng.integers(0, num_joints, n_extra)])
    weights = np.zeros((num_vertices, num_joints))
    weights[np.arange(num_vertices), owner] = 1.0
    jreg = np.zeros((num_joints, num_vertices))
    jreg[np.arange(num_joints), np.arange(num_joints)] = 1.0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, v_template=v, shapedirs=rng.normal(0, 0.01, (num_vertices, 3, num_betas)),
        posedirs=np.zeros((num_vertices, 3, 9 * (num_joints - 1))), J_regressor=jreg, weights=weights,
        kintree_table=np.array([[4294967295] + parents[1:], list(range(num_joints))], dtype=np.int64),
        f=np.array([[0, 1, 2], [3, 4, 5]], dtype=np.int64))
    return path


def numpy_smpl_joints(model_path: Path, poses, trans, betas) -> np.ndarray:
    """Independent SMPL forward kinematics (scipy rotations) for the first 22 joints."""
    m = np.load(model_path)
    v = m["v_template"] + m["shapedirs"][..., : len(betas)] @ betas
    rest = m["J_regressor"][:22] @ v  # (22, 3)
    T = len(poses)
    rots = Rotation.from_rotvec(poses[:, :66].reshape(-1, 3)).as_matrix().reshape(T, 22, 3, 3)
    world_r = np.zeros((T, 22, 3, 3))
    out = np.zeros((T, 22, 3))
    for j in range(22):
        p = sk.PARENTS[j]
        if p < 0:
            world_r[:, j] = rots[:, j]
            out[:, j] = rest[j]  # SMPL rotates about the pelvis
        else:
            world_r[:, j] = world_r[:, p] @ rots[:, j]
            out[:, j] = out[:, p] + world_r[:, p] @ (rest[j] - rest[p])
    return out + trans[:, None]


def amass_sequence(T=120, fps=60.0, width=156, seed=0):
    """Z-up AMASS-like parameters: the body stands up (root +90 deg about X), walks along world -Y and
    bends its knees."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fps
    poses = np.zeros((T, width))
    poses[:, :3] = [np.pi / 2, 0.0, 0.0]
    poses[:, 3 * 4] = 0.6 * (1 + np.sin(2 * np.pi * t))  # left knee
    poses[:, 3 * 5] = 0.6 * (1 - np.sin(2 * np.pi * t))  # right knee
    poses[:, 3 * 16 + 2] = -0.8  # left shoulder down
    trans = np.stack([0.1 * t, -1.0 * t, np.full(T, 0.0)], axis=1)
    return poses, trans, rng.normal(0, 1.0, 16)


def save_amass(path: Path, poses, trans, betas, fps=60.0, gender="female", rate_key="mocap_framerate"):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=poses, trans=trans, betas=betas, gender=np.array(gender),
             dmpls=np.zeros((len(poses), 8)), **{rate_key: np.array(fps)})
    return path


def coco_keypoints(path: Path, num_frames: int, low_legs: range, track_ids=(1,)):
    """MMPose-like JSON: one (or more) tracked people; legs invisible in frames `low_legs`."""
    frames = []
    for t in range(num_frames):
        people = []
        for k, tid in enumerate(track_ids):
            s = np.full(17, 0.9)
            if t in low_legs and k == 0:
                s[[i for i, n in enumerate(COCO17_JOINTS) if n.endswith(("hip", "knee", "ankle"))]] = 0.1
            xy = np.random.default_rng(t).random((17, 2)) * 100 + 200 * k
            people.append({"keypoints": xy.tolist(), "keypoint_scores": s.tolist(), "track_id": tid})
        frames.append({"frame_id": t, "instances": people})
    path.write_text(json.dumps(frames))
    return path
