"""`python -m training.build_cache` on generated fixtures for every source (BVH folder, HumanML3D, AMASS,
WHAM + keypoints, one file or a folder of videos), bad input, atomic replacement, and WHAM-style noisy
data -> cache -> tiny P-VAE + RoPAR -> a model directory the Generator loads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ropar_core.bvh import write_bvh
from ropar_core.skeleton import JOINT_NAMES
from tests.helpers.importer_data import (
    amass_sequence,
    coco_keypoints,
    make_smpl_model,
    save_amass,
    walking_joints,
)
from training.data.build_cache import main
from training.data.cache import Cache
from training.data.importers import assign_split, bandai, features_from_joints
from training.data.importers.wham import import_wham
from training.data.plans import BuildSpec, import_clips

LEGS = [3, 4]  # left_leg, right_leg in PART_NAMES


def build(capsys, *argv) -> tuple[int, str, str]:
    rc = main([*map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def ok(capsys, *argv) -> str:
    rc, out, err = build(capsys, *argv)
    assert rc == 0, err
    return out


# ---------------------------------------------------------------------------------------------
# Fixtures.


@pytest.fixture
def bvh_data(tmp_path):
    root = tmp_path / "bvh"
    J = walking_joints(T=60)
    for subject, unit in (("alice", "m"), ("bob", "cm"), ("carol", "m")):
        (root / subject).mkdir(parents=True)
        write_bvh(root / subject / "walk_01.bvh", J, None, 30.0, unit=unit)
    write_bvh(root / "alice" / "walk_02.bvh", J[:45], None, 30.0)
    caps = tmp_path / "caps.csv"
    caps.write_text("file,caption\nalice/walk_01.bvh,a person walks forward\n"
                    "alice/walk_02.bvh,someone walks\nbob/walk_01.bvh,a man walks\n"
                    "carol/walk_01.bvh,a woman walks\n")
    return root, caps, J


def write_humanml3d(root: Path) -> dict[str, np.ndarray]:
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    rng = np.random.default_rng(0)
    vecs = {i: rng.normal(size=(n, 263)).astype(np.float32) for i, n in (("000001", 80), ("000002", 100),
                                                                          ("000003", 50))}
    for i, v in vecs.items():
        np.save(root / "new_joint_vecs" / f"{i}.npy", v)
    (root / "texts" / "000001.txt").write_text("a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0\n"
                                               "someone strolls#x#0.0#0.0\n")
    (root / "texts" / "000002.txt").write_text("jumps then sits#x#0.0#0.0\na person jumps#x#1.0#3.0\n")
    (root / "test.txt").write_text("000002\n")  # an official split list fixes 000002 (and only it)
    return vecs


def video_folder(root: Path, name: str, T: int = 90, low_legs=range(0), speed: float = 1.2, seed: int = 0,
                 caption: str | None = "a person walks forward") -> Path:
    """<root>/<name>/: WHAM-like joints (jittered where the legs are not visible, as a video
    reconstruction would be), COCO-17 keypoints and a caption."""
    folder = root / name
    folder.mkdir(parents=True)
    J = walking_joints(T=T, speed=speed)
    rng = np.random.default_rng(seed)
    bad = np.asarray(list(low_legs), dtype=int)
    J[bad[:, None], [1, 2, 4, 5, 7, 8, 10, 11]] += rng.normal(0, 0.05, (len(bad), 8, 3)).astype(np.float32)
    np.savez(folder / "wham.npz", joints_world=J, fps=np.array(30.0))
    coco_keypoints(folder / "keypoints.json", T, low_legs)
    if caption:
        (folder / "caption.txt").write_text(f"{caption}\nsomeone moves\n")
    return folder


# ---------------------------------------------------------------------------------------------
# One test per source.


def test_bvh_folder_to_cache(bvh_data, tmp_path, capsys):
    root, caps, J = bvh_data
    out = tmp_path / "cache"
    report = ok(capsys, "--source", "bvh", "--input", root, "--captions", caps, "--out", out)
    cache = Cache(out)
    ids = ["alice/walk_01", "alice/walk_02", "bob/walk_01", "carol/walk_01"]
    assert [c["id"] for c in cache.clips] == ids
    assert not cache.noisy and not (out / "clean_features.npy").exists()
    assert cache.meta["source"] == "bvh" and cache.meta["clips"][0]["file"] == "alice/walk_01.bvh"
    expected, _ = features_from_joints(J, 30.0)  # (39, 263)
    np.testing.assert_allclose(cache.clip_features(0), expected, atol=1e-4)
    np.testing.assert_allclose(cache.clip_features(2), expected, atol=1e-3)  # the centimetre file
    assert cache.credible.all()
    # splits follow the subject: alice's two takes share one
    splits = [c["split"] for c in cache.clips]
    assert splits == [assign_split(f"bvh_folder/{s}") for s in ("alice", "alice", "bob", "carol")]
    frames = 39 * 3 + 29
    assert f"4 clips, {frames} frames = {frames / 20 / 3600:.3f} h" in report
    assert "captions 4 (4 distinct)" in report and "credible tokens 1.000" in report

    ok(capsys, "--source", "bvh", "--input", root, "--captions", caps, "--out", out, "--limit", "2",
       "--splits", "1,0,0")
    cache = Cache(out)  # the earlier cache was replaced
    assert len(cache) == 2 and {c["split"] for c in cache.clips} == {"train"}


def test_real_bandai_bvh_files_match_the_bandai_importer(tmp_path, capsys):
    """Four real Bandai takes through the generic BVH path (skeleton detected) = the dedicated importer."""
    src = Path(__file__).parent / "data" / "bandai"
    paths = sorted(src.glob("*.bvh"))
    assert len(paths) == 4
    (tmp_path / "mocap").mkdir()
    for p in paths:
        shutil.copy(p, tmp_path / "mocap" / p.name)
    (tmp_path / "caps.csv").write_text("".join(f"{p.name},a person moves\n" for p in paths))
    out = tmp_path / "cache"
    ok(capsys, "--source", "bvh", "--input", tmp_path / "mocap", "--captions", tmp_path / "caps.csv",
       "--out", out)
    cache = Cache(out)
    assert [c["id"] for c in cache.clips] == [p.stem for p in paths]
    for i, p in enumerate(paths):
        np.testing.assert_allclose(cache.clip_features(i), bandai.bvh_to_features(p), atol=1e-4)


def test_bvh_bone_map_and_uncaptioned(tmp_path, capsys):
    root = tmp_path / "custom"
    root.mkdir()
    J = walking_joints(T=40)
    write_bvh(root / "take.bvh", J, None, 30.0)
    write_bvh(root / "extra.bvh", J, None, 30.0)
    text = (root / "take.bvh").read_text()
    names = {n: f"Bone{i:02d}" for i, n in enumerate(JOINT_NAMES)}
    for n in sorted(names, key=len, reverse=True):
        for head in ("JOINT", "ROOT"):
            text = text.replace(f"{head} {n}\n", f"{head} {names[n]}\n")
    (root / "take.bvh").write_text(text)
    (tmp_path / "map.json").write_text(json.dumps(names))
    (tmp_path / "caps.json").write_text(json.dumps({"take": "a walk"}))
    args = ["--source", "bvh", "--input", root, "--captions", tmp_path / "caps.json", "--out", tmp_path / "c"]
    rc, _, err = build(capsys, *args, "--bone-map", tmp_path / "map.json")
    assert rc == 2 and "1 inputs have no caption (e.g. extra.bvh)" in err
    report = ok(capsys, *args, "--bone-map", tmp_path / "map.json", "--allow-uncaptioned")
    assert "1 BVH files without a caption skipped" in report
    np.testing.assert_allclose(Cache(tmp_path / "c").clip_features(0), features_from_joints(J, 30.0)[0],
                               atol=1e-4)
    rc, _, err = build(capsys, *args, "--allow-uncaptioned")  # without the map the skeleton is unknown
    assert rc == 2 and "unknown skeleton" in err


def test_humanml3d_to_cache(tmp_path, capsys):
    vecs = write_humanml3d(tmp_path / "HumanML3D")
    out = tmp_path / "h3d"
    report = ok(capsys, "--source", "humanml3d", "--input", tmp_path / "HumanML3D", "--out", out,
                "--splits", "1,0,0")
    cache = Cache(out)
    ids = [c["id"] for c in cache.clips]
    assert ids == ["000001", "000002", "000002#1-3"]  # 000003 has no text file
    np.testing.assert_array_equal(cache.clip_features(0), vecs["000001"])
    np.testing.assert_array_equal(cache.clip_features(2), vecs["000002"][20:60])
    assert cache.clips[0]["texts"] == ["a person walks.", "someone strolls"]
    # the official list keeps 000002 in test; the rest follow --splits
    assert [c["split"] for c in cache.clips] == ["train", "test", "test"]
    assert "1 motions without texts/<id>.txt skipped" in report and "splits from the official" in report


def test_amass_to_cache(tmp_path, capsys):
    models = tmp_path / "body_models"
    make_smpl_model(models / "smplh" / "neutral" / "model.npz")
    root = tmp_path / "AMASS"
    poses, trans, betas = amass_sequence()
    save_amass(root / "CMU" / "01" / "01_01_poses.npz", poses, trans, betas)
    save_amass(root / "CMU" / "02" / "02_01_poses.npz", poses[:90], trans[:90], betas, gender="male")
    out = tmp_path / "amass"
    report = ok(capsys, "--source", "amass", "--input", root, "--smpl-models", models, "--out", out)
    cache = Cache(out)
    expected = import_clips(BuildSpec("amass", root, smpl_models=models, quiet=True))  # what it imported
    assert [c["id"] for c in cache.clips] == [c.id for c in expected]
    for i, clip in enumerate(expected):
        np.testing.assert_array_equal(cache.clip_features(i), clip.features)
    assert cache.clips[0]["texts"] == [] and "P-VAE training only" in report
    (tmp_path / "caps.csv").write_text("CMU/02/02_01_poses.npz,a person walks\n")
    ok(capsys, "--source", "amass", "--input", root, "--smpl-models", models, "--captions",
       tmp_path / "caps.csv", "--out", out)
    cache = Cache(out)
    assert [(c["id"], c["texts"]) for c in cache.clips] == [("CMU/02/02_01_poses", ["a person walks"])]
    rc, _, err = build(capsys, "--source", "amass", "--input", root, "--out", out)
    assert rc == 2 and "needs --smpl-models" in err


def test_wham_one_file_to_noisy_cache(tmp_path, capsys):
    video_folder(tmp_path, "v", low_legs=range(30, 50))
    out = tmp_path / "one"
    report = ok(capsys, "--source", "wham", "--input", tmp_path / "v" / "wham.npz", "--keypoints",
                tmp_path / "v" / "keypoints.json", "--keypoint-format", "coco17", "--text", "a person walks",
                "--text", "someone walks", "--out", out)
    cache = Cache(out)
    clip = import_wham(tmp_path / "v" / "wham.npz", tmp_path / "v" / "keypoints.json", fps=None)
    assert cache.noisy and cache.meta["clean_features"].startswith("copy of features.npy")
    np.testing.assert_array_equal(cache.clip_credible(0), clip.frame_mask)
    np.testing.assert_array_equal(cache.clip_features(0), clip.features)
    np.testing.assert_array_equal(cache.clip_clean_features(0), clip.features)
    assert not cache.credible[:, LEGS].all() and cache.credible[:, :3].all()
    assert cache.clips[0]["texts"] == ["a person walks", "someone walks"]
    assert 0.0 < cache.clips[0]["credible_frame_ratio"] < 1.0
    legs = cache.credible_token_ratio()
    assert "noisy" in report and f"credible tokens {legs:.3f}" in report and "torso 1.000" in report


def test_wham_folder_layouts(tmp_path, capsys):
    videos = tmp_path / "videos"
    video_folder(videos, "a_keypoints", low_legs=range(10, 40))
    b = video_folder(videos, "b_mask", caption=None)  # credibility.json, caption from --captions
    from ropar_core.credibility import credibility_from_file

    credibility_from_file(b / "keypoints.json", "coco17", fps=30).save(b / "credibility.json")
    (b / "keypoints.json").unlink()
    c = videos / "c_smpl"  # WHAM's usual output: SMPL parameters, joints need the user's model
    c.mkdir()
    make_smpl_model(tmp_path / "models" / "smpl" / "SMPL_NEUTRAL.npz")
    poses, trans, _ = amass_sequence(T=60, fps=30.0, width=72)
    np.savez(c / "wham_export.npz", pose_world=poses, trans_world=trans, betas=np.zeros((60, 10)))
    np.save(c / "keypoints.npy", np.full((60, 17), 0.8))
    (c / "caption.txt").write_text("a person bends the knees\n")
    (tmp_path / "caps.json").write_text(json.dumps({"b_mask": ["a person walks"]}))
    out = tmp_path / "cache"
    report = ok(capsys, "--source", "wham", "--input", videos, "--captions", tmp_path / "caps.json",
                "--smpl-models", tmp_path / "models", "--out", out)
    cache = Cache(out)
    assert [c["id"] for c in cache.clips] == ["a_keypoints", "b_mask", "c_smpl"]
    assert [c["subject"] for c in cache.clips] == ["a_keypoints", "b_mask", "c_smpl"]
    assert cache.clips[1]["texts"] == ["a person walks"] and cache.clips[1]["keypoints"] == "credibility.json"
    assert cache.clips[0]["texts"] == ["a person walks forward", "someone moves"]
    assert cache.noisy and cache.clip_credible(1).all() and cache.clip_credible(2).all()
    assert not cache.clip_credible(0)[:, LEGS].all()
    assert [c["split"] for c in cache.clips] == [assign_split(f"wham/{c['id']}") for c in cache.clips]
    assert "3 clips" in report and "pass --batch-size" in report  # three videos: fewer than one batch

    # every frame credible -> a clean cache, no clean_features.npy
    ok(capsys, "--source", "wham", "--input", videos, "--captions", tmp_path / "caps.json",
       "--smpl-models", tmp_path / "models", "--out", out, "--limit", "1", "--tau", "0.05")
    cache = Cache(out)
    assert len(cache) == 1 and not cache.noisy and not (out / "clean_features.npy").exists()


# ---------------------------------------------------------------------------------------------
# Bad input and atomicity.


def test_bad_input_one_line_errors(bvh_data, tmp_path, capsys):
    root, caps, _ = bvh_data
    out = tmp_path / "out"
    one = video_folder(tmp_path / "v", "one")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    cases = [
        (["--source", "bvh", "--input", tmp_path / "missing", "--captions", caps], "missing: no such file"),
        (["--source", "bvh", "--input", root], "needs --captions"),
        (["--source", "bvh", "--input", root, "--captions", tmp_path / "nope.csv"], "caption file not found"),
        (["--source", "humanml3d", "--input", root], "not a HumanML3D folder"),
        (["--source", "humanml3d", "--input", root, "--bone-map", "cmu"], "--bone-map does not apply"),
        (["--source", "wham", "--input", one / "wham.npz", "--text", "x"], "needs --keypoints"),
        (["--source", "wham", "--input", one / "wham.npz", "--keypoints", one / "keypoints.json"],
         "no caption; pass --text"),
        (["--source", "wham", "--input", tmp_path / "v", "--keypoints", one / "keypoints.json"],
         "--keypoints and --text go with one WHAM file"),
        (["--source", "wham", "--input", root], "have no caption"),
        (["--source", "bvh", "--input", root, "--captions", caps, "--tau", "1.5"], "--tau must be in"),
        (["--source", "bvh", "--input", root, "--captions", caps, "--limit", "0"], "--limit must be"),
        (["--source", "bvh", "--input", root, "--captions", caps, "--splits", "0.8,0.2"], "--splits: "),
        (["--source", "bvh", "--input", root, "--captions", caps, "--splits", "0,0,0"], "--splits: "),
    ]
    for argv, message in cases:
        rc, _, err = build(capsys, *argv, "--out", out)
        assert rc == 2, argv
        assert err.startswith("build_cache: error: ") and message in err and err.count("\n") == 1, err
    for target, message in ((tmp_path / "file.txt", "not a folder"), (tmp_path / "stuff", "holds no cache")):
        rc, _, err = build(capsys, "--source", "bvh", "--input", root, "--captions", caps, "--out", target)
        assert rc == 2 and message in err
    assert (tmp_path / "stuff" / "notes.txt").read_text() == "mine"
    assert not out.exists()


def test_wham_bad_video_folders(tmp_path, capsys):
    videos = tmp_path / "videos"
    video_folder(videos, "good")
    bad = video_folder(videos, "short_keypoints")
    coco_keypoints(bad / "keypoints.json", 50, range(0))  # 90 motion frames, 50 keypoint frames
    pk = videos / "pickled"
    pk.mkdir()
    (pk / "wham_output.pkl").write_bytes(b"\x80\x04not loaded")
    (pk / "caption.txt").write_text("a walk\n")
    args = ["--source", "wham", "--input", videos, "--out", tmp_path / "c"]
    rc, _, err = build(capsys, *args)
    assert rc == 2 and "pickled/wham_output.pkl is a pickle and can run code" in err
    pk.joinpath("wham_output.pkl").unlink()
    rc, _, err = build(capsys, *args)
    assert rc == 2 and "pickled: no WHAM output" in err
    np.save(videos / "good" / "keypoints.npy", np.full((90, 17), 0.9))
    rc, _, err = build(capsys, *args)
    assert rc == 2 and "good: several keypoint files (keypoints.json, keypoints.npy)" in err
    rc, _, err = build(capsys, *args, "--skip-bad")
    assert rc == 2 and "no clips were imported: all 3 inputs were unreadable, e.g. good: several" in err
    (videos / "good" / "keypoints.json").unlink()
    rc, _, err = build(capsys, *args, "--skip-bad")
    assert rc == 0, err
    assert [c["id"] for c in Cache(tmp_path / "c").clips] == ["good"]
    rc, out, _ = build(capsys, *args, "--skip-bad")
    assert "skipped  2 unreadable inputs:" in out and "pickled: no WHAM output" in out
    assert "short_keypoints: keypoints.json: 90 motion frames but 50 keypoint frames" in out


def test_failed_rebuild_keeps_the_old_cache(bvh_data, tmp_path, capsys):
    root, caps, _ = bvh_data
    out = tmp_path / "cache"
    ok(capsys, "--source", "bvh", "--input", root, "--captions", caps, "--out", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (root / "bob" / "walk_01.bvh").write_text((root / "bob" / "walk_01.bvh").read_text()[:900])  # truncated
    rc, _, err = build(capsys, "--source", "bvh", "--input", root, "--captions", caps, "--out", out)
    assert rc == 2 and "walk_01.bvh" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["bvh", "cache", "caps.csv"]  # no staging folder left behind


# ---------------------------------------------------------------------------------------------
# Own videos all the way to a model.


def test_wham_videos_to_a_generator(tmp_path, capsys):
    videos = tmp_path / "videos"
    moves = ["a person walks forward", "a person walks slowly", "someone strolls ahead", "a person jogs"]
    for i in range(8):
        video_folder(videos, f"video{i}", T=96, low_legs=range(10 * (i % 3), 10 * (i % 3) + 30),
                     speed=0.8 + 0.2 * (i % 4), seed=i, caption=moves[i % 4])
    cache = tmp_path / "cache"
    ok(capsys, "--source", "wham", "--input", videos, "--out", cache, "--splits", "0.6,0.4,0")
    splits = [c["split"] for c in Cache(cache).clips]
    assert "train" in splits and "val" in splits, splits  # fixed names: a deterministic split
    assert Cache(cache).noisy

    from training.train.train_pvae import main as train_pvae
    from training.train.train_ropar import main as train_ropar

    common = ["--preset", "tiny", "--steps", "3", "--batch-size", "4", "--threads", "1", "--device", "cpu",
              "--eval-every", "0", "--log-every", "1", "--crop-frames", "32"]
    assert train_pvae(["--data", str(cache), "--out", str(tmp_path / "pvae"), *common]) == 0
    assert train_ropar(["--data", str(cache), "--pvae", str(tmp_path / "pvae"), "--out",
                        str(tmp_path / "model"), *common]) == 0

    from ropar_core.generator import Generator

    g = Generator.from_pretrained(tmp_path / "model", device="cpu")
    [m] = g.generate("a person walks forward", frames=32, seed=0)
    assert m.joints.shape == (32, 22, 3) and np.isfinite(m.joints).all()
