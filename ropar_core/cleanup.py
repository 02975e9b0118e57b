"""Clean generated joints the way animation pipelines do (issue 15), on by default in Generator:

1. seams: frames around the points where a long motion's windows meet are smoothed in time;
2. rigid bones: every bone keeps its generated direction and takes the skeleton's fixed length
   (skeleton.REST_OFFSETS, the lengths every training clip was retargeted to), parents first;
3. floor: a slowly varying vertical shift puts the lowest toe of every short window on the floor;
4. foot locking: while a foot is in contact (the model's own contact channels, confirmed by the foot
   being low and slow), its toe stays where it was planted; between plants the correction moves
   smoothly from one plant to the next, so nothing snaps; two-bone IK on hip-knee-ankle reaches the
   corrected toe; a swinging toe clears the floor in an arc as in real walks; feet never go under
   the floor.

Bone lengths stay exact through 3 and 4 (a shift and a two-bone IK do not stretch bones). Everything is
vectorised numpy over frames: a few milliseconds for a 196-frame motion.
"""

from __future__ import annotations

import math

import numpy as np

from ropar_core import skeleton as sk
from ropar_core.filters import gaussian_smooth, maximum_filter, minimum_filter
from ropar_core.windows import OVERLAP_FRACTION

BONE_LENGTHS = np.linalg.norm(sk.REST_OFFSETS, axis=-1)  # (22,) length of the bone ending at each joint
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))  # (hip, knee, ankle, toe) left, right
LIMBS = ((1, 4, 7), (2, 5, 8), (16, 18, 20), (17, 19, 21))  # (root, middle, end): legs, then arms
CONTACT_CHANNELS = ((259, 260), (261, 262))  # (ankle, toe) contact channels of the 263 vector per leg
TOE_FLOOR = 0.01  # m: a planted toe joint's height in real Bandai walks (median 0.4-1.2 cm)
ANKLE_FLOOR = 0.06  # m: the ankle joint never goes lower than this (real planted ankles: 9-10 cm)
# The P-VAE decodes real clips' contact channels decisively (0.95 on contact frames, 0.05 off; F1 0.98
# at 0.5), but generated walks come out at 0.35-0.45 where a stance is, and a 0.5 cut missed half of
# them: 0.4, with gaps of 1-2 frames closed (measured on the default model's walks: cleaned skating 0.53 ->
# 0.45, turns 0.46 -> 0.35, runs 0.47 -> 0.46; real 0.31 / 0.35 / 0.20).
CONTACT_THRESHOLD = 0.4
CONTACT_MAX_HEIGHT = 0.12  # m above the floor: a higher toe is not planted, whatever the channel says
CONTACT_MAX_SPEED = 3.0  # m/s: nor is a toe moving faster than this (a run's swing)
# A plant holds while the generated toe stays within PLANT_RADIUS of where the plant began; past it the
# plant is released and the foot plants again PLANT_GAP frames later (a quick step). Generated contacts
# can last 2-3 s while the body walks on (both feet "down", shuffling); held at one spot, such a toe was
# pulled up to 2.5 m from its leg and let go in one frame (a 1 m jump of the foot in a 30 s walk: peak
# acceleration 17.7x the median, real walks 1.7-2.2x). Measured on run J's bench motions: 0.25 m / 3
# frames re-planted so often that walks skated 0.41 (0.19 unsplit); 0.5 m / 5 frames: walks 0.32, turns
# 0.42 / 0.47, 30 s walks' peak acceleration 2.9-3.9x the median.
PLANT_RADIUS = 0.5  # m
PLANT_GAP = 5  # frames
SWING_CLEARANCE = 0.07  # m above TOE_FLOOR at mid-swing, at least
# shape of that arc: sin(pi * phase) ** ARC_POWER. A real toe leaves the floor fast at toe-off and comes
# down steeply; a plain sine (1.0) kept it under 5 cm, moving, for the first and last fifth of every swing
# (measured: skating of cleaned walks 0.43 -> 0.40, turns 0.53/0.48 -> 0.50/0.44 with 0.5; jerk +1 %)
ARC_POWER = 0.5
STEP_MIN = 0.10  # m between two plants of a toe: a step (shorter: a shuffle in place, left alone)
SUPPORT_SIGMA = 1.5  # frames: smoothing of the other foot's contact that gates the swing arc
# Running has flight phases, walking does not: people change gait near a Froude number of 0.5, about
# 2.1 m/s for a 0.9 m leg. From RUN_SPEED[0] to RUN_SPEED[1] (pelvis, m/s) the swing arc stops waiting for
# the other foot to carry the body and rises to RUN_CLEARANCE (real Bandai runs lift the swinging toe
# 0.10 / 0.27 / 0.50 m, 10th / 50th / 90th percentile). Generated runs swung their feet along the floor
# between plants: cleaned skating 0.52 against 0.20 real; 0.40 with the arc ungated, 0.27 with it 12 cm
# high (walks and turns unchanged).
RUN_SPEED = (1.8, 2.4)
RUN_CLEARANCE = 0.12  # m
REACH = 0.995  # share of the leg's full length a goal may ask for (a fully straight knee pops)
MAX_DROP = 0.10  # m: the body comes down at most this much (more would be a crouch nobody asked for)
DROP_SIGMA = 3  # frames: smoothing of the pelvis drop
UNLOCK_FRAMES = 6  # frames over which the offset of the first/last plant fades out
# frames over which a plant's vertical correction fades out once the toe leaves the floor: carried
# across the whole swing (as the horizontal one is), it pressed every flight phase down with it
# (generated jumps lost 0.08-0.12 m of lift)
LIFT_RELEASE_FRAMES = 3
FLOOR_WINDOW = 17  # frames (0.85 s) over which some toe is on the floor
FLOOR_SIGMA = 4.0  # frames: smoothing of the floor shift (slow, so the body does not bob)
SEAM_SIGMA = 2.0  # frames: temporal smoothing at window seams
SEAM_RADIUS = 6  # frames either side of a seam that get smoothed (weight fades out)


