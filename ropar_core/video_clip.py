"""Video -> a rigid 3D clip that knows which body parts were seen (the own-video path of paper §2.2).

video.estimate_pose (MediaPipe landmarks + visibility, one person, breaks at cuts and identity jumps)
-> the longest unbroken stretch -> landmark confidence = visibility x in-frame test, zeroed in frames
whose body does not reproject onto the picture (camera.py) -> 20 fps -> per-part credibility through
the same rule as `ropar credibility` (credibility.py: tau, short gaps closed, islands removed) -> the
root from reprojection (smoothed; its own credibility) -> a rigid SMPL-22 skeleton fitted to the clip,
upright and grounded (skeleton_fit.py).

The clip's joints follow the convention of every motion here: (T, 22, 3) metres, Y up, the floor at
Y = 0, frame 0's root over the origin facing +Z, 20 fps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core import camera
from ropar_core import skeleton as sk
from ropar_core import skeleton_fit as fit
from ropar_core.atomic import atomic_path
from ropar_core.credibility import (
    DEFAULT_MIN_GAP,
    DEFAULT_MIN_ISLAND,
    DEFAULT_TAU,
    Credibility,
    clean_mask,
    credibility_from_part_confidence,
    part_confidence,
    resample_frame_mask,
)
from ropar_core.errors import RoparError
from ropar_core.resample import resample
from ropar_core.video import PoseTrack, estimate_pose, longest_segment

LANDMARK_SIGMA = 1.0  # frames at 20 fps: MediaPipe's frame-to-frame jitter, smoothed before the fit
ROOT_SIGMA = (1.5, 1.5, 4.0)  # frames: the root's x, y and (noisiest) depth


@dataclass
class VideoClip:
    joints: np.ndarray  # (T, 22, 3) float32
    credible: np.ndarray  # (T, 5) bool, PART_NAMES order
    root_credible: np.ndarray  # (T,) bool: the root's place came from a good reprojection
    credibility: Credibility
    bone_lengths: np.ndarray  # (22,) metres, of the bone ending at each joint
    text: str = ""
    fps: float = float(sk.FPS)
    report: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


def fill_missing(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(T, ...) values, (T,) bool -> frames where ok is False linearly interpolated from the nearest good
    ones (held at the ends)."""
    good = np.flatnonzero(ok)
    if len(good) == len(ok):
        return x
    flat = x.reshape(len(x), -1).astype(np.float64)
    t = np.arange(len(x))
    out = np.stack([np.interp(t, good, flat[good, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(x.shape).astype(x.dtype)


def clip_from_track(track: PoseTrack, text: str = "", tau: float = DEFAULT_TAU,
                    min_gap: int = DEFAULT_MIN_GAP, min_island: int = DEFAULT_MIN_ISLAND,
                    token_rule: str = "all") -> VideoClip:
    """One person's landmarks (a stretch without breaks) -> VideoClip at 20 fps."""
    conf = camera.landmark_confidence(track.image, track.visibility, track.detected)  # (T, 33)
    t, err = camera.root_translation(track.world, track.image, conf, track.width, track.height)
    placed = track.detected & (err < camera.MAX_REPROJECTION)
    if placed.sum() < 2:
        raise RoparError("the body never lines up with the picture (reprojection error above "
                         f"{100 * camera.MAX_REPROJECTION:g} % of the image height in every frame)")
    src, dst = track.fps, float(sk.FPS)
    conf20 = resample(conf * placed[:, None], src, dst)
    world20 = resample(fill_missing(track.world, track.detected), src, dst)
    root20 = resample(fill_missing(t, placed), src, dst)
    root_ok = resample_frame_mask(placed[:, None], src, dst, len(root20))[:, 0]
    root_ok = clean_mask(root_ok, min_gap, min_island)
    if len(world20) < 2 * sk.TOKEN_FRAMES:
        raise RoparError(f"the clip is {len(world20)} frames at 20 fps; at least {2 * sk.TOKEN_FRAMES} "
                         "are needed")

    cred = credibility_from_part_confidence(
        part_confidence(conf20, "mediapipe33"), tau, dst, min_gap, min_island, token_rule,
        settings={"layout": "mediapipe33", "source": "video",
                  "confidence": "visibility x in-frame x reprojection"})
    root20 = np.stack([fit.smooth(root20[:, k], s) for k, s in enumerate(ROOT_SIGMA)], axis=1)
    points = fit.camera_to_y_up(fit.smooth(world20.astype(np.float64), LANDMARK_SIGMA) + root20[:, None])
    targets = fit.smpl_targets(points)
    lengths, measured = fit.fit_bone_lengths(targets, fit.joint_credibility(cred.frame_mask))
    joints, placement = fit.ground(fit.rigid_pose(targets, lengths), dst, cred.frame_mask)
    finite = np.isfinite(err)
    report = {
        "video_frames": track.num_frames, "video_fps": round(track.fps, 3), "first_video_frame": track.start,
        "frames": int(len(joints)), "seconds": round(len(joints) / dst, 2),
        "reprojection_median": round(float(np.median(err[finite])), 4) if finite.any() else None,
        "root_credible_ratio": round(float(root_ok.mean()), 3),
        "bones_measured": int(measured[1:].sum()), **placement,
    }
    return VideoClip(joints, cred.frame_mask.copy(), root_ok, cred, lengths.astype(np.float32), text, dst,
                     report)


def video_to_clip(path: str | Path, text: str = "", start_s: float = 0.0, end_s: float | None = None,
                  tau: float = DEFAULT_TAU, min_gap: int = DEFAULT_MIN_GAP,
                  min_island: int = DEFAULT_MIN_ISLAND, progress: bool = True, on_frame=None) -> VideoClip:
    """Decode, pose, keep the longest stretch of one person, fit the clip."""
    track = estimate_pose(path, start_s, end_s, progress=progress, on_frame=on_frame)
    seg = longest_segment(track)
    clip = clip_from_track(seg, text, tau, min_gap, min_island)
    clip.report.update(breaks=[(track.start + f, why) for f, why in track.breaks],
                       kept_video_frames=[seg.start, seg.start + seg.num_frames],
                       frames_without_person=int((~seg.detected).sum()))
    return clip


def save_clip(path: str | Path, clip: VideoClip) -> Path:
    """The clip as .npz: joints (T, 22, 3), credible (T, 5), root_credible (T,), fps, bone_lengths, and
    text when there is one (written atomically; read back by io.load_motion and load_clip_mask)."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise RoparError(f"--out must be a .npz file, got {path.name}")
    arrays = {"joints": clip.joints.astype(np.float32), "credible": clip.credible.astype(bool),
              "root_credible": clip.root_credible.astype(bool), "fps": np.float64(clip.fps),
              "bone_lengths": clip.bone_lengths.astype(np.float32)}
    if clip.text:
        arrays["text"] = np.str_(clip.text)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def bone_length_variation(joints: np.ndarray) -> float:
    """Largest relative spread (std / mean) of any bone's length over the frames."""
    parents = np.array(sk.PARENTS[1:])
    bones = np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1)
    return float((bones.std(0) / np.maximum(bones.mean(0), 1e-9)).max())
