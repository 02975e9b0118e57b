"""Importers (BVH folder, HumanML3D, AMASS, WHAM) on generated fixtures, and the shared Clip helpers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.bvh import write_bvh
from ropar_core.errors import ModelError, MotionFileError, RoparError
from tests.helpers.importer_data import (
    amass_sequence,
    coco_keypoints,
    make_smpl_model,
    numpy_smpl_joints,
    save_amass,
    walking_joints,
)
from training.data.importers import Clip, assign_split, captions_for, features_from_joints, read_captions
from training.data.importers.amass import ModelCache, load_amass_clip, read_amass_npz
from training.data.importers.bvh_folder import load_bone_map
from training.data.importers.humanml3d import parse_text_file
from training.data.importers.smpl_model import body_joints, load_body_model
from training.data.importers.wham import import_wham
from training.data.plans import BuildSpec, import_clips

LEGS = [3, 4]  # left_leg, right_leg in PART_NAMES


def imported(source: str, path, **spec) -> list[Clip]:
    """A folder (or file) through the one import path build_cache uses."""
    return import_clips(BuildSpec(source, path, quiet=True, **spec))
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "humanml3d-sample"




# ---------------------------------------------------------------------------------------------
# Clip, splits, captions.


def test_assign_split_is_deterministic_and_follows_ratios():
    keys = [f"subject{i}" for i in range(3000)]
    splits = [assign_split(k) for k in keys]
    assert splits == [assign_split(k) for k in keys]
    counts = Counter(splits)
    assert abs(counts["train"] / 3000 - 0.8) < 0.03 and abs(counts["test"] / 3000 - 0.1) < 0.02
    assert [assign_split(k, seed=1) for k in keys] != splits
    assert {assign_split(k, (1, 0, 0)) for k in keys[:200]} == {"train"}
    assert {assign_split(k, (0, 0, 1)) for k in keys[:200]} == {"test"}
    with pytest.raises(ValueError):
        assign_split("x", (0.5, -0.1, 0.6))


def test_clip_defaults_and_checks():
    c = Clip("a", np.zeros((7, 263)), ["x"], subject="s1")
    assert c.frame_mask.shape == (7, 5) and c.frame_mask.all() and c.split_key == "s1" and c.length == 7
    assert c.features.dtype == np.float32
    with pytest.raises(ValueError, match="263"):
        Clip("b", np.zeros((7, 262)), ["x"])
    with pytest.raises(ValueError, match="frame_mask"):
        Clip("b", np.zeros((7, 263)), ["x"], frame_mask=np.ones((6, 5), bool))


def test_read_captions_csv_and_json(tmp_path):
    (tmp_path / "c.csv").write_text('file,caption\nwalk.bvh,a person walks\n'
                                    'walk.bvh,"someone strolls, slowly"\nsub/run.bvh,a person runs, fast\n')
    caps = read_captions(tmp_path / "c.csv")
    assert caps["walk.bvh"] == ["a person walks", "someone strolls, slowly"]
    assert caps["sub/run.bvh"] == ["a person runs, fast"]  # an unquoted comma stays in the caption
    assert captions_for(caps, "walk.bvh") and captions_for(caps, Path("sub/run.bvh"))
    assert captions_for(caps, "other.bvh") == []
    (tmp_path / "c.json").write_text(json.dumps({"walk": "a person walks", "run.bvh": ["runs", "jogs"]}))
    caps = read_captions(tmp_path / "c.json")
    assert captions_for(caps, "walk.bvh") == ["a person walks"]
    assert captions_for(caps, "run.bvh") == ["runs", "jogs"]
    (tmp_path / "bad.json").write_text('{"walk": ')
    with pytest.raises(RoparError, match="bad.json: invalid JSON"):
        read_captions(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text('{"walk": 3}')
    with pytest.raises(RoparError, match="string or a list"):
        read_captions(tmp_path / "bad2.json")
    (tmp_path / "bad.csv").write_text("walk.bvh\n")
    with pytest.raises(RoparError, match="bad.csv:1"):
        read_captions(tmp_path / "bad.csv")
    with pytest.raises(RoparError, match="not found"):
        read_captions(tmp_path / "none.csv")


# ---------------------------------------------------------------------------------------------
# BVH folder.


@pytest.fixture
def bvh_folder(tmp_path):
    root = tmp_path / "bvh"
    (root / "alice").mkdir(parents=True)
    (root / "bob").mkdir()
    J = walking_joints()
    write_bvh(root / "alice" / "walk_01.bvh", J, None, 30.0)
    write_bvh(root / "alice" / "walk_02.bvh", J[:45], None, 30.0)
    write_bvh(root / "bob" / "walk_01.bvh", J, None, 30.0, unit="cm")
    (tmp_path / "caps.csv").write_text("file,caption\nalice/walk_01.bvh,a person walks forward\n"
                                       "alice/walk_02.bvh,someone walks\nbob/walk_01.bvh,a man walks\n")
    return root, tmp_path / "caps.csv", J


def test_bvh_folder_import(bvh_folder):
    root, caps, J = bvh_folder
    clips = imported("bvh", root, captions=caps)
    assert [c.id for c in clips] == ["alice/walk_01", "alice/walk_02", "bob/walk_01"]
    assert [c.subject for c in clips] == ["alice", "alice", "bob"]
    assert clips[0].split_key == clips[1].split_key != clips[2].split_key
    assert [c.meta["split"] for c in clips] == [assign_split(c.split_key) for c in clips]
    expected, _ = features_from_joints(J, 30.0)  # 60 frames at 30 fps -> 40 at 20 fps -> 39 features
    assert clips[0].features.shape == (39, 263) and clips[1].features.shape == (29, 263)
    np.testing.assert_allclose(clips[0].features, expected, atol=1e-4)
    np.testing.assert_allclose(clips[2].features, expected, atol=1e-3)  # centimetre file: same motion
    assert clips[2].meta["normalise"]["unit"] == "m"  # io already converted cm
    assert clips[0].texts == ["a person walks forward"] and clips[0].frame_mask.all()
    decoded = F.features_to_joints(clips[0].features)  # back to joints: the walk itself
    assert np.abs(decoded[-1, 0, 2] - decoded[0, 0, 2]) == pytest.approx(1.2 * 38 / 20, abs=0.02)
    assert len(imported("bvh", root, captions=caps, limit=1)) == 1


def test_bvh_folder_with_bone_map(tmp_path):
    root = tmp_path / "custom"
    root.mkdir()
    J = walking_joints(T=40)
    write_bvh(root / "take.bvh", J, None, 30.0)
    names = {n: f"Bone{i:02d}" for i, n in enumerate(sk.JOINT_NAMES)}
    text = (root / "take.bvh").read_text()
    for n in sorted(sk.JOINT_NAMES, key=len, reverse=True):
        for head in ("JOINT", "ROOT"):
            text = text.replace(f"{head} {n}\n", f"{head} {names[n]}\n")
    (root / "take.bvh").write_text(text)
    with pytest.raises(MotionFileError, match="unknown skeleton"):
        imported("bvh", root, captions={"take": ["a walk"]})
    (tmp_path / "map.json").write_text(json.dumps(names))
    clips = imported("bvh", root, captions={"take": ["a walk"]}, bone_map=tmp_path / "map.json")
    np.testing.assert_allclose(clips[0].features, features_from_joints(J, 30.0)[0], atol=1e-4)
    (tmp_path / "bad_map.json").write_text(json.dumps({k: v for k, v in names.items() if k != "head"}))
    with pytest.raises(RoparError, match="missing \\['head'\\]"):
        load_bone_map(tmp_path / "bad_map.json")
    (tmp_path / "bad_map2.json").write_text(json.dumps({**names, "head": ["Bone12", 3]}))
    with pytest.raises(RoparError, match="head: expected"):
        load_bone_map(tmp_path / "bad_map2.json")


def test_bvh_folder_bad_input(bvh_folder, tmp_path):
    root, caps, _ = bvh_folder
    (root / "carol").mkdir()
    (root / "carol" / "x.bvh").write_text((root / "bob" / "walk_01.bvh").read_text()[:900])  # truncated
    with pytest.raises(RoparError, match="1 inputs have no caption .*carol/x.bvh"):
        imported("bvh", root, captions=caps)
    assert len(imported("bvh", root, captions=caps, allow_uncaptioned=True)) == 3
    caps2 = tmp_path / "caps2.csv"
    caps2.write_text(caps.read_text() + "carol/x.bvh,broken\n")
    with pytest.raises(MotionFileError, match="x.bvh") as err:
        imported("bvh", root, captions=caps2)
    assert "\n" not in str(err.value)
    assert len(imported("bvh", root, captions=caps2, skip_bad=True)) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(RoparError, match="no .bvh files"):
        imported("bvh", tmp_path / "empty", captions=caps)
    with pytest.raises(RoparError, match="no such file or folder"):
        imported("bvh", tmp_path / "missing", captions=caps)


# ---------------------------------------------------------------------------------------------
# HumanML3D.


@pytest.fixture
def h3d_folder(tmp_path):
    root = tmp_path / "HumanML3D"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    rng = np.random.default_rng(0)
    vecs = {i: rng.normal(size=(n, 263)).astype(np.float32) for i, n in
            (("000001", 80), ("M000001", 80), ("000002", 100), ("000003", 50))}
    for i, v in vecs.items():
        np.save(root / "new_joint_vecs" / f"{i}.npy", v)
    (root / "texts" / "000001.txt").write_text("a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0\n"
                                               "someone strolls#someone/PRON stroll/VERB#0.0#0.0\n")
    (root / "texts" / "M000001.txt").write_text("a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0\n")
    (root / "texts" / "000002.txt").write_text("jumps then sits#x#0.0#0.0\n"
                                               "a person jumps#a/DET person/NOUN jump/VERB#1.0#3.0\n"
                                               "someone hops#x#1.0#3.0\nsits down#x#3.0#4.5\n")
    # 000003 has no text file: skipped
    (root / "train.txt").write_text("000001\nM000001\n000003\n")
    (root / "test.txt").write_text("000002\n")
    return root, vecs


def test_humanml3d_import(h3d_folder):
    root, vecs = h3d_folder
    clips = {c.id: c for c in imported("humanml3d", root)}
    assert sorted(clips) == ["000001", "000002", "000002#1-3", "000002#3-4.5", "M000001"]
    np.testing.assert_array_equal(clips["000001"].features, vecs["000001"])
    assert clips["000001"].texts == ["a person walks.", "someone strolls"]
    seg = clips["000002#1-3"]
    np.testing.assert_array_equal(seg.features, vecs["000002"][20:60])  # 1.0-3.0 s at 20 fps
    assert seg.texts == ["a person jumps", "someone hops"] and seg.meta["start_s"] == 1.0
    assert clips["000002#3-4.5"].features.shape == (30, 263)
    assert clips["000001"].meta["split"] == "train" and seg.meta["split"] == "test"
    assert clips["M000001"].split_key == clips["000001"].split_key  # a mirror never leaks
    assert {c.meta["motion_id"] for c in clips.values() if c.meta["split"] == "test"} == {"000002"}
    for f in ("train.txt", "test.txt"):
        (root / f).unlink()
    no_lists = {c.id: c for c in imported("humanml3d", root)}
    assert no_lists["000002#1-3"].meta["split"] == assign_split("humanml3d/000002")
    assert no_lists["M000001"].meta["split"] == no_lists["000001"].meta["split"]


def test_humanml3d_bad_input(h3d_folder, tmp_path):
    root, _ = h3d_folder
    np.save(root / "new_joint_vecs" / "000004.npy", np.zeros((10, 251), np.float32))
    (root / "texts" / "000004.txt").write_text("walks#x#0#0\n")
    with pytest.raises(MotionFileError, match=r"000004.npy: shape \(10, 251\)"):
        imported("humanml3d", root)
    assert len(imported("humanml3d", root, skip_bad=True)) == 5
    bad = np.zeros((10, 263), np.float32)
    bad[3, 7] = np.nan
    np.save(root / "new_joint_vecs" / "000004.npy", bad)
    with pytest.raises(MotionFileError, match="000004.npy: NaN"):
        imported("humanml3d", root)
    (root / "texts" / "x.txt").write_text("walks#x#zero#1.0\n")
    with pytest.raises(MotionFileError, match="x.txt:1: start/end"):
        parse_text_file(root / "texts" / "x.txt")
    (root / "texts" / "y.txt").write_text("walks#x#2.0#1.0\n")
    with pytest.raises(MotionFileError, match="y.txt:1: segment"):
        parse_text_file(root / "texts" / "y.txt")
    with pytest.raises(RoparError, match="not a HumanML3D folder"):
        imported("humanml3d", tmp_path)


def test_humanml3d_real_sample(tmp_path):
    if not (SAMPLE / "012314_vecs.npy").exists():
        pytest.skip(f"shared HumanML3D sample not found at {SAMPLE}")
    root = tmp_path / "h3d"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    vecs = np.load(SAMPLE / "012314_vecs.npy")
    np.save(root / "new_joint_vecs" / "012314.npy", vecs)
    (root / "texts" / "012314.txt").write_text("a person moves#x#0.0#0.0\n")
    (clip,) = imported("humanml3d", root)
    np.testing.assert_array_equal(clip.features, vecs.astype(np.float32))
    joints = np.load(SAMPLE / "012314_joints.npy")  # HumanML3D's new_joints: recover_from_ric of the vecs
    np.testing.assert_allclose(F.features_to_joints(clip.features), joints, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# AMASS through a synthetic SMPL model.











@pytest.fixture
def amass_tree(tmp_path):
    models = tmp_path / "body_models"
    model_file = make_smpl_model(models / "smplh" / "neutral" / "model.npz")  # AMASS's layout
    root = tmp_path / "AMASS"
    poses, trans, betas = amass_sequence()
    save_amass(root / "CMU" / "01" / "01_01_poses.npz", poses, trans, betas)
    save_amass(root / "CMU" / "02" / "02_01_poses.npz", poses[:90], trans[:90], betas, gender="male")
    np.savez(root / "CMU" / "01" / "shape.npz", betas=betas, gender=np.array("female"))
    return root, models, model_file, (poses, trans, betas)


def test_body_joints_match_smplx_forward(tmp_path):
    """Our joints-only LBS equals smplx's own SMPL forward pass (on a full-size synthetic mesh)."""
    import smplx
    import torch
    from smplx.utils import Struct

    path = make_smpl_model(tmp_path / "SMPL_NEUTRAL.npz", num_vertices=6890)
    rng = np.random.default_rng(1)
    T = 4
    poses, trans, betas = rng.normal(0, 0.4, (T, 72)), rng.normal(0, 1, (T, 3)), rng.normal(0, 1, 10)
    ours = body_joints(load_body_model(tmp_path, "smpl", "neutral"), poses, trans, betas)
    ref = smplx.SMPL(model_path=str(tmp_path), data_struct=Struct(**dict(np.load(path))), batch_size=T)
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    out = ref(betas=f(np.tile(betas, (T, 1))), global_orient=f(poses[:, :3]), body_pose=f(poses[:, 3:]),
              transl=f(trans))
    np.testing.assert_allclose(ours, out.joints[:, :22].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(ours, numpy_smpl_joints(path, poses, trans, betas), atol=1e-5)


def test_amass_import(amass_tree):
    root, models, model_file, (poses, trans, betas) = amass_tree
    clips = imported("amass", root, smpl_models=models)
    assert [c.id for c in clips] == ["CMU/01/01_01_poses", "CMU/02/02_01_poses"]  # shape.npz skipped
    assert [c.subject for c in clips] == ["CMU/01", "CMU/02"]
    c = clips[0]
    assert c.features.shape == (39, 263)  # 120 frames at 60 fps = 2 s -> 40 frames at 20 fps
    assert c.meta["gender"] == "female" and c.meta["model"] == "model.npz"  # fell back to neutral
    assert c.meta["normalise"]["up_axis"] == "+Y" and not c.meta["normalise"]["mirrored"]
    expected, _ = features_from_joints(numpy_smpl_joints(model_file, poses, trans, betas[:10]), 60.0)
    np.testing.assert_allclose(c.features, expected, atol=2e-4)
    decoded = F.features_to_joints(c.features)  # (39, 22, 3)
    assert decoded[:, 15, 1].min() > 1.3  # head up: the Z-up world became Y-up
    walked = np.linalg.norm(decoded[-1, 0, [0, 2]] - decoded[0, 0, [0, 2]])
    # HumanML3D's uniform skeleton scales the root path by the leg-length ratio, hence the tolerance
    assert walked == pytest.approx(np.hypot(0.1, 1.0) * 38 / 20, rel=0.08)
    assert c.texts == []
    captioned = imported("amass", root, smpl_models=models,
                         captions={"CMU/02/02_01_poses.npz": ["a person walks"]})
    assert [x.id for x in captioned] == ["CMU/02/02_01_poses"] and captioned[0].texts == ["a person walks"]


def test_amass_smplx_rate_key_and_explicit_model(tmp_path):
    poses, trans, betas = amass_sequence(T=45, fps=30.0, width=165)
    path = save_amass(tmp_path / "seq_stageii.npz", poses, trans, betas[:10], fps=30.0, gender="neutral",
                      rate_key="mocap_frame_rate")
    assert read_amass_npz(path)["fps"] == 30.0
    model = make_smpl_model(tmp_path / "models" / "SMPLX_NEUTRAL.npz", num_joints=55)
    (clip,) = imported("amass", path, smpl_models=model)  # a model file given directly
    assert clip.features.shape == (29, 263) and clip.meta["model_type"] == "smplx"
    clip2 = load_amass_clip(path, tmp_path, ModelCache(tmp_path / "models", "smplx", False))
    np.testing.assert_allclose(clip.features, clip2.features)


def test_amass_bad_input(amass_tree, tmp_path):
    root, models, _, (poses, trans, betas) = amass_tree
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "nan.npz", poses=np.full((4, 156), np.nan), trans=np.zeros((4, 3)), mocap_framerate=60.0)
    np.savez(bad / "norate.npz", poses=poses, trans=trans)
    np.savez(bad / "short.npz", poses=poses[:, :40], trans=trans, mocap_framerate=60.0)
    (bad / "trunc.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MotionFileError, match="nan.npz: NaN"):
        read_amass_npz(bad / "nan.npz")
    with pytest.raises(MotionFileError, match="norate.npz: no frame rate"):
        read_amass_npz(bad / "norate.npz")
    assert read_amass_npz(bad / "norate.npz", fps=50.0)["fps"] == 50.0
    with pytest.raises(MotionFileError, match=r"short.npz: poses \(120, 40\)"):
        read_amass_npz(bad / "short.npz")
    with pytest.raises(MotionFileError, match="trunc.npz: not a readable"):
        read_amass_npz(bad / "trunc.npz")
    (tmp_path / "empty_models").mkdir()
    with pytest.raises(ModelError, match="no smplh model for gender 'female'"):
        imported("amass", root, smpl_models=tmp_path / "empty_models")
    with pytest.raises(ModelError, match="not found"):
        imported("amass", root, smpl_models=tmp_path / "missing")
    np.savez(tmp_path / "broken_model.npz", v_template=np.zeros((5, 3)))
    with pytest.raises(ModelError, match="missing shapedirs, J_regressor, kintree_table"):
        imported("amass", root, smpl_models=tmp_path / "broken_model.npz")
    (tmp_path / "pk").mkdir()
    (tmp_path / "pk" / "SMPLH_NEUTRAL.pkl").write_bytes(b"\x80\x04not used")
    with pytest.raises(ModelError, match="pickles and can run code"):
        imported("amass", root, smpl_models=tmp_path / "pk")


# ---------------------------------------------------------------------------------------------
# WHAM + keypoints.




def test_wham_joints_with_keypoints(tmp_path):
    J = walking_joints(T=90, fps=30.0)  # 3 s
    world = J[:, :, [0, 2, 1]] * np.array([1.0, 1.0, -1.0])  # some other up axis (-Z), proper rotation
    j24 = np.concatenate([world, world[:, 20:22]], axis=1)
    np.savez(tmp_path / "wham.npz", joints_world=j24, frame_ids=np.arange(5, 95), fps=np.array(30.0))
    kp = coco_keypoints(tmp_path / "kp.json", 100, range(5 + 30, 5 + 50), track_ids=(1, 2))
    clip = import_wham(tmp_path / "wham.npz", kp, texts=["a person walks"], subject="video1")
    assert clip.features.shape == (59, 263) and clip.frame_mask.shape == (59, 5)
    np.testing.assert_allclose(clip.features, features_from_joints(J, 30.0)[0], atol=1e-3)
    legs = clip.frame_mask[:, LEGS]
    # video frames 35..54 = motion frames 30..49 = 1.0-1.63 s = 20-fps frames 20..32
    assert legs[:19].all() and not legs[20:32].any() and legs[34:].all()
    assert clip.frame_mask[:, :3].all()
    assert clip.meta["person"]["track_id"] == "1" and clip.split_key == "wham/video1"
    # the same through a `ropar credibility` MASK.json
    from ropar_core.credibility import credibility_from_file

    credibility_from_file(kp, "coco17", fps=30).save(tmp_path / "mask.json")
    clip2 = import_wham(tmp_path / "wham.npz", tmp_path / "mask.json")
    np.testing.assert_array_equal(clip2.frame_mask, clip.frame_mask)


def test_wham_smpl_params(tmp_path):
    make_smpl_model(tmp_path / "models" / "smpl" / "SMPL_NEUTRAL.npz")
    poses, trans, _ = amass_sequence(T=60, fps=30.0, width=72)
    betas = np.tile(np.linspace(-1, 1, 10), (60, 1))
    np.savez(tmp_path / "w.npz", pose_world=poses, trans_world=trans, betas=betas)
    np.save(tmp_path / "conf.npy", np.full((60, 17), 0.8))
    clip = import_wham(tmp_path / "w.npz", tmp_path / "conf.npy", model_dir=tmp_path / "models")
    model = load_body_model(tmp_path / "models", "smpl")
    expected = features_from_joints(body_joints(model, poses, trans, betas[0]), 30.0)[0]
    np.testing.assert_allclose(clip.features, expected, atol=1e-5)
    assert clip.frame_mask.all()
    with pytest.raises(RoparError, match="pass the SMPL model folder"):
        import_wham(tmp_path / "w.npz", tmp_path / "conf.npy")


def test_wham_pickle_needs_trust(tmp_path):
    import joblib

    J = walking_joints(T=40)
    out = {0: {"joints": J, "frame_ids": np.arange(40)}, 1: {"joints": J[:10], "frame_ids": np.arange(10)}}
    joblib.dump(out, tmp_path / "wham_output.pkl")
    np.save(tmp_path / "conf.npy", np.full((40, 17), 0.8))
    with pytest.raises(RoparError, match="pickles and can run code"):
        import_wham(tmp_path / "wham_output.pkl", tmp_path / "conf.npy")
    with pytest.warns(UserWarning, match="unpickling"):
        clip = import_wham(tmp_path / "wham_output.pkl", tmp_path / "conf.npy", trust_pickle=True)
    assert clip.meta["track"] == "0" and clip.id == "wham_output/track0"  # the longest track
    with pytest.warns(UserWarning), pytest.raises(MotionFileError, match="no track 5"):
        import_wham(tmp_path / "wham_output.pkl", tmp_path / "conf.npy", trust_pickle=True, track=5)


def test_wham_bad_input(tmp_path):
    J = walking_joints(T=40)
    np.save(tmp_path / "conf.npy", np.full((30, 17), 0.8))
    np.savez(tmp_path / "a.npz", joints=J)
    with pytest.raises(MotionFileError, match="40 motion frames but 30 keypoint frames"):
        import_wham(tmp_path / "a.npz", tmp_path / "conf.npy")
    np.savez(tmp_path / "b.npz", joints=J, frame_ids=np.arange(10, 50))
    with pytest.raises(MotionFileError, match="frame_ids reach frame 49"):
        import_wham(tmp_path / "b.npz", tmp_path / "conf.npy")
    np.savez(tmp_path / "c.npz", joints=J[:20], frame_ids=np.r_[0:10, 15:25])
    with pytest.raises(MotionFileError, match="not consecutive"):
        import_wham(tmp_path / "c.npz", tmp_path / "conf.npy")
    np.savez(tmp_path / "d.npz", betas=np.zeros(10))
    with pytest.raises(MotionFileError, match="d.npz: no joints"):
        import_wham(tmp_path / "d.npz", tmp_path / "conf.npy")
    np.savez(tmp_path / "e.npz", joints=np.array([{"a": 1}], dtype=object))
    with pytest.raises(MotionFileError, match="pickled object"):
        import_wham(tmp_path / "e.npz", tmp_path / "conf.npy")
    np.savez(tmp_path / "f.npz", joints=J[:, :15])
    with pytest.raises(MotionFileError, match=r"joints \(40, 15, 3\)"):
        import_wham(tmp_path / "f.npz", tmp_path / "conf.npy")
    (tmp_path / "kp.json").write_text("[{\"instances\": [")
    np.savez(tmp_path / "g.npz", joints=J[:30])
    with pytest.raises(MotionFileError, match=r"kp\.json:\d+: invalid JSON"):
        import_wham(tmp_path / "g.npz", tmp_path / "kp.json")
    with pytest.raises(MotionFileError, match="must be .npz"):
        import_wham(tmp_path / "conf.npy", tmp_path / "conf.npy")
