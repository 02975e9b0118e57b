"""Video -> MediaPipe pose landmarks with visibility, for one person (the own-video path, paper §2.2).

MediaPipe 0.10.14's legacy Pose solution ships its detector and its full landmark model inside the
wheel, so `model_complexity=1` runs offline (0 and 2 download a model at run time; later releases ship
no pose model at all): the version is pinned in the project's `video` extra. Per frame it gives 33
landmarks in normalised image coordinates with a visibility, and the same 33 as hip-centred "world"
landmarks in metres, in camera axes (x right, y down, z away from the camera).

Frames are decoded with OpenCV one at a time (memory stays bounded whatever the video's length), large
frames are shrunk first (the landmark model works at 256 px anyway), and two kinds of breaks split the
track: picture cuts (a sudden change of the whole image) and identity jumps (MediaPipe follows one
person and can jump to another: the body's box moves or changes size more than a body can in one
frame). `longest_segment` keeps the longest unbroken stretch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core.errors import RoparError

MODEL_COMPLEXITY = 1  # the only landmark model inside the mediapipe 0.10.14 wheel
MAX_SIDE = 1280  # frames larger than this are shrunk before pose estimation (4K costs no more than 720p)
MAX_VIDEO_SECONDS = 600.0  # at 40-50 frames/s on a laptop CPU this is minutes of work; choose a stretch
MIN_SECONDS = 0.5  # shorter than two 4-frame tokens at 20 fps is no motion
CUT_THRESHOLD = 0.35  # mean absolute change of a 32x18 grey thumbnail (0..1) that marks a picture cut
JUMP_BODY_LENGTHS = 1.0  # the hip centre moving more than one torso length in one frame: another person
JUMP_SIZE_RATIO = 1.6  # the torso's image length changing by more than this in one frame: another person
JUMP_TURN_DEG = 90.0  # the torso's image direction turning more than this in one frame: another body
MAX_MISSING_SECONDS = 1.0  # a longer stretch without a person ends a segment

# MediaPipe-33 indices used here (ropar_core.layouts.MEDIAPIPE33_JOINTS has all names).
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24


@dataclass
class PoseTrack:
    """Landmarks of one person in every decoded frame of a stretch of video."""

    image: np.ndarray  # (T, 33, 2) normalised image coordinates (x right, y down; 0..1 inside)
    visibility: np.ndarray  # (T, 33) 0..1
    world: np.ndarray  # (T, 33, 3) metres, hip-centred, camera axes (x right, y down, z away)
    detected: np.ndarray  # (T,) bool: a person was found in this frame
    fps: float
    width: int  # pixels of the original video
    height: int
    start: int = 0  # index of the first frame in the video
    breaks: list = field(default_factory=list)  # (frame, reason) where the track was split

    @property
    def num_frames(self) -> int:
        return int(self.detected.shape[0])

    def slice(self, a: int, b: int) -> PoseTrack:
        return PoseTrack(self.image[a:b], self.visibility[a:b], self.world[a:b], self.detected[a:b],
                         self.fps, self.width, self.height, self.start + a,
                         [(f - a, r) for f, r in self.breaks if a < f < b])


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int


def _cv2():
    try:
        import cv2
    except ImportError:
        raise RoparError("reading videos needs OpenCV and MediaPipe: pip install 'ropar[video]' "
                         "(see docs/own-video.md)") from None
    return cv2


def _pose_solution(static: bool = False):
    try:
        import mediapipe as mp
    except ImportError:
        raise RoparError("pose estimation needs MediaPipe 0.10.14: pip install 'ropar[video]' "
                         "(see docs/own-video.md)") from None
    if not hasattr(mp, "solutions"):
        raise RoparError(f"mediapipe {getattr(mp, '__version__', '?')} has no pose model inside; "
                         "install mediapipe==0.10.14")
    return mp.solutions.pose.Pose(static_image_mode=static, model_complexity=MODEL_COMPLEXITY,
                                  enable_segmentation=False, min_detection_confidence=0.5,
                                  min_tracking_confidence=0.5)


def probe(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a video, with one-line errors for what cannot be read."""
    cv2 = _cv2()
    path = Path(path)
    if not path.is_file():
        raise RoparError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise RoparError(f"{path.name}: not a video OpenCV can read")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0 or frames <= 0:
        raise RoparError(f"{path.name}: not a video OpenCV can read (no frames)")
    if not math.isfinite(fps) or not limits.MIN_FPS <= fps <= limits.MAX_FPS:
        raise RoparError(f"{path.name}: the video says {fps:g} frames/s, outside "
                         f"{limits.MIN_FPS:g}..{limits.MAX_FPS:g}")
    return VideoInfo(frames, fps, w, h)


def frame_range(info: VideoInfo, start_s: float = 0.0, end_s: float | None = None) -> tuple[int, int]:
    """[first, last) frame of the stretch start_s..end_s seconds, refused when too short or too long."""
    if not (math.isfinite(start_s) and start_s >= 0) or (end_s is not None and not math.isfinite(end_s)):
        raise RoparError("--start and --end must be finite seconds >= 0")
    a = int(round(start_s * info.fps))
    b = info.frames if end_s is None else min(info.frames, int(round(end_s * info.fps)))
    seconds = (b - a) / info.fps
    if seconds < MIN_SECONDS:
        raise RoparError(f"the video stretch is {max(b - a, 0)} frames ({max(seconds, 0):.2f} s); at least "
                         f"{MIN_SECONDS:g} s is needed")
    if seconds > MAX_VIDEO_SECONDS:
        raise RoparError(f"the video stretch is {seconds / 60:.1f} min; at most "
                         f"{MAX_VIDEO_SECONDS / 60:g} min at a time: choose one with --start/--end")
    return a, b


