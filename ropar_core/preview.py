"""Stick-figure previews of a motion: a PNG strip of frames side by side, or an animated GIF.

Frames are drawn with Pillow straight into images (lines at twice the size, then halved, for smooth
edges) rather than through matplotlib, whose figure machinery cost ten times the motion's generation
per GIF; Pillow also writes the files. A fixed oblique orthographic camera: Y up, the ground plane as a
grid under the figure, the root trajectory drawn on the ground, left limbs blue and right limbs red.
Each panel follows the root horizontally so long walks stay in view. Files are written atomically.
"""

from __future__ import annotations

import os
import textwrap
from functools import lru_cache
from pathlib import Path

import numpy as np

from ropar_core.atomic import atomic_path
from ropar_core.errors import RoparError
from ropar_core.skeleton import NUM_JOINTS, PARENTS, PART_NAMES, PART_OWN_JOINTS

PREVIEW_SUFFIXES = (".png", ".gif")
VIEW_AZIMUTH_DEG = 35.0  # camera swung to the figure's left-front so depth reads as sideways motion
VIEW_ELEVATION_DEG = 15.0
VIEW_HALF_HEIGHT_M = 1.25  # each panel shows 2.5 m vertically: raised hands stay in view
VIEW_HALF_WIDTH_M = 1.0
GRID_STEP_M = 0.5
GRID_HALF_M = 2.0
GIF_MAX_FPS = 20
GIF_SIZE = 256  # pixels, square
STRIP_PANEL = (152, 256)  # pixels per panel (width, height) of the PNG strip
STRIP_GAP = 3  # white pixels either side of a strip panel, so neighbouring floors do not merge
SUPERSAMPLE = 2  # lines are drawn at this multiple and downsampled: anti-aliasing for free
TITLE_PX, LABEL_PX = 12, 10  # font sizes

WHITE, GRID, TRAJECTORY, TEXT = (255, 255, 255), (187, 187, 187), (44, 160, 44), (0, 0, 0)
LEFT, RIGHT, TORSO = (31, 119, 180), (214, 39, 40), (51, 51, 51)
UNSEEN = GRID  # parts a video did not see (a clip's credible mask) are drawn in the grid's grey
_JOINT_COLOURS = [TORSO] * NUM_JOINTS
for _part, _colour in (("left_arm", LEFT), ("left_leg", LEFT), ("right_arm", RIGHT), ("right_leg", RIGHT)):
    for _j in PART_OWN_JOINTS[_part]:
        _JOINT_COLOURS[_j] = _colour
BONES = [(PARENTS[j], j) for j in range(1, NUM_JOINTS)]
_JOINT_PART = [0] * NUM_JOINTS  # index in PART_NAMES of the part that owns each joint (trunk: torso)
for _k, _part in enumerate(PART_NAMES):
    for _j in PART_OWN_JOINTS[_part]:
        _JOINT_PART[_j] = _k
BONE_WIDTH, GRID_WIDTH, TRAJECTORY_WIDTH = 5, 2, 2  # at SUPERSAMPLE scale


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


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's own font: no file lookup, no matplotlib


class _Scene:
    """One motion, ready to draw any frame into a panel of (width, height) pixels that sits `top`
    pixels below the top of its image (room for a title, pasted afterwards)."""

    def __init__(self, joints: np.ndarray, fps: float, size: tuple[int, int], top: int = 0,
                 credible: np.ndarray | None = None):
        self.joints, self.fps, self.size, self.top = joints, fps, size, top
        self.credible = credible  # (T, 5) bool or None: every part drawn in colour
        lowest = joints[..., 1].min()
        self.floor = min(lowest, 0.0) if lowest > -0.5 else lowest  # data are grounded at y = 0; keep that
        ground = joints[:, 0].copy()
        ground[:, 1] = self.floor
        self.trajectory = _project(ground)  # (T, 2)
        self.screen = _project(joints)  # (T, 22, 2)
        ground[:, 1] = self.floor + 0.95
        self.centres = _project(ground)  # (T, 2) what each frame's panel is centred on
        snap = np.round(ground / GRID_STEP_M) * GRID_STEP_M  # the grid moves in whole cells
        snap[:, 1] = 0.0
        self.grid_shift = _project(snap)  # (T, 2): projection is linear, so shift the projected grid
        w, h = size
        self.scale = min(w / (2 * VIEW_HALF_WIDTH_M), h / (2 * VIEW_HALF_HEIGHT_M)) * SUPERSAMPLE
        ticks = np.arange(-GRID_HALF_M, GRID_HALF_M + 1e-6, GRID_STEP_M)
        ends = np.full((2 * len(ticks), 2, 3), self.floor)  # grid segments around the origin
        ends[:len(ticks), :, 0], ends[:len(ticks), :, 2] = ticks[:, None], [-GRID_HALF_M, GRID_HALF_M]
        ends[len(ticks):, :, 0], ends[len(ticks):, :, 2] = [-GRID_HALF_M, GRID_HALF_M], ticks[:, None]
        self.grid = _project(ends)  # (S, 2, 2)

    def _pixels(self, screen: np.ndarray, centre: np.ndarray) -> np.ndarray:
        w, h = self.size
        x = w * SUPERSAMPLE / 2 + (screen[..., 0] - centre[0]) * self.scale
        y = (self.top + h / 2) * SUPERSAMPLE - (screen[..., 1] - centre[1]) * self.scale
        return np.stack([x, y], -1)

    def draw(self, t: int):
        """-> RGB PIL image (width, top + height) of frame t: grid, trajectory, skeleton, time label."""
        from PIL import Image, ImageDraw

        w, h = self.size
        img = Image.new("RGB", (w * SUPERSAMPLE, (self.top + h) * SUPERSAMPLE), WHITE)
        draw = ImageDraw.Draw(img)
        centre = self.centres[t]
        for segment in self._pixels(self.grid + self.grid_shift[t], centre).reshape(-1, 4).tolist():
            draw.line(segment, fill=GRID, width=GRID_WIDTH)
        draw.line(self._pixels(self.trajectory, centre).ravel().tolist(), fill=TRAJECTORY,
                  width=TRAJECTORY_WIDTH)
        pts = self._pixels(self.screen[t], centre).tolist()
        r = BONE_WIDTH / 2
        colours = _JOINT_COLOURS
        if self.credible is not None:
            colours = [c if self.credible[t, k] else UNSEEN for c, k in zip(_JOINT_COLOURS, _JOINT_PART)]
        for p, j in BONES:
            draw.line(pts[p] + pts[j], fill=colours[j], width=BONE_WIDTH)
        for (x, y), colour in zip(pts, colours):  # round joints, as a pen would draw them
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        img = img.reduce(SUPERSAMPLE)
        ImageDraw.Draw(img).text((w / 2, self.top + h - 3), f"{t / self.fps:.2f} s", fill=TEXT,
                                 font=_font(LABEL_PX), anchor="mb")
        return img


