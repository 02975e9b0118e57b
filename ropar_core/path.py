"""Floor paths: where the animator says the body goes (`ropar generate --path FILE`, the API's "path").

A path is a polyline of (x, z) points in metres on the floor, in the output's own axes (Y up). Here it
is checked (`check_path`, `read_path`), resampled by arc length with its corners rounded so that a body
can turn on them (`FloorPath`), and enforced exactly (`follow`): every frame of a motion is turned and
shifted on the floor so that the pelvis lies on the path, at the arc length the motion's own pace has
reached (scaled so that the last frame ends at the last point), facing along the path. `tracking`
measures how well a motion follows a path (the benchmark's and the tests' numbers).

The Generator conditions generation on the path before this pass (generator.py), so that the limbs
are generated for the pace and turns of the path and the exact pass moves the body by centimetres.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.errors import RoparError
from ropar_core.filters import gaussian_smooth
from ropar_core.request import MAX_PATH_COORD, MAX_PATH_LENGTH, MAX_PATH_POINTS, MIN_PATH_LENGTH

DENSE_SPACING = 0.01  # m between the resampled points
# Corners are rounded by a Gaussian over arc length: a 90-degree corner is cut by about 0.5 sigma, and
# the body turns through it within about 4 sigma of path (a person turning while walking needs ~0.5 m)
CORNER_SIGMA = 0.12  # m
PACE_PROBE_SECONDS = 4.0  # the short generation that measures a prompt's own pace (Generator)
PACE_ROUNDS = 2  # measure again on a probe of the length the first round asked for
MIN_NATURAL_PACE = 0.3  # m/s: a prompt that hardly travels (waving) still crosses the path at this pace
MIN_PACE = 0.05  # m/s added to the motion's own pace: a body standing still still moves along the path
YAW_SIGMA = 8.0  # frames: the body's slow facing (the gait's pelvis swing around it is kept)
TRAVEL_SIGMA = 6.0  # frames: smoothing of the motion's own travel direction
MIN_TRAVEL = 0.5  # m: a motion that travels less has no travel direction of its own (faces along)
BACKWARDS = np.radians(135.0)  # facing this far from the travel direction: walking backwards
DUPLICATE = 1e-6  # m: consecutive points closer than this are one point


# ---------------------------------------------------------------------------------------------
# Input
def check_path(value, what: str = "path") -> np.ndarray:
    """{"points": [[x, z], ...]} or the bare list (or a (K, 2) array) -> (K, 2) float64 points with
    repeated points dropped; every problem is a one-line RoparError."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"points"})
        if unknown:
            raise RoparError(f"{what}: unknown key(s) {', '.join(map(repr, unknown))}; "
                             "give {\"points\": [[x, z], ...]}")
        if "points" not in value:
            raise RoparError(f"{what}: \"points\" is missing; give {{\"points\": [[x, z], ...]}}")
        value = value["points"]
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise RoparError(f"{what}: needs a list of at least 2 [x, z] points (metres on the floor)")
    if len(value) > MAX_PATH_POINTS:
        raise RoparError(f"{what}: {len(value)} points; at most {MAX_PATH_POINTS}")
    for i, p in enumerate(value):
        ok = isinstance(p, (list, tuple)) and len(p) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in p)
        if not ok:
            raise RoparError(f"{what}: point {i} must be [x, z] (two numbers, metres), got {str(p)[:40]}")
        if not all(math.isfinite(v) and abs(v) <= MAX_PATH_COORD for v in p):
            raise RoparError(f"{what}: point {i} {list(p)} is not finite or beyond {MAX_PATH_COORD:g} m")
    points = np.asarray(value, dtype=np.float64)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(points, axis=0), axis=1) > DUPLICATE])
    points = points[keep]
    length = polyline_length(points)
    if length < MIN_PATH_LENGTH:
        raise RoparError(f"{what}: {length:.3g} m long; a path must be at least {MIN_PATH_LENGTH:g} m")
    if length > MAX_PATH_LENGTH:
        raise RoparError(f"{what}: {length:.0f} m long; at most {MAX_PATH_LENGTH:g} m")
    return points


def read_path(file) -> np.ndarray:
    """A JSON path file -> check_path's points."""
    return check_path(limits.read_json_file(file, error=RoparError), f"path file {file}")


def polyline_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


# ---------------------------------------------------------------------------------------------
# Geometry
def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """(K, 2) -> points every `spacing` metres of arc length along the polyline, both ends included."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    count = max(2, int(math.ceil(s[-1] / spacing)) + 1)
    at = np.linspace(0.0, s[-1], count)
    return np.stack([np.interp(at, s, points[:, k]) for k in range(2)], axis=-1)


def round_corners(dense: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing of evenly spaced points; the ends are mirrored through themselves (odd
    reflection), so the first and last points stay exactly where they are and straight ends stay
    straight."""
    radius = int(4.0 * sigma_samples + 0.5)
    if radius < 1 or len(dense) < 3:
        return dense
    pad = min(radius, len(dense) - 1)
    padded = np.pad(dense, [(pad, pad), (0, 0)], mode="reflect", reflect_type="odd")
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma_samples) ** 2)
    if pad < radius:  # a path shorter than the kernel: edge-repeat beyond the mirrored part
        padded = np.pad(padded, [(radius - pad, radius - pad), (0, 0)], mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(taps), axis=0)
    return windows @ (kernel / kernel.sum())


def yaw_of(vectors: np.ndarray) -> np.ndarray:
    """(..., 2) floor directions (x, z) -> yaw in radians (0 = +Z, positive towards +X)."""
    return np.arctan2(vectors[..., 0], vectors[..., 1])


