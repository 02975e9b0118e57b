"""One clip's simulated video noise, as in the paper's video-reconstructed data: film it with a virtual
camera, judge part credibility from the 2D confidences, corrupt the non-credible parts, re-encode the
features.
`simulate_noise` applies this to a whole cache; `noise_plots` draws examples.

Per clip: a virtual camera films the clean joints (training/virtual_camera.py: framing, per-joint 2D
visibility, detector-like confidences); `ropar_core.credibility` turns the confidences into the
(frames x 5) credibility mask exactly as for real video; then the 3D motion of every non-credible part
is corrupted the way video reconstruction corrupts unseen limbs (frozen or drifting limbs, jitter,
foot sliding from a limb out of step with the body, regression to the mean pose), low-pass filtered as
the paper does with K700-M, and written back into the 263 features. Credible parts stay bit-for-bit
clean; the clean features are kept as `clean_features.npy` (the ground truth for Fig. 3).

Corruption works in joint space and re-encodes with HumanML3D's own formulas around the clean root:
only joints that no credible part needs are moved (neck/head, elbows/wrists, knees/ankles/feet; the
hips, collars and shoulders anchor the limbs and decide the body's facing), bone lengths are kept, and
their position, rotation, velocity and foot-contact channels are recomputed, so that
`features_to_joints(noisy)` returns exactly the corrupted joints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ropar_core import skeleton as sk
from ropar_core.credibility import credibility_from_confidences, token_mask_from_frame_mask
from ropar_core.errors import RoparError
from ropar_core.features import (
    FOOT_VELOCITY_THRESHOLD,
    features_to_joints,
    qbetween,
    qinv,
    qmul,
    qrot,
    quat_to_cont6d,
    recover_root,
)
from ropar_core.runs import true_runs
from training.data import virtual_camera as vc

NUM_CANDIDATES = 16  # filmed views per clip to choose from
RATIO_TOLERANCE = 0.005  # the fix-up stops this close to the requested ratio
LOWPASS_HZ = 4.0  # Butterworth cut-off applied to reconstructed (corrupted) limbs
RAMP_FRAMES = 4  # corruption fades in/out over this many frames inside a non-credible run
CONTACT_THRESHOLD = FOOT_VELOCITY_THRESHOLD

# Joints moved when a part is not credible, and the joint each part hangs from (kept clean).
CORRUPT_JOINTS = {"torso": (12, 15), "left_arm": (18, 20), "right_arm": (19, 21),
                  "left_leg": (4, 7, 10), "right_leg": (5, 8, 11)}
ANCHORS = {"torso": 9, "left_arm": 16, "right_arm": 17, "left_leg": 1, "right_leg": 2}
MODES = {
    "torso": ("freeze", "drift", "mean_pose", "jitter"),
    "left_arm": ("freeze", "drift", "mean_pose", "jitter"),
    "right_arm": ("freeze", "drift", "mean_pose", "jitter"),
    "left_leg": ("freeze", "drift", "mean_pose", "out_of_step"),
    "right_leg": ("freeze", "drift", "mean_pose", "out_of_step"),
}
CHAIN_STARTS = tuple(chain[1] for chain in sk.KINEMATIC_CHAINS)  # bones relative to the root's facing
CONTACT_JOINTS = {7: 259, 10: 260, 8: 261, 11: 262}  # ankle/foot -> foot-contact channel


# ---------------------------------------------------------------------------------------------
# Corruption of non-credible parts (joint space).


def envelope(noisy: np.ndarray) -> np.ndarray:
    """(T,) bool non-credible -> (T,) weight in [0, 1]: 0 on credible frames and on the first/last
    frame of a run that touches a credible frame, rising smoothly over RAMP_FRAMES inside the run (a
    reconstruction drifts away from the last seen pose; it does not jump)."""
    T = len(noisy)
    env = np.zeros(T)
    for s, e in true_runs(noisy):
        t = np.arange(s, e)
        up = (t - s) if s > 0 else np.full(e - s, RAMP_FRAMES)
        down = (e - 1 - t) if e < T else np.full(e - s, RAMP_FRAMES)
        x = np.clip(np.minimum(up, down) / RAMP_FRAMES, 0.0, 1.0)
        env[s:e] = x * x * (3 - 2 * x)  # smoothstep
    return env


def lowpass(x: np.ndarray, fps: float = sk.FPS, cutoff: float = LOWPASS_HZ) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (the paper smooths K700-M this way)."""
    if len(x) < 8:
        return x.copy()
    sos = butter(2, cutoff / (0.5 * fps), output="sos")
    return sosfiltfilt(sos, x, axis=0, padlen=min(15, len(x) - 1))


