"""Stick-figure previews: PNG strips and GIFs are real images of the skeleton, written atomically."""

import numpy as np
import pytest
from PIL import Image

from ropar_core.errors import RoparError
from ropar_core.preview import _project, save_preview
from ropar_core.skeleton import PARENTS, REST_OFFSETS


def _waving_walk(frames=30):
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[PARENTS[j]] + REST_OFFSETS[j]
    rest[:, 1] -= rest[:, 1].min()
    joints = np.repeat(rest[None], frames, 0)  # (T, 22, 3)
    joints[:, :, 2] += np.linspace(0.0, 1.5, frames)[:, None]  # walk forward along +Z
    joints[:, 21, 1] += 0.4 * np.sin(np.linspace(0.0, 6.0, frames))  # right wrist waves
    return joints.astype(np.float32)


def _colour_pixels(img: Image.Image, rgb, tol=40) -> int:
    a = np.asarray(img.convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).sum(-1) < tol).sum())


def test_projection_is_y_up_and_mirrors_left_to_screen_right():
    up = _project(np.array([0.0, 1.0, 0.0]))
    left = _project(np.array([1.0, 0.0, 0.0]))  # +X is the body's left at frame 0 (faces +Z)
    assert up[1] > 0.9 and abs(up[0]) < 1e-9
    assert left[0] > 0.5  # facing the camera, the body's left is on the viewer's right


def test_png_strip_has_one_panel_per_frame_and_coloured_limbs(tmp_path):
    joints = _waving_walk()
    small, large = tmp_path / "a.png", tmp_path / "b.png"
    save_preview(small, joints, title="a person waves")
    from ropar_core.preview import save_strip

    save_strip(large, joints, num_frames=4)
    w8, h8 = Image.open(small).size
    w4, h4 = Image.open(large).size
    assert h8 == h4 and abs(w8 / w4 - 2.0) < 0.05
    img = Image.open(small)
    assert _colour_pixels(img, (0x1F, 0x77, 0xB4)) > 50  # left limbs, blue
    assert _colour_pixels(img, (0xD6, 0x27, 0x28)) > 50  # right limbs, red
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_gif_has_every_frame_and_the_arm_moves(tmp_path):
    joints = _waving_walk(24)
    path = tmp_path / "m.gif"
    save_preview(path, joints, fps=20)
    img = Image.open(path)
    assert img.n_frames == 24
    frames = []
    for i in (0, 6):
        img.seek(i)
        frames.append(np.asarray(img.convert("RGB")).astype(int))
    assert np.abs(frames[0] - frames[1]).sum() > 0
    # 30 fps input is thinned to at most 20 fps: every second frame.
    save_preview(tmp_path / "t.gif", joints, fps=30)
    assert Image.open(tmp_path / "t.gif").n_frames == 12


@pytest.mark.parametrize(
    "joints, path, match",
    [
        (np.zeros((10, 21, 3)), "x.png", "shape"),
        (np.zeros((0, 22, 3)), "x.png", "shape"),
        (np.full((3, 22, 3), np.nan), "x.gif", "NaN"),
        (np.zeros((3, 22, 3)), "x.jpg", ".png or .gif"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_leave_no_file(tmp_path, joints, path, match):
    with pytest.raises(RoparError, match=match) as info:
        save_preview(tmp_path / path, joints)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())