def rotate_y(points: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(T, J, 3) rotated about +Y by yaw (T,) radians (+Z turns towards +X)."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out = points.copy()
    out[..., 0] = c * points[..., 0] + s * points[..., 2]
    out[..., 2] = -s * points[..., 0] + c * points[..., 2]
    return out


def body_yaw(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> (T,) facing yaw (radians, unwrapped) from the hips and shoulders, as HumanML3D
    defines the facing direction."""
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sh] - joints[:, l_sh])
    return np.unwrap(np.arctan2(across[:, 2], -across[:, 0]))  # forward = up x across


class FloorPath:
    """A checked path, resampled every DENSE_SPACING metres with rounded corners."""

    def __init__(self, points):
        self.points = check_path(points) if not isinstance(points, np.ndarray) else points
        self.length = polyline_length(self.points)
        dense = round_corners(resample_polyline(self.points, DENSE_SPACING), CORNER_SIGMA / DENSE_SPACING)
        self.dense = dense
        self.s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
        self.yaw = np.unwrap(yaw_of(np.gradient(dense, axis=0)))

    @property
    def smooth_length(self) -> float:
        return float(self.s[-1])

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc lengths (n,) along the rounded path -> (points (n, 2), yaw (n,) of the direction there)."""
        xz = np.stack([np.interp(s, self.s, self.dense[:, k]) for k in range(2)], axis=-1)
        return xz, np.interp(s, self.s, self.yaw)


# ---------------------------------------------------------------------------------------------
# The exact pass
def walked(root: np.ndarray) -> float:
    """(T, 3) pelvis positions -> horizontal distance travelled (m)."""
    return float(np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1).sum())


def pace_profile(root: np.ndarray, length: float) -> np.ndarray:
    """(T, 3) pelvis positions -> (T,) arc length reached at each frame: the motion's own distance
    travelled (plus MIN_PACE), scaled to end at `length`."""
    step = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1) + MIN_PACE / sk.FPS
    walked = np.concatenate([[0.0], np.cumsum(step)])
    return length * walked / walked[-1]


def facing_offset(joints: np.ndarray, smooth_yaw: np.ndarray) -> float:
    """pi when the body walks backwards (its facing, speed-weighted, is more than BACKWARDS off its own
    direction of travel), else 0: the body faces along the path. Only these two, because the shipped
    model's walks sometimes travel 40-60 degrees off their facing (a crab walk): kept, that turned the
    body off the path (29-46 degrees of heading error on some seeds)."""
    root = gaussian_smooth(joints[:, 0, :], TRAVEL_SIGMA)[:, [0, 2]]
    velocity = np.gradient(root, axis=0)
    speed = np.linalg.norm(velocity, axis=1)
    if speed.sum() < MIN_TRAVEL:
        return 0.0
    mean = np.angle((speed * np.exp(1j * (smooth_yaw - yaw_of(velocity)))).sum())
    return float(np.pi) if abs(mean) > BACKWARDS else 0.0


def follow(joints: np.ndarray, path: FloorPath, offset: float | None = None) -> np.ndarray:
    """The exact constraint pass: joints (T, 22, 3) anywhere -> the same motion turned and shifted frame
    by frame so that the pelvis is on the path (first frame at its start, last frame at its end) and the
    body's slow facing runs along it; each frame's pose, height and the gait's own sway are kept.
    offset: the facing relative to the path (None: the motion's own, facing_offset)."""
    joints = np.asarray(joints, dtype=np.float64)
    s = pace_profile(joints[:, 0], path.smooth_length)
    target, path_yaw = path.at(s)
    yaw = body_yaw(joints)
    smooth = gaussian_smooth(yaw, YAW_SIGMA) if len(yaw) > 1 else yaw
    offset = facing_offset(joints, smooth) if offset is None else offset
    turn = path_yaw + offset - smooth  # (T,) per-frame turn about the pelvis
    local = joints.copy()
    local[..., [0, 2]] -= joints[:, :1, [0, 2]]
    out = rotate_y(local, turn)
    out[..., 0] += target[:, None, 0]
    out[..., 2] += target[:, None, 1]
    return out


# ---------------------------------------------------------------------------------------------
# Measuring
def distance_to_polyline(xz: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) positions, (K, 2) polyline -> (distance (T,), yaw (T,) of the nearest segment)."""
    a, b = points[:-1], points[1:]  # (K-1, 2)
    ab = b - a
    dist, yaw = np.empty(len(xz)), np.empty(len(xz))
    for i in range(0, len(xz), 256):  # chunks of frames: (256, K-1, 2) at a time
        p = xz[i:i + 256, None]
        t = ((p - a[None]) * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)[None]
        d = np.linalg.norm(p - (a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]), axis=-1)
        seg = d.argmin(1)
        dist[i:i + 256], yaw[i:i + 256] = d[np.arange(len(seg)), seg], yaw_of(ab)[seg]
    return dist, yaw


def tracking(joints: np.ndarray, points: np.ndarray) -> dict[str, float]:
    """How well the pelvis follows a polyline: distance to it (median, max, m), distance of the last
    frame from the last point (m), and the body's facing against the nearest segment's direction
    (median absolute difference, degrees)."""
    joints = np.asarray(joints, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    d, seg_yaw = distance_to_polyline(joints[:, 0, [0, 2]], points)
    heading = np.angle(np.exp(1j * (body_yaw(joints) - seg_yaw)))
    return {"distance_median_m": float(np.median(d)), "distance_max_m": float(d.max()),
            "end_error_m": float(np.linalg.norm(joints[-1, 0, [0, 2]] - points[-1])),
            "heading_median_deg": float(np.degrees(np.median(np.abs(heading))))}
