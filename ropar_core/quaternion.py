"""Quaternion helpers: numpy, wxyz, Hamilton product, active rotation v' = q v q^-1, broadcasting over
leading axes; plus the 6D (two-column) rotation layout HumanML3D stores, and matrix <-> quaternion / Euler
conversions.

The conversions are plain numpy rather than scipy's Rotation: importing scipy.spatial.transform costs
0.2-0.7 s, and `ropar generate` needs them on every call (tests/test_quaternion_numpy.py checks them
against scipy)."""

from __future__ import annotations

import numpy as np


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
    """(..., 4) wxyz (normalised here) -> (..., 3, 3)."""
    w, x, y, z = np.moveaxis(qnormalize(np.asarray(q, np.float64)), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) wxyz with w >= 0. Shepperd's method: build the quaternion from the
    largest of w, x, y, z so that no component is found by dividing by a small one."""
    m = np.asarray(m, np.float64)
    flat = m.reshape(-1, 3, 3)
    trace = np.trace(flat, axis1=1, axis2=2)
    choice = np.stack([flat[:, 0, 0], flat[:, 1, 1], flat[:, 2, 2], trace], -1).argmax(-1)
    xyzw = np.empty((len(flat), 4))
    for i in range(3):  # x, y or z largest
        sel, j, k = choice == i, (i + 1) % 3, (i + 2) % 3
        r = flat[sel]
        xyzw[sel, i] = 1 - trace[sel] + 2 * r[:, i, i]
        xyzw[sel, j] = r[:, j, i] + r[:, i, j]
        xyzw[sel, k] = r[:, k, i] + r[:, i, k]
        xyzw[sel, 3] = r[:, k, j] - r[:, j, k]
    r = flat[choice == 3]  # w largest
    xyzw[choice == 3] = np.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1],
                                  1 + trace[choice == 3]], -1)
    q = qnormalize(xyzw[:, [3, 0, 1, 2]])
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(m.shape[:-2] + (4,))


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) intrinsic Euler angles in degrees, R = R_a(e0) @ R_b(e1) @ R_c(e2) for
    order "abc" (a permutation of XYZ, as BVH channels and scipy's upper-case sequences). At gimbal lock
    (middle angle +-90 degrees) the last angle is set to 0."""
    i, j, k = ("XYZ".index(a) for a in order.upper())
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # cyclic order (XYZ, YZX, ZXY) or not
    m = np.asarray(m, np.float64)
    cos_middle = np.hypot(m[..., i, i], m[..., i, j])
    middle = np.arctan2(sign * m[..., i, k], cos_middle)  # atan2, not asin: exact near +-90 degrees
    first = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    last = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    locked = cos_middle < 1e-7
    if np.any(locked):  # R = R_a(first) @ R_b(+-90): read `first` from R_b's own axis column
        first = np.where(locked, np.arctan2(sign * m[..., k, j], m[..., j, j]), first)
        last = np.where(locked, 0.0, last)
    return np.degrees(np.stack([first, middle, last], -1))


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
