"""Noise like monocular video reconstruction (the paper's K700-M set): `simulate_noise --mode video`.

The default mode ("limbs", training/data/noise_model.py) corrupts exactly the parts the credibility
mask calls noisy, only distal joints, then low-passes the error: the mask is an oracle and the body's
global motion stays clean. Here, as with WHAM on Kinetics:
- what is corrupted follows what the camera *really* did not see (per-part visibility of the virtual
  camera), not the credibility mask;
- limbs that were not seen are corrupted as in the default mode but NOT low-passed (the paper's filter
  removes jitter, not a frozen or wandering limb; here no smoothing hides the error);
- where the camera lost the hips the whole body gets a wrong global orientation (yaw and a lean) and a
  drift in depth along the camera's axis; where it lost the shoulders the upper body gets a wrong twist
  and lean about the spine (a rigid rotation of that subtree, bone lengths kept);
- the features are recomputed from the corrupted joints with the HumanML3D formulas, so the root
  channels carry the global error too;
- credibility is decided by the detector from simulated keypoint confidences, with realistic errors:
  motion blur, missed detections and low quality make seen parts look noisy, and a detector that
  confidently guesses a hidden limb (HALLUCINATION of the run) makes unseen parts look credible.
Per clip the rates of parts wrongly called credible / noisy are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ropar_core import skeleton as sk
from ropar_core.credibility import credibility_from_confidences, part_confidence
from ropar_core.features import features_to_joints, joints_to_features, qmul, qrot, recover_root
from training.data import virtual_camera as vc
from training.data.noise_model import SimulatedClip, corrupt, envelope

SEEN = 0.5  # mean visibility of a part's joints above which the reconstruction got it right
HALLUCINATION = 0.25  # chance that a detector confidently guesses a hidden part over one unseen run
HIPS, SHOULDERS = (0, 1, 2), (16, 17)
UPPER_BODY_BASE = 9  # spine3: the upper body twists about it when the shoulders are lost
MAX_YAW, MAX_LEAN, MAX_DEPTH = np.radians(60.0), np.radians(12.0), 1.0


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], col, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def seen_parts(visibility: np.ndarray) -> np.ndarray:
    """(T, 22) visibility -> (T, 5) bool: the parts a reconstruction sees, averaged like confidences."""
    return part_confidence(visibility, "smpl22") >= SEEN


def detector_confidence(view: vc.View, seen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The camera's confidences, with confident guesses on some unseen runs of some parts."""
    conf = view.confidence.astype(np.float64).copy()
    groups = {"torso": (0, 3, 6, 9, 12, 15), "left_arm": (16, 18, 20), "right_arm": (17, 19, 21),
              "left_leg": (1, 4, 7, 10), "right_leg": (2, 5, 8, 11)}
    for k, part in enumerate(sk.PART_NAMES):
        for s, e in _runs(~seen[:, k]):
            if rng.random() < HALLUCINATION:
                joints = list(groups[part])
                level = rng.uniform(0.55, 0.85) + rng.normal(0, 0.05, (e - s, len(joints)))
                conf[s:e, joints] = np.clip(level, 0.0, 1.0)
    return conf.astype(np.float32)


