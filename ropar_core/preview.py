"""Stick-figure previews of a motion: a PNG strip of frames side by side, or an animated GIF.

Pure matplotlib (the Agg canvas, no pyplot, so it is safe in the server's threads) with a fixed
oblique orthographic camera: Y up, the ground plane y = 0 as a grid, and the root trajectory drawn on
the ground. Each panel follows the root horizontally so long walks stay in view. Files are written
atomically.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ropar_core.atomic import atomic_path
from ropar_core.errors import RoparError
from ropar_core.skeleton import NUM_JOINTS, PARENTS, PART_OWN_JOINTS

PREVIEW_SUFFIXES = (".png", ".gif")
VIEW_AZIMUTH_DEG = 35.0  # camera swung to the figure's left-front so depth reads as sideways motion
VIEW_ELEVATION_DEG = 15.0
VIEW_HALF_HEIGHT_M = 1.25  # each panel shows 2.5 m vertically: raised hands stay in view
GRID_STEP_M = 0.5
GIF_MAX_FPS = 20

# Colours per part (left = blue, right = red, as usual in motion papers).
_JOINT_COLOURS = ["#333333"] * NUM_JOINTS
for _part, _colour in (("left_arm", "#1f77b4"), ("left_leg", "#1f77b4"), ("right_arm", "#d62728"),
                       ("right_leg", "#d62728"), ("torso", "#333333")):
    for _j in PART_OWN_JOINTS[_part]:
        _JOINT_COLOURS[_j] = _colour
BONES = [(PARENTS[j], j) for j in range(1, NUM_JOINTS)]


def _camera_axes() -> tuple[np.ndarray, np.ndarray]:
    """Screen right and screen up vectors (world, 3,) of the oblique orthographic camera."""
    az, el = np.radians(VIEW_AZIMUTH_DEG), np.radians(VIEW_ELEVATION_DEG)
    to_camera = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    forward = -to_camera
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return right, up


_RIGHT, _UP = _camera_axes()


def _project(points: np.ndarray) -> np.ndarray:
    """(..., 3) world -> (..., 2) screen coordinates in metres."""
    return np.stack([points @ _RIGHT, points @ _UP], axis=-1)


def _check_joints(joints) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or joints.shape[0] < 1:
        raise RoparError(f"preview needs joints of shape (frames, 22, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise RoparError("preview: joints contain NaN or infinite values")
    return joints


class _Panel:
    """One matplotlib axes showing the skeleton at a frame, the ground grid and the trajectory."""

    def __init__(self, ax, joints: np.ndarray):
        self.ax, self.joints = ax, joints
        ax.set_aspect("equal")
        ax.set_axis_off()
        floor = joints[..., 1].min()
        self.floor = min(floor, 0.0) if floor > -0.5 else floor  # data are grounded at y = 0; keep that
        root = joints[:, 0].copy()
        root[:, 1] = self.floor
        self.trajectory = _project(root)  # (T, 2)
        self.grid_lines = []
        self.bone_lines = [ax.plot([], [], color=_JOINT_COLOURS[j], lw=2.2, solid_capstyle="round")[0]
                           for _, j in BONES]
        (self.traj_line,) = ax.plot([], [], color="#2ca02c", lw=1.0, alpha=0.8)
        self.label = ax.text(0.5, 0.02, "", transform=ax.transAxes, ha="center", va="bottom", fontsize=7)

    def _draw_grid(self, centre: np.ndarray) -> None:
        for line in self.grid_lines:
            line.remove()
        self.grid_lines = []
        half = 2.0
        cx = np.round(centre[0] / GRID_STEP_M) * GRID_STEP_M
        cz = np.round(centre[2] / GRID_STEP_M) * GRID_STEP_M
        ticks = np.arange(-half, half + 1e-6, GRID_STEP_M)
        for t in ticks:
            for a, b in (([cx + t, self.floor, cz - half], [cx + t, self.floor, cz + half]),
                         ([cx - half, self.floor, cz + t], [cx + half, self.floor, cz + t])):
                seg = _project(np.array([a, b]))
                self.grid_lines += self.ax.plot(seg[:, 0], seg[:, 1], color="#bbbbbb", lw=0.6, zorder=0)

    def show(self, t: int, fps: float) -> None:
        pose = self.joints[t]  # (22, 3)
        centre = pose[0].copy()
        centre[1] = self.floor + 0.95
        self._draw_grid(pose[0])
        screen = _project(pose)  # (22, 2)
        for line, (p, j) in zip(self.bone_lines, BONES):
            line.set_data(screen[[p, j], 0], screen[[p, j], 1])
        self.traj_line.set_data(self.trajectory[:, 0], self.trajectory[:, 1])
        c = _project(centre)
        self.ax.set_xlim(c[0] - VIEW_HALF_HEIGHT_M * 0.8, c[0] + VIEW_HALF_HEIGHT_M * 0.8)
        self.ax.set_ylim(c[1] - VIEW_HALF_HEIGHT_M, c[1] + VIEW_HALF_HEIGHT_M)
        self.label.set_text(f"{t / fps:.2f} s")


def _figure(num_panels: int, title: str | None, panel_width: float = 1.9) -> Figure:
    fig = Figure(figsize=(panel_width * num_panels, 3.2), dpi=80)
    FigureCanvasAgg(fig)
    top = 0.99
    if title:
        lines = textwrap.wrap(title, width=max(24, int(14 * panel_width * num_panels)))[:2]
        fig.suptitle("\n".join(lines), fontsize=9)
        top = 0.9 if len(lines) == 1 else 0.85
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=top, wspace=0.02)
    return fig


def save_strip(path: str | os.PathLike, joints, fps: float = 20.0, num_frames: int = 8,
               title: str | None = None) -> Path:
    """PNG: `num_frames` evenly spaced frames side by side."""
    joints = _check_joints(joints)
    n = max(1, min(int(num_frames), joints.shape[0]))
    frames = np.linspace(0, joints.shape[0] - 1, n).round().astype(int)
    fig = _figure(n, title)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, t in zip(axes, frames):
        _Panel(ax, joints).show(int(t), fps)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def save_gif(path: str | os.PathLike, joints, fps: float = 20.0, title: str | None = None) -> Path:
    """GIF: the motion animated at (at most) GIF_MAX_FPS, following the root."""
    joints = _check_joints(joints)
    stride = max(1, int(np.ceil(fps / GIF_MAX_FPS)))
    fig = _figure(1, title, panel_width=3.2)
    panel = _Panel(fig.add_subplot(1, 1, 1), joints)
    writer = PillowWriter(fps=fps / stride)
    with atomic_path(path) as tmp:
        with writer.saving(fig, str(tmp), dpi=fig.dpi):
            for t in range(0, joints.shape[0], stride):
                panel.show(t, fps)
                writer.grab_frame()
    return Path(path)


def save_preview(path: str | os.PathLike, joints, fps: float = 20.0, title: str | None = None) -> Path:
    """Write a preview chosen by suffix: .png strip or .gif animation."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return save_strip(path, joints, fps=fps, title=title)
    if suffix == ".gif":
        return save_gif(path, joints, fps=fps, title=title)
    raise RoparError(f"preview path {path} must end in .png or .gif")
