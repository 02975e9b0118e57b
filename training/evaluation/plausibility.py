"""Physical plausibility of joint motions: do the feet plant, does the floor hold, do the limbs
keep their length, does the path go where the prompt says.

All functions take joints `(T, 22, 3)` in metres, Y up, floor at Y = 0, 20 fps (what `features_to_joints`
gives) and return plain floats, so real mocap and generated motion are measured the same way.

Definitions (each is a per-clip number; `summarise` averages over clips):
- skating ratio: share of frame steps in which some foot joint (ankles, toes) lower than 5 cm moves
  more than 2.5 cm horizontally since the previous frame (20 fps);
- sink share: share of frames whose lowest foot joint is under -3 cm; float share: lowest foot joint
  above 5 cm (jumps and flight phases of runs are real floating, so compare with real mocap);
- lowest foot: the lowest foot-joint height over the clip (metres);
- bone-length variation: per bone std / mean of its length over the clip; the worst bone;
- jerk: mean norm of the third time derivative of the joint positions (m/s^3);
- heading change: signed change of the body's facing (hips + shoulders) from the first to the last
  0.5 s, unwrapped through the whole clip (degrees, positive = turned left);
- stride length: median distance between successive plants of the same toe (metres);
- lower toe speed: median over frames of the slower toe's horizontal speed (m/s);
- seam pop: at the frames where windows of a long motion meet, the largest mean joint acceleration
  relative to the clip's median acceleration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ropar_core import skeleton as sk

FOOT_JOINTS = (7, 10, 8, 11)  # l_ankle, l_foot, r_ankle, r_foot
TOE_JOINTS = (10, 11)
CONTACT_HEIGHT = 0.05  # m: a foot joint this low counts as on the floor
SKATE_STEP = 0.025  # m per frame at 20 fps (0.5 m/s)
SINK_DEPTH = -0.03  # m
FLOAT_HEIGHT = 0.05  # m
HEADING_WINDOW = 10  # frames (0.5 s) averaged at each end for the heading change
PLANT_SPEED = 0.2  # m/s: a toe slower than this and lower than CONTACT_HEIGHT is planted
SEAM_RADIUS = 2  # frames either side of a seam that count as the seam


def _xz_step(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T-1, J) horizontal displacement per frame."""
    d = np.diff(joints[..., [0, 2]], axis=0)
    return np.linalg.norm(d, axis=-1)


def skating_ratio(joints: np.ndarray) -> float:
    feet = joints[:, FOOT_JOINTS]
    low = feet[1:, :, 1] < CONTACT_HEIGHT
    moving = _xz_step(feet) > SKATE_STEP
    return float((low & moving).any(1).mean()) if len(feet) > 1 else 0.0


def lowest_foot(joints: np.ndarray) -> np.ndarray:
    """(T,) height of the lowest foot joint in each frame."""
    return joints[:, FOOT_JOINTS, 1].min(1)


def sink_share(joints: np.ndarray) -> float:
    return float((lowest_foot(joints) < SINK_DEPTH).mean())


def float_share(joints: np.ndarray) -> float:
    return float((lowest_foot(joints) > FLOAT_HEIGHT).mean())


def bone_length_variation(joints: np.ndarray) -> float:
    """Worst bone's std / mean length over the clip."""
    parents = np.array(sk.PARENTS[1:])
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1)  # (T, 21)
    mean = lengths.mean(0)
    return float((lengths.std(0) / np.maximum(mean, 1e-6)).max())


def jerk(joints: np.ndarray, fps: float = sk.FPS) -> float:
    if len(joints) < 4:
        return 0.0
    d3 = np.diff(joints, n=3, axis=0) * fps**3
    return float(np.linalg.norm(d3, axis=-1).mean())


def facing_yaw(joints: np.ndarray) -> np.ndarray:
    """(T,) facing angle about +Y in degrees, unwrapped (0 = +Z, positive = towards +X = the body's left)."""
    r_hip, l_hip, r_sh, l_sh = sk.FACE_JOINTS
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sh] - joints[:, l_sh])
    forward_x, forward_z = across[:, 2], -across[:, 0]  # up x across, in the ground plane
    return np.degrees(np.unwrap(np.arctan2(forward_x, forward_z)))