def _axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T,) angles about a fixed unit axis (3,) -> (T, 4) wxyz."""
    half = np.asarray(angle, np.float64)[:, None] / 2
    return np.concatenate([np.cos(half), np.sin(half) * axis[None]], axis=1)


def _profile(lost: np.ndarray, rng: np.random.Generator, scale: float, limit: float, step: float):
    """(T,) error that is zero where the body is seen, and inside each lost run a random offset plus a
    random walk, faded in/out over a few frames (a reconstruction drifts; it does not jump)."""
    out = np.zeros(len(lost))
    for s, e in _runs(lost):
        walk = np.cumsum(rng.normal(0.0, step, e - s)) + rng.normal(0.0, scale)
        out[s:e] = np.clip(walk, -limit, limit)
    return out * envelope(lost)


def rotate_subtree(J: np.ndarray, base: int, quat: np.ndarray) -> np.ndarray:
    """Rotate joint `base` and every joint below it about `base` by quat (T, 4). J (T, 22, 3)."""
    below = {base}
    for j in range(sk.NUM_JOINTS):  # SMPL order is topological: parents come first
        if sk.PARENTS[j] in below:
            below.add(j)
    idx = sorted(below - {base})
    out = J.copy()
    out[:, idx] = J[:, base:base + 1] + qrot(quat[:, None], J[:, idx] - J[:, base:base + 1])
    return out


def global_errors(J: np.ndarray, view: vc.View, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Wrong orientation + depth drift where the hips were lost; upper-body twist where the shoulders
    were. Returns the joints and per-clip magnitudes (degrees / metres)."""
    vis = view.visibility
    lost_hips = vis[:, list(HIPS)].mean(1) < SEEN
    lost_shoulders = (vis[:, list(SHOULDERS)].mean(1) < SEEN) & ~lost_hips
    up = np.array([0.0, 1.0, 0.0])
    azimuth = view.shots[0][2].azimuth
    depth_dir = -np.array([np.sin(azimuth), 0.0, np.cos(azimuth)])  # from the camera towards the subject
    side = np.cross(up, depth_dir)
    out = J.copy()
    if lost_shoulders.any():
        twist = _profile(lost_shoulders, rng, np.radians(25.0), MAX_YAW, np.radians(1.0))
        lean = _profile(lost_shoulders, rng, np.radians(8.0), MAX_LEAN, np.radians(0.4))
        quat = qmul(_axis_rotation(up, twist), _axis_rotation(side, lean))
        out = rotate_subtree(out, UPPER_BODY_BASE, quat)
    yaw = _profile(lost_hips, rng, np.radians(30.0), MAX_YAW, np.radians(1.5))
    lean = _profile(lost_hips, rng, np.radians(6.0), MAX_LEAN, np.radians(0.3))
    depth = _profile(lost_hips, rng, 0.3, MAX_DEPTH, 0.03)
    if lost_hips.any():
        quat = qmul(_axis_rotation(up, yaw), _axis_rotation(side, lean))
        root = out[:, :1]
        out = root + qrot(quat[:, None], out - root) + depth[:, None, None] * depth_dir
    stats = {"lost_hips_frames": int(lost_hips.sum()), "lost_shoulders_frames": int(lost_shoulders.sum()),
             "max_yaw_deg": round(float(np.degrees(np.abs(yaw).max(initial=0.0))), 1),
             "max_depth_m": round(float(np.abs(depth).max(initial=0.0)), 3)}
    return out, stats


def to_features(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> (T, 263): one frame is extrapolated so that joints_to_features keeps T frames."""
    extra = 2 * joints[-1:] - joints[-2:-1] if len(joints) > 1 else joints[-1:]
    return joints_to_features(np.concatenate([joints, extra], axis=0))


@dataclass
class VideoView:
    view: vc.View
    seen: np.ndarray  # (T, 5) what the reconstruction really got right
    frame_mask: np.ndarray  # (T, 5) what the detector calls credible


def film_candidate(joints: np.ndarray, key: int, k: int, tau: float) -> VideoView:
    view = vc.film(joints, np.random.default_rng([key, k]))
    seen = seen_parts(view.visibility)
    conf = detector_confidence(view, seen, np.random.default_rng([key, k, 2]))
    cred = credibility_from_confidences(conf, "smpl22", tau=tau, fps=sk.FPS)
    return VideoView(view, seen, cred.frame_mask)


def detector_errors(seen: np.ndarray, credible: np.ndarray) -> dict:
    """Counts of (frame, part) cells: unseen but called credible, seen but called noisy, and totals."""
    return {"unseen": int((~seen).sum()), "unseen_called_credible": int((~seen & credible).sum()),
            "seen": int(seen.sum()), "seen_called_noisy": int((seen & ~credible).sum())}


def simulate_clip(clean_features: np.ndarray, key: int, k: int, tau: float, mean_local: np.ndarray):
    """Candidate k of a clip in video mode -> noise_model.SimulatedClip (+ detector error counts)."""
    joints = features_to_joints(clean_features)
    cand = film_candidate(joints, key, k, tau)
    quat, _ = recover_root(clean_features)
    rng = np.random.default_rng([key, k, 1])
    limbs = corrupt(joints, quat, cand.seen, rng, mean_local, smooth=False)
    moved, stats = global_errors(limbs.joints, cand.view, rng)
    if not (limbs.changed.any() or stats["lost_hips_frames"] or stats["lost_shoulders_frames"]):
        noisy = np.array(clean_features, np.float32, copy=True)  # nothing unseen: keep it bit-for-bit
    else:
        noisy = to_features(moved)
    modes = dict(limbs.modes)
    sim = SimulatedClip(noisy, cand.frame_mask, cand.view.framing, modes)
    return sim, {**stats, **detector_errors(cand.seen, cand.frame_mask)}


ERROR_KEYS = ("unseen", "unseen_called_credible", "seen", "seen_called_noisy")


def error_rates(counts) -> dict:
    """Summed detector_errors counts -> the shares a cache's meta reports."""
    return {"unseen_called_credible": round(counts["unseen_called_credible"] / max(counts["unseen"], 1), 4),
            "seen_called_noisy": round(counts["seen_called_noisy"] / max(counts["seen"], 1), 4),
            "unseen_share": round(counts["unseen"] / max(counts["unseen"] + counts["seen"], 1), 4)}