def window_seams(frames: int, max_tokens: int) -> list[int]:
    """Frames where a motion of `frames` frames, generated window by window (windows.sample_in_windows),
    starts new tokens after the first window."""
    tokens = math.ceil(frames / sk.TOKEN_FRAMES)
    overlap = max(1, int(max_tokens * OVERLAP_FRACTION))
    seams, done = [], 0
    while done < tokens:
        start = max(0, done - overlap)
        if done:
            seams.append(done * sk.TOKEN_FRAMES)
        done = min(start + max_tokens, tokens)
    return [s for s in seams if s < frames]


def blend_seams(joints: np.ndarray, seams) -> np.ndarray:
    """Replace the frames near each seam by a time-smoothed version, fading back to the original."""
    if not len(seams):
        return joints
    smooth = gaussian_smooth(joints, SEAM_SIGMA)
    w = np.zeros(len(joints))
    for s in seams:
        d = np.abs(np.arange(len(joints)) - s)
        w = np.maximum(w, np.clip(1.0 - d / (SEAM_RADIUS + 1), 0.0, 1.0))
    return joints + w[:, None, None] * (smooth - joints)


def rigid_bones(joints: np.ndarray, keep_ends: bool = True) -> np.ndarray:
    """Every bone takes its fixed length; the root path is unchanged. The trunk, head, collars, hips and
    feet keep their generated directions; with keep_ends, each arm and leg is solved by two-bone IK so
    that the wrist and ankle stay where they were generated (as far as the limb reaches), the elbow and
    knee bending in their generated plane: where a hand is (raised, waving) is what a motion says, so
    a stretched forearm is fixed at the elbow, not by moving the hand."""
    out = joints.copy()
    limbs = {mid: (root, end) for root, mid, end in LIMBS} if keep_ends else {}
    ends = {end for _, _, end in LIMBS} if keep_ends else set()
    for c in range(1, sk.NUM_JOINTS):  # parents come first in SMPL order
        p = sk.PARENTS[c]
        if c in ends:
            continue  # placed with its limb's middle joint
        if c in limbs:
            root, end = limbs[c]
            out[:, c], out[:, end] = two_bone_ik(out[:, root], joints[:, c], joints[:, end], joints[:, end],
                                                 BONE_LENGTHS[c], BONE_LENGTHS[end])
            continue
        bone = joints[:, c] - joints[:, p]
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(norm > 1e-9, bone / np.maximum(norm, 1e-9), sk.RAW_OFFSETS[c])
        out[:, c] = out[:, p] + direction * BONE_LENGTHS[c]
    return out


