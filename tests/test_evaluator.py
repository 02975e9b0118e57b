"""The TMR-style evaluator: negatives, training to retrieve on synthetic motions, exact resume, loading."""

import json

import numpy as np
import pytest
import torch

from ropar_core.errors import ModelError, RoparError
from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import HashTextEncoder, make_synthetic_caches
from training.evaluation.evaluator import EvaluatorConfig, TextMotionEvaluator, load_clips, negative_mask
from training.train import train_evaluator as te


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    return make_synthetic_caches(tmp_path_factory.mktemp("caches"), per_label=16, names=["clean", "noisy"])


@pytest.fixture(scope="module")
def trained(caches, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ev") / "evaluator"
    summary = train_tiny_evaluator(caches["clean"], out, 250, text_encoder=HashTextEncoder())
    return out, summary["retrieval"]


def test_negative_mask_label_cosine_and_identical_captions():
    emb = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    caps = ["walk", "walk fast", "wave", "walk"]
    labels = [("walk", "n"), ("walk", "n"), ("wave", "n"), ("run", "n")]
    by_label = negative_mask(EvaluatorConfig(negative_filter="label"), emb, caps, labels)
    # 0~1 same label, 0~3 identical caption; 3 has another label but the same caption as 0.
    assert by_label.tolist() == [[False, True, False, True], [True, False, False, False],
                                 [False, False, False, False], [True, False, False, False]]
    by_cos = negative_mask(EvaluatorConfig(negative_filter="cosine", negative_threshold=0.6), emb, caps, None)
    # cos(0, 1) = 0.8 > 0.6 -> filtered; cos(1, 2) = 0.6 is not > 0.6 -> still a negative.
    assert by_cos[0, 1] and by_cos[1, 3] and not by_cos[1, 2] and not by_cos[0, 2]
    # Labels missing for some samples: falls back to the cosine rule.
    fallback = negative_mask(EvaluatorConfig(negative_filter="label"), emb, None, [None] * 4)
    assert fallback.equal(negative_mask(EvaluatorConfig(negative_filter="cosine"), emb, None, None))


def test_trained_evaluator_retrieves_far_above_chance(trained):
    _, report = trained
    assert report["num_test"] == 40
    # Label-level retrieval (any clip of the same content x style counts); chance is ~4/32 here.
    assert report["guo_r_label"]["R@1"] >= 0.8
    assert report["full_r_t2m_label"]["R@5"] >= 0.9
    assert report["guo_r"]["R@3"] > 3 / 32


def test_untrained_evaluator_is_near_chance(caches, tmp_path):
    report = train_tiny_evaluator(caches["clean"], tmp_path / "ev", 1, text_encoder=HashTextEncoder())
    assert report["retrieval"]["guo_r_label"]["R@1"] < 0.6


def test_saved_directory_reloads_with_same_embeddings(trained, caches):
    out, report = trained
    config = json.loads((out / "config.json").read_text())
    assert config["evaluator"]["latent_dim"] == 16 and config["train"]["steps"] == 250
    assert config["retrieval"]["guo_r_label"] == report["guo_r_label"]
    assert (out / "evaluator.safetensors").is_file() and (out / "stats.safetensors").is_file()
    ev = TextMotionEvaluator.from_dir(out, text_encoder=HashTextEncoder())
    clips = load_clips(caches["clean"], "test")
    m1 = ev.embed_motions([c.features for c in clips[:5]])
    m2 = ev.embed_motions([c.features for c in clips[:5]], batch_size=2)  # padding must not matter
    np.testing.assert_allclose(m1, m2, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(m1, axis=1), 1.0, atol=1e-5)
    t = ev.embed_texts([clips[0].texts[0]])
    assert t.shape == (1, 16)


def test_resume_after_a_stop_gives_the_same_weights(caches, tmp_path):
    def run(out, **changes):
        return train_tiny_evaluator(caches["clean"], out, 20, text_encoder=HashTextEncoder(), resume=True,
                                    ckpt_every=8, **changes)

    run(tmp_path / "a")
    assert run(tmp_path / "b", stop_after=12)["stopped"]
    assert not (tmp_path / "b" / "config.json").exists()  # no evaluator directory until the last step
    assert run(tmp_path / "b")["step"] == 20
    from safetensors.numpy import load_file

    a = load_file(tmp_path / "a" / "evaluator.safetensors")
    b = load_file(tmp_path / "b" / "evaluator.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)


def test_noisy_cache_gives_clean_ground_truth(caches):
    clean = load_clips(caches["clean"], "test")
    noisy = load_clips(caches["noisy"], "test")
    assert [c.id for c in clean] == [c.id for c in noisy]
    for a, b in zip(clean, noisy):
        np.testing.assert_array_equal(a.features, b.features)
    assert clean[0].label == ("walk", "normal")


def test_bad_inputs_give_clear_errors(tmp_path, trained, capsys):
    with pytest.raises(ModelError, match="does not exist"):
        TextMotionEvaluator.from_dir(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    out, _ = trained
    (broken / "config.json").write_text((out / "config.json").read_text())
    (broken / "evaluator.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="corrupt"):
        TextMotionEvaluator.from_dir(broken, text_encoder=HashTextEncoder())
    with pytest.raises(ModelError, match="unknown keys"):
        EvaluatorConfig.from_dict({"latent_dim": 8, "bogus": 1})
    with pytest.raises(RoparError, match="preset"):
        te.train(te.train_defaults("tiny"), tmp_path, tmp_path / "x", preset="huge")
    assert te.main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a dataset cache" in err[0]
