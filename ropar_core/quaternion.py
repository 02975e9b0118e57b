"""Quaternion helpers: numpy, wxyz, Hamilton product, active rotation v' = q v q^-1, broadcasting over
leading axes; plus the 6D (two-column) rotation layout HumanML3D stores."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def qnormalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def qinv(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    w = q[..., :1]
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Shortest-arc quaternion turning v0 onto v1 (HumanML3D's qbetween); opposite vectors, where that
    formula degenerates to zero, get a half turn about an axis perpendicular to v0."""
    v0, v1 = np.broadcast_arrays(np.asarray(v0, np.float64), np.asarray(v1, np.float64))
    axis = np.cross(v0, v1)
    w = np.sqrt((v0 ** 2).sum(-1) * (v1 ** 2).sum(-1)) + (v0 * v1).sum(-1)
    q = np.concatenate([w[..., None], axis], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    bad = norm[..., 0] < 1e-9
    if np.any(bad):
        # any axis perpendicular to v0: cross with X, or with Y when v0 is along X
        ref = np.where(np.abs(v0[..., :1]) > 0.9, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]))
        perp = np.cross(v0, ref)
        perp = perp / np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), 1e-12)
        flip = np.concatenate([np.zeros(perp.shape[:-1] + (1,)), perp], axis=-1)
        q = np.where(bad[..., None], flip, q)
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return q / norm


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3, 3)."""
    flat = q.reshape(-1, 4)
    mats = Rotation.from_quat(flat[:, [1, 2, 3, 0]]).as_matrix()
    return mats.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) wxyz with w >= 0."""
    xyzw = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat()
    q = xyzw[:, [3, 0, 1, 2]]
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(m.shape[:-2] + (4,))


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 6): the rotation matrix's first two columns (HumanML3D's layout)."""
    m = quat_to_matrix(q)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def cont6d_to_matrix(c: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt on the two stored columns."""
    x = c[..., 0:3] / np.linalg.norm(c[..., 0:3], axis=-1, keepdims=True)
    z = np.cross(x, c[..., 3:6])
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)
