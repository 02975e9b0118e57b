"""Small numpy rotation toolkit for the add-on (Blender's Python has numpy but no scipy, and
`ropar_core.quaternion` is scipy-based, so it cannot be vendored like the skeleton; tests/test_retarget.py
checks these against scipy). Most of it (swing, frame, Euler orders, continuity) exists only here.

Quaternions are (w, x, y, z), Hamilton product, active rotation (as mathutils and ropar_core use).
Matrices are (..., 3, 3) and act on column vectors. Every function is vectorised over leading axes.
"""

from __future__ import annotations

import numpy as np

# (x, y, z)_ropar (Y up, faces +Z)  ->  (x, -z, y)_blender (Z up, faces -Y)   (DESIGN §2)
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
EPS = 1e-9


def normalize(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, EPS)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3, 3)."""
    q = normalize(np.asarray(q, dtype=np.float64))
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 4) wxyz with w >= 0 (Shepperd: pick the largest diagonal term)."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cands = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m00 - m11 + m22], -1),
    ], axis=-2)  # (..., 4 candidates, 4)
    best = np.argmax(np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                               1 - m00 - m11 + m22], -1), axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def axis_angle_to_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    axis = normalize(np.asarray(axis, dtype=np.float64))
    half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3, 3): the smallest rotation turning direction u onto direction v (no twist about them).

    Rodrigues with k = u × v, c = u·v: R = c·I + [k]x + k kᵀ / (1 + c); opposite vectors (c = -1) turn
    by pi about an axis p perpendicular to u: R = 2 p pᵀ - I."""
    u, v = normalize(u), normalize(v)
    u, v = np.broadcast_arrays(u, v)
    k = np.cross(u, v)
    c = np.sum(u * v, axis=-1)
    x, y, z = k[..., 0], k[..., 1], k[..., 2]
    r = k[..., :, None] * k[..., None, :] / np.maximum(1.0 + c, 1e-12)[..., None, None]
    r[..., 0, 0] += c
    r[..., 1, 1] += c
    r[..., 2, 2] += c
    r[..., 0, 1] -= z
    r[..., 0, 2] += y
    r[..., 1, 0] += z
    r[..., 1, 2] -= x
    r[..., 2, 0] -= y
    r[..., 2, 1] += x
    opposite = c < -1 + 1e-8
    if np.any(opposite):  # rare: pick any axis perpendicular to u for the half turn
        helper = np.where(np.abs(u[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        p = normalize(np.cross(u, helper))
        half_turn = 2 * p[..., :, None] * p[..., None, :] - np.eye(3)
        r = np.where(opposite[..., None, None], half_turn, r)
    return r


def frame(aim: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal frame (..., 3, 3) with columns (aim, side ⟂ aim, aim × side) and a validity mask
    (False where side is (nearly) parallel to aim, so no frame exists)."""
    a = normalize(aim)
    s = side - np.sum(side * a, axis=-1, keepdims=True) * a
    ok = np.linalg.norm(s, axis=-1) > 1e-6 * np.maximum(np.linalg.norm(side, axis=-1), EPS)
    s = normalize(s)
    return np.stack([a, s, np.cross(a, s)], axis=-1), ok


def continuous_quats(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so consecutive quaternions lie in the same hemisphere; keyframe
    interpolation then never takes the long way round."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumsum(dots < 0, axis=0) % 2
    q[1:] *= np.where(flips[..., None] == 1, -1.0, 1.0)
    return np.moveaxis(q, 0, axis)


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) angles (x, y, z) for a Blender rotation mode such as 'XYZ'.

    Blender's 'XYZ' applies X first, then Y, then Z: R = Rz · Ry · Rx. Continuity over time is the
    caller's job (`continuous_eulers`)."""
    i, j, k = ("XYZ".index(c) for c in order)
    parity = (j - i) % 3 == 1  # even permutation of XYZ
    sign = 1.0 if parity else -1.0
    # With R = R_k R_j R_i, the matrix element R[k, i] = -sign * sin(angle_j).
    sy = np.clip(-sign * m[..., k, i], -1.0, 1.0)
    angle_j = np.arcsin(sy)
    angle_i = np.arctan2(sign * m[..., k, j], m[..., k, k])
    angle_k = np.arctan2(sign * m[..., j, i], m[..., i, i])
    # Gimbal lock (|cos angle_j| ~ 0): put everything into angle_i.
    locked = np.abs(sy) > 1 - 1e-9
    if np.any(locked):
        angle_i = np.where(locked, np.arctan2(-sign * m[..., j, k], m[..., j, j]), angle_i)
        angle_k = np.where(locked, 0.0, angle_k)
    out = np.empty(m.shape[:-2] + (3,))
    out[..., i], out[..., j], out[..., k] = angle_i, angle_j, angle_k
    return out


def continuous_eulers(e: np.ndarray, axis: int = 0) -> np.ndarray:
    """Remove 2·pi jumps along time so Euler F-curves stay smooth (like mathutils' to_euler(order, prev))."""
    return np.unwrap(e, axis=axis)
