"""`ropar video` on real footage (the shared videos, through the real MediaPipe): the clip's properties
(rigid bones, feet on the floor, the convention of every motion), per-part credibility (legs out of the
picture are not credible), the file outputs, and a one-line error for every bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ropar_core import camera, io, skeleton_fit
from ropar_core import skeleton as sk
from ropar_core.cli import main
from ropar_core.errors import RoparError
from ropar_core.video import PoseTrack, VideoInfo, frame_range, identity_jumps, longest_segment
from ropar_core.video_clip import bone_length_variation, video_to_clip
from tests.helpers.videos import SINGLE, crop_top, read_frames, unpack_videos, write_video

LEGS = [sk.PART_NAMES.index("left_leg"), sk.PART_NAMES.index("right_leg")]
ARMS = [sk.PART_NAMES.index("left_arm"), sk.PART_NAMES.index("right_arm")]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return unpack_videos(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="module")
def single_clip(videos):
    return video_to_clip(videos / SINGLE, "a man dribbles a basketball", progress=False)


def test_whole_body_clip_is_rigid_grounded_and_seen(single_clip):
    clip = single_clip
    j = clip.joints
    assert j.shape == (66, 22, 3) and j.dtype == np.float32 and clip.fps == 20  # 40 frames at 12 fps
    assert bone_length_variation(j) < 0.01
    assert np.allclose(np.linalg.norm(j[:, 1:] - j[:, list(sk.PARENTS[1:])], axis=-1), clip.bone_lengths[1:],
                       atol=1e-4)
    # a grown man: thigh 0.3-0.55 m, head-to-feet height 1.2-1.9 m
    assert 0.3 < clip.bone_lengths[4] < 0.55
    assert 1.2 < np.median(j[:, 15, 1] - j[:, [10, 11], 1].min(1)) < 1.9
    # feet on the floor: the lower foot is within 5 cm of Y = 0 in most frames, never far below it
    lower = j[:, [10, 11], 1].min(1)
    assert np.mean(np.abs(lower) < 0.05) > 0.8 and lower.min() > -0.1
    # the convention of every motion: frame 0's root over the origin, facing +Z
    assert np.allclose(j[0, 0, [0, 2]], 0, atol=1e-5)
    across = (j[0, 2] - j[0, 1]) + (j[0, 17] - j[0, 16])
    forward = np.cross([0, 1, 0], across)
    assert forward[2] / np.linalg.norm(forward) > 0.99
    # everything is in the picture: torso and legs credible throughout, the arms nearly (the dribbling hand
    # is hidden behind the body at times)
    ratio = clip.credible.mean(0)
    assert ratio[0] > 0.95 and ratio[LEGS].min() > 0.95 and ratio[ARMS].min() > 0.7
    assert clip.root_credible.mean() > 0.9 and clip.report["reprojection_median"] < 0.03


def test_top_half_crop_leaves_the_legs_not_credible(videos, tmp_path):
    clip = video_to_clip(crop_top(videos / SINGLE, tmp_path / "top.mp4"), progress=False)
    ratio = clip.credible.mean(0)
    assert ratio[LEGS].max() <= 0.2
    assert ratio[ARMS].max() >= 0.8 and ratio[ARMS].min() >= 0.6
    assert bone_length_variation(clip.joints) < 0.01
    assert clip.report["bones_measured"] < 21  # the legs' bones were never measured: a body-size prior


def test_command_writes_clip_bvh_and_preview(videos, tmp_path, capsys):
    out, bvh, gif = tmp_path / "clip.npz", tmp_path / "clip.bvh", tmp_path / "clip.gif"
    rc = main(["video", str(videos / SINGLE), "--out", str(out), "--bvh", str(bvh), "--preview", str(gif),
               "--caption", "a man dribbles a basketball", "--quiet"])
    assert rc == 0
    assert "left_leg 100 %" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as data:
        assert data["joints"].shape == (66, 22, 3) and data["credible"].shape == (66, 5)
        assert data["credible"].dtype == bool and float(data["fps"]) == 20.0
        assert str(data["text"]) == "a man dribbles a basketball"
    motion = io.load_motion(out)
    assert motion.text == "a man dribbles a basketball" and motion.frames == 66
    back = io.load_motion(bvh)
    assert np.abs(back.joints - motion.joints).max() < 0.02
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 66


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ropar video: error: ")
    return err[0]


def test_bad_inputs_get_one_line_errors(tmp_path, capsys):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n")
    assert main(["video", str(not_video), "--out", str(tmp_path / "a.npz"), "--quiet"]) == 2
    assert "not a video" in _error_line(capsys)
    assert main(["video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "a.npz")]) == 2
    assert "no such video" in _error_line(capsys)
    one = write_video(tmp_path / "one.mp4", [np.full((64, 48, 3), 128, np.uint8)], 25)
    assert main(["video", str(one), "--out", str(tmp_path / "a.npz"), "--quiet"]) == 2
    assert "at least 0.5 s" in _error_line(capsys)
    empty = write_video(tmp_path / "empty.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 30, 25)
    assert main(["video", str(empty), "--out", str(tmp_path / "a.npz"), "--quiet"]) == 2
    assert "no person" in _error_line(capsys)
    assert main(["video", str(empty), "--out", str(tmp_path / "a.json")]) == 2
    assert ".npz" in _error_line(capsys)
    assert main(["video", str(empty), "--out", str(tmp_path / "a.npz"), "--start", "3", "--end", "1"]) == 2
    _error_line(capsys)
    assert not list(tmp_path.glob("a.*"))  # nothing half-written


def test_an_hour_of_4k_is_refused_before_decoding_and_big_frames_are_shrunk():
    hour = VideoInfo(frames=30 * 3600, fps=30.0, width=3840, height=2160)
    with pytest.raises(RoparError, match="at most 10 min"):
        frame_range(hour)
    assert frame_range(hour, 60.0, 120.0) == (1800, 3600)
    import cv2

    from ropar_core.video import MAX_SIDE, _shrink

    assert max(_shrink(cv2, np.zeros((2160, 3840, 3), np.uint8)).shape[:2]) == MAX_SIDE


def _track(hips_x: np.ndarray) -> PoseTrack:
    """A synthetic track: a torso 100 px long whose hip centre moves along x."""
    T = len(hips_x)
    image = np.zeros((T, 33, 2), np.float32)
    image[:, [23, 24], 0] = hips_x[:, None] / 640
    image[:, [23, 24], 1] = 300 / 480
    image[:, [11, 12], 0] = hips_x[:, None] / 640
    image[:, [11, 12], 1] = 200 / 480
    return PoseTrack(image, np.ones((T, 33), np.float32), np.zeros((T, 33, 3), np.float32),
                     np.ones(T, bool), 20.0, 640, 480)


def test_an_identity_jump_splits_the_track_and_the_longest_piece_is_kept():
    x = np.concatenate([np.linspace(100, 150, 30), np.linspace(500, 520, 12)])
    track = _track(x)
    assert identity_jumps(track) == [(30, "identity jump")]
    track.breaks = identity_jumps(track)
    seg = longest_segment(track)
    assert (seg.start, seg.num_frames) == (0, 30)
    assert identity_jumps(_track(np.linspace(100, 300, 40))) == []  # walking across is no jump


def test_root_translation_recovers_the_camera_position_of_a_projected_body():
    rng = np.random.default_rng(0)
    world = rng.normal(0, 0.3, (3, 33, 3))
    t_true = np.array([[0.4, -0.1, 4.0], [-0.3, 0.2, 6.0], [0.0, 0.0, 3.0]])
    W, H = 1280, 720
    f = camera.focal_length(W, H)
    cam = world + t_true[:, None]
    image = np.stack([(f * cam[..., 0] / cam[..., 2] + W / 2) / W,
                      (f * cam[..., 1] / cam[..., 2] + H / 2) / H], -1)
    t, err = camera.root_translation(world, image, np.ones((3, 33)), W, H)
    assert np.allclose(t, t_true, atol=1e-3) and err.max() < 1e-4
    assert camera.in_frame(np.array([[0.5, 0.5], [1.02, 0.5], [0.5, -0.01]])).tolist() == [True, False, False]


def test_rigid_pose_keeps_directions_and_takes_the_fitted_lengths():
    rng = np.random.default_rng(1)
    targets = np.cumsum(rng.normal(0, 0.1, (5, 22, 3)), axis=1)
    seen = np.ones((5, 22), bool)
    lengths, measured = skeleton_fit.fit_bone_lengths(targets, seen)
    assert measured[1:].all() and lengths[1] == lengths[2]  # left and right are one body
    posed = skeleton_fit.rigid_pose(targets, lengths)
    bones = np.linalg.norm(posed[:, 1:] - posed[:, list(sk.PARENTS[1:])], axis=-1)
    assert np.allclose(bones, lengths[1:])
    d_t = targets[:, 4] - targets[:, 1]
    d_p = posed[:, 4] - posed[:, 1]
    cos = (d_t * d_p).sum(-1) / np.linalg.norm(d_t, axis=-1) / np.linalg.norm(d_p, axis=-1)
    assert np.allclose(cos, 1.0)


def test_the_real_frames_decode(videos):
    assert sum(1 for _ in read_frames(videos / SINGLE)) == 40