def _speed(points: np.ndarray) -> np.ndarray:
    """(T, 3) -> (T,) horizontal speed in m/s (central differences)."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.linalg.norm(np.gradient(points[:, [0, 2]], axis=0), axis=-1) * sk.FPS


def contacts(joints: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    """(T, 2) bool per leg: the model's contact channels say so (either joint), and the toe is low and
    slow enough to be planted. Without features: low and slow alone."""
    T = len(joints)
    toes = joints[:, [LEGS[0][3], LEGS[1][3]]]  # (T, 2, 3)
    floor = joints[:, [10, 11], 1].min()
    out = np.zeros((T, 2), bool)
    for leg in range(2):
        low = toes[:, leg, 1] < floor + CONTACT_MAX_HEIGHT
        slow = _speed(toes[:, leg]) < CONTACT_MAX_SPEED
        said = np.ones(T, bool)
        if features is not None:
            said = (features[:T, list(CONTACT_CHANNELS[leg])] > CONTACT_THRESHOLD).any(1)
        out[:, leg] = split_long_plants(close_gaps(said & low & slow), toes[:, leg])
    return out


def split_long_plants(mask: np.ndarray, toe: np.ndarray) -> np.ndarray:
    """(T,) contact, (T, 3) toe -> the contact with a PLANT_GAP-frame release wherever the toe has moved
    more than PLANT_RADIUS (horizontally) from where its current plant began."""
    out = mask.copy()
    for s, e in _runs(mask, min_len=1):
        anchor = s
        for t in range(s + 1, e):
            if t >= anchor and np.linalg.norm(toe[t, [0, 2]] - toe[anchor, [0, 2]]) > PLANT_RADIUS:
                out[t:min(t + PLANT_GAP, e)] = False
                anchor = t + PLANT_GAP
    return out


def close_gaps(mask: np.ndarray) -> np.ndarray:
    """(T,) bool with gaps of one or two frames inside a contact closed (a morphological closing);
    one-frame blips are left to _runs, which ignores them."""
    if len(mask) < 3:
        return mask
    out = minimum_filter(maximum_filter(mask.astype(np.float64), 3), 3) > 0.5
    out[[0, -1]] = mask[[0, -1]]  # the edge padding would otherwise extend a contact past the clip's ends
    return out


def _runs(mask: np.ndarray, min_len: int = 2) -> list[tuple[int, int]]:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    return [(int(r[0]), int(r[-1]) + 1) for r in runs if len(r) >= min_len]


def floor_shift(joints: np.ndarray) -> np.ndarray:
    """(T,) vertical shift that puts the floor under the feet: within any FLOOR_WINDOW frames some toe of
    a walking, running or standing body touches the floor, so the lowest toe of the window goes to
    TOE_FLOOR; smoothed so the body does not bob (a run's flight phases, shorter than the window, stay)."""
    lowest = minimum_filter(joints[:, [10, 11], 1].min(1), FLOOR_WINDOW)
    return gaussian_smooth(TOE_FLOOR - lowest, FLOOR_SIGMA)


def toe_offsets(toe: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """One leg: (T, 3) toe, (T,) contact -> (T, 3) offsets to add to the toe. In each contact the toe is
    held at its mean XZ position there, on the floor; between contacts the offset moves linearly from
    one plant's to the next (the swing absorbs the slide, so releasing a lock never snaps); before the
    first and after the last contact it fades out over UNLOCK_FRAMES. The vertical offset fades out
    within LIFT_RELEASE_FRAMES of a plant: the toe's own height takes over in the air."""
    T = len(toe)
    held = np.zeros(T, bool)
    goal = toe.copy()
    for s, e in _runs(contact):
        held[s:e] = True
        goal[s:e, [0, 2]] = toe[s:e][:, [0, 2]].mean(0)
        goal[s:e, 1] = TOE_FLOOR
    if not held.any():
        return np.zeros_like(toe)
    t = np.arange(T)
    idx = np.flatnonzero(held)
    offset = np.stack([np.interp(t, idx, (goal - toe)[idx, k]) for k in range(3)], axis=-1)
    fade = np.ones(T)
    fade[: idx[0]] = np.clip(1.0 - (idx[0] - t[: idx[0]]) / (UNLOCK_FRAMES + 1), 0.0, 1.0)
    fade[idx[-1] + 1:] = np.clip(1.0 - (t[idx[-1] + 1:] - idx[-1]) / (UNLOCK_FRAMES + 1), 0.0, 1.0)
    offset *= fade[:, None]
    after = np.clip(np.searchsorted(idx, t), 0, len(idx) - 1)  # the next held frame (or the last)
    gap = np.minimum(np.abs(t - idx[after]), np.abs(t - idx[np.maximum(after - 1, 0)]))
    offset[:, 1] *= np.clip(1.0 - gap / (LIFT_RELEASE_FRAMES + 1), 0.0, 1.0)
    return offset


def swing_clearance(toe_goal: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """(T,) lift above TOE_FLOOR the toe must reach at least: between two plants at least STEP_MIN apart,
    an arc rising fast to SWING_CLEARANCE at mid-swing (real Bandai walks lift the swinging toe 7-12 cm);
    0 elsewhere (no limit)."""
    low = np.zeros(len(toe_goal))
    runs = _runs(contact)
    for (_, e0), (s1, _) in zip(runs[:-1], runs[1:]):
        step = np.linalg.norm(toe_goal[s1, [0, 2]] - toe_goal[e0 - 1, [0, 2]])
        if s1 - e0 >= 2 and step > STEP_MIN:
            phase = (np.arange(e0, s1) - e0 + 1) / (s1 - e0 + 1)
            low[e0:s1] = SWING_CLEARANCE * np.sin(np.pi * phase) ** ARC_POWER
    return low


def two_bone_ik(hip, knee, ankle, goal, l1: float, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle (T, 3) that bring the ankle to `goal` (or as near as the leg reaches) with the
    thigh and shin lengths l1, l2, the knee bending in the plane of its current pose."""
    axis = goal - hip
    d = np.linalg.norm(axis, axis=-1, keepdims=True)
    u = axis / np.maximum(d, 1e-9)
    d = np.clip(d, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    pole = (knee - hip) - ((knee - hip) * u).sum(-1, keepdims=True) * u
    any_side = np.cross(u, np.where(np.abs(u[..., 1:2]) < 0.9, [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]))
    norm = np.linalg.norm(pole, axis=-1, keepdims=True)
    pole = np.where(norm > 1e-6, pole, any_side)  # a straight limb: any bending plane will do
    pole = pole / np.maximum(np.linalg.norm(pole, axis=-1, keepdims=True), 1e-9)
    a = (l1**2 - l2**2 + d**2) / (2 * d)
    h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    new_knee = hip + a * u + h * pole
    return new_knee, hip + d * u


def ankle_goals(joints: np.ndarray, contact: np.ndarray) -> list[np.ndarray]:
    """Per leg (T, 3): where the ankle should be so that the toe is planted while in contact, clears the
    floor in swing, and neither toe nor ankle goes under the floor (the foot keeps its orientation)."""
    goals = []
    speed = gaussian_smooth(_speed(joints[:, 0]), 3.0)  # pelvis speed over ~0.3 s
    running = np.clip((speed - RUN_SPEED[0]) / (RUN_SPEED[1] - RUN_SPEED[0]), 0.0, 1.0)
    for leg, (_, _, ankle, toe) in enumerate(LEGS):
        toe_goal = joints[:, toe] + toe_offsets(joints[:, toe], contact[:, leg])
        # lift the swinging toe only while the other foot carries the body or the body runs (no flight
        # phase invented in a walk)
        support = gaussian_smooth(contact[:, 1 - leg].astype(np.float64), SUPPORT_SIGMA)
        support = np.maximum(support, running)
        arc = swing_clearance(toe_goal, contact[:, leg])
        arc = arc * (1.0 + running * (RUN_CLEARANCE / SWING_CLEARANCE - 1.0))
        lifted = np.maximum(toe_goal[:, 1], TOE_FLOOR + arc * support)
        toe_goal[:, 1] = np.where(arc > 0, lifted, toe_goal[:, 1])
        ankle_goal = toe_goal - (joints[:, toe] - joints[:, ankle])
        ankle_goal[:, 1] += np.maximum(0.0, np.maximum(ANKLE_FLOOR - ankle_goal[:, 1], -toe_goal[:, 1]))
        goals.append(ankle_goal)
    return goals


def pelvis_drop(joints: np.ndarray, goals: list[np.ndarray], contact: np.ndarray) -> np.ndarray:
    """(T,) how far the body must come down for the planted legs to reach their ankle goals (a stretched
    generated leg, once given its true length, often cannot), smoothed over time. Only a planted foot
    pulls the body down, and the drop fades out while no foot is planted: lowering a flight phase by
    the drop of the plants around it cost generated jumps 0.1 m of height (a swinging foot that cannot
    reach its goal is left as near as the IK gets it)."""
    need = np.zeros(len(joints))
    for leg, ((hip, knee, ankle, _), goal) in enumerate(zip(LEGS, goals)):
        reach = REACH * (BONE_LENGTHS[knee] + BONE_LENGTHS[ankle])
        flat = np.linalg.norm((joints[:, hip] - goal)[:, [0, 2]], axis=-1)
        height = np.sqrt(np.maximum(reach**2 - flat**2, 0.0))
        # a goal out of reach sideways cannot be met by coming down: the IK gets as near as it can
        down = np.where(flat < reach, joints[:, hip, 1] - goal[:, 1] - height, 0.0)
        need = np.maximum(need, np.where(contact[:, leg], down, 0.0))
    need = maximum_filter(np.clip(need, 0.0, MAX_DROP), 2 * DROP_SIGMA + 1)
    planted = gaussian_smooth(contact.any(1).astype(np.float64), DROP_SIGMA / 2)
    return gaussian_smooth(need, DROP_SIGMA) * np.clip(planted, 0.0, 1.0)


def lock_feet(joints: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Toes held at their planted spots while in contact (blended), feet kept above the floor; the body
    comes down where the legs would not reach."""
    out = joints.copy()
    out[..., 1] -= pelvis_drop(joints, ankle_goals(joints, contact), contact)[:, None]
    goals = ankle_goals(out, contact)  # again: the swinging foot came down with the body
    lowered = out.copy()
    for (hip, knee, ankle, toe), goal in zip(LEGS, goals):
        foot = lowered[:, toe] - lowered[:, ankle]
        new_knee, new_ankle = two_bone_ik(lowered[:, hip], lowered[:, knee], lowered[:, ankle], goal,
                                          BONE_LENGTHS[knee], BONE_LENGTHS[ankle])
        out[:, knee], out[:, ankle], out[:, toe] = new_knee, new_ankle, new_ankle + foot
    return out


def clean_joints(joints: np.ndarray, features: np.ndarray | None = None, seams=()) -> np.ndarray:
    """Generated joints (T, 22, 3) (+ their 263 features for the contact channels, + window seams)
    -> cleaned joints (T, 22, 3) float64."""
    out = blend_seams(np.asarray(joints, dtype=np.float64), seams)
    out = rigid_bones(out)
    out[..., 1] += floor_shift(out)[:, None]
    contact = contacts(out, features)
    out = lock_feet(out, contact)
    out[..., 1] -= out[..., 1].min()  # the lowest point on the floor, as in every training clip
    return out