def mean_pose_local(mean_features: np.ndarray) -> np.ndarray:
    """(263,) dataset mean -> (22, 3) mean joint positions in the facing frame (root at the origin);
    the pose a video model falls back to when it cannot see a limb."""
    ric = np.asarray(mean_features[sk.RIC_SLICE], dtype=np.float64).reshape(21, 3)
    return np.concatenate([np.zeros((1, 3)), ric], axis=0)


@dataclass
class Corruption:
    joints: np.ndarray  # (T, 22, 3) corrupted joints (clean where credible)
    changed: np.ndarray  # (T, 22) bool, joints that moved
    modes: dict  # part -> list of modes, one per non-credible run


def _corrupt_run(L: np.ndarray, s: int, e: int, joints: tuple[int, ...], part: str, mode: str,
                 rng: np.random.Generator, mean_local: np.ndarray, anchor: int) -> np.ndarray:
    """Target local positions (e-s, k, 3) for one non-credible run of one part. L: (T, 22, 3) joints in
    the facing frame relative to the part's anchor."""
    T, n = len(L), e - s
    run = L[s:e][:, list(joints)]  # (n, k, 3)
    if mode == "freeze":  # the estimate holds the last pose it saw; a frozen leg slides with the body
        ref = s - 1 if s > 0 else (e if e < T else int(rng.integers(T)))
        out = np.broadcast_to(L[ref, list(joints)], run.shape).copy()
    elif mode == "drift":  # the estimate wanders off: a random walk with a trend, capped
        steps = rng.normal(0.0, 0.012, run.shape) + rng.normal(0.0, 0.008, (1,) + run.shape[1:])
        walk = np.cumsum(steps, axis=0)
        norm = np.linalg.norm(walk, axis=-1, keepdims=True)
        out = run + walk * np.minimum(1.0, 0.4 / np.maximum(norm, 1e-9))
    elif mode == "mean_pose":  # regression to the average pose, reached within half a second
        target = mean_local[list(joints)] - mean_local[anchor]  # (k, 3)
        w = np.clip((np.arange(n) + 1) / (0.5 * sk.FPS), 0.0, 1.0)[:, None, None]
        out = (1.0 - w) * run + w * target[None]
    elif mode == "jitter":  # high-frequency noise, only partly removed by the low-pass
        out = run + rng.normal(0.0, rng.uniform(0.03, 0.07), run.shape)
    elif mode == "out_of_step":  # legs from another moment: gait out of phase with the root -> sliding
        shift = int(rng.integers(6, 15)) * int(rng.choice([-1, 1]))
        src = np.clip(np.arange(s, e) + shift, 0, T - 1)
        out = L[src][:, list(joints)]
    else:
        raise ValueError(f"unknown corruption mode {mode!r}")
    return out + rng.normal(0.0, 0.01, run.shape)  # every reconstruction jitters a little


