"""A virtual video camera that films SMPL-22 joints and a pose detector that scores what it sees.

Used by the noise simulator (training/data/noise_model.py) to decide, the way the paper does on real
video, which parts of a clean mocap clip would have been credible had it been filmed: per-joint
2D confidences -> `ropar_core.credibility`.

The camera is a pinhole with a 16:9 image. Image coordinates are (u, v) with v in [-1, 1] bottom to
top and u in [-16/9, 16/9]. A *framing* fixes which body heights fill the image at the subject's
distance (full body, cut at the knees / waist, chest-up close-up, head and shoulders), the camera's
azimuth around the subject, whether it follows the subject (a camera operator) or stays put (the
subject walks out of frame), and optional occluders. Kinetics-700 shows the full body in only ~24 % of
frames (the paper's estimate), so the default mix gives "full" a quarter of the draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ropar_core.skeleton import FPS, NUM_JOINTS

ASPECT = 16.0 / 9.0
# Prior mix of framings (probabilities); the simulator tilts it to reach a requested credible ratio.
FRAMING_PRIOR = {
    "full": 0.25,  # whole body in view (K700: ~24 % of frames)
    "knees": 0.14,  # cut around the knees: feet and shins out
    "waist": 0.12,  # cut at the hips: legs out
    "upper": 0.17,  # chest-up close-up: legs and hanging hands out
    "close": 0.08,  # head and shoulders
    "side_occluded": 0.12,  # something in front hides one side of the body
    "walk_out": 0.12,  # static camera; the subject leaves the frame (or the camera pans away)
}
# Body heights (fractions of the standing height H) of the image's bottom and top edges per framing.
WINDOWS = {
    "full": ((-0.12, -0.03), (1.15, 1.35)),
    "knees": ((0.20, 0.31), (1.05, 1.15)),
    "waist": ((0.44, 0.54), (1.04, 1.14)),
    "upper": ((0.57, 0.66), (1.03, 1.12)),
    "close": ((0.72, 0.79), (1.02, 1.08)),
}
CUT_PROBABILITY = 0.15  # a camera cut to a second framing somewhere in the clip
BORDER_SOFTNESS = 0.08  # image units over which a joint leaving the frame loses its confidence
SELF_OCCLUDED = 0.3  # visibility of a limb joint hidden behind the torso
OCCLUDER_VISIBILITY = 0.05
TORSO_QUAD = (16, 17, 2, 1)  # l_shoulder, r_shoulder, r_hip, l_hip
ROOT_SPINE_HEAD = (0, 3, 6, 9, 12, 15)


@dataclass
class Shot:
    """One continuous camera set-up (a clip has one, or two around a cut)."""

    framing: str
    window: tuple[float, float]  # image bottom / top as heights in metres
    azimuth: float  # radians, camera position around the subject, 0 = in front of frame 0's facing
    distance: float  # metres from the aim point
    camera_height: float  # metres
    track: bool  # follow the subject's root (operator) or stay put
    pan_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # XZ m/s of a static camera's aim
    pan_start: int = 0
    occluder_side: float = 0.0  # +1 / -1: image right / left hidden from occluder_offset outwards; 0 none
    occluder_offset: float = 0.0  # image units from the body's centre line


@dataclass
class View:
    """A filmed clip: shots with their frame ranges, projected joints and detector confidences."""

    framing: str  # the first shot's framing (and "+second" after a cut)
    uv: np.ndarray  # (T, 22, 2) image coordinates
    visibility: np.ndarray  # (T, 22) in [0, 1]
    confidence: np.ndarray  # (T, 22) detector confidence
    shots: list[tuple[int, int, Shot]]


def standing_height(joints: np.ndarray) -> float:
    """Head height above the lowest foot at frame 0 (+ a head-top allowance), metres."""
    return float(joints[0, 15, 1] - joints[0, :, 1].min()) + 0.1


def sample_shot(rng: np.random.Generator, framing: str, joints: np.ndarray) -> Shot:
    """Draw one camera set-up of the given framing for a clip (T, 22, 3)."""
    H = standing_height(joints)
    base = "full" if framing in ("side_occluded", "walk_out") else framing
    if framing in ("side_occluded", "walk_out") and rng.random() < 0.4:
        base = "knees"
    (lo_a, lo_b), (hi_a, hi_b) = WINDOWS[base]
    window = (H * rng.uniform(lo_a, lo_b), H * rng.uniform(hi_a, hi_b))
    # Mostly frontal, sometimes in profile, rarely from behind.
    r = rng.random()
    if r < 0.75:
        azimuth = rng.normal(0.0, np.radians(30.0))
    elif r < 0.93:
        azimuth = rng.choice([-1.0, 1.0]) * rng.uniform(np.radians(60.0), np.radians(110.0))
    else:
        azimuth = np.pi + rng.normal(0.0, np.radians(25.0))
    centre = 0.5 * (window[0] + window[1])
    shot = Shot(framing=framing, window=window, azimuth=float(azimuth), distance=float(rng.uniform(2.5, 6.0)),
                camera_height=float(centre + rng.uniform(-0.25, 0.35)), track=True)
    if framing == "side_occluded":
        shot.occluder_side = float(rng.choice([-1.0, 1.0]))
        shot.occluder_offset = float(rng.uniform(0.0, 0.08))  # between the spine and a shoulder
    if framing == "walk_out":
        shot.track = False
        travel = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
        if travel < 1.0:  # an in-place motion: the camera pans away from the subject instead
            angle = rng.uniform(0, 2 * np.pi)
            shot.pan_velocity = rng.uniform(0.6, 1.5) * np.array([np.cos(angle), np.sin(angle)])
            shot.pan_start = int(rng.integers(0, max(1, len(joints) // 2)))
        else:  # a walk or run: film it from the side so the subject crosses and leaves the frame
            shot.azimuth = float(rng.choice([-1.0, 1.0]) * rng.uniform(np.radians(50.0), np.radians(100.0)))
    return shot


def _aim_points(joints: np.ndarray, shot: Shot) -> np.ndarray:
    """(T, 2) XZ point the camera looks at: the root followed with an operator's lag, or a fixed
    (possibly panning) point."""
    root = joints[:, 0, [0, 2]].astype(np.float64)  # (T, 2)
    if not shot.track:
        t = np.maximum(np.arange(len(joints)) - shot.pan_start, 0) / FPS
        return root[0] + t[:, None] * shot.pan_velocity[None]
    aim = np.empty_like(root)
    aim[0] = root[0]
    alpha = 0.25  # per-frame catch-up of the operator
    for t in range(1, len(root)):
        aim[t] = aim[t - 1] + alpha * (root[t] - aim[t - 1])
    return aim


def project(joints: np.ndarray, shot: Shot) -> tuple[np.ndarray, np.ndarray]:
    """(T, 22, 3) world joints -> image coordinates (T, 22, 2) and depth along the view axis (T, 22)."""
    T = len(joints)
    aim_xz = _aim_points(joints, shot)  # (T, 2)
    y0, y1 = shot.window
    centre_y = 0.5 * (y0 + y1)
    offset = np.array([np.sin(shot.azimuth), np.cos(shot.azimuth)]) * shot.distance  # XZ
    cam = np.stack([aim_xz[:, 0] + offset[0], np.full(T, shot.camera_height), aim_xz[:, 1] + offset[1]], -1)
    target = np.stack([aim_xz[:, 0], np.full(T, centre_y), aim_xz[:, 1]], -1)
    fwd = target - cam
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)  # (T, 3)
    right = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, fwd)
    rel = joints.astype(np.float64) - cam[:, None]  # (T, 22, 3)
    depth = np.einsum("tjc,tc->tj", rel, fwd)
    # Focal length: the window's height fills the image at the aim distance.
    dist = np.linalg.norm(target - cam, axis=-1)[:, None]  # (T, 1)
    focal = 2.0 * dist / (y1 - y0)
    safe = np.maximum(depth, 1e-3)
    u = focal * np.einsum("tjc,tc->tj", rel, right) / safe
    v = focal * np.einsum("tjc,tc->tj", rel, up) / safe  # the window's middle is at v = 0
    return np.stack([u, v], -1), depth


def _inside(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """(T, J, 2) points inside the convex-ish quadrilateral (T, 4, 2), either winding."""
    signs = []
    for k in range(4):
        a, b = quad[:, k], quad[:, (k + 1) % 4]  # (T, 2)
        edge = (b - a)[:, None]
        rel = points - a[:, None]
        signs.append(edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0])
    s = np.stack(signs, -1)  # (T, J, 4)
    return np.all(s >= 0, -1) | np.all(s <= 0, -1)


def visibility(uv: np.ndarray, depth: np.ndarray, shot: Shot) -> np.ndarray:
    """(T, 22) in [0, 1]: inside the image (soft border), in front of the camera, not behind the
    torso (self-occlusion), not behind an occluder."""
    margin = np.minimum(1.0 - np.abs(uv[..., 1]), ASPECT - np.abs(uv[..., 0]))
    vis = np.clip(0.5 + margin / BORDER_SOFTNESS, 0.0, 1.0)
    vis = np.where(depth > 0.3, vis, 0.0)
    # Self-occlusion: a limb joint whose image falls inside the torso quad and lies behind it.
    quad_idx = list(TORSO_QUAD)
    quad = uv[:, quad_idx]  # (T, 4, 2)
    centre = quad.mean(1, keepdims=True)
    quad = centre + 1.15 * (quad - centre)
    behind = depth > depth[:, quad_idx].mean(1, keepdims=True) + 0.08
    hidden = _inside(uv, quad) & behind
    hidden[:, list(ROOT_SPINE_HEAD)] = False
    vis = np.where(hidden, vis * SELF_OCCLUDED, vis)
    if shot.occluder_side:
        body_u = uv[:, list(ROOT_SPINE_HEAD), 0].mean(1, keepdims=True)  # (T, 1)
        edge = body_u + shot.occluder_side * shot.occluder_offset
        covered = (uv[..., 0] - edge) * shot.occluder_side > 0
        vis = np.where(covered, vis * OCCLUDER_VISIBILITY, vis)
    return vis


def detector_confidence(uv: np.ndarray, vis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Visibility (T, 22) -> ViTPose-like confidences (T, 22): high but noisy where a joint is seen,
    lower when it moves fast (motion blur), low but not zero where it is not (detectors still guess),
    temporally correlated noise, and rare frames where the person is missed altogether."""
    T, J = vis.shape
    quality = rng.uniform(0.78, 0.95)  # per clip: resolution, lighting
    noise = np.zeros((T, J))
    eps = rng.normal(0.0, 0.05, (T, J))
    for t in range(T):  # AR(1): detector errors persist over a few frames
        noise[t] = (0.8 * noise[t - 1] if t else 0.0) + eps[t]
    speed = np.zeros((T, J))
    speed[1:] = np.linalg.norm(np.diff(uv, axis=0), axis=-1)  # image units per frame
    blur = np.clip(1.5 * speed, 0.0, 0.3)
    seen = np.clip(quality + noise - blur, 0.0, 1.0)
    guess = np.clip(rng.uniform(0.05, 0.35, (1, J)) + noise, 0.0, 1.0)
    conf = vis * seen + (1.0 - vis) * guess
    # Missed detections: about one short burst every ten seconds.
    for _ in range(rng.poisson(T / (10.0 * FPS))):
        start = int(rng.integers(0, T))
        conf[start:start + int(rng.integers(1, 4))] *= 0.2
    return np.clip(conf, 0.0, 1.0).astype(np.float32)


