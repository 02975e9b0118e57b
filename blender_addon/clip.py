"""Edits of a generated clip before it is retargeted: a seamless loop.

make_loop: over the last LOOP_BLEND_S the body's pose (every joint relative to the pelvis's horizontal
position, and the pelvis height) is eased into the first frame's, so the frame after the clip would be
frame 0 again; that frame is dropped, and the clip plays as a cycle. The horizontal travel is kept (a
walk still walks; combine with in_place for a treadmill loop).
"""

from __future__ import annotations

import numpy as np

LOOP_BLEND_S = 0.5


def make_loop(joints: np.ndarray, fps: float, blend_s: float = LOOP_BLEND_S) -> np.ndarray:
    """(T, 22, 3) Y-up joints -> (T - 1, 22, 3) whose next frame would be the first one."""
    T = joints.shape[0]
    if T < 3:
        return joints
    n = int(np.clip(round(blend_s * fps), 1, T - 1))
    horizontal = joints[:, :1].copy()
    horizontal[..., 1] = 0.0
    local = joints - horizontal  # (T, 22, 3): the pose, free of travel
    gap = local[0] - local[-1]  # what the last frame lacks to be the first
    s = np.linspace(0.0, 1.0, n + 1)[1:]  # the last blended frame gets all of it
    weight = s * s * (3 - 2 * s)  # smoothstep: no kink where the blend starts
    local[T - n:] += weight[:, None, None] * gap
    # The last frame now equals frame 0's pose: drop it so the cycle has no doubled frame.
    return (local + horizontal)[:-1]