def heading_change(joints: np.ndarray) -> float:
    yaw = facing_yaw(joints)
    k = max(1, min(HEADING_WINDOW, len(yaw) // 4))
    return float(yaw[-k:].mean() - yaw[:k].mean())


def lower_toe_speed(joints: np.ndarray, fps: float = sk.FPS) -> float:
    speed = _xz_step(joints[:, TOE_JOINTS]) * fps  # (T-1, 2)
    return float(np.median(speed.min(1))) if len(speed) else 0.0


def _plants(joints: np.ndarray, toe: int, fps: float) -> list[np.ndarray]:
    """Mean XZ position of each run of planted frames of one toe."""
    pos = joints[:, toe]
    speed = np.concatenate([[0.0], np.linalg.norm(np.diff(pos[:, [0, 2]], axis=0), axis=-1) * fps])
    planted = (pos[:, 1] < CONTACT_HEIGHT) & (speed < PLANT_SPEED)
    idx = np.flatnonzero(planted)
    if not len(idx):
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    return [pos[r][:, [0, 2]].mean(0) for r in runs if len(r) >= 2]


def stride_length(joints: np.ndarray, fps: float = sk.FPS) -> float:
    """Median distance between successive plants of the same toe; NaN when no toe plants twice."""
    strides = []
    for toe in TOE_JOINTS:
        plants = _plants(joints, toe, fps)
        strides += [float(np.linalg.norm(b - a)) for a, b in zip(plants[:-1], plants[1:])]
    return float(np.median(strides)) if strides else math.nan


def seam_pop(joints: np.ndarray, seams: Sequence[int]) -> float:
    """Largest mean-joint acceleration within SEAM_RADIUS frames of a seam / the clip's median one."""
    if len(joints) < 3 or not len(seams):
        return math.nan
    acc = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).mean(1)  # (T-2,), frame t+1
    near = [t - 1 + d for t in seams for d in range(-SEAM_RADIUS, SEAM_RADIUS + 1)
            if 0 <= t - 1 + d < len(acc)]
    return float(acc[near].max() / max(np.median(acc), 1e-9)) if near else math.nan


def clip_metrics(joints: np.ndarray, fps: float = sk.FPS) -> dict[str, float]:
    """Every per-clip number of this module for one motion."""
    joints = np.asarray(joints, dtype=np.float64)
    return {
        "skating_ratio": skating_ratio(joints),
        "sink_share": sink_share(joints),
        "float_share": float_share(joints),
        "lowest_foot_cm": 100 * float(lowest_foot(joints).min()),
        "bone_variation": bone_length_variation(joints),
        "jerk": jerk(joints, fps),
        "heading_deg": heading_change(joints),
        "stride_m": stride_length(joints, fps),
        "toe_speed_cms": 100 * lower_toe_speed(joints, fps),
    }


def summarise(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-clip dicts -> mean of each number (NaNs skipped); bone variation also as its worst clip,
    heading also as the median of its absolute value."""
    rows = list(rows)
    if not rows:
        return {}
    out: dict[str, float] = {"clips": float(len(rows))}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[key] = float(vals.mean()) if len(vals) else math.nan
        if key == "bone_variation" and len(vals):
            out["bone_variation_max"] = float(vals.max())
        if key == "heading_deg" and len(vals):
            out["abs_heading_median_deg"] = float(np.median(np.abs(vals)))
    return out


def format_row(name: str, summary: dict[str, float]) -> str:
    """One fixed-width table row; the header is HEADER."""
    def f(key, scale=1.0, digits=2):
        v = summary.get(key, math.nan)
        return f"{v * scale:.{digits}f}" if math.isfinite(v) else "-"

    return (f"{name:<22}{f('skating_ratio'):>8}{f('sink_share', 100, 1):>8}{f('float_share', 100, 1):>8}"
            f"{f('lowest_foot_cm', 1, 1):>8}{f('bone_variation', 100, 2):>8}"
            f"{f('bone_variation_max', 100, 2):>8}"
            f"{f('jerk', 1, 0):>8}{f('heading_deg', 1, 1):>8}{f('abs_heading_median_deg', 1, 1):>8}"
            f"{f('stride_m'):>8}{f('toe_speed_cms', 1, 1):>8}")


HEADER = (f"{'':<22}{'skate':>8}{'sink%':>8}{'float%':>8}{'low_cm':>8}{'bone%':>8}{'bone%mx':>8}"
          f"{'jerk':>8}{'head':>8}{'|head|md':>8}{'stride':>8}{'toe_cms':>8}")


def set_scores(joints_list: Iterable[np.ndarray]) -> dict[str, float]:
    """The plausibility numbers `training.evaluate` reports per repeat for a set of motions (the same
    for the real ground truth and for every model): means over motions, bone variation of the worst."""
    s = summarise(clip_metrics(j) for j in joints_list)
    keys = ("skating_ratio", "sink_share", "float_share", "bone_variation_max", "jerk")
    return {k: s[k] for k in keys}


TABLE_COLUMNS = (("skating_ratio", "skating ↓ (real)", 1.0), ("sink_share", "sink % ↓", 100.0),
                 ("float_share", "float % (real)", 100.0), ("bone_variation_max", "worst bone % ↓", 100.0),
                 ("jerk", "jerk m/s³ (real)", 1.0))


def markdown_rows(rows: dict[str, dict]) -> list[str]:
    """{name: {metric: {"mean", "ci95"} | float}} -> a markdown table of the physical numbers (rows whose
    evaluation predates them are left out)."""
    def cell(v, scale):
        if isinstance(v, dict):
            return f"{v['mean'] * scale:.2f} ± {v['ci95'] * scale:.2f}"
        return f"{v * scale:.2f}"

    head = "| motions | " + " | ".join(title for _, title, _ in TABLE_COLUMNS) + " |"
    lines = [head, "|---" * (len(TABLE_COLUMNS) + 1) + "|"]
    for name, r in rows.items():
        if all(k in r for k, _, _ in TABLE_COLUMNS):
            lines.append(f"| {name} | " + " | ".join(cell(r[k], s) for k, _, s in TABLE_COLUMNS) + " |")
    return lines if len(lines) > 2 else []
