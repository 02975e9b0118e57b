"""The numpy rotation conversions and 1-D filters that replaced scipy on the generate path give scipy's
numbers (scipy stays the reference here)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d
from scipy.spatial.transform import Rotation

from ropar_core.filters import gaussian_smooth, maximum_filter, minimum_filter
from ropar_core.quaternion import matrix_to_euler, matrix_to_quat, quat_to_matrix

ROTATIONS = Rotation.random(500, random_state=3)
ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


def _wxyz_positive(r: Rotation) -> np.ndarray:
    q = r.as_quat()[:, [3, 0, 1, 2]]
    return np.where(q[:, :1] < 0, -q, q)


def test_quaternion_matrix_round_trip_matches_scipy():
    mats = ROTATIONS.as_matrix().reshape(5, 100, 3, 3)  # leading axes are kept
    q = matrix_to_quat(mats)
    assert q.shape == (5, 100, 4)
    assert np.abs(q.reshape(-1, 4) - _wxyz_positive(ROTATIONS)).max() < 1e-12
    assert np.abs(quat_to_matrix(q) - mats).max() < 1e-12
    # half turns (w = 0) and the identity take the other branches of the conversion
    special = Rotation.from_rotvec([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi], [0, 0, 0]])
    assert np.abs(quat_to_matrix(matrix_to_quat(special.as_matrix())) - special.as_matrix()).max() < 1e-12


@pytest.mark.parametrize("order", ORDERS)
def test_euler_angles_match_scipy_intrinsic(order):
    mats = ROTATIONS.as_matrix()
    ours = matrix_to_euler(mats, order)
    assert np.abs(ours - ROTATIONS.as_euler(order, degrees=True)).max() < 1e-9
    # gimbal lock: any valid decomposition, but it must rebuild the same rotation
    locked = Rotation.from_euler(order, [[30, 90, 0], [10, -90, 20], [-120, 90, 45]], degrees=True)
    back = Rotation.from_euler(order, matrix_to_euler(locked.as_matrix(), order), degrees=True)
    assert np.abs(back.as_matrix() - locked.as_matrix()).max() < 1e-9


@pytest.mark.parametrize("frames", [1, 7, 80, 400])
def test_filters_are_scipys_nearest_mode(frames):
    x = np.random.default_rng(frames).normal(size=(frames, 4, 3))
    for sigma in (1.5, 3, 20):  # the cleanup's and the IK's
        ref = gaussian_filter1d(x, sigma, axis=0, mode="nearest")
        assert np.abs(gaussian_smooth(x, sigma) - ref).max() < 1e-12
    assert gaussian_smooth(x.astype(np.float32), 2.0).dtype == np.float32
    for size in (1, 4, 7, 17):  # even sizes are centred as scipy centres them
        assert np.array_equal(minimum_filter(x, size), minimum_filter1d(x, size, axis=0, mode="nearest"))
        assert np.array_equal(maximum_filter(x, size), maximum_filter1d(x, size, axis=0, mode="nearest"))
