"""The shared real videos (../shared/datasets/videos.tar.xz, README there) unpacked for the video tests,
and small video files written with OpenCV (crops, a still picture, one frame)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

ARCHIVE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "videos.tar.xz"
SINGLE = "mmhuman3d_single_person_demo.mp4"  # one man dribbles, whole body in frame, 40 frames, 12 fps
ARM_WRESTLING = "mmaction2_demo.mp4"  # close-up: legs and hips out of frame throughout


def unpack_videos(dest: Path) -> Path:
    """-> the folder holding the four videos."""
    with tarfile.open(ARCHIVE, "r:xz") as tar:
        tar.extractall(dest, filter="data")
    return dest / "videos"


def write_video(path: Path, frames, fps: float) -> Path:
    import cv2

    frames = list(frames)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(np.ascontiguousarray(f))
    out.release()
    return path


def read_frames(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yield frame
    cap.release()


def crop_top(src: Path, dst: Path, share: float = 0.5) -> Path:
    """The top `share` of every frame: a person cut at the waist."""
    import cv2

    fps = cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FPS)
    frames = [f[: int(f.shape[0] * share)] for f in read_frames(src)]
    return write_video(dst, frames, fps)
