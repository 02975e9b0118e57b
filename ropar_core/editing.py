"""Editing geometry: the joint-space half of `Generator.edit` / `inbetween`.

The source motion is brought to 20 fps and HumanML3D's canonical placement (`source_joints`,
`canonical`), the kept (frame, part) cells are parsed (`parse_keep`), and after generation the result is
turned on the ground to fit the kept cells (`align`, a 2-D Procrustes `yaw_fit`), the kept joints are
pasted back exactly, the free limbs re-attached to them, and short cross-fades remove jumps at kept/free
frame boundaries (`compose`).
"""

from __future__ import annotations

import math

import numpy as np

from ropar_core import features as feats
from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.errors import RoparError
from ropar_core.resample import resample
from ropar_core.runs import true_runs

SEAM_BLEND_FRAMES = 8  # cross-fade length (0.4 s) where generated frames meet kept frames


def yaw_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation about Y (3, 3) and translation (3,) (XZ only) moving points src (M, 3) onto dst (M, 3)
    in the least-squares sense (2-D Procrustes in the ground plane)."""
    w = weights / max(weights.sum(), 1e-12)
    cs, cd = (src * w[:, None]).sum(0), (dst * w[:, None]).sum(0)
    p, q = (src - cs)[:, [0, 2]], (dst - cd)[:, [0, 2]]  # (M, 2) as (x, z)
    cross = (w * (p[:, 1] * q[:, 0] - p[:, 0] * q[:, 1])).sum()
    dot = (w * (p * q).sum(-1)).sum()
    a = math.atan2(cross, dot)
    rot = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    shift = cd - cs @ rot.T
    shift[1] = 0.0
    return rot, shift


def apply_rigid(rot: np.ndarray, shift: np.ndarray, joints: np.ndarray) -> np.ndarray:
    return joints @ rot.T + shift


def cell_joints(kept: np.ndarray) -> np.ndarray:
    """(T, 5) bool kept cells -> (T, 22) bool joints pasted from the source."""
    out = np.zeros((len(kept), sk.NUM_JOINTS), dtype=bool)
    for p, name in enumerate(sk.PART_NAMES):
        out[np.ix_(kept[:, p], list(sk.PART_JOINTS[name]))] = True
    return out


def compose(generated: np.ndarray, source: np.ndarray, kept: np.ndarray,
            blend: int = SEAM_BLEND_FRAMES) -> np.ndarray:
    """Paste kept cells of `source` into `generated` (both (T, 22, 3), same frame):
    kept joints are copied exactly, the other joints of a frame hang from their parents with the
    generated bone vectors, and frames without any kept cell are cross-faded towards the pasted
    neighbours over `blend` frames so that nothing jumps. kept: (T, 5) bool cells."""
    T = len(generated)
    out = generated.astype(np.float64).copy()
    anchored = kept.any(1)  # (T,) frames with pasted joints
    pasted = cell_joints(kept)  # (T, 22)
    for j in range(sk.NUM_JOINTS):  # parents first (SMPL order)
        take = anchored & pasted[:, j]
        out[take, j] = source[take, j]
        hang = anchored & ~pasted[:, j]
        if j > 0 and hang.any():
            p = sk.PARENTS[j]
            out[hang, j] = out[hang, p] + (generated[hang, j] - generated[hang, p])
    # Cross-fade free runs towards the anchored frames on either side.
    free = np.flatnonzero(~anchored)
    corrected = out.copy()
    if len(free) and anchored.any():
        for s, e in true_runs(~anchored):  # free frames [s, e)
            k = min(blend, e - s)
            if s > 0:  # anchored frame s-1 on the left
                delta = out[s - 1] - generated[s - 1]
                for i in range(k):
                    corrected[s + i] += delta * (1.0 - (i + 1) / (k + 1))
            if e < T:  # anchored frame e on the right
                delta = out[e] - generated[e]
                for i in range(k):
                    corrected[e - 1 - i] += delta * (1.0 - (i + 1) / (k + 1))
    out[~anchored] = corrected[~anchored]
    return out


def source_joints(motion, fps=None) -> np.ndarray:
    """Motion | (T, 22, 3) array -> float64 joints at 20 fps."""
    if hasattr(motion, "joints"):
        joints, src_fps = motion.joints, getattr(motion, "fps", sk.FPS)
    else:
        joints, src_fps = motion, fps if fps is not None else sk.FPS
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[1:] != (sk.NUM_JOINTS, 3):
        raise RoparError(f"the motion to edit must have joints of shape (frames, 22, 3), got {arr.shape}")
    if arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():  # complex would be cast silently
        raise RoparError("the motion to edit contains NaN, infinite or non-real values")
    src_fps = limits.check_fps(src_fps, "the motion's frame rate")
    limits.check_frames(limits.resampled_count(len(arr), src_fps, float(sk.FPS)), "the motion to edit")
    arr = resample(arr.astype(np.float64), src_fps, float(sk.FPS))
    if len(arr) < 2:
        raise RoparError("the motion to edit is shorter than two frames at 20 fps")
    return arr


def canonical(src: np.ndarray):
    """Source joints -> (canonical joints (HumanML3D convention), to_output(joints) mapping canonical
    joints into the frame the result is returned in, reference: the source in that frame).
    A source already in metres and Y up keeps its own placement (so kept joints come back bit-exact
    in the caller's frame); anything else is returned normalised."""
    try:
        canon, report = feats.normalise_joints(src)
    except RoparError as exc:
        raise RoparError(f"the motion to edit: {exc}") from None
    canon = canon.astype(np.float64)
    if report["unit"] != "m" or report["up_axis"] != "+Y" or report["mirrored"]:
        return canon, lambda j: j, canon
    a = math.radians(report["yaw_deg"])
    q0 = np.array([math.cos(a / 2), 0.0, math.sin(a / 2), 0.0])
    origin = src[0, 0] * np.array([1.0, 0.0, 1.0]) - np.array([0.0, report["floor_shift_m"], 0.0])

    def to_output(j):
        return feats.qrot(feats.qinv(q0), j) + origin

    if np.abs(to_output(canon) - src).max() > 1e-4:  # the report did not describe a rigid placement
        return canon, lambda j: j, canon
    return canon, to_output, src


def parse_keep(keep_parts, keep_frames, length: int) -> np.ndarray:
    """-> (length, 5) bool cells to keep: the given parts (default all) within the given frame range
    [a, b) (default all frames)."""
    if keep_parts is None and keep_frames is None:
        raise RoparError("nothing to keep: give keep_parts and/or keep_frames")
    parts = np.ones(sk.NUM_PARTS, bool)
    if keep_parts is not None:
        try:
            names = sk.resolve_parts(keep_parts)
        except ValueError as exc:
            raise RoparError(str(exc)) from None
        parts = np.array([p in names for p in sk.PART_NAMES])
    frames = np.ones(length, bool)
    if keep_frames is not None:
        try:
            a, b = keep_frames
            a, b = int(a), int(b)
        except (TypeError, ValueError):
            raise RoparError(f"keep_frames must be (first, end), got {keep_frames!r}") from None
        if not 0 <= a < b:
            raise RoparError(f"keep_frames [{a}, {b}) is empty or negative")
        if a >= length:
            raise RoparError(f"keep_frames starts at frame {a} but the motion has only {length} frames")
        frames = np.zeros(length, bool)
        frames[a:min(b, length)] = True
    return frames[:, None] & parts[None, :]


def features_of(canon: np.ndarray, length: int) -> np.ndarray:
    """Canonical joints (T, 22, 3) -> (length, 263) features (the last frame repeated once so that
    every frame has a feature row; rows past the source repeat its last row)."""
    padded = np.concatenate([canon, canon[-1:]])
    f = feats.joints_to_features(padded)  # (T, 263)
    if length > len(f):
        f = np.concatenate([f, np.repeat(f[-1:], length - len(f), 0)])
    return f[:length]


def align(generated: np.ndarray, target: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Turn/shift the generated motion on the ground so that its kept cells best match the target's
    (the generation integrates its root path from its own frame 0)."""
    joint_w = cell_joints(kept).astype(np.float64)  # (T, 22)
    if joint_w.sum() == 0:
        return generated
    rot, shift = yaw_fit(generated.reshape(-1, 3), target.reshape(-1, 3), joint_w.reshape(-1))
    return apply_rigid(rot, shift, generated)
