"""Credible-part detection (paper §2.2, DESIGN §4).

A pose estimator gives every joint of every frame a confidence. A part p (torso, arms, legs) is
*credible* in a frame when C_p, the mean confidence of its joints, exceeds tau. Short gaps in a credible
run are closed and tiny credible islands removed, then 4-frame latent tokens are judged credible when
their frames are (rule "all" or "majority").

Pipeline: `read_keypoints` (one of four formats) -> `select_person` (one person per frame) ->
`credibility_from_confidences` (pure numpy; also called by the noise simulator and the importers).

Conventions:
- Parts are in `skeleton.PART_NAMES` order; masks are numpy bool, confidences float32.
- Token k covers frames [4k, 4k+4). The token mask has ceil(T / 4) rows: a trailing partial token is
  judged on the frames it has (`drop_partial=True` gives the T // 4 rows of training crops instead).
- A frame with no detected person gets confidence 0 for every joint (not credible).
- Scores must lie in [0, 1]; heatmap peaks (ViTPose, HRNet) overshoot 1 a little, so values within
  `SCORE_TOLERANCE` outside are clipped and anything further out is an error.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import MotionFileError
from ropar_core.skeleton import JOINT_NAMES, NUM_PARTS, PART_NAMES, TOKEN_FRAMES

FORMATS = ("coco17", "openpose25", "mediapipe33", "array")
TOKEN_RULES = ("all", "majority")
SCORE_TOLERANCE = 0.1
DEFAULT_TAU = 0.5
DEFAULT_MIN_GAP = 3
DEFAULT_MIN_ISLAND = 3


# ---------------------------------------------------------------------------------------------
# Joint layouts and their part maps.


@dataclass(frozen=True)
class Layout:
    """A keypoint layout: joint names and, per part, the groups whose confidences are averaged.

    Each group is one or more joint indices; a two-joint group stands for their midpoint, whose
    confidence is the mean of the two (so the midpoint weighs as one joint in C_p)."""

    name: str
    joints: tuple[str, ...]
    groups: dict[str, tuple[tuple[int, ...], ...]]

    @property
    def num_joints(self) -> int:
        return len(self.joints)


def _layout(name: str, joints: tuple[str, ...], parts: dict[str, tuple[str, ...]]) -> Layout:
    index = {j: i for i, j in enumerate(joints)}
    groups = {p: tuple(tuple(index[j] for j in g.split("+")) for g in parts[p]) for p in PART_NAMES}
    return Layout(name, joints, groups)


def _limbs(left: str, right: str, arm: tuple[str, ...], leg: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {
        "left_arm": tuple(f"{left}{j}" for j in arm),
        "right_arm": tuple(f"{right}{j}" for j in arm),
        "left_leg": tuple(f"{left}{j}" for j in leg),
        "right_leg": tuple(f"{right}{j}" for j in leg),
    }


COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
BODY25_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
MEDIAPIPE33_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_MIDPOINTS = ("left_shoulder+right_shoulder", "left_hip+right_hip")
_ARM = ("shoulder", "elbow", "wrist")

LAYOUTS: dict[str, Layout] = {
    "coco17": _layout("coco17", COCO17_JOINTS, {
        "torso": _FACE + _MIDPOINTS,
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle")),
    }),
    # BODY_25 has real neck and mid-hip joints: they are the shoulder and hip midpoints.
    "body25": _layout("body25", BODY25_JOINTS, {
        "torso": _FACE + ("neck", "mid_hip"),
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle", "big_toe", "small_toe", "heel")),
    }),
    "mediapipe33": _layout("mediapipe33", MEDIAPIPE33_JOINTS, {
        "torso": _FACE + _MIDPOINTS,
        **_limbs("left_", "right_", _ARM, ("hip", "knee", "ankle", "heel", "foot_index")),
    }),
    # SMPL-22 confidences (e.g. from a virtual camera): the torso is the pelvis-spine-neck-head chain
    # (pelvis ~ hip midpoint, neck ~ shoulder midpoint, head ~ face); collars have no 2D analogue.
    "smpl22": _layout("smpl22", JOINT_NAMES, {
        "torso": ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
        **_limbs("l_", "r_", _ARM, ("hip", "knee", "ankle", "foot")),
    }),
}
FORMAT_LAYOUT = {"coco17": "coco17", "openpose25": "body25", "mediapipe33": "mediapipe33"}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise MotionFileError(f"unknown joint layout {name!r}; choose from: {', '.join(LAYOUTS)}") from None


def layout_for_joints(num_joints: int) -> Layout:
    """The layout with this many joints (every layout's count is distinct)."""
    for layout in LAYOUTS.values():
        if layout.num_joints == num_joints:
            return layout
    counts = ", ".join(f"{n} ({layout.num_joints})" for n, layout in LAYOUTS.items())
    raise MotionFileError(f"no joint layout has {num_joints} joints; layouts: {counts}")


# ---------------------------------------------------------------------------------------------
# From confidences to masks (pure functions).


def part_confidence(conf: np.ndarray, layout: str | Layout) -> np.ndarray:
    """(T, J) joint confidences -> (T, 5) part confidences C_p (mean over the part's joint groups)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    conf = np.asarray(conf, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[1] != lay.num_joints:
        raise MotionFileError(f"confidences must be (frames, {lay.num_joints}) for layout {lay.name}, "
                              f"got {conf.shape}")
    out = np.zeros((conf.shape[0], NUM_PARTS), dtype=np.float64)
    for k, part in enumerate(PART_NAMES):
        groups = [conf[:, list(g)].mean(axis=1) for g in lay.groups[part]]  # each (T,)
        out[:, k] = np.mean(groups, axis=0)
    return out.astype(np.float32)


def _runs(x: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values in a 1-D bool array as (start, end_exclusive, value)."""
    if x.size == 0:
        return []
    edges = np.flatnonzero(x[1:] != x[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [x.size]])
    return [(int(s), int(e), bool(x[s])) for s, e in zip(starts, ends)]


def clean_mask(
    mask: np.ndarray, min_gap: int = DEFAULT_MIN_GAP, min_island: int = DEFAULT_MIN_ISLAND
) -> np.ndarray:
    """Close non-credible gaps shorter than `min_gap` frames that lie between credible frames, then
    remove credible islands shorter than `min_island` frames (a closing, then an opening, per part).

    An island that spans the whole sequence is kept. mask: (T,) or (T, P) bool."""
    m = np.array(mask, dtype=bool)
    if m.ndim == 1:
        return clean_mask(m[:, None], min_gap, min_island)[:, 0]
    T = m.shape[0]
    for p in range(m.shape[1]):
        col = m[:, p]
        for s, e, val in _runs(col):
            if not val and s > 0 and e < T and e - s < min_gap:
                col[s:e] = True
        for s, e, val in _runs(col):
            if val and e - s < min_island and not (s == 0 and e == T):
                col[s:e] = False
    return m


def token_mask_from_frame_mask(
    frame_mask: np.ndarray, rule: str = "all", drop_partial: bool = False
) -> np.ndarray:
    """(T, P) per-frame credibility -> (ceil(T/4), P) per-token credibility (T // 4 rows if drop_partial).

    rule "all": every frame of the token is credible; "majority": more than half of them are."""
    if rule not in TOKEN_RULES:
        raise ValueError(f"unknown token rule {rule!r}; choose from: {', '.join(TOKEN_RULES)}")
    fm = np.asarray(frame_mask, dtype=bool)
    T = fm.shape[0]
    n = T // TOKEN_FRAMES if drop_partial else -(-T // TOKEN_FRAMES)
    padded = np.zeros((n * TOKEN_FRAMES,) + fm.shape[1:], dtype=bool)
    padded[:min(T, n * TOKEN_FRAMES)] = fm[:n * TOKEN_FRAMES]
    counts = padded.reshape((n, TOKEN_FRAMES) + fm.shape[1:]).sum(axis=1)  # (n, P) credible frames
    frames = np.minimum(TOKEN_FRAMES, T - TOKEN_FRAMES * np.arange(n))  # (n,) frames in each token
    frames = frames.reshape((n,) + (1,) * (fm.ndim - 1))
    return counts == frames if rule == "all" else 2 * counts > frames


def features_frame_mask(joint_frame_mask: np.ndarray) -> np.ndarray:
    """Mask of the T joint frames -> mask of the T-1 feature frames (`joints_to_features` drops the
    last frame); feature row i uses joints i and i+1 (velocities), so it needs both credible."""
    m = np.asarray(joint_frame_mask, dtype=bool)
    return m[:-1] & m[1:]


def resample_frame_mask(
    frame_mask: np.ndarray, src_fps: float, dst_fps: float, num_frames: int | None = None
) -> np.ndarray:
    """Resample a (T, P) mask to another frame rate. A target frame at time t is credible when the
    source frames on both sides of t are (conservative: never invents credibility)."""
    m = np.asarray(frame_mask, dtype=bool)
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
    T = m.shape[0]
    if num_frames is None:
        num_frames = int(math.floor((T - 1) * dst_fps / src_fps + 1e-6)) + 1 if T else 0
    t = np.arange(num_frames) * (src_fps / dst_fps)  # target frame positions in source frames
    lo = np.clip(np.floor(t + 1e-6).astype(int), 0, max(T - 1, 0))
    hi = np.clip(np.ceil(t - 1e-6).astype(int), 0, max(T - 1, 0))
    return m[lo] & m[hi]


@dataclass
class Credibility:
    """Result of credibility detection for one sequence (DESIGN §4)."""

    frame_mask: np.ndarray  # (T, 5) bool
    part_confidence: np.ndarray  # (T, 5) float32
    token_mask: np.ndarray  # (ceil(T/4), 5) bool
    credible_token_ratio: float
    per_part: dict
    tau: float = DEFAULT_TAU
    fps: float | None = None
    person: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frame_mask.shape[0])

    def to_dict(self) -> dict:
        return {
            "parts": list(PART_NAMES),
            "tau": float(self.tau),
            "fps": None if self.fps is None else float(self.fps),
            "frame_mask": self.frame_mask.astype(bool).tolist(),
            "part_confidence": np.round(self.part_confidence.astype(np.float64), 4).tolist(),
            "token_mask": self.token_mask.astype(bool).tolist(),
            "credible_token_ratio": float(self.credible_token_ratio),
            "per_part": self.per_part,
            "person": self.person,
            "settings": self.settings,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: dict, source: str = "credibility JSON") -> Credibility:
        try:
            if list(d["parts"]) != list(PART_NAMES):
                raise MotionFileError(f"{source}: parts {d['parts']} differ from {list(PART_NAMES)}")
            fm = np.asarray(d["frame_mask"], dtype=bool).reshape(-1, NUM_PARTS)
            pc = np.asarray(d["part_confidence"], dtype=np.float32).reshape(-1, NUM_PARTS)
            tm = np.asarray(d["token_mask"], dtype=bool).reshape(-1, NUM_PARTS)
            out = cls(fm, pc, tm, float(d["credible_token_ratio"]), dict(d.get("per_part", {})),
                      float(d["tau"]), None if d.get("fps") is None else float(d["fps"]),
                      dict(d.get("person", {})), dict(d.get("settings", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise MotionFileError(f"{source}: not a credibility file ({type(exc).__name__}: {exc})") from None
        if pc.shape[0] != fm.shape[0]:
            raise MotionFileError(
                f"{source}: {fm.shape[0]} frame_mask rows but {pc.shape[0]} part_confidence rows")
        return out


def load_credibility(path: str | Path) -> Credibility:
    """Read a `ropar credibility` JSON file back."""
    return Credibility.from_dict(_load_json(Path(path)), source=str(path))


def _per_part_stats(frame_mask: np.ndarray, conf: np.ndarray, token_mask: np.ndarray) -> dict:
    stats = {}
    for k, part in enumerate(PART_NAMES):
        col = frame_mask[:, k]
        stats[part] = {
            "mean_confidence": round(float(conf[:, k].mean()), 4) if conf.size else 0.0,
            "credible_frames": int(col.sum()),
            "credible_frame_ratio": round(float(col.mean()), 4) if col.size else 0.0,
            "credible_tokens": int(token_mask[:, k].sum()),
            "credible_token_ratio": round(float(token_mask[:, k].mean()), 4) if token_mask.size else 0.0,
            "credible_segments": sum(1 for _, _, v in _runs(col) if v),
        }
    return stats


def credibility_from_part_confidence(
    part_conf: np.ndarray, tau: float = DEFAULT_TAU, fps: float | None = None, min_gap: int = DEFAULT_MIN_GAP,
    min_island: int = DEFAULT_MIN_ISLAND, token_rule: str = "all", person: dict | None = None,
    settings: dict | None = None,
) -> Credibility:
    """(T, 5) part confidences -> Credibility (threshold, gap closing, island removal, tokens)."""
    pc = np.asarray(part_conf, dtype=np.float32)
    if pc.ndim != 2 or pc.shape[1] != NUM_PARTS:
        raise MotionFileError(f"part confidences must be (frames, {NUM_PARTS}), got {pc.shape}")
    if pc.shape[0] == 0:
        raise MotionFileError("no frames to judge")
    if not 0.0 <= tau < 1.0:
        raise ValueError(f"tau must be in [0, 1), got {tau}")
    if token_rule not in TOKEN_RULES:
        raise ValueError(f"unknown token rule {token_rule!r}; choose from: {', '.join(TOKEN_RULES)}")
    frame_mask = clean_mask(pc > tau, min_gap, min_island)  # (T, 5)
    token_mask = token_mask_from_frame_mask(frame_mask, token_rule)  # (ceil(T/4), 5)
    cfg = {"min_gap": int(min_gap), "min_island": int(min_island), "token_rule": token_rule,
           "token_frames": TOKEN_FRAMES, **(settings or {})}
    return Credibility(frame_mask, pc, token_mask, float(token_mask.mean()),
                       _per_part_stats(frame_mask, pc, token_mask), float(tau), fps, person or {}, cfg)


def credibility_from_confidences(
    conf: np.ndarray, layout: str | Layout, tau: float = DEFAULT_TAU, fps: float | None = None,
    min_gap: int = DEFAULT_MIN_GAP, min_island: int = DEFAULT_MIN_ISLAND, token_rule: str = "all",
    person: dict | None = None, settings: dict | None = None,
) -> Credibility:
    """(T, J) joint confidences in a named layout -> Credibility. The one entry point for code that
    already has confidences (noise simulator, importers)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    conf = _check_scores(np.asarray(conf, dtype=np.float64), "confidences")
    return credibility_from_part_confidence(
        part_confidence(conf, lay), tau, fps, min_gap, min_island, token_rule, person,
        {"layout": lay.name, **(settings or {})})


# ---------------------------------------------------------------------------------------------
# Readers: every format becomes a list of frames, each a list of detected people.


@dataclass
class Detection:
    """One person in one frame: scores (J,), optional xy (J, 2), bbox (x1, y1, x2, y2), track id."""

    scores: np.ndarray
    xy: np.ndarray | None = None
    bbox: np.ndarray | None = None
    track_id: str | None = None

    def box(self) -> np.ndarray | None:
        """The bbox, or the extent of the confidently placed keypoints."""
        if self.bbox is not None:
            return self.bbox
        if self.xy is None:
            return None
        ok = (self.scores > 0.05) & np.isfinite(self.xy).all(axis=1)
        if not ok.any():
            return None
        pts = self.xy[ok]
        return np.concatenate([pts.min(axis=0), pts.max(axis=0)])

    def area(self) -> float:
        b = self.box()
        return 0.0 if b is None else float(max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0))


@dataclass
class KeypointSequence:
    frames: list[list[Detection]]
    layout: Layout
    fps: float | None = None
    notes: list[str] = field(default_factory=list)


def _check_scores(scores: np.ndarray, where: str) -> np.ndarray:
    if np.isnan(scores).any():
        raise MotionFileError(f"{where}: NaN confidence scores")
    if np.isinf(scores).any():
        raise MotionFileError(f"{where}: infinite confidence scores")
    if scores.size and (scores.min() < -SCORE_TOLERANCE or scores.max() > 1 + SCORE_TOLERANCE):
        raise MotionFileError(
            f"{where}: confidence scores outside [0, 1] (min {scores.min():.3g}, max {scores.max():.3g}); "
            "scores that are not probabilities (e.g. RTMPose SimCC) must be rescaled first")
    return np.clip(scores, 0.0, 1.0)


def _load_json(path: Path):
    if not path.exists():
        raise MotionFileError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise MotionFileError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{path}: invalid or truncated JSON ({exc.msg} at line {exc.lineno})") from None


def _as_array(value, where: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionFileError(f"{where}: keypoints are not a numeric array") from None


def _bbox(value) -> np.ndarray | None:
    """MMPose writes [x1, y1, x2, y2] (sometimes nested once); a box whose corner 2 is not right/below
    corner 1 is read as COCO [x, y, w, h]."""
    if value is None:
        return None
    b = np.asarray(value, dtype=np.float64).reshape(-1)
    if b.size < 4 or not np.isfinite(b[:4]).all():
        return None
    b = b[:4]
    if b[2] <= b[0] or b[3] <= b[1]:
        b = np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])
    return b


def _track_id(d: dict) -> str | None:
    for key in ("track_id", "person_id", "track"):  # not "id": COCO results use it per detection
        if key in d and d[key] is not None:
            v = d[key]
            if isinstance(v, list):  # OpenPose writes [-1]
                v = v[0] if v else -1
            if isinstance(v, (int, float)) and v < 0:
                return None  # -1 = untracked
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    return None


# COCO-17 is the first 17 joints of Halpe-26 and COCO-WholeBody-133.
_COCO_SUPERSETS = {17: "COCO-17", 26: "Halpe-26", 133: "COCO-WholeBody-133"}


def _coco_detection(kps, scores, where: str, bbox=None, track_id=None) -> Detection:
    arr = _as_array(kps, where)
    if arr.ndim == 1 and arr.size % 3 == 0 and arr.size // 3 in _COCO_SUPERSETS and scores is None:
        arr = arr.reshape(-1, 3)  # COCO results: flat [x, y, v, ...]
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise MotionFileError(f"{where}: keypoints must be (17, 2) or (17, 3), got shape {arr.shape}")
    if arr.shape[0] not in _COCO_SUPERSETS:
        raise MotionFileError(f"{where}: {arr.shape[0]} keypoints per person; coco17 needs 17 "
                              "(or a superset: Halpe-26, COCO-WholeBody-133)")
    if scores is not None:
        s = _as_array(scores, where).reshape(-1)
        if s.size != arr.shape[0]:
            raise MotionFileError(f"{where}: {s.size} keypoint scores for {arr.shape[0]} keypoints")
    elif arr.shape[1] == 3:
        s = arr[:, 2]
    else:
        raise MotionFileError(f"{where}: keypoints have no confidence scores")
    s = _check_scores(s[:17], where)
    return Detection(s, arr[:17, :2].copy(), _bbox(bbox), track_id)


def _coco_instance(inst, where: str) -> Detection:
    if isinstance(inst, dict):
        if "keypoints" not in inst:
            raise MotionFileError(f"{where}: person entry has no 'keypoints'")
        scores = inst.get("keypoint_scores", inst.get("scores"))
        return _coco_detection(inst["keypoints"], scores, where, inst.get("bbox"), _track_id(inst))
    return _coco_detection(inst, None, where)


def _frame_index(d: dict) -> int | None:
    for key in ("frame", "frame_id", "frame_idx", "frame_index"):
        if key in d:
            try:
                return int(d[key])
            except (TypeError, ValueError):
                raise MotionFileError(f"frame index {d[key]!r} is not an integer") from None
    return None


def _coco_frame(entry, where: str) -> tuple[int | None, list[Detection]]:
    """One element of a top-level list -> (frame index or None, people)."""
    if isinstance(entry, dict):
        idx = _frame_index(entry)
        if "predictions" in entry:  # MMPoseInferencer: [[inst, ...]] (batch of one) or [inst, ...]
            preds = entry["predictions"] or []
            if preds and isinstance(preds[0], list):
                preds = [p for batch in preds for p in batch]
            return idx, [_coco_instance(p, where) for p in preds]
        if "instances" in entry:  # MMPose saved predictions / demo `instance_info`
            return idx, [_coco_instance(p, where) for p in entry["instances"] or []]
        if "keypoints" in entry:  # simple form: one person per entry
            return idx, [_coco_instance(entry, where)]
        if entry and all(isinstance(v, list) for v in entry.values()):  # {track_id: 17x3} per frame
            return None, [_coco_detection(v, None, where, track_id=str(k)) for k, v in entry.items()]
        raise MotionFileError(f"{where}: unrecognised frame entry with keys {sorted(entry)[:6]}")
    if entry is None:
        return None, []
    arr = _as_array(entry, where)
    if arr.size == 0:
        return None, []
    if arr.ndim == 3:  # (people, 17, 3)
        return None, [_coco_detection(a, None, where) for a in arr]
    return None, [_coco_detection(arr, None, where)]


def read_coco17(path: str | Path) -> KeypointSequence:
    """ViTPose / MMPose COCO-17 JSON (inferencer output, saved predictions, demo `instance_info`,
    easy_ViTPose, or a simple list of per-frame keypoint arrays)."""
    path = Path(path)
    data = _load_json(path)
    fps = None
    if isinstance(data, dict):
        fps = _fps_value(data)
        kps = data.get("keypoints")
        if isinstance(data.get("instance_info"), list):  # MMPose demo --save-predictions
            data = data["instance_info"]
        elif isinstance(data.get("frames"), list):
            data = data["frames"]
        elif isinstance(kps, list) and kps and all(isinstance(k, dict) for k in kps):  # easy_ViTPose
            data = kps
        else:
            data = [data]  # a single frame
    if not isinstance(data, list):
        raise MotionFileError(f"{path}: expected a list of frames, got {type(data).__name__}")
    if not data:
        raise MotionFileError(f"{path}: no frames")
    indexed: dict[int, list[Detection]] = {}
    sequential: list[list[Detection]] = []
    for i, entry in enumerate(data):
        idx, people = _coco_frame(entry, f"{path} frame {i}")
        if idx is None:
            sequential.append(people)
        else:
            if idx < 0:
                raise MotionFileError(f"{path} entry {i}: negative frame index {idx}")
            indexed.setdefault(idx, []).extend(people)
    if indexed and sequential:
        raise MotionFileError(f"{path}: some entries have a frame index and some do not")
    if indexed:  # absolute frame numbers: missing frames had nobody detected
        frames = [indexed.get(i, []) for i in range(max(indexed) + 1)]
    else:
        frames = sequential
    return KeypointSequence(frames, LAYOUTS["coco17"], fps)


def _fps_value(d: dict) -> float | None:
    for key in ("fps", "frame_rate", "video_fps"):
        v = d.get(key)
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return None


def _frame_number(p: Path) -> int:
    nums = re.findall(r"\d+", p.name)
    return int(nums[-1]) if nums else -1


def read_openpose25(path: str | Path) -> KeypointSequence:
    """OpenPose BODY_25: a folder of per-frame `*_keypoints.json` (or one such file)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))
        if not files:
            raise MotionFileError(f"{path}: no *_keypoints.json files in the folder")
        files.sort(key=lambda p: (_frame_number(p), p.name))
    elif path.exists():
        files = [path]
    else:
        raise MotionFileError(f"{path}: no such file or folder")
    frames = []
    for f in files:
        data = _load_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise MotionFileError(f"{f}: not an OpenPose keypoints file (no 'people' list)")
        people = []
        for person in data["people"]:
            kp = _as_array(person.get("pose_keypoints_2d", []), str(f)).reshape(-1)
            if kp.size != 75:
                hint = " (54 = OpenPose COCO-18 model, not supported)" if kp.size == 54 else ""
                raise MotionFileError(f"{f}: pose_keypoints_2d has {kp.size} values; BODY_25 needs 75{hint}")
            kp = kp.reshape(25, 3)
            people.append(Detection(_check_scores(kp[:, 2], str(f)), kp[:, :2], None, _track_id(person)))
        frames.append(people)
    return KeypointSequence(frames, LAYOUTS["body25"], None)


def _mediapipe_person(landmarks, where: str) -> Detection:
    if not isinstance(landmarks, list) or len(landmarks) != 33:
        n = len(landmarks) if isinstance(landmarks, list) else type(landmarks).__name__
        raise MotionFileError(f"{where}: {n} landmarks; MediaPipe Pose needs 33")
    try:
        xyzv = np.array([[lm["x"], lm["y"], lm.get("z", 0.0), lm["visibility"]] for lm in landmarks],
                        dtype=np.float64)
    except (KeyError, TypeError) as exc:
        raise MotionFileError(f"{where}: landmark without x/y/visibility ({exc})") from None
    return Detection(_check_scores(xyzv[:, 3], where), xyzv[:, :2])


def _mediapipe_frame(entry, where: str) -> list[Detection]:
    if entry is None or entry == []:
        return []
    if isinstance(entry, dict):
        for key in ("landmarks", "pose_landmarks", "people", "poses"):
            if key in entry:
                return _mediapipe_frame(entry[key], where)
        raise MotionFileError(f"{where}: unrecognised frame entry with keys {sorted(entry)[:6]}")
    if isinstance(entry, list) and isinstance(entry[0], list):  # several people
        return [_mediapipe_person(p, where) for p in entry if p]
    return [_mediapipe_person(entry, where)]


def read_mediapipe33(path: str | Path) -> KeypointSequence:
    """MediaPipe Pose 33 landmarks: .npy (T, 33, 4) x, y, z, visibility (a frame of all-NaN = no
    person) or JSON: a list of frames, each 33 {"x", "y", "z", "visibility"} (or several people)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        arr = _load_npy(path)
        if arr.ndim != 3 or arr.shape[1] != 33 or arr.shape[2] < 4:
            raise MotionFileError(f"{path}: shape {arr.shape}; MediaPipe landmarks need (frames, 33, 4) "
                                  "x, y, z, visibility")
        frames = []
        for t, a in enumerate(arr):
            if np.isnan(a).all():
                frames.append([])
                continue
            frames.append([Detection(_check_scores(a[:, 3], f"{path} frame {t}"), a[:, :2].copy())])
        return KeypointSequence(frames, LAYOUTS["mediapipe33"], None)
    data = _load_json(path)
    fps = None
    if isinstance(data, dict):
        fps = _fps_value(data)
        data = data.get("frames", data.get("landmarks"))
    if not isinstance(data, list) or not data:
        raise MotionFileError(f"{path}: expected a non-empty list of frames of 33 landmarks")
    frames = [_mediapipe_frame(entry, f"{path} frame {t}") for t, entry in enumerate(data)]
    return KeypointSequence(frames, LAYOUTS["mediapipe33"], fps)


def _load_npy(path: Path) -> np.ndarray:
    if not path.exists():
        raise MotionFileError(f"{path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MotionFileError(f"{path}: not a readable .npy array ({exc})") from None
    if not np.issubdtype(arr.dtype, np.number):
        raise MotionFileError(f"{path}: array of {arr.dtype}, expected numbers")
    return arr.astype(np.float64)


def _read_csv(path: Path) -> np.ndarray:
    if not path.exists():
        raise MotionFileError(f"{path}: no such file")
    rows = [r for r in csv.reader(path.read_text(encoding="utf-8", errors="replace").splitlines()) if r]
    if rows:
        try:
            float(rows[0][0])
        except ValueError:
            rows = rows[1:]  # header
    if not rows:
        raise MotionFileError(f"{path}: empty file")
    if len({len(r) for r in rows}) != 1:
        raise MotionFileError(f"{path}: rows have different numbers of columns (truncated?)")
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise MotionFileError(f"{path}: non-numeric value ({exc})") from None


def read_array(path: str | Path, layout: str | None = None) -> KeypointSequence:
    """A plain (frames, joints) confidence array: .npy, .csv (optional header row) or .json (a list of
    rows, or {"confidence": rows, "layout": name, "fps": f}). The layout is named or inferred from the
    joint count. A row of all NaN means nobody was detected in that frame."""
    path = Path(path)
    suffix = path.suffix.lower()
    fps = None
    if suffix == ".npy":
        arr = _load_npy(path)
    elif suffix == ".csv":
        arr = _read_csv(path)
    elif suffix == ".json":
        data = _load_json(path)
        if isinstance(data, dict):
            fps = _fps_value(data)
            layout = layout or data.get("layout")
            data = data.get("confidence", data.get("confidences", data.get("scores")))
        arr = _as_array(data if data is not None else [], str(path))
    else:
        raise MotionFileError(f"{path}: confidence arrays must be .npy, .csv or .json")
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise MotionFileError(f"{path}: expected a (frames, joints) confidence array, got shape {arr.shape}")
    lay = get_layout(layout) if layout else layout_for_joints(arr.shape[1])
    if arr.shape[1] != lay.num_joints:
        raise MotionFileError(
            f"{path}: {arr.shape[1]} columns but layout {lay.name} has {lay.num_joints} joints")
    frames = []
    for t, row in enumerate(arr):
        if np.isnan(row).all():
            frames.append([])
        else:
            frames.append([Detection(_check_scores(row, f"{path} frame {t}"))])
    return KeypointSequence(frames, lay, fps)


def detect_format(path: str | Path) -> str:
    """Guess the format of a keypoint file (for importers that accept any of them)."""
    path = Path(path)
    if path.is_dir():
        return "openpose25"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "array"
    if suffix == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False) if path.exists() else None
        return "mediapipe33" if arr is not None and arr.ndim == 3 else "array"
    if suffix == ".json":
        data = _load_json(path)
        if isinstance(data, dict) and "people" in data:
            return "openpose25"
        if isinstance(data, dict) and any(k in data for k in ("confidence", "confidences", "scores")):
            return "array"
        text = json.dumps(data)[:20000]
        if '"visibility"' in text:
            return "mediapipe33"
        if '"keypoints"' in text or '"instances"' in text or '"predictions"' in text:
            return "coco17"
        return "array"
    raise MotionFileError(f"{path}: cannot tell the keypoint format from the name; pass the format")


def read_keypoints(path: str | Path, fmt: str, layout: str | None = None) -> KeypointSequence:
    """Read any supported format into per-frame detections."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "coco17":
        seq = read_coco17(path)
    elif fmt == "openpose25":
        seq = read_openpose25(path)
    elif fmt == "mediapipe33":
        seq = read_mediapipe33(path)
    elif fmt == "array":
        seq = read_array(path, layout)
    else:
        raise MotionFileError(f"unknown keypoint format {fmt!r}; choose from: {', '.join(FORMATS)}")
    if layout and fmt != "array" and get_layout(layout).name != seq.layout.name:
        raise MotionFileError(f"format {fmt} uses layout {seq.layout.name}, not {layout}")
    if not seq.frames:
        raise MotionFileError(f"{path}: no frames")
    return seq


# ---------------------------------------------------------------------------------------------
# Choosing one person per frame.


def _centre(det: Detection) -> np.ndarray | None:
    b = det.box()
    return None if b is None else np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _diag(det: Detection) -> float:
    b = det.box()
    return 0.0 if b is None else float(math.hypot(b[2] - b[0], b[3] - b[1]))


def select_person(seq: KeypointSequence, track_id: str | None = None) -> tuple[np.ndarray, dict]:
    """One person per frame -> ((T, J) confidences, info about the choice).

    With track ids: the requested id, else the id seen in the most frames (ties: larger mean box).
    Without: the largest person (box or keypoint extent) of the first frame with anyone in it, then in
    each later frame the detection nearest to the last seen centre, within a gate of one box diagonal
    per frame since it was last seen (so a bystander far away is not taken when the person leaves)."""
    T, J = len(seq.frames), seq.layout.num_joints
    conf = np.zeros((T, J), dtype=np.float64)
    max_people = max((len(f) for f in seq.frames), default=0)
    ids = {d.track_id for f in seq.frames for d in f if d.track_id is not None}
    info: dict = {"max_people": max_people}
    chosen: list[Detection | None] = [None] * T

    if track_id is not None or ids:
        if track_id is None:
            def score(tid):
                dets = [d for f in seq.frames for d in f if d.track_id == tid]
                return (len(dets), float(np.mean([d.area() for d in dets])))
            track_id = max(sorted(ids), key=score)
        elif str(track_id) not in ids:
            listed = ", ".join(sorted(ids)[:10]) or "none"
            raise MotionFileError(f"track id {track_id} not in the keypoints (ids present: {listed})")
        track_id = str(track_id)
        for t, f in enumerate(seq.frames):
            matches = [d for d in f if d.track_id == track_id]
            chosen[t] = max(matches, key=Detection.area) if matches else None
        info.update(selection="track_id", track_id=track_id)
    elif max_people <= 1:
        chosen = [f[0] if f else None for f in seq.frames]
        info.update(selection="single")
    else:
        last, last_t, scale = None, 0, 0.0
        for t, f in enumerate(seq.frames):
            if not f:
                continue
            if last is None:
                pick = max(f, key=Detection.area)
            else:
                dists = [np.linalg.norm(c - last) if (c := _centre(d)) is not None else np.inf for d in f]
                k = int(np.argmin(dists))
                gate = max(scale, 1e-9) * (t - last_t)
                pick = f[k] if dists[k] <= gate else None
            if pick is None:
                continue
            chosen[t] = pick
            c = _centre(pick)
            if c is not None:
                last, last_t, scale = c, t, max(_diag(pick), 1e-6)
            elif last is None:
                last_t = t
        info.update(selection="largest_then_nearest")
    for t, d in enumerate(chosen):
        if d is not None:
            conf[t] = d.scores[:J]
    info["frames_without_person"] = int(sum(d is None for d in chosen))
    return conf.astype(np.float32), info


def credibility_from_file(
    path: str | Path, fmt: str, layout: str | None = None, tau: float = DEFAULT_TAU, fps: float | None = None,
    min_gap: int = DEFAULT_MIN_GAP, min_island: int = DEFAULT_MIN_ISLAND, token_rule: str = "all",
    track_id: str | None = None,
) -> Credibility:
    """Read a keypoint file, choose the tracked person and judge each part's credibility."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    seq = read_keypoints(path, fmt, layout)
    conf, person = select_person(seq, track_id)  # (T, J)
    fps = fps if fps is not None else seq.fps
    return credibility_from_confidences(conf, seq.layout, tau, fps, min_gap, min_island, token_rule,
                                        person, {"format": fmt, "source": str(path)})
