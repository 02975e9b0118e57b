"""training.evaluation.evaluate on synthetic data with stand-in generators whose quality is known."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import HashTextEncoder, make_synthetic_caches
from training.evaluation import evaluate
from training.evaluation.evaluator import TextMotionEvaluator, load_clips


class StandIn:
    """generate(prompts, frames, seed, ...) -> objects with .features, from a lookup of real clips."""

    def __init__(self, pick):
        self.pick = pick
        self.calls = 0

    def generate(self, prompts, frames=None, seed=0, batch_size=32, cfg=None, steps=None):
        self.calls += 1
        out = []
        for i, (p, f) in enumerate(zip(prompts, frames)):
            rng = np.random.default_rng(seed[i])
            feats = self.pick(p, f, rng)
            assert feats.shape == (f, 263)
            out.append(SimpleNamespace(features=feats))
        return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("evaluate")
    caches = make_synthetic_caches(root, per_label=16, names=["clean"])
    train_tiny_evaluator(caches["clean"], root / "ev", 250, text_encoder=HashTextEncoder())
    ev = TextMotionEvaluator.from_dir(root / "ev", text_encoder=HashTextEncoder())
    return caches["clean"], ev, root


def _fit(features, frames, rng):
    """A real clip cut or looped to `frames`."""
    reps = -(-frames // len(features))
    return np.concatenate([features] * reps)[:frames]


def test_ordering_of_oracle_same_label_and_noise_generators(setup):
    data, ev, _ = setup
    test = load_clips(data, "test")
    train = load_clips(data, "train")
    by_caption = {}
    for c in train:
        for t in c.texts:
            by_caption.setdefault(t, []).append(c.features)
    # Oracle: the ground-truth clip of the caption's own item is unknown to a generator, so take any
    # test clip with that caption (same label, same data) -> near-real scores.
    test_by_caption = {}
    for c in test:
        for t in c.texts:
            test_by_caption.setdefault(t, []).append(c.features)
    same_label = StandIn(lambda p, f, rng: _fit(by_caption[p][int(rng.integers(len(by_caption[p])))], f, rng))
    mean, std = train[0].features.mean(0), np.stack([c.features.std(0) for c in train]).mean(0) + 1e-3
    noise = StandIn(lambda p, f, rng: (mean + std * rng.normal(size=(f, 263))).astype(np.float32))

    real = evaluate.evaluate_real(ev, test, train, repeats=2, seed=0)
    good = evaluate.evaluate_generation(same_label, ev, test, repeats=2, seed=0, mm_captions=4, mm_repeats=3)
    bad = evaluate.evaluate_generation(noise, ev, test, repeats=2, seed=0, mm_captions=4, mm_repeats=3)
    for res in (real, good, bad):
        assert set(res) >= {"fid", "r1", "r2", "r3", "mm_dist", "diversity"}
        assert res["r1"]["n"] == 2 and res["r1"]["ci95"] >= 0
    assert good["fid"]["mean"] < bad["fid"]["mean"] / 3
    assert good["r3"]["mean"] > bad["r3"]["mean"] + 0.2
    assert bad["r1"]["mean"] < 0.25
    assert good["mm_dist"]["mean"] < bad["mm_dist"]["mean"]
    assert 0 < good["multimodality"]["mean"] and same_label.calls == 4  # 2 repeats x (items + MM)
    assert real["r1"]["mean"] >= good["r1"]["mean"] - 0.15


def test_items_follow_the_protocol(setup):
    data, ev, _ = setup
    clips = load_clips(data, "test")
    a = evaluate.draw_items(clips, 48, np.random.default_rng(0))
    b = evaluate.draw_items(clips, 48, np.random.default_rng(0))
    assert a == b and len(a) == len(clips)
    for it in a:
        clip = clips[it.clip]
        assert it.length == min(len(clip.features), 48) // 4 * 4
        assert 0 <= it.start <= len(clip.features) - it.length
        assert it.caption in clip.texts


def test_reconstruction_metrics_of_identity_and_blur(setup):
    data, ev, _ = setup
    clips = load_clips(data, "test")

    class Identity(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale
            self.p = torch.nn.Parameter(torch.zeros(1))

        def reconstruct(self, x):
            return x * self.scale

    mean, std = np.zeros(263, np.float32), np.ones(263, np.float32)
    perfect = evaluate.evaluate_reconstruction(Identity(1.0), mean, std, ev, clips, repeats=1)
    shrunk = evaluate.evaluate_reconstruction(Identity(0.8), mean, std, ev, clips, repeats=1)
    assert perfect["mpjpe_mm"]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["fid"]["mean"] == pytest.approx(0.0, abs=1e-4)
    assert shrunk["mpjpe_mm"]["mean"] > 20 and shrunk["fid"]["mean"] > perfect["fid"]["mean"]


def test_cli_errors_are_one_line(setup, tmp_path, capsys):
    data, _, root = setup
    assert evaluate.main(["--model", str(tmp_path), "--data", str(data), "--evaluator", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no evaluator" in err[0]
    assert evaluate.main(["--model", str(tmp_path), "--data", str(tmp_path / "nocache"),
                          "--evaluator", str(root / "ev")]) == 2
    assert "not a dataset cache" in capsys.readouterr().err


def test_raw_scores_the_models_own_output(setup):
    """raw=True asks the generator for its uncleaned output in every call (the scored sets and the
    MultiModality ones); the default leaves the Generator's cleanup on."""
    data, ev, _ = setup
    test = load_clips(data, "test")
    seen = []

    class Recording(StandIn):
        def generate(self, prompts, frames=None, seed=0, batch_size=32, cfg=None, steps=None, raw=False):
            seen.append(raw)
            return super().generate(prompts, frames, seed, batch_size, cfg, steps)

    gen = Recording(lambda p, f, rng: np.zeros((f, 263), np.float32))
    evaluate.evaluate_generation(gen, ev, test, repeats=1, seed=0, mm_captions=2, mm_repeats=2, raw=True)
    assert seen == [True, True]
    evaluate.evaluate_generation(gen, ev, test, repeats=1, seed=0, mm_captions=2, mm_repeats=2)
    assert seen[2:] == [False, False]