def sample_framing(rng: np.random.Generator) -> str:
    names = list(FRAMING_PRIOR)
    p = np.array([FRAMING_PRIOR[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def film(joints: np.ndarray, rng: np.random.Generator, framing: str | None = None) -> View:
    """Film a clip (T, 22, 3) with a random set-up (framing drawn from the prior unless given),
    sometimes with one cut to a second framing."""
    assert joints.ndim == 3 and joints.shape[1] == NUM_JOINTS
    T = len(joints)
    framing = framing or sample_framing(rng)
    shots = [(0, T, sample_shot(rng, framing, joints))]
    if T >= 2 * FPS and rng.random() < CUT_PROBABILITY:
        cut = int(rng.integers(T // 4, 3 * T // 4))
        second = sample_framing(rng)
        shots = [(0, cut, shots[0][2]), (cut, T, sample_shot(rng, second, joints))]
    uv = np.zeros((T, NUM_JOINTS, 2))
    vis = np.zeros((T, NUM_JOINTS))
    for a, b, shot in shots:
        shot_uv, depth = project(joints, shot)  # whole clip, so a panning/tracking shot keeps its history
        uv[a:b] = shot_uv[a:b]
        vis[a:b] = visibility(shot_uv[a:b], depth[a:b], shot)
    conf = detector_confidence(uv, vis, rng)
    name = "+".join(s.framing for _, _, s in shots)
    return View(framing=name, uv=uv.astype(np.float32), visibility=vis.astype(np.float32), confidence=conf,
                shots=shots)
