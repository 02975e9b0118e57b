"""Text-motion agreement (ropar_core/agreement.py): the judge file a model directory carries, the
Generator's warning when the motion does not show its prompt, the calibration of training/build_agreement,
and the shipped default model's judge on real prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import agreement, checkpoint, warning
from ropar_core.agreement import FILE_NAME, AgreementJudge, calibration_line
from ropar_core.cli import main as ropar
from ropar_core.errors import ModelError
from ropar_core.evaluator import Evaluator, EvaluatorConfig
from ropar_core.knowledge import label_of
from tests.helpers.synthetic import make_synthetic_caches
from tests.helpers.tiny_model import make_tiny_model_dir, text_encoder, walking_motion
from training.train import build_agreement as ba
from training.train.train_evaluator import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "assets" / "default"
OPEN_MODEL = ROOT / "assets" / "open"


def tiny_judge(threshold: float = -0.1) -> AgreementJudge:
    torch.manual_seed(0)
    model = Evaluator(EvaluatorConfig(**PRESETS["tiny"], text_dim=384))
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(3, model.cfg.latent_dim)).astype(np.float32)
    actions /= np.linalg.norm(actions, axis=1, keepdims=True)
    return AgreementJudge(model, rng.normal(size=263).astype(np.float32), np.ones(263, np.float32), actions,
                          ["walk", "dance", "wave right hand"], threshold, "all-MiniLM-L6-v2",
                          {"threshold": threshold, "known_prompts": 3})


def motion_features(frames: int = 80) -> np.ndarray:
    from ropar_core.features import joints_to_features

    return joints_to_features(walking_motion(frames + 1))


def test_judge_file_round_trip(tmp_path):
    judge = tiny_judge()
    path = judge.save(tmp_path)
    assert path.name == FILE_NAME and not list(tmp_path.glob("*.tmp*"))  # written atomically
    loaded = AgreementJudge.load(tmp_path)
    assert loaded.labels == judge.labels and loaded.threshold == judge.threshold
    assert loaded.calibration == judge.calibration
    emb = text_encoder().encode(["a person walks forward", "a man sits down on a chair"])
    feats = [motion_features(), motion_features(60)]
    a, b = judge.scores(emb, feats), loaded.scores(emb, feats)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)
    assert AgreementJudge.load(tmp_path / "nowhere") is None  # a model without a judge: no agreement check


def test_corrupt_judge_file_is_one_clear_model_error(tmp_path, capsys):
    tiny_judge().save(tmp_path)
    data = (tmp_path / FILE_NAME).read_bytes()
    (tmp_path / FILE_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=f"corrupt .*{FILE_NAME}"):
        AgreementJudge.load(tmp_path)
    judge = tiny_judge(threshold=float("nan"))
    judge.save(tmp_path)
    with pytest.raises(ModelError, match="threshold"):
        AgreementJudge.load(tmp_path)
    judge = tiny_judge()
    judge.temperature = 0.0
    judge.save(tmp_path)
    with pytest.raises(ModelError, match="temperature"):
        AgreementJudge.load(tmp_path)
    # weights of another size than the metadata's config says
    wider = Evaluator(EvaluatorConfig(**{**PRESETS["tiny"], "width": 48}, text_dim=384))
    state = {"judge." + k: v for k, v in wider.state_dict().items()}
    state.update(mean=torch.zeros(263), std=torch.ones(263), actions=judge.actions)
    meta = {"evaluator": json.dumps(EvaluatorConfig(**PRESETS["tiny"], text_dim=384).to_dict()),
            "labels": json.dumps(judge.labels), "threshold": "-0.1"}
    checkpoint.save_weights(tmp_path / FILE_NAME, state, metadata=meta)
    with pytest.raises(ModelError, match="corrupt .*size mismatch"):
        AgreementJudge.load(tmp_path)
    # the CLI: a model directory with a broken judge is one error line and exit 2
    model = make_tiny_model_dir(tmp_path / "tiny")
    (model / FILE_NAME).write_bytes(b"not a safetensors file")
    assert ropar(["generate", "a person walks", "--frames", "8", "--model", str(model),
                  "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0] and FILE_NAME in err[0]
    assert not (tmp_path / "a.npz").exists()


def test_disagreement_warns_with_what_the_motion_looks_like():
    judge = tiny_judge()
    emb = text_encoder().encode(["a person walks forward"])
    score = float(judge.scores(emb, [motion_features()])[0][0])
    judge.threshold = score + 0.01  # just above: this motion does not agree
    [a] = judge.judge(emb, [motion_features()])
    assert not a.agrees and len(a.looks_like) == agreement.LOOKS_LIKE
    line = agreement.warning_for("a person walks forward", a)
    assert "\n" not in line and "the motion looks more like: " + ", ".join(a.looks_like) in line
    judge.threshold = score - 0.01
    assert judge.judge(emb, [motion_features()])[0].agrees
    assert agreement.warning_for("a person walks forward", judge.judge(emb, [motion_features()])[0]) is None
    judge.threshold = score + 0.01  # too short to show an action: not judged
    assert judge.judge(emb, [motion_features(agreement.MIN_FRAMES - 4)])[0].agrees


def test_generator_warns_on_disagreement_only_when_its_model_has_a_judge(gen):
    [m] = gen.generate("a person walks forward", frames=48)
    assert m.warning is None  # no knowledge, no judge: no warning
    gen.judge = tiny_judge(threshold=1.5)  # nothing reaches it: every judged motion disagrees
    try:
        long, short = gen.generate(["a person walks forward", "a person walks"], frames=[48, 8])
        assert long.warning and "the motion looks more like: " in long.warning
        assert short.warning is None  # 8 frames: too short to be judged
    finally:
        gen.judge = None


def test_choose_threshold_keeps_each_known_group_within_the_limit():
    test = np.linspace(0.1, 0.5, 20)  # captions in the training style: well above any threshold
    para = np.linspace(-0.1, 0.2, 20)  # known actions in other words: the group that binds
    unknown = np.linspace(-0.5, -0.05, 10)
    t, uw = ba.choose_threshold([test, para], unknown, max_false=0.05)
    assert np.mean(para < t) == 0.05 and np.mean(test < t) == 0.0  # one paraphrase motion (1/20)
    assert -0.1 < t <= -0.05 + 1e-9 and uw == np.mean(unknown < t) and uw >= 0.9
    t, uw = ba.choose_threshold([np.array([-1.0, -0.9])], unknown, max_false=0.05)  # nothing fits:
    assert uw == 0.0 and t < -1.0  # the lowest candidate, which warns on nothing
    assert ba.majority_rate(np.array([True, False, True, True, False, False]), 2) == 0.5


def test_build_agreement_trains_calibrates_and_writes_the_judge(tmp_path, capsys):
    from training.train.build_knowledge import DEFAULT_PROMPTS, held_out
    from training.train.build_knowledge import main as build_knowledge

    caches = make_synthetic_caches(tmp_path / "caches", per_label=4, names=["clean"])
    model = make_tiny_model_dir(tmp_path / "model")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"known": [{"text": "someone walks slowly", "action": "walk"}],
                                   "unknown": ["a man plays the guitar", "someone brushes their teeth"]}))
    argv = ["--model", str(model), "--data", str(tmp_path / "caches"), "--work", str(tmp_path / "work"),
            "--steps", "4", "--preset", "tiny", "--prompts", str(prompts), "--known", "3", "--seeds", "0,1",
            "--seconds", "2.4", "--threads", "1"]
    assert ba.main(argv) == 2  # the rule needs the familiarity margins: knowledge first
    assert "run python -m training.build_knowledge first" in capsys.readouterr().err
    assert build_knowledge(["--model", str(model), "--data", str(caches["clean"])]) == 0
    capsys.readouterr()
    assert ba.main(argv) == 0
    out = capsys.readouterr().out
    judge = AgreementJudge.load(model)
    cal = judge.calibration
    rule = judge.rule
    assert rule == cal["rule"] and rule["agreement_weight"] == warning.AGREEMENT_WEIGHT
    assert f"warning rule: margin + 0.1 x agreement < {rule['threshold']:+.3f}" in out
    extra = held_out(judge.labels, DEFAULT_PROMPTS, prompts)[2]
    assert cal["test_prompts"] == 3 and cal["paraphrase_prompts"] == 1 and cal["seeds"] == [0, 1]
    assert cal["unknown_prompts"] == 2 + len(extra)
    assert cal["test_warned"] <= 0.05 and cal["paraphrase_warned"] <= 0.05  # the limits it was chosen under
    clips = json.loads((caches["clean"] / "meta.json").read_text())["clips"]
    assert set(judge.labels) == {label_of(c["content"]) for c in clips if c["split"] == "train"}
    assert calibration_line(cal).startswith(
        f"warning rule: familiarity margin + 0.1 x agreement below {rule['threshold']:+.3f}")
    assert ropar(["info", "--model", str(model)]) == 0
    info = capsys.readouterr().out
    assert "warning rule: familiarity margin + 0.1 x agreement below" in info
    # --keep-judge: the same weights, calibrated again, without training
    weights = {k: v.clone() for k, v in judge.model.state_dict().items()}
    keep = [a for a in argv if a not in ("--steps", "4")] + ["--keep-judge", "--seeds", "0"]
    assert ba.main(keep) == 0
    again = AgreementJudge.load(model)
    assert again.calibration["seeds"] == [0] and all(
        torch.equal(weights[k], v) for k, v in again.model.state_dict().items())
    capsys.readouterr()
    # bad input: one line, exit 2, nothing written
    (model / FILE_NAME).unlink()
    assert ba.main(keep) == 2 and "no agreement.safetensors to keep" in capsys.readouterr().err
    assert ba.main(argv[:2] + ["--data", str(tmp_path / "nowhere")] + argv[4:]) == 2
    assert "build_agreement: error:" in capsys.readouterr().err and not (model / FILE_NAME).exists()


def test_a_corrupt_warning_rule_is_one_clear_error(tmp_path):
    judge = tiny_judge()
    judge.rule = {"agreement_weight": 0.1, "threshold": 0.02}
    judge.save(tmp_path)
    assert AgreementJudge.load(tmp_path).rule == judge.rule
    for bad in ({"threshold": 0.0}, {"agreement_weight": float("nan"), "threshold": 0.0}, [1, 2]):
        judge.rule = bad
        judge.save(tmp_path)
        with pytest.raises(ModelError, match="corrupt .*warning rule"):
            AgreementJudge.load(tmp_path)


def test_training_uses_the_one_copy_of_the_evaluator():
    from ropar_core import evaluator as core
    from training.evaluation import evaluator as training_side

    for name in ("Evaluator", "EvaluatorConfig", "TextMotionEvaluator", "pad_batch"):
        assert getattr(training_side, name) is getattr(core, name)


@pytest.mark.parametrize("model", [DEFAULT_MODEL, OPEN_MODEL], ids=["default", "open"])
def test_shipped_models_warn_on_held_out_unknown_actions_only(model):
    """Both shipped models on held-out prompts of their calibration (none of them a benchmark prompt):
    known actions in words their captions do not use stay unwarned on every seed; everyday actions none of
    our data holds, and that are not among the unknown actions stored with the model, are warned on every
    seed, in one line naming what the motion looks like."""
    from ropar_core.generator import Generator

    g = Generator.from_pretrained(model, device="cpu")
    assert g.judge is not None and g.judge.rule is not None and len(g.knowledge.unknown_texts) >= 50
    assert "not calibrated" not in calibration_line(g.judge.calibration)
    known = ["a guy strolls down the sidewalk", "a boxer throws a straight punch",
             "a child springs up off the ground", "somebody jogs along the beach"]
    unknown = ["a woman swims across the pool", "a person types on a keyboard", "a cyclist rides a bicycle",
               "someone brushes their teeth", "a man sweeps the floor with a broom"]
    assert not set(unknown) & set(g.knowledge.unknown_texts)
    card = (model / "MODEL_CARD.md").read_text()  # the card states the shipped rule and its calibration
    assert f"margin + 0.1 x agreement < {g.judge.rule['threshold']:+.3f}" in card
    assert f"{g.judge.calibration['paraphrase_warned']:.1%}".replace("%", " %") in card
    for seed in (0, 1, 2):
        motions = g.generate(known + unknown, seconds=4, seed=seed)
        assert [m.warning is not None for m in motions] == [False] * len(known) + [True] * len(unknown)
        for m in motions[len(known):]:
            assert m.prompt in m.warning and "the motion looks more like: " in m.warning
            assert "\n" not in m.warning
