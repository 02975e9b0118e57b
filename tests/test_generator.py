"""Generator: shapes, determinism, rotations vs joints, long motions, editing, in-betweening, every bad
input. A tiny randomly initialised model (built here, a few hundred kB) keeps the file fast; the
helpers at the top are shared with test_generate_cli.py and test_server.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import skeleton as sk
from ropar_core.device import CPU_THREADS
from ropar_core.errors import ModelError, RoparError
from tests.helpers.tiny_model import (
    TINY_WINDOW_TOKENS,
    bone_direction_error,
    make_tiny_model_dir,
    tiny_generator,
    tiny_models,
    walking_motion,
)

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "default"


# ---------------------------------------------------------------------------------------------
# Shared helpers.




















# ---------------------------------------------------------------------------------------------
# Text -> motion.
def test_shapes_lengths_and_metadata(gen):
    a, b, c = gen.generate(["a person walks forward", "  a person   waves ", "a person jumps"],
                           frames=[30, 48, 4], seed=7)
    assert a.joints.shape == (30, 22, 3) and a.rotations.shape == (30, 22, 4)
    assert a.root.shape == (30, 3) and a.features.shape == (30, 263)
    assert b.joints.shape[0] == 48 and c.joints.shape[0] == 4
    assert (a.seed, b.seed, c.seed) == (7, 8, 9)
    assert b.prompt == "a person waves"  # whitespace normalised
    assert a.fps == 20 and a.joints.dtype == np.float32
    assert np.array_equal(a.root, a.joints[:, 0])
    for m in (a, b, c):
        assert np.isfinite(m.joints).all() and np.isfinite(m.rotations).all()
        assert np.allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-5)
    [d] = gen.generate("a person walks", seconds=1.5)
    assert d.frames == 30
    [e] = gen.generate("a person walks")
    assert e.frames == 80  # default 4 s


def test_joints_follow_from_the_features(gen):
    from ropar_core.features import features_to_joints

    [m] = gen.generate("a person sits down", frames=40, seed=1, raw=True)
    assert np.allclose(features_to_joints(m.features), m.joints, atol=1e-5)
    # cleaned (the default): the features are those of the cleaned joints
    [c] = gen.generate("a person sits down", frames=40, seed=1)
    assert np.allclose(features_to_joints(c.features), c.joints, atol=1e-5)
    assert not np.allclose(c.joints, m.joints, atol=1e-3)


def test_same_seed_same_motion_whatever_the_batch(gen):
    [alone] = gen.generate("a person waves with the right hand", frames=40, seed=11)
    [again] = gen.generate("a person waves with the right hand", frames=40, seed=11)
    assert np.array_equal(alone.joints, again.joints)
    batch = gen.generate(["a person kicks", "a person waves with the right hand", "a person runs"],
                         frames=[40, 40, 24], seed=[3, 11, 5], batch_size=8)
    assert np.allclose(batch[1].joints, alone.joints, atol=1e-4)  # only float summation order differs
    small = gen.generate(["a person kicks", "a person waves with the right hand"], frames=40, seed=[3, 11],
                         batch_size=1)
    assert np.allclose(small[1].joints, alone.joints, atol=1e-4)
    assert np.allclose(small[0].joints, batch[0].joints, atol=1e-4)


def test_seed_and_prompt_change_the_motion(gen):
    base, other_seed = gen.generate(["a person walks", "a person walks"], frames=24, seed=[0, 1])
    [other_text] = gen.generate("a person does a cartwheel", frames=24, seed=0)
    assert np.abs(base.joints - other_seed.joints).max() > 1e-3
    assert np.abs(base.joints - other_text.joints).max() > 1e-3


def test_rotations_reproduce_the_bones(gen):
    [m] = gen.generate("a person turns around", frames=36, seed=2)
    assert bone_direction_error(m.joints, m.rotations) < 1e-3


def test_cfg_steps_temperature_are_used(gen):
    [a] = gen.generate("a person walks", frames=16, seed=0, cfg=1.0, steps=2)
    [b] = gen.generate("a person walks", frames=16, seed=0, cfg=5.0, steps=2)
    [c] = gen.generate("a person walks", frames=16, seed=0, cfg=1.0, steps=6)
    [d] = gen.generate("a person walks", frames=16, seed=0, cfg=1.0, steps=2, temperature=0.0)
    for other in (b, c, d):
        assert np.abs(a.joints - other.joints).max() > 1e-4


def test_the_models_sampling_temperature_is_the_default(tmp_path):
    """config.json "sampling" may set the temperature (a lower one keeps straight walks straight); an
    explicit temperature still wins; one out of range is refused at load."""
    import ropar_core.generator as G
    from ropar_core import checkpoint

    model = make_tiny_model_dir(tmp_path / "tiny")
    config = json.loads((model / "config.json").read_text())
    config["sampling"]["temperature"] = 0.5
    checkpoint.save_config(model, config)
    gen = G.Generator.from_pretrained(model, device="cpu")
    assert gen.default_temperature == 0.5
    [default] = gen.generate("a person walks", frames=16, seed=0, steps=2)
    [low] = gen.generate("a person walks", frames=16, seed=0, steps=2, temperature=0.5)
    [one] = gen.generate("a person walks", frames=16, seed=0, steps=2, temperature=1.0)
    [explicit] = tiny_generator().generate("a person walks", frames=16, seed=0, steps=2)
    np.testing.assert_allclose(default.joints, low.joints, atol=1e-5)
    np.testing.assert_allclose(explicit.joints, one.joints, atol=1e-5)  # the tiny model's default is 1
    assert np.abs(one.joints - low.joints).max() > 1e-4
    config["sampling"]["temperature"] = 9.0
    checkpoint.save_config(model, config)
    with pytest.raises(ModelError, match="sampling 'temperature' must be a float in"):
        G.Generator.from_pretrained(model, device="cpu")


def test_long_motion_windows_share_their_overlap(gen, monkeypatch):
    """Beyond the window, each window starts with the previous window's last tokens fixed and the whole
    grid is decoded at once, so the seams are as continuous as the rest."""
    calls, decoded = [], []
    sample, decode = gen.ropar.sample, gen.pvae.decode

    def spy_sample(text_emb, num_tokens, **kw):
        z = sample(text_emb, num_tokens, **kw)
        calls.append((kw["known"], kw["known_mask"], z))
        return z

    def spy_decode(z):
        decoded.append(z)
        return decode(z)

    monkeypatch.setattr(gen.ropar, "sample", spy_sample)
    monkeypatch.setattr(gen.pvae, "decode", spy_decode)
    frames = 98  # 25 tokens with a window of 12: three windows
    [m] = gen.generate("a person walks in a circle", frames=frames, seed=4)
    assert m.frames == frames and np.isfinite(m.joints).all()
    assert len(calls) >= 3 and all(z.shape[1] <= TINY_WINDOW_TOKENS for _, _, z in calls)
    assert len(decoded) == 1 and decoded[0].shape[1] == math.ceil(frames / 4)
    full = decoded[0]
    pos = 0
    for i, (known, known_mask, z) in enumerate(calls):
        n = z.shape[1]
        if i == 0:
            assert known is None
            start = 0
        else:
            overlap = int(known_mask[0, :, 0].sum())
            assert overlap >= 1 and known_mask[0, :overlap].all() and not known_mask[0, overlap:].any()
            start = pos - overlap
            assert torch.equal(known[:, :overlap], full[:, start:pos])  # fixed from the previous window
        assert torch.allclose(full[:, start:start + n], z)
        pos = start + n
    assert pos == full.shape[1]


@pytest.mark.skipif(not (DEFAULT_MODEL / "config.json").is_file(), reason="no model in assets/default")
def test_trained_model_long_motion_has_no_pops_at_seams():
    from ropar_core.generator import Generator

    g = Generator.from_pretrained(device="cpu")
    frames = g.max_frames * 2 + 40
    [m] = g.generate("a person walks forward", frames=frames, seed=0, steps=6)
    speed = np.linalg.norm(np.diff(m.joints, axis=0), axis=-1).mean(-1)  # (T-1,) mean joint step
    overlap = max(1, int(g.max_tokens * 0.25))
    seam = (g.max_tokens - overlap) * 4  # first frame after the first window's new tokens
    assert speed[seam - 4:seam + 4].max() < 4 * np.median(speed) + 0.02


# ---------------------------------------------------------------------------------------------
# Validation.
@pytest.mark.parametrize("kwargs, match", [
    ({"prompts": ""}, "empty prompt"),
    ({"prompts": "   \n\t"}, "empty prompt"),
    ({"prompts": []}, "no prompt"),
    ({"prompts": ["ok", 3]}, "must be a string"),
    ({"prompts": "x" * 301}, "too long"),
    ({"prompts": " ".join(["walk"] * 80)}, "too long"),
    ({"prompts": "a", "frames": 0}, "at least 4 frames"),
    ({"prompts": "a", "frames": -8}, "at least 4 frames"),
    ({"prompts": "a", "frames": 2}, "at least 4 frames"),
    ({"prompts": "a", "frames": 2401}, "too long"),
    ({"prompts": "a", "frames": 12.5}, "whole number"),
    ({"prompts": "a", "seconds": 0}, "positive"),
    ({"prompts": "a", "seconds": float("nan")}, "positive"),
    ({"prompts": "a", "seconds": 600}, "too long"),
    ({"prompts": "a", "seconds": 2, "frames": 40}, "not both"),
    ({"prompts": ["a", "b"], "frames": [40]}, "1 frames values for 2 prompts"),
    ({"prompts": "a", "cfg": -1}, "cfg"),
    ({"prompts": "a", "cfg": 21}, "cfg"),
    ({"prompts": "a", "cfg": float("nan")}, "cfg"),
    ({"prompts": "a", "steps": 0}, "steps"),
    ({"prompts": "a", "steps": 101}, "steps"),
    ({"prompts": "a", "steps": 2.5}, "steps"),
    ({"prompts": "a", "temperature": -0.1}, "temperature"),
    ({"prompts": "a", "seed": -1}, "seed"),
    ({"prompts": "a", "seed": "7"}, "seed"),
    ({"prompts": "a", "seed": 2**63}, "seed"),
    ({"prompts": "a", "batch_size": 0}, "batch size"),
])
def test_bad_generation_inputs_are_one_line_errors(gen, kwargs, match):
    with pytest.raises(RoparError, match=match) as info:
        gen.generate(**kwargs)
    assert "\n" not in str(info.value)


def test_device_selection():
    from ropar_core.device import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RoparError, match="unknown device|unsupported"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RoparError, match="no CUDA GPU"):
            resolve_device("cuda")


# ---------------------------------------------------------------------------------------------
# Loading.
def test_from_pretrained_round_trip_and_errors(tmp_path, monkeypatch):
    from ropar_core import generator as G

    model = make_tiny_model_dir(tmp_path / "tiny")
    g = G.Generator.from_pretrained(model, device="cpu")
    [m] = g.generate("a person walks", frames=16, seed=0)
    assert m.frames == 16 and g.name == "tiny" and g.default_steps == 4
    # the same weights give the same motion as the in-memory model
    [ref] = tiny_generator().generate("a person walks", frames=16, seed=0)
    assert np.allclose(m.joints, ref.joints, atol=1e-5)

    with pytest.raises(ModelError, match="does not exist"):
        G.Generator.from_pretrained(tmp_path / "nope", device="cpu")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        G.Generator.from_pretrained(tmp_path / "broken", device="cpu")
    wrong = make_tiny_model_dir(tmp_path / "wrong")
    from ropar_core import checkpoint

    other = tiny_models()[1]
    state = {k: (v[:, :-1] if v.ndim == 2 and k.endswith("token_in.weight") else v)
             for k, v in other.state_dict().items()}
    checkpoint.save_weights(wrong / "ropar.safetensors", state)
    with pytest.raises(ModelError):
        G.Generator.from_pretrained(wrong, device="cpu")
    with pytest.raises(RoparError, match="threads"):
        G.Generator.from_pretrained(model, device="cpu", threads=0)
    assert torch.get_num_threads() == CPU_THREADS  # the CPU default was applied by the loads above
    monkeypatch.setattr(G, "DEFAULT_MODEL_DIR", tmp_path / "missing_default")
    with pytest.raises(ModelError, match="default model is missing"):
        G.Generator.from_pretrained(device="cpu")


# ---------------------------------------------------------------------------------------------
# Editing.
def test_edit_keeps_the_kept_parts_bit_exact(gen):
    src = walking_motion(40)
    out = gen.edit("a person waves with both hands while walking", src, keep_parts="legs", seed=3)
    assert out.joints.shape == src.shape and out.frames == 40
    kept = sorted(set(sk.PART_JOINTS["left_leg"]) | set(sk.PART_JOINTS["right_leg"]))
    assert np.array_equal(out.joints[:, kept], src[:, kept])  # bit for bit, in the caller's frame
    free = [13, 14, 16, 17, 18, 19, 20, 21, 12, 15]
    assert np.abs(out.joints[:, free] - src[:, free]).max() > 1e-3  # the arms were regenerated
    # free limbs hang from the pasted spine: their bones are body-sized, not flung across the scene
    parents = np.array(sk.PARENTS)
    bones = np.linalg.norm(out.joints[:, free] - out.joints[:, parents[free]], axis=-1)
    assert bones.max() < 0.5
    assert bone_direction_error(out.joints, out.rotations) < 1e-3
    assert out.features.shape == (40, 263) and np.isfinite(out.features).all()


def test_edit_keep_frames_pastes_whole_frames_and_blends_the_seam(gen):
    src = walking_motion(48)
    out = gen.edit("a person jumps", src, keep_frames=(0, 20), seed=1)
    assert np.array_equal(out.joints[:20], src[:20])
    assert np.abs(out.joints[24:] - src[24:]).max() > 1e-3
    steps = np.linalg.norm(np.diff(out.joints.astype(np.float64), axis=0), axis=-1).max(-1)  # (T-1,)
    assert steps[19] <= steps[20:].max() + 1e-6  # the seam is no bigger a step than the free frames take
    # both together: only the torso is kept, and only within the range
    both = gen.edit("a person jumps", src, keep_parts=["torso"], keep_frames=(8, 16), seed=1)
    torso = list(sk.PART_JOINTS["torso"])
    assert np.array_equal(both.joints[8:16, torso], src[8:16, torso])
    assert not np.array_equal(both.joints[20:, torso], src[20:, torso])


def test_edit_accepts_motion_objects_other_rates_and_units(gen):
    from ropar_core.io import Motion

    src = walking_motion(45)
    motion30 = Motion(src, None, 30.0)
    out = gen.edit("a person walks", motion30, keep_parts="torso,left_leg", seed=0)
    assert out.frames == 30  # 45 frames at 30 fps = 1.5 s = 30 frames at 20 fps
    cm_zup = src[:, :, [0, 2, 1]] * np.array([100.0, -100.0, 100.0])  # centimetres, Z up
    out = gen.edit("a person walks", cm_zup, keep_parts="legs", seed=0)
    from ropar_core.features import normalise_joints

    canon, _ = normalise_joints(cm_zup)
    kept = list(sk.PART_JOINTS["left_leg"]) + list(sk.PART_JOINTS["right_leg"])
    assert np.array_equal(out.joints[:, kept], canon[:, kept])  # returned in the normalised frame
    longer = gen.edit("a person walks", src, keep_frames=(0, 45), frames=64, seed=0)
    assert longer.frames == 64 and np.array_equal(longer.joints[:45], src)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "nothing to keep"),
    ({"keep_parts": "tail"}, "unknown body part"),
    ({"keep_frames": (50, 60)}, "only 40 frames"),
    ({"keep_frames": (10, 5)}, "empty"),
    ({"keep_frames": "3:4"}, "keep_frames"),
    ({"keep_parts": "legs", "seed": -3}, "seed"),
])
def test_bad_edit_inputs(gen, kwargs, match):
    with pytest.raises(RoparError, match=match):
        gen.edit("a person walks", walking_motion(40), **kwargs)


@pytest.mark.parametrize("motion, match", [
    (np.zeros((10, 21, 3)), "shape"),
    (np.full((10, 22, 3), np.nan), "NaN"),
    (np.zeros((1, 22, 3)), "two frames"),
])
def test_bad_edit_motions(gen, motion, match):
    with pytest.raises(RoparError, match=match):
        gen.edit("a person walks", motion, keep_parts="legs")


def test_inbetween_keeps_both_ends(gen):
    a = walking_motion(20)
    b = walking_motion(24, yaw_deg=-60.0, offset=(5.0, 0.0, 5.0))
    out = gen.inbetween(a, b, frames=18, prompt="a person turns left", seed=2)
    assert out.frames == 20 + 18 + 24
    assert np.array_equal(out.joints[:20], a)
    tail = out.joints[38:].astype(np.float64)
    # B is placed by a rigid move on the ground: heights and all pairwise distances are B's own
    assert np.allclose(tail[..., 1], b[..., 1], atol=1e-5)
    d_out = np.linalg.norm(tail[:, :, None] - tail[:, None], axis=-1)
    d_b = np.linalg.norm(b[:, :, None].astype(np.float64) - b[:, None], axis=-1)
    assert np.allclose(d_out, d_b, atol=1e-5)
    assert bone_direction_error(out.joints, out.rotations) < 1e-3


def test_a_broken_checkpoint_gives_a_model_error_not_nan(gen, monkeypatch):
    monkeypatch.setattr(gen, "std", gen.std * float("nan"))
    with pytest.raises(ModelError, match="NaN or infinite"):
        gen.generate("a person walks", frames=8)


def test_too_long_source_motion_for_editing(gen):
    with pytest.raises(RoparError, match="too long to edit"):
        gen.edit("a person walks", np.repeat(walking_motion(2), 1300, axis=0), keep_parts="legs")


def test_model_path_names_the_shipped_models(tmp_path, monkeypatch):
    from ropar_core.generator import ASSETS_DIR, DEFAULT_MODEL_DIR, model_path, shipped_models

    assert "default" in shipped_models()
    assert model_path(None) == DEFAULT_MODEL_DIR
    monkeypatch.chdir(tmp_path)
    assert model_path("default") == ASSETS_DIR / "default"
    (tmp_path / "default").mkdir()  # a folder of that name where the user stands is what they mean
    assert model_path("default") == Path("default")
    assert model_path("no-such-model") == Path("no-such-model")
