"""Credible-part detection (paper §2.2, DESIGN §4).

A pose estimator gives every joint of every frame a confidence. A part p (torso, arms, legs) is
*credible* in a frame when C_p, the mean confidence of its joints, exceeds tau. Short gaps in a credible
run are closed and tiny credible islands removed, then 4-frame latent tokens are judged credible when
their frames are (rule "all" or "majority").

Pipeline: `keypoints.read_keypoints` (one of four formats) -> `tracking.select_person` (one person per
frame) -> `credibility_from_confidences` (pure numpy; also called by the noise simulator and the
importers). `credibility_from_file` runs all three; the joint layouts live in `layouts.py`.

Conventions:
- Parts are in `skeleton.PART_NAMES` order; masks are numpy bool, confidences float32.
- Token k covers frames [4k, 4k+4). The token mask has ceil(T / 4) rows: a trailing partial token is
  judged on the frames it has (`drop_partial=True` gives the T // 4 rows of training crops instead).
- A frame with no detected person gets confidence 0 for every joint (not credible).
- Scores must lie in [0, 1] (`keypoints.check_scores` clips a small overshoot and rejects the rest).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core.atomic import write_text
from ropar_core.errors import MotionFileError
from ropar_core.keypoints import check_scores, detect_format, load_json, read_keypoints
from ropar_core.layouts import Layout, get_layout
from ropar_core.runs import runs
from ropar_core.skeleton import NUM_PARTS, PART_NAMES, TOKEN_FRAMES
from ropar_core.tracking import select_person

TOKEN_RULES = ("all", "majority")
DEFAULT_TAU = 0.5
DEFAULT_MIN_GAP = 3
DEFAULT_MIN_ISLAND = 3


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
        for s, e, val in runs(col):
            if not val and s > 0 and e < T and e - s < min_gap:
                col[s:e] = True
        for s, e, val in runs(col):
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
        return json.dumps(self.to_dict(), allow_nan=False)  # NaN would make the file invalid JSON

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
        limits.check_frames(fm.shape[0], source, error=MotionFileError)
        if pc.shape[0] != fm.shape[0]:
            raise MotionFileError(
                f"{source}: {fm.shape[0]} frame_mask rows but {pc.shape[0]} part_confidence rows")
        return out


def load_credibility(path: str | Path) -> Credibility:
    """Read a `ropar credibility` JSON file back."""
    return Credibility.from_dict(load_json(Path(path)), source=str(path))


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
            "credible_segments": sum(1 for _, _, v in runs(col) if v),
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
    conf = check_scores(np.asarray(conf, dtype=np.float64), "confidences")
    return credibility_from_part_confidence(
        part_confidence(conf, lay), tau, fps, min_gap, min_island, token_rule, person,
        {"layout": lay.name, **(settings or {})})


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
