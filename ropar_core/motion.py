"""The `Motion` record every reader returns and every writer takes, and its frame-rate change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ropar_core import features as F
from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.errors import MotionFileError
from ropar_core.quaternion import qnormalize
from ropar_core.resample import resample, resample_quats


@dataclass
class Motion:
    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    rotations: np.ndarray | None = None  # (T, 22, 4) float32 wxyz, features.py convention
    fps: float = float(sk.FPS)
    text: str = ""
    seed: int | None = None

    def __post_init__(self):
        self.joints = F._check_joints(self.joints).astype(np.float32)
        if self.rotations is not None:
            rot = np.asarray(self.rotations, dtype=np.float64)
            if rot.shape != self.joints.shape[:2] + (4,):
                want = self.joints.shape[:2] + (4,)
                raise MotionFileError(f"rotations must have shape {want}, got {rot.shape}")
            if not np.all(np.isfinite(rot)):
                raise MotionFileError("rotations contain NaN or infinite values")
            self.rotations = qnormalize(rot).astype(np.float32)
        self.fps = limits.check_fps(self.fps, error=MotionFileError)
        if self.seed is not None:
            whole = isinstance(self.seed, (int, np.integer)) and not isinstance(self.seed, bool)
            if not (whole and 0 <= self.seed < 2**63):
                raise MotionFileError(f"seed must be a whole number in [0, 2^63), got {str(self.seed)[:24]}")
            self.seed = int(self.seed)
        limits.check_frames(len(self.joints), "the motion", error=MotionFileError)

    @property
    def frames(self) -> int:
        return len(self.joints)


def resample_motion(motion: Motion, fps: float) -> Motion:
    fps = limits.check_fps(fps, error=MotionFileError)
    if abs(motion.fps - fps) < 1e-9:
        return motion
    joints = resample(motion.joints, motion.fps, fps)
    if len(joints) < 2:
        raise MotionFileError(f"motion is shorter than two frames at {fps:g} fps")
    rot = None if motion.rotations is None else resample_quats(motion.rotations, motion.fps, fps)
    return Motion(joints, rot, fps, motion.text, motion.seed)