def corrupt(joints: np.ndarray, root_quat: np.ndarray, frame_mask: np.ndarray, rng: np.random.Generator,
            mean_local: np.ndarray, smooth: bool = True) -> Corruption:
    """Corrupt the non-credible parts of (T, 22, 3) clean joints. root_quat (T, 4): world -> facing."""
    T = len(joints)
    J = joints.astype(np.float64)
    out = J.copy()
    changed = np.zeros((T, sk.NUM_JOINTS), dtype=bool)
    modes: dict[str, list[str]] = {}
    floor = float(J[..., 1].min())
    lengths = np.linalg.norm(J[:, 1:] - J[:, list(sk.PARENTS[1:])], axis=-1)  # (T, 21) bone ending at j
    for k, part in enumerate(sk.PART_NAMES):
        noisy = ~frame_mask[:, k]
        env = envelope(noisy)  # (T,)
        if not np.any(env > 0):
            continue
        idx = list(CORRUPT_JOINTS[part])
        anchor = ANCHORS[part]
        # Facing-frame positions relative to the anchor: the body may walk and turn, the limb error
        # is expressed where a reconstruction makes it.
        L = qrot(root_quat[:, None], J - J[:, anchor:anchor + 1])  # (T, 22, 3)
        raw = L[:, idx].copy()  # (T, k, 3)
        part_modes = []
        for s, e in true_runs(noisy):
            mode = str(rng.choice(MODES[part]))
            part_modes.append(mode)
            target = _corrupt_run(L, s, e, tuple(idx), part, mode, rng, mean_local, anchor)
            raw[s:e] = L[s:e][:, idx] + env[s:e, None, None] * (target - L[s:e][:, idx])
        modes[part] = part_modes
        filtered = lowpass(raw) if smooth else raw  # limbs mode: smoothed as the paper does K700-M
        local = L[:, idx] + env[:, None, None] * (filtered - L[:, idx])
        world = J[:, anchor:anchor + 1] + qrot(qinv(root_quat)[:, None], local)  # (T, k, 3)
        world[..., 1] = np.maximum(world[..., 1], floor)  # a reconstruction rarely goes under the floor
        cand = J.copy()
        cand[:, idx] = world
        for j in sorted(idx):  # restore bone lengths, parents first (SMPL order is topological)
            p = sk.PARENTS[j]
            bone = cand[:, j] - cand[:, p]
            norm = np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-9)
            cand[:, j] = cand[:, p] + bone / norm * lengths[:, j - 1:j]
        moved = np.flatnonzero(env > 0)
        out[np.ix_(moved, idx)] = cand[np.ix_(moved, idx)]
        changed[np.ix_(moved, idx)] = True
    return Corruption(out, changed, modes)


# ---------------------------------------------------------------------------------------------
# Re-encoding corrupted joints into the 263 features (HumanML3D formulas, clean root).


def _swing(J: np.ndarray, j: int) -> np.ndarray:
    """World swing of the bone ending at j: shortest arc from its rest direction. (T, 4)"""
    bone = J[:, j] - J[:, sk.PARENTS[j]]
    return qbetween(np.broadcast_to(sk.RAW_OFFSETS[j], bone.shape), bone)


