"""Floor paths (ropar_core/path.py): checking, the rounded arc-length geometry, the exact pass on real
Bandai mocap, and the shipped model walking and jogging along paths from the Python API, the CLI and
the HTTP API. The paths here are not the benchmark's (benchmarks/bench_path.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ropar_core import cleanup, editing
from ropar_core import features as feats
from ropar_core import path as P
from ropar_core.cli import main
from ropar_core.errors import RoparError
from ropar_core.http_api import HttpError, parse_generate
from ropar_core.io import load_motion
from training.evaluation import plausibility as pl

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DATA = Path(__file__).parent / "data" / "bandai"
L_PATH = np.array([[1.0, -1.0], [1.0, 2.5], [-2.0, 2.5]])  # 3.5 m ahead, then a left turn
_a = np.linspace(0, 1.6 * np.pi, 40)
ARC = np.stack([2.0 * np.sin(_a), 2.0 - 2.0 * np.cos(_a)], 1)  # 0.8 of a 2 m-radius circle
S_PATH = np.stack([0.6 * np.sin(np.linspace(0, 2 * np.pi, 50)) + 0.5, np.linspace(0, 5, 50)], 1)


def real(name: str) -> np.ndarray:
    x = feats.joints_to_features(load_motion(DATA / name, fps=20).joints)
    return feats.features_to_joints(x).astype(np.float64)


@pytest.fixture(scope="module")
def default_gen():
    from ropar_core.generator import Generator

    return Generator.from_pretrained()


@pytest.mark.parametrize("value, match", [
    ({"points": [[0, 0]]}, "at least 2"),
    ([[0, 0], [0, 0], [0, 0]], "must be at least 0.1 m"),
    ({"pts": [[0, 0], [1, 1]]}, "unknown key"),
    ({}, "points\" is missing"),
    ([[0, 0], [1, float("nan")]], "not finite"),
    ([[0, 0], [1e6, 0]], "beyond"),
    ([[0, 0], [1, 2, 3]], r"point 1 must be \[x, z\]"),
    ([[0, 0], ["1", 2]], r"point 1 must be \[x, z\]"),
    ([[0, 0], [True, 2]], r"point 1 must be \[x, z\]"),
    ("0,0 1,1", "at least 2"),
    ([[0, 0], [0, 600], [0, -600]], "at most 1000 m"),
])
def test_bad_paths_are_one_line_errors(value, match):
    with pytest.raises(RoparError, match=match):
        P.check_path(value)


def test_geometry_keeps_the_ends_and_rounds_corners_by_centimetres():
    points = P.check_path({"points": [[0, 0], [0, 0], [0, 3], [3, 3]]})  # the repeated point is dropped
    assert points.shape == (3, 2)
    route = P.FloorPath(points)
    assert route.length == pytest.approx(6.0)
    assert np.allclose(route.dense[[0, -1]], points[[0, -1]])
    steps = np.linalg.norm(np.diff(P.resample_polyline(points, 0.01), axis=0), axis=1)
    assert np.allclose(steps, 0.01, atol=1e-9)
    d, _ = P.distance_to_polyline(route.dense, points)
    assert 0.02 < d.max() < 0.10  # the corner is cut, but by centimetres
    xz, yaw = route.at(np.array([0.0, 1.5, 4.5, route.smooth_length]))
    assert np.degrees(yaw[[0, 1]]) == pytest.approx([0.0, 0.0], abs=1e-6)  # along +Z
    assert np.degrees(yaw[2]) == pytest.approx(90.0, abs=1e-3)  # then along +X
    assert np.allclose(xz[-1], [3, 3])


def test_follow_puts_a_real_walk_on_the_path_and_keeps_its_poses():
    walk = real("dataset-2_walk_active_009.bvh")
    route = P.FloorPath(L_PATH)
    out = P.follow(walk, route)
    t = P.tracking(out, L_PATH)
    assert t["distance_median_m"] < 0.01 and t["distance_max_m"] < 0.1
    assert t["end_error_m"] < 1e-6 and t["heading_median_deg"] < 10
    assert np.allclose(out[0, 0, [0, 2]], L_PATH[0])
    # every frame is moved rigidly: bone lengths and heights exactly as they were
    bones = lambda j: np.linalg.norm(j[:, 1:] - j[:, list(cleanup.sk.PARENTS[1:])], axis=-1)  # noqa: E731
    assert np.allclose(bones(out), bones(walk)) and np.allclose(out[..., 1], walk[..., 1])
    backwards = P.follow(walk[::-1].copy(), route)  # the same walk played backwards keeps facing back
    assert P.tracking(backwards, L_PATH)["heading_median_deg"] > 150


@pytest.mark.parametrize("prompt, pts", [
    ("someone strolls along", L_PATH), ("a person jogging at an easy pace", ARC),
    ("a woman walking calmly", S_PATH), ("a man runs at a steady pace", L_PATH),
])
def test_the_model_walks_and_jogs_along_paths(default_gen, prompt, pts):
    motions = default_gen.generate([prompt] * 3, path={"points": pts.tolist()}, seed=11)  # seeds 11-13
    for m in motions:
        t = P.tracking(m.joints, pts)
        assert t["distance_median_m"] <= 0.10 and t["distance_max_m"] <= 0.30, t
        assert t["end_error_m"] <= 0.30 and t["heading_median_deg"] <= 25, t
    # the feet slide no more than in the same prompt's free (straight) motions of those lengths, and for
    # walks no more than in real walks, a straight one and a turning one (the rule: 1.5 x + 0.02),
    # over the three seeds
    free = default_gen.generate([prompt] * 3, frames=[m.frames for m in motions], seed=11)
    skating = np.mean([pl.skating_ratio(m.joints) for m in motions])
    assert skating <= 1.5 * np.mean([pl.skating_ratio(f.joints) for f in free]) + 0.02
    if "jog" not in prompt and "run" not in prompt:
        walks = ("dataset-2_walk_active_009.bvh", "dataset-2_walk-turn-right_exhausted_027.bvh")
        assert skating <= 1.5 * np.mean([pl.skating_ratio(real(name)) for name in walks]) + 0.02
    m = motions[0]
    assert pl.bone_length_variation(m.joints) <= 0.01
    assert m.joints[..., 1].min() == pytest.approx(0.0, abs=1e-3)
    # joints, features and rotations describe one motion
    assert np.allclose(editing.features_of(m.joints, m.frames), m.features, atol=1e-4)
    assert np.abs(feats.fk(m.rotations, m.root) - m.joints).max() < 0.01


def test_seconds_set_the_pace_and_the_own_pace_differs_by_prompt(default_gen):
    walk, jog = default_gen.generate(["a person walks", "a person jogs"], path=L_PATH, seed=2)
    assert jog.frames < 0.75 * walk.frames  # a jog covers the path faster at its own pace
    [slow] = default_gen.generate(["a person walks"], path=L_PATH, seconds=9, seed=2)
    assert slow.frames == 180
    assert P.tracking(slow.joints, L_PATH)["end_error_m"] < 0.3
    # longer than the model's window: the seams are smoothed before the exact pass, not after it
    [long] = default_gen.generate(["a person walks"], path=S_PATH, seconds=11.4, seed=2)  # a seam at 224
    assert long.frames > default_gen.max_frames
    t = P.tracking(long.joints, S_PATH)
    assert t["end_error_m"] < 1e-3 and t["distance_max_m"] < 0.05
    with pytest.raises(RoparError, match="m/s; at most"):
        default_gen.generate(["a person walks"], path=[[0, 0], [0, 60]], seconds=2)
    with pytest.raises(RoparError, match="at most 120 s"):
        default_gen.generate(["a person walks slowly"], path=[[0, 0], [0, 300], [0, 0], [0, 300]])


def test_cli_path_file(default_gen, tmp_path, capsys):
    (tmp_path / "route.json").write_text(json.dumps({"points": ARC.tolist()}))
    code = main(["generate", "a person walks along", "--path", str(tmp_path / "route.json"),
                 "--out", str(tmp_path / "walk.npz"), "--seed", "4"])
    assert code == 0, capsys.readouterr().err
    m = load_motion(tmp_path / "walk.npz")
    assert P.tracking(m.joints, ARC)["distance_max_m"] < 0.3
    assert np.allclose(m.joints[0, 0, [0, 2]], ARC[0], atol=0.01)
    [api] = default_gen.generate(["a person walks along"], path=ARC, seed=4)  # the prompt's own pace
    assert len(m.joints) == api.frames and np.allclose(m.joints, api.joints, atol=1e-4)
    # a prompts file: a line's own length sets the pace, a line without one walks at its own pace
    (tmp_path / "p.jsonl").write_text('{"text": "a person walks along", "seconds": 6}\n'
                                      '{"text": "a person walks along", "seed": 4}\n')
    code = main(["generate", "--prompts", str(tmp_path / "p.jsonl"), "--path", str(tmp_path / "route.json"),
                 "--out", str(tmp_path / "out/{index}.npz"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert len(load_motion(tmp_path / "out/0.npz").joints) == 120
    assert len(load_motion(tmp_path / "out/1.npz").joints) == api.frames


@pytest.mark.parametrize("content, match, extra", [
    ('{"points": [[0, 0], [1, "x"]]}', r"point 1 must be \[x, z\]", []),
    ('{"points": [[0, 0]', "invalid JSON", []),
    (None, "cannot read", []),
    ('{"points": [[0, 0], [0, 50]]}', "m/s; at most 10 m/s", ["--seconds", "2"]),
    ('{"points": [[0, 0], [0, 5]]}', "--path works with generation, not with --edit",
     ["--edit", str(DATA / "dataset-2_walk_active_009.bvh"), "--keep-parts", "legs"]),
])
def test_cli_bad_path_files_exit_2_with_one_line_and_no_output(tmp_path, capsys, content, match, extra):
    if content is not None:
        (tmp_path / "p.json").write_text(content)
    code = main(["generate", "a person walks", "--path", str(tmp_path / "p.json"),
                 "--out", str(tmp_path / "o.bvh"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and re.search(match, err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.bvh").exists()


def test_http_api_path_field(default_gen):
    args = parse_generate({"prompt": "a person walks", "path": {"points": L_PATH.tolist()}})
    assert np.allclose(args["path"], L_PATH)
    assert parse_generate({"prompt": "a person walks", "path": L_PATH.tolist()})["path"] == args["path"]
    with pytest.raises(HttpError, match="'path': needs a list"):
        parse_generate({"prompt": "a person walks", "path": 3})
    from tests.helpers.server import Running

    server = Running(default_gen)
    try:
        status, body = server.request("POST", "/generate", {"prompt": "a person walks", "seed": 5,
                                                            "path": {"points": S_PATH.tolist()}})
        assert status == 200, body
        joints = np.array(body["motions"][0]["joints"])
        t = P.tracking(joints, S_PATH)
        assert t["distance_max_m"] < 0.3 and t["end_error_m"] < 0.3
        [api] = default_gen.generate(["a person walks"], path=S_PATH, seed=5)  # its own pace, as here
        assert len(joints) == api.frames
        status, body = server.request("POST", "/generate", {"prompt": "a person walks", "seconds": 1,
                                                            "path": [[0, 0], [0, 50]]})
        assert status == 400 and "m/s; at most" in body["error"]["message"]
    finally:
        server.close()


def test_path_math_is_exact_on_a_straight_line():
    walk = real("dataset-2_walk_active_009.bvh")
    length = P.walked(walk[:, 0])
    s = P.pace_profile(walk[:, 0], 2.0)
    assert s[0] == 0.0 and s[-1] == pytest.approx(2.0) and np.all(np.diff(s) > 0)
    assert math.isfinite(length) and length > 1.0