def _title_bar(title: str | None, width: int):
    """-> RGB image with the (wrapped, at most two lines) title, or None without a title."""
    if not title:
        return None
    from PIL import Image, ImageDraw

    font = _font(TITLE_PX)
    lines = textwrap.wrap(title, width=max(16, int(width / (TITLE_PX * 0.55))))[:2]
    bar = Image.new("RGB", (width, 6 + len(lines) * (TITLE_PX + 3)), WHITE)
    draw = ImageDraw.Draw(bar)
    for i, line in enumerate(lines):
        draw.text((width / 2, 4 + i * (TITLE_PX + 3)), line, fill=TEXT, font=font, anchor="mt")
    return bar


def _check_credible(credible, frames: int) -> np.ndarray | None:
    if credible is None:
        return None
    credible = np.asarray(credible, dtype=bool)
    if credible.shape != (frames, len(PART_NAMES)):
        raise RoparError(f"preview: credible mask must be ({frames}, {len(PART_NAMES)}), "
                         f"got {credible.shape}")
    return credible


def save_strip(path: str | os.PathLike, joints, fps: float = 20.0, num_frames: int = 8,
               title: str | None = None, credible=None) -> Path:
    """PNG: `num_frames` evenly spaced frames side by side (parts not credible in grey)."""
    joints = _check_joints(joints)
    credible = _check_credible(credible, joints.shape[0])
    n = max(1, min(int(num_frames), joints.shape[0]))
    frames = np.linspace(0, joints.shape[0] - 1, n).round().astype(int)
    from PIL import Image

    pw, ph = STRIP_PANEL
    bar = _title_bar(title, pw * n)
    top = bar.height if bar is not None else 0
    scene = _Scene(joints, fps, (pw - 2 * STRIP_GAP, ph - top), credible=credible)
    canvas = Image.new("RGB", (pw * n, ph), WHITE)
    if bar is not None:
        canvas.paste(bar, (0, 0))
    for i, t in enumerate(frames):
        canvas.paste(scene.draw(int(t)), (i * pw + STRIP_GAP, top))
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return Path(path)


@lru_cache(maxsize=1)
def _gif_palette():
    """A fixed palette: every drawing colour blended with white in 16 steps, so anti-aliased edges
    keep their shade and all frames share one palette (no per-frame colour search)."""
    from PIL import Image

    base = np.array([TEXT, GRID, TRAJECTORY, LEFT, RIGHT, TORSO], np.float64)
    steps = np.linspace(0.0, 1.0, 16)[:, None, None]
    colours = (base[None] * (1 - steps) + np.array(WHITE) * steps).reshape(-1, 3)
    flat = np.zeros((256, 3), np.uint8)
    flat[:len(colours)] = np.round(colours).astype(np.uint8)
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat.ravel().tolist())
    return pal


def save_gif(path: str | os.PathLike, joints, fps: float = 20.0, title: str | None = None,
             credible=None) -> Path:
    """GIF: the motion animated at (at most) GIF_MAX_FPS, following the root (parts not credible in grey)."""
    from PIL import Image

    joints = _check_joints(joints)
    credible = _check_credible(credible, joints.shape[0])
    stride = max(1, int(np.ceil(fps / GIF_MAX_FPS)))
    bar = _title_bar(title, GIF_SIZE)
    top = bar.height if bar is not None else 0
    scene = _Scene(joints, fps, (GIF_SIZE, GIF_SIZE - top), top=top, credible=credible)
    palette = _gif_palette()
    frames = []
    for t in range(0, joints.shape[0], stride):
        frame = scene.draw(t)
        if bar is not None:
            frame.paste(bar, (0, 0))
        frames.append(frame.quantize(palette=palette, dither=Image.Dither.NONE))
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=round(1000 * stride / fps), optimize=False)
    return Path(path)


def save_preview(path: str | os.PathLike, joints, fps: float = 20.0, title: str | None = None,
                 credible=None) -> Path:
    """Write a preview chosen by suffix: .png strip or .gif animation; `credible` (T, 5) greys out the
    parts that were not seen in each frame."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return save_strip(path, joints, fps=fps, title=title, credible=credible)
    if suffix == ".gif":
        return save_gif(path, joints, fps=fps, title=title, credible=credible)
    raise RoparError(f"preview path {path} must end in .png or .gif")