def reencode(clean_features: np.ndarray, noisy_joints: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """Write moved joints back into the features. clean_features (T, 263); noisy_joints (T, 22, 3) equal
    to `features_to_joints(clean_features)` except where `changed` (T, 22) is True. Only channels of
    moved joints change (position, 6D rotation of the bones ending at moved joints and at their
    children, velocity, foot contacts)."""
    out = np.array(clean_features, dtype=np.float32, copy=True)
    quat, _ = recover_root(clean_features)  # (T, 4) world -> facing, as features_to_joints uses it
    clean_joints = features_to_joints(clean_features).astype(np.float64)
    delta = noisy_joints.astype(np.float64) - clean_joints  # (T, 22, 3)
    delta[~changed] = 0.0
    next_delta = np.concatenate([delta[1:], delta[-1:]], axis=0)  # the step past the end keeps the offset
    moved = np.flatnonzero(changed.any(0))
    for j in moved:
        rows = changed[:, j]
        # ric: positions relative to the root's XZ in the facing frame; linear, so add the rotated offset.
        ric = sk.ric_channels(j)
        out[np.ix_(rows, ric)] = out[np.ix_(rows, ric)] + qrot(quat[rows], delta[rows, j])
        vel_rows = rows | np.concatenate([rows[1:], rows[-1:]])
        vel = sk.vel_channels(j)
        step = qrot(quat[vel_rows], next_delta[vel_rows, j] - delta[vel_rows, j])
        out[np.ix_(vel_rows, vel)] = out[np.ix_(vel_rows, vel)] + step
        if j in CONTACT_JOINTS:
            speed_sq = (out[np.ix_(vel_rows, vel)].astype(np.float64) ** 2).sum(-1)
            out[vel_rows, CONTACT_JOINTS[j]] = (speed_sq < CONTACT_THRESHOLD).astype(np.float32)
    # 6D rotations: a bone's local rotation is its swing relative to the previous bone's swing in its
    # chain, so it depends on the bone's end joint, its start joint and the previous bone's start joint.
    J = noisy_joints.astype(np.float64)
    for c in range(1, sk.NUM_JOINTS):
        p = sk.PARENTS[c]
        rows = changed[:, c] | changed[:, p] | (changed[:, sk.PARENTS[p]] if p > 0 else False)
        if not rows.any():
            continue
        if c in CHAIN_STARTS:
            raise RoparError(f"joint {sk.JOINT_NAMES[c]} starts a chain: its rotation needs the root facing")
        local = qmul(qinv(_swing(J[rows], p)), _swing(J[rows], c))  # (n, 4)
        out[np.ix_(rows, sk.rot_channels(c))] = quat_to_cont6d(local).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# One clip: film candidates, then simulate the chosen one.


def clip_key(seed: int, clip_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()[:8], "big")


def film_candidate(joints: np.ndarray, key: int, k: int, tau: float) -> tuple[vc.View, np.ndarray]:
    """Candidate k of a clip: the filmed view and its (T, 5) credibility mask."""
    view = vc.film(joints, np.random.default_rng([key, k]))
    cred = credibility_from_confidences(view.confidence, "smpl22", tau=tau, fps=sk.FPS)
    return view, cred.frame_mask


def token_counts(frame_mask: np.ndarray) -> tuple[int, int]:
    """(credible tokens, tokens) by the "all" rule, as the credibility module counts them."""
    tm = token_mask_from_frame_mask(frame_mask, "all")
    return int(tm.sum()), int(tm.size)


@dataclass
class SimulatedClip:
    features: np.ndarray  # (T, 263) noisy
    frame_mask: np.ndarray  # (T, 5)
    framing: str
    modes: dict
    view: vc.View | None = None
    joints: np.ndarray | None = None  # (T, 22, 3) noisy joints (plots)
    detector: dict | None = None  # video mode: cells unseen/seen and wrongly called credible/noisy


def simulate_clip(clean_features: np.ndarray, key: int, k: int, tau: float, mean_local: np.ndarray,
                  keep_view: bool = False) -> SimulatedClip:
    """Film candidate k of a clip and corrupt what the camera did not credibly see."""
    joints = features_to_joints(clean_features)  # (T, 22, 3)
    view, frame_mask = film_candidate(joints, key, k, tau)
    quat, _ = recover_root(clean_features)
    bad = corrupt(joints, quat, frame_mask, np.random.default_rng([key, k, 1]), mean_local)
    noisy = reencode(clean_features, bad.joints, bad.changed)
    return SimulatedClip(noisy, frame_mask, view.framing, bad.modes, view if keep_view else None,
                         bad.joints.astype(np.float32) if keep_view else None)


# ---------------------------------------------------------------------------------------------
# Choosing one candidate per clip so that the whole set hits the requested credible-token ratio.


def _tilted(ratios: np.ndarray, lam: float) -> np.ndarray:
    """(N, K) candidate ratios -> (N, K) probabilities proportional to exp(lam * ratio)."""
    z = lam * ratios
    w = np.exp(z - z.max(1, keepdims=True))
    return w / w.sum(1, keepdims=True)


def choose_candidates(credible: np.ndarray, tokens: np.ndarray, target: float, rng: np.random.Generator,
                      tolerance: float = RATIO_TOLERANCE) -> np.ndarray:
    """credible (N, K) credible-token counts of each clip's candidates, tokens (N,) -> (N,) choice.

    The candidates were drawn from the framing prior, so picking uniformly keeps the prior mix; the
    exponential tilt exp(lam * ratio) with lam found by bisection moves the expected credible ratio to
    the target while keeping the choice random; a greedy pass then switches single clips until the
    achieved ratio is within `tolerance` (or no switch helps)."""
    tokens = np.asarray(tokens, dtype=np.float64)
    credible = np.asarray(credible, dtype=np.float64)
    ratios = credible / tokens[:, None]
    total = tokens.sum()

    def expected(lam: float) -> float:
        return float((_tilted(ratios, lam) * credible).sum() / total)

    lo, hi = -200.0, 200.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if expected(mid) < target else (lo, mid)
    probs = _tilted(ratios, 0.5 * (lo + hi))
    choice = np.array([rng.choice(len(p), p=p) for p in probs])
    got = credible[np.arange(len(choice)), choice].sum()
    for i in rng.permutation(len(choice)):
        err = got / total - target
        if abs(err) <= tolerance:
            break
        # the candidate of clip i that brings the total closest to the target
        alt = got - credible[i, choice[i]] + credible[i]  # (K,)
        best = int(np.argmin(np.abs(alt / total - target)))
        if abs(alt[best] / total - target) < abs(err):
            got, choice[i] = alt[best], best
    return choice
