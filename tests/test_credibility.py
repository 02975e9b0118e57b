"""Credibility detection: hand-built keypoint files whose right answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ropar_core import cli
from ropar_core.credibility import (
    clean_mask,
    credibility_from_confidences,
    credibility_from_file,
    features_frame_mask,
    load_credibility,
    part_confidence,
    resample_frame_mask,
    token_mask_from_frame_mask,
)
from ropar_core.errors import MotionFileError
from ropar_core.keypoints import detect_format, read_keypoints
from ropar_core.layouts import LAYOUTS
from ropar_core.skeleton import PART_NAMES
from ropar_core.tracking import select_person

TORSO, LARM, RARM, LLEG, RLEG = range(5)
COCO_LEGS = [11, 12, 13, 14, 15, 16]
COCO_LEFT_ARM = [5, 7, 9]


def coco_xy(centre=(100.0, 100.0), size=50.0, n=17) -> np.ndarray:
    """Keypoints spread over a box of `size` around `centre` (a stand-in body)."""
    rng = np.random.default_rng(n)
    return np.asarray(centre) + (rng.random((n, 2)) - 0.5) * size


def coco_inst(scores, centre=(100.0, 100.0), size=50.0, **extra) -> dict:
    xy = coco_xy(centre, size)
    d = {"keypoints": xy.tolist(), "keypoint_scores": list(map(float, scores))}
    d.update(extra)
    return d


def legs_low_scores(T=40, lo=10, hi=30, value=0.1) -> np.ndarray:
    s = np.full((T, 17), 0.9)
    s[lo:hi + 1, COCO_LEGS] = value
    return s


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------
# Pure functions.


def test_legs_below_threshold_make_exactly_those_leg_frames_noisy():
    cred = credibility_from_confidences(legs_low_scores(), "coco17", fps=30)
    fm = cred.frame_mask
    assert fm.shape == (40, 5) and fm.dtype == bool
    expected_leg = np.ones(40, bool)
    expected_leg[10:31] = False
    np.testing.assert_array_equal(fm[:, LLEG], expected_leg)
    np.testing.assert_array_equal(fm[:, RLEG], expected_leg)
    assert fm[:, [TORSO, LARM, RARM]].all()  # hip midpoint low, but 6 of 7 torso groups are 0.9
    assert cred.token_mask.shape == (10, 5)
    # tokens 2..7 touch frames 10..30 -> not credible under "all"
    np.testing.assert_array_equal(cred.token_mask[:, LLEG], [1, 1, 0, 0, 0, 0, 0, 0, 1, 1])
    assert cred.credible_token_ratio == pytest.approx((50 - 12) / 50)
    assert cred.per_part["left_leg"]["credible_frames"] == 19
    assert cred.per_part["left_leg"]["credible_segments"] == 2
    assert cred.per_part["torso"]["credible_frame_ratio"] == 1.0


def test_part_confidence_is_mean_over_joints_with_midpoints_as_one_joint():
    conf = np.full((1, 17), 1.0)
    conf[0, 6] = 0.0  # right shoulder: right arm loses one of 3; torso's shoulder midpoint = 0.5
    pc = part_confidence(conf, "coco17")
    assert pc[0, RARM] == pytest.approx(2 / 3)
    assert pc[0, TORSO] == pytest.approx((5 + 0.5 + 1) / 7)
    assert pc[0, LARM] == pytest.approx(1.0)
    body = np.full((1, 25), 1.0)
    body[0, 19:22] = 0.0  # BODY_25 left foot joints count in the left leg
    assert part_confidence(body, "body25")[0, LLEG] == pytest.approx(3 / 6)


def test_threshold_is_strict_and_configurable():
    conf = np.full((8, 22), 0.5)
    assert not credibility_from_confidences(conf, "smpl22").frame_mask.any()  # C_p > tau, not >=
    assert credibility_from_confidences(conf, "smpl22", tau=0.4).frame_mask.all()


def test_gap_closing_only_between_credible_frames():
    m = np.ones(20, bool)
    m[5:7] = False  # 2-frame gap -> closed
    m[10:13] = False  # 3-frame gap -> kept (min_gap 3)
    m[0:2] = False  # leading gap: not between credible frames -> kept
    out = clean_mask(m, min_gap=3, min_island=0)
    assert out[5:7].all()
    assert not out[10:13].any()
    assert not out[0:2].any()
    np.testing.assert_array_equal(clean_mask(m, min_gap=0, min_island=0), m)  # disabled


def test_island_removal():
    m = np.zeros(20, bool)
    m[3:5] = True  # 2-frame island -> removed
    m[10:13] = True  # 3 frames -> kept
    m[18:20] = True  # short island at the end -> removed too
    out = clean_mask(m, min_gap=0, min_island=3)
    assert not out[3:5].any() and out[10:13].all() and not out[18:].any()
    assert clean_mask(np.ones(2, bool), 3, 3).all()  # a fully credible short clip stays credible


def test_gaps_closed_before_islands_removed():
    m = np.array([0, 0, 1, 1, 0, 1, 1, 0, 0, 0], bool)  # two 2-frame islands joined by a 1-frame gap
    np.testing.assert_array_equal(clean_mask(m, 3, 3), [0, 0, 1, 1, 1, 1, 1, 0, 0, 0])


def test_token_rules_and_ceil():
    fm = np.ones((10, 5), bool)
    fm[9:11, 0] = False  # frame 9 only (partial token 2 = frames 8, 9)
    fm[4, 1] = False  # token 1 has 3 of 4 credible
    fm[0:2, 2] = False  # token 0 has 2 of 4
    tm_all = token_mask_from_frame_mask(fm, "all")
    tm_maj = token_mask_from_frame_mask(fm, "majority")
    assert tm_all.shape == (3, 5)  # ceil(10 / 4)
    assert token_mask_from_frame_mask(fm, drop_partial=True).shape == (2, 5)
    assert not tm_all[1, 1] and tm_maj[1, 1]  # 3 of 4: majority only
    assert not tm_all[0, 2] and not tm_maj[0, 2]  # 2 of 4 is not a majority
    assert not tm_all[2, 0] and not tm_maj[2, 0]  # 1 of 2 in the partial token
    with pytest.raises(ValueError):
        token_mask_from_frame_mask(fm, "any")


def test_majority_rule_through_the_pipeline():
    s = legs_low_scores(lo=11, hi=29)
    all_ = credibility_from_confidences(s, "coco17", token_rule="all")
    maj = credibility_from_confidences(s, "coco17", token_rule="majority")
    assert not all_.token_mask[2, LLEG] and maj.token_mask[2, LLEG]  # frames 8..10 of 8..11 credible
    assert maj.credible_token_ratio > all_.credible_token_ratio


def test_feature_and_fps_masks():
    m = np.array([[1], [1], [0], [1]], bool)
    np.testing.assert_array_equal(features_frame_mask(m)[:, 0], [1, 0, 0])
    src = np.ones((31, 1), bool)  # 1 s at 30 fps
    src[15] = False
    out = resample_frame_mask(src, 30, 20)
    assert out.shape == (21, 1)
    assert not out[10, 0]  # t = 0.5 s lands on frame 15
    assert out[[9, 11], 0].all()  # 0.45 s -> frames 13/14, 0.55 s -> 16/17
    assert resample_frame_mask(src, 30, 20, num_frames=5).shape == (5, 1)


def test_json_format_and_round_trip(tmp_path):
    cred = credibility_from_confidences(legs_low_scores(T=10, lo=2, hi=7), "coco17", fps=25.0)
    d = json.loads(cred.to_json())
    for key in ("parts", "tau", "fps", "frame_mask", "part_confidence", "token_mask",
                "credible_token_ratio", "per_part"):
        assert key in d
    assert d["parts"] == list(PART_NAMES) and d["tau"] == 0.5 and d["fps"] == 25.0
    assert len(d["frame_mask"]) == 10 and len(d["frame_mask"][0]) == 5
    assert all(isinstance(v, bool) for row in d["frame_mask"] for v in row)
    assert len(d["token_mask"]) == 3 and len(d["part_confidence"][0]) == 5
    assert set(d["per_part"]) == set(PART_NAMES)
    cred.save(tmp_path / "m.json")
    back = load_credibility(tmp_path / "m.json")
    np.testing.assert_array_equal(back.frame_mask, cred.frame_mask)
    np.testing.assert_array_equal(back.token_mask, cred.token_mask)
    np.testing.assert_allclose(back.part_confidence, cred.part_confidence, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Readers.


def test_mmpose_inferencer_output(tmp_path):
    s = legs_low_scores()
    data = [{"predictions": [[coco_inst(row, bbox=[[70, 70, 130, 130]], bbox_score=0.9)]],
             "visualization": []} for row in s]
    cred = credibility_from_file(write_json(tmp_path / "vit.json", data), "coco17")
    assert cred.num_frames == 40
    assert not cred.frame_mask[10:31, LLEG].any() and cred.frame_mask[:10, LLEG].all()
    assert cred.person["selection"] == "single"


def test_mmpose_saved_instances_with_frame_ids_and_missing_frames(tmp_path):
    s = np.full((12, 17), 0.9)
    data = {"meta_info": {}, "instance_info": [
        {"frame_id": t, "instances": [coco_inst(s[t])]} for t in range(12) if t != 6]}
    seq = read_keypoints(write_json(tmp_path / "p.json", data), "coco17")
    assert len(seq.frames) == 12 and seq.frames[6] == []
    cred = credibility_from_file(tmp_path / "p.json", "coco17", min_gap=0)
    assert not cred.frame_mask[6].any() and cred.person["frames_without_person"] == 1
    assert credibility_from_file(tmp_path / "p.json", "coco17").frame_mask.all()  # 1-frame gap closed


def test_simple_coco_forms(tmp_path):
    s = legs_low_scores(T=20, lo=5, hi=12)
    rows = [np.concatenate([coco_xy(), s[t][:, None]], axis=1).tolist() for t in range(20)]
    a = credibility_from_file(write_json(tmp_path / "a.json", rows), "coco17")
    b = credibility_from_file(write_json(tmp_path / "b.json", [{"frame": t, "keypoints": r}
                                                                for t, r in enumerate(rows)]), "coco17")
    flat = [{"frame": t, "keypoints": np.ravel(r).tolist()} for t, r in enumerate(rows)]
    c = credibility_from_file(write_json(tmp_path / "c.json", flat), "coco17")
    easy = {"keypoints": [{"0": r} for r in rows]}
    d = credibility_from_file(write_json(tmp_path / "d.json", easy), "coco17")
    for cred in (a, b, c, d):
        np.testing.assert_array_equal(cred.frame_mask, a.frame_mask)
    assert not a.frame_mask[5:13, LLEG].any() and a.frame_mask[13:, LLEG].all()


def test_wholebody_133_uses_first_17(tmp_path):
    s = np.full((8, 133), 0.9)
    s[:, 17:] = 0.0  # face/hand scores do not matter
    data = [{"instances": [{"keypoints": coco_xy(n=133).tolist(), "keypoint_scores": row.tolist()}]}
            for row in s]
    assert credibility_from_file(write_json(tmp_path / "wb.json", data), "coco17").frame_mask.all()


def openpose_frame(scores25, centre=(300.0, 200.0), person_id=-1):
    xy = coco_xy(centre, 80.0, n=25)
    kp = np.concatenate([xy, np.asarray(scores25)[:, None]], axis=1).ravel().tolist()
    return {"person_id": [person_id], "pose_keypoints_2d": kp, "face_keypoints_2d": []}


def test_openpose_folder_sorted_by_frame_number(tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(12):
        s = np.full(25, 0.8)
        if t >= 9:  # frames 9, 10, 11: left arm (5, 6, 7) gone; '10' sorts before '9' as text
            s[[5, 6, 7]] = 0.0
        people = [] if t == 4 else [openpose_frame(s)]
        write_json(folder / f"clip_{t}_keypoints.json", {"version": 1.3, "people": people})
    cred = credibility_from_file(folder, "openpose25", min_gap=0, min_island=0)
    assert cred.num_frames == 12
    np.testing.assert_array_equal(cred.frame_mask[:, LARM], [1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0])
    assert cred.frame_mask[:, RARM].sum() == 11 and cred.settings["layout"] == "body25"
    assert detect_format(folder) == "openpose25"


def mediapipe_frame(vis33, centre=(0.5, 0.5)):
    xy = coco_xy(centre, 0.3, n=33)
    return [{"x": float(x), "y": float(y), "z": 0.0, "visibility": float(v)} for (x, y), v in zip(xy, vis33)]


def test_mediapipe_npy_and_json(tmp_path):
    T = 16
    vis = np.full((T, 33), 0.95)
    vis[4:12, [24, 26, 28, 30, 32]] = 0.2  # right hip, knee, ankle, heel, foot index
    arr = np.zeros((T, 33, 4), np.float32)
    arr[..., :2] = coco_xy((0.5, 0.5), 0.3, n=33)
    arr[..., 3] = vis
    arr_missing = arr.copy()
    arr_missing[15] = np.nan  # a frame with nobody
    np.save(tmp_path / "mp.npy", arr_missing)
    write_json(tmp_path / "mp.json", [mediapipe_frame(v) for v in vis])
    a = credibility_from_file(tmp_path / "mp.npy", "mediapipe33", min_island=0)
    b = credibility_from_file(tmp_path / "mp.json", "mediapipe33", min_island=0)
    for cred in (a, b):
        assert not cred.frame_mask[4:12, RLEG].any() and cred.frame_mask[:4, RLEG].all()
        assert cred.frame_mask[:, LLEG][:15].all()
    assert not a.frame_mask[15].any() and b.frame_mask[15].all()
    assert detect_format(tmp_path / "mp.npy") == "mediapipe33"
    assert detect_format(tmp_path / "mp.json") == "mediapipe33"


@pytest.mark.parametrize("layout,J", [("coco17", 17), ("body25", 25), ("mediapipe33", 33), ("smpl22", 22)])
def test_array_formats_and_layouts(tmp_path, layout, J):
    conf = np.full((12, J), 0.9, np.float32)
    legs = [j for k in (LLEG, RLEG) for g in LAYOUTS[layout].groups[PART_NAMES[k]] for j in g]
    conf[3:9, legs] = 0.0
    np.save(tmp_path / "c.npy", conf)
    np.savetxt(tmp_path / "c.csv", conf, delimiter=",", header=",".join(LAYOUTS[layout].joints), comments="")
    write_json(tmp_path / "c.json", {"layout": layout, "fps": 24, "confidence": conf.tolist()})
    masks = []
    for name in ("c.npy", "c.csv", "c.json"):
        cred = credibility_from_file(tmp_path / name, "array", layout=layout if name != "c.npy" else None)
        assert cred.settings["layout"] == layout
        masks.append(cred.frame_mask)
    assert (masks[0] == masks[1]).all() and (masks[0] == masks[2]).all()
    assert not masks[0][3:9, LLEG].any() and masks[0][:3, LLEG].all() and masks[0][:, TORSO].all()


# ---------------------------------------------------------------------------------------------
# Several people per frame.


def test_multi_person_by_track_id(tmp_path):
    main = np.full(17, 0.9)
    other = np.full(17, 0.9)
    other[COCO_LEFT_ARM] = 0.0
    data = []
    for t in range(20):
        people = [coco_inst(other, (400, 100), 200.0, track_id=7)] if t < 10 else []  # big, brief
        people.append(coco_inst(main, (100, 100), 50.0, track_id=3))
        data.append({"frame_id": t, "instances": people})
    path = write_json(tmp_path / "tracked.json", data)
    cred = credibility_from_file(path, "coco17")
    assert cred.person == {"max_people": 2, "selection": "track_id", "track_id": "3",
                           "frames_without_person": 0}
    assert cred.frame_mask.all()
    forced = credibility_from_file(path, "coco17", track_id="7")
    assert not forced.frame_mask[:10, LARM].any() and not forced.frame_mask[10:].any()
    with pytest.raises(MotionFileError, match="track id 9"):
        credibility_from_file(path, "coco17", track_id="9")


def test_multi_person_largest_then_nearest(tmp_path):
    main = np.full(17, 0.9)
    bystander = np.full(17, 0.9)
    bystander[COCO_LEGS] = 0.05
    data = []
    for t in range(30):
        x = 100 + 3 * t  # the main person walks right; the bystander stands still
        people = [coco_inst(bystander, (600, 100), 40.0)]
        if not 20 <= t < 25:  # main person leaves the frame for 5 frames
            people.append(coco_inst(main, (x, 100), 120.0 if t == 0 else 60.0))
        if t % 2:
            people.reverse()  # list order must not matter
        data.append({"instances": people})
    cred = credibility_from_file(write_json(tmp_path / "two.json", data), "coco17", min_gap=0)
    assert cred.person["selection"] == "largest_then_nearest" and cred.person["max_people"] == 2
    assert cred.person["frames_without_person"] == 5  # the far bystander is never taken
    assert cred.frame_mask[:20, LLEG].all() and cred.frame_mask[25:, LLEG].all()
    assert not cred.frame_mask[20:25].any()


def test_select_person_single_and_empty():
    from ropar_core.keypoints import Detection, KeypointSequence

    seq = KeypointSequence([[Detection(np.full(17, 0.7))], []], LAYOUTS["coco17"])
    conf, info = select_person(seq)
    assert conf.shape == (2, 17) and conf[0, 0] == pytest.approx(0.7) and conf[1].max() == 0
    assert info["frames_without_person"] == 1


# ---------------------------------------------------------------------------------------------
# Bad input: one clear MotionFileError naming the file and the problem.


def bad_cases(tmp_path):
    ok = np.full(17, 0.9)
    cases = {
        "empty.json": ("", "coco17", "empty file"),
        "trunc.json": (json.dumps([{"instances": [coco_inst(ok)]}])[:-20], "coco17", "invalid JSON"),
        "sixteen.json": (json.dumps([{"keypoints": coco_xy(n=16).tolist(), "keypoint_scores": [0.9] * 16}]),
                         "coco17", "16 keypoints"),
        "nan.json": (json.dumps([{"keypoints": coco_xy().tolist(),
                                  "keypoint_scores": [0.9] * 16 + [float("nan")]}]),
                     "coco17", "NaN"),
        "big.json": (json.dumps([coco_inst(np.full(17, 1.5))]), "coco17", r"outside \[0, 1\]"),
        "neg.json": (json.dumps([coco_inst(np.full(17, -0.3))]), "coco17", r"outside \[0, 1\]"),
        "noscore.json": (json.dumps([{"keypoints": coco_xy().tolist()}]), "coco17", "no confidence"),
        "nolist.json": (json.dumps(3), "coco17", "list of frames"),
        "mp32.json": (json.dumps([mediapipe_frame(np.full(32, 0.9))[:32]]), "mediapipe33", "32 landmarks"),
        "mpvis.json": (json.dumps([[{"x": 0, "y": 0}] * 33]), "mediapipe33", "visibility"),
        "arr.csv": ("0.5,0.5,0.5\n0.5,0.5\n", "array", "different numbers of columns"),
        "arrtext.csv": ("0.5,abc\n0.5,0.5\n", "array", "non-numeric"),
        "arrj.json": (json.dumps([[0.5] * 19]), "array", "no joint layout has 19"),
    }
    for name, (text, _, _) in cases.items():
        (tmp_path / name).write_text(text)
    return cases


def test_bad_inputs(tmp_path):
    for name, (_, fmt, msg) in bad_cases(tmp_path).items():
        with pytest.raises(MotionFileError, match=msg) as err:
            credibility_from_file(tmp_path / name, fmt)
        text = str(err.value)
        assert "\n" not in text and (name in text or fmt == "array" and "layout" in text), text


def test_bad_inputs_binary_and_layout(tmp_path):
    np.save(tmp_path / "nanrow.npy", np.array([[0.5] * 17, [0.5] * 16 + [np.nan]]))
    with pytest.raises(MotionFileError, match="nanrow.npy frame 1: NaN"):
        credibility_from_file(tmp_path / "nanrow.npy", "array")
    np.save(tmp_path / "c17.npy", np.full((4, 17), 0.5))
    with pytest.raises(MotionFileError, match="17 columns but layout body25 has 25"):
        credibility_from_file(tmp_path / "c17.npy", "array", layout="body25")
    with pytest.raises(MotionFileError, match="unknown joint layout"):
        credibility_from_file(tmp_path / "c17.npy", "array", layout="h36m")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(MotionFileError, match="broken.npy: not a readable"):
        credibility_from_file(tmp_path / "broken.npy", "array")
    np.save(tmp_path / "mp.npy", np.zeros((3, 33, 3)))
    with pytest.raises(MotionFileError, match=r"\(frames, 33, 4\)"):
        credibility_from_file(tmp_path / "mp.npy", "mediapipe33")
    with pytest.raises(MotionFileError, match="no such file"):
        credibility_from_file(tmp_path / "missing.json", "coco17")
    with pytest.raises(MotionFileError, match="unknown keypoint format"):
        credibility_from_file(tmp_path / "c17.npy", "h36m")


def test_bad_openpose(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MotionFileError, match="no \\*_keypoints.json"):
        credibility_from_file(tmp_path / "empty", "openpose25")
    d = tmp_path / "coco18"
    d.mkdir()
    write_json(d / "x_000000000000_keypoints.json", {"people": [{"pose_keypoints_2d": [0.5] * 54}]})
    with pytest.raises(MotionFileError, match="54 values; BODY_25 needs 75 .*COCO-18"):
        credibility_from_file(d, "openpose25")
    write_json(tmp_path / "notop.json", {"frames": []})
    with pytest.raises(MotionFileError, match="no 'people' list"):
        credibility_from_file(tmp_path / "notop.json", "openpose25")


def test_scores_slightly_above_one_are_clipped(tmp_path):
    s = np.full((6, 17), 1.04)  # ViTPose heatmap peaks overshoot 1 a little
    cred = credibility_from_file(write_json(tmp_path / "v.json", [coco_inst(r) for r in s]), "coco17")
    assert cred.frame_mask.all() and cred.part_confidence.max() <= 1.0


# ---------------------------------------------------------------------------------------------
# The command line, end to end.


@pytest.fixture
def only_credibility_cli(monkeypatch):
    """Run `ropar_core.cli.main` with just this sub-command (others may not import here)."""
    monkeypatch.setattr(cli, "COMMANDS", ("credibility",))
    return cli.main


def test_cli_end_to_end(tmp_path, capsys, only_credibility_cli):
    path = write_json(tmp_path / "vit.json", [{"predictions": [[coco_inst(r)]]} for r in legs_low_scores()])
    out = tmp_path / "out" / "mask.json"
    rc = only_credibility_cli(["credibility", str(path), "--format", "coco17", "--fps", "30",
                               "--token-rule", "majority", "--out", str(out)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "left_leg" in stdout and "47.5%" in stdout and "credible-token ratio" in stdout
    d = json.loads(out.read_text())
    assert d["fps"] == 30.0 and d["settings"]["token_rule"] == "majority"
    assert not any(row[LLEG] for row in d["frame_mask"][10:31])
    assert list(tmp_path.joinpath("out").iterdir()) == [out]  # no temporary files left behind


def test_cli_errors(tmp_path, capsys, only_credibility_cli):
    (tmp_path / "bad.json").write_text("[{\"keypoints\": [[1, 2, 0.5]")
    out = tmp_path / "mask.json"
    rc = only_credibility_cli(["credibility", str(tmp_path / "bad.json"), "--format", "coco17",
                               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.json" in err and "truncated" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    np.save(tmp_path / "c.npy", np.full((8, 17), 0.9))
    rc = only_credibility_cli(["credibility", str(tmp_path / "c.npy"), "--format", "array", "--tau", "1.5",
                               "--out", str(out)])
    assert rc == 2 and "--tau" in capsys.readouterr().err


def test_token_mask_matches_a_frame_by_frame_reference():
    rng = np.random.default_rng(3)
    for T in (1, 4, 7, 33):
        fm = rng.random((T, 5)) > 0.3
        for rule in ("all", "majority"):
            ref = []
            for k in range(0, T, 4):
                block = fm[k:k + 4]
                ref.append(block.all(0) if rule == "all" else block.sum(0) * 2 > len(block))
            np.testing.assert_array_equal(token_mask_from_frame_mask(fm, rule), np.array(ref))
    short = credibility_from_confidences(np.full((2, 17), 0.9), "coco17")
    assert short.token_mask.shape == (1, 5) and short.frame_mask.all()