def _thumbnail(cv2, frame: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(cv2.resize(frame, (32, 18), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32) / 255.0


def _shrink(cv2, frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return frame
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def estimate_pose(path: str | Path, start_s: float = 0.0, end_s: float | None = None,
                  progress: bool = True, on_frame=None) -> PoseTrack:
    """Decode the video and run MediaPipe Pose on every frame of start_s..end_s.

    Picture cuts restart the tracker (so it looks for the person afresh) and are recorded as breaks.
    `on_frame(done, total)` is called after each frame (a caller's cancel raises from it)."""
    from tqdm import tqdm

    cv2 = _cv2()
    info = probe(path)
    a, b = frame_range(info, start_s, end_s)
    pose = _pose_solution()
    cap = cv2.VideoCapture(str(path))
    total = b - a
    image = np.zeros((total, 33, 2), np.float32)
    vis = np.zeros((total, 33), np.float32)
    world = np.zeros((total, 33, 3), np.float32)
    detected = np.zeros(total, bool)
    breaks: list = []
    try:
        if a:
            cap.set(cv2.CAP_PROP_POS_FRAMES, a)
        prev = None
        n = 0
        bar = tqdm(total=total, unit="frame", desc="pose", disable=not progress, leave=False)
        while n < total:
            ok, frame = cap.read()
            if not ok:
                break
            thumb = _thumbnail(cv2, frame)
            if prev is not None and float(np.abs(thumb - prev).mean()) > CUT_THRESHOLD:
                breaks.append((n, "picture cut"))
                pose.close()
                pose = _pose_solution()
            prev = thumb
            rgb = cv2.cvtColor(_shrink(cv2, frame), cv2.COLOR_BGR2RGB)
            result = pose.process(rgb)
            if result.pose_landmarks is not None and result.pose_world_landmarks is not None:
                lm = result.pose_landmarks.landmark
                image[n] = [(p.x, p.y) for p in lm]
                vis[n] = [p.visibility for p in lm]
                world[n] = [(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark]
                detected[n] = True
            n += 1
            bar.update(1)
            if on_frame is not None:
                on_frame(n, total)
        bar.close()
    finally:
        cap.release()
        pose.close()
    if n == 0:
        raise RoparError(f"{Path(path).name}: no frame could be decoded")
    np.clip(vis, 0.0, 1.0, out=vis)
    track = PoseTrack(image[:n], vis[:n], world[:n], detected[:n], info.fps, info.width, info.height, a,
                      breaks)
    track.breaks = sorted(breaks + identity_jumps(track))
    return track


def _torso_2d(track: PoseTrack) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) hip centre in pixels and (T, 2) hip-to-shoulder vector in pixels."""
    px = track.image * np.array([track.width, track.height], np.float32)
    hips = px[:, [L_HIP, R_HIP]].mean(1)
    shoulders = px[:, [L_SHOULDER, R_SHOULDER]].mean(1)
    return hips, shoulders - hips


def identity_jumps(track: PoseTrack) -> list:
    """Frames where the tracked body jumps (another person: the hips leap, the torso's size or direction
    changes more than a body can in one frame) or reappears after a long absence."""
    hips, torso = _torso_2d(track)
    size = np.linalg.norm(torso, axis=-1)
    out = []
    last = None
    for t in np.flatnonzero(track.detected):
        if last is not None:
            gap = t - last
            if gap > MAX_MISSING_SECONDS * track.fps:
                out.append((int(t), "person lost"))
            else:
                ref = max(size[last], size[t], 1.0)
                moved = np.linalg.norm(hips[t] - hips[last]) > JUMP_BODY_LENGTHS * ref * gap
                resized = max(size[t], 1.0) / max(size[last], 1.0)
                cos = float(torso[t] @ torso[last]) / max(size[t] * size[last], 1e-9)
                turned = cos < np.cos(np.radians(JUMP_TURN_DEG))
                if moved or turned or not 1 / JUMP_SIZE_RATIO < resized < JUMP_SIZE_RATIO:
                    out.append((int(t), "identity jump"))
        last = t
    return out


def longest_segment(track: PoseTrack) -> PoseTrack:
    """The longest stretch between breaks, trimmed to its first and last frame with a person."""
    cuts = [0] + sorted({f for f, _ in track.breaks if 0 < f < track.num_frames}) + [track.num_frames]
    best = None
    for a, b in zip(cuts[:-1], cuts[1:]):
        seen = np.flatnonzero(track.detected[a:b])
        if len(seen):
            span = (a + int(seen[0]), a + int(seen[-1]) + 1)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    if best is None:
        raise RoparError("no person was found in the video")
    seg = track.slice(*best)
    if seg.num_frames < MIN_SECONDS * track.fps:
        raise RoparError(f"the longest stretch with one person is {seg.num_frames} frames "
                         f"({seg.num_frames / track.fps:.2f} s); at least {MIN_SECONDS:g} s is needed")
    return seg
