"""The generation warning (ropar_core/warning.py): one calibrated rule over the prompt's familiarity margin
and the motion's agreement, and the two separate tests it replaces for models without a rule."""

from __future__ import annotations

import pytest

from ropar_core import warning
from ropar_core.agreement import MIN_FRAMES, Agreement
from ropar_core.knowledge import Familiarity

RULE = {"agreement_weight": 0.1, "threshold": 0.0}


def fam(score: float, unknown: float, known: bool = True) -> Familiarity:
    return Familiarity(score, ["walk", "run"], known, unknown, "a woman irons a shirt" if unknown else "")


def agreed(score: float, agrees: bool = True) -> Agreement:
    return Agreement(score, ["dance", "spin"], agrees)


def test_the_rule_weighs_margin_and_agreement_together():
    near, far = fam(0.60, 0.55), fam(0.60, 0.30)  # margins 0.05 and 0.30
    assert warning.score(near, agreed(-0.2), RULE) == pytest.approx(0.05 - 0.02)
    assert not warning.warns(near, agreed(-0.2), RULE, 80)  # 0.03: known enough, shown well enough
    assert warning.warns(near, agreed(-0.8), RULE, 80)  # -0.03: a thin margin and a poor motion
    assert not warning.warns(far, agreed(-0.8), RULE, 80)  # a clear margin outweighs a poor motion
    assert warning.warns(fam(0.40, 0.55, known=False), agreed(0.0), RULE, 80)  # nearer the unknown actions
    # the separate tests' verdicts do not count once a rule is calibrated
    assert not warning.warns(far, agreed(-0.8, agrees=False), RULE, 80)


def test_short_motions_and_models_without_a_rule_keep_the_separate_tests():
    thin, poor = fam(0.60, 0.55, known=True), agreed(-0.8, agrees=True)
    assert warning.warns(thin, poor, RULE, MIN_FRAMES) and not warning.warns(thin, poor, RULE, MIN_FRAMES - 1)
    assert not warning.warns(thin, poor, None, 80)
    assert warning.warns(thin, agreed(-0.8, agrees=False), None, 80)
    assert warning.warns(fam(0.3, 0.0, known=False), None, None, 80)
    assert not warning.warns(None, None, RULE, 80)


def test_one_line_says_what_the_prompt_is_unlike_and_what_the_motion_looks_like():
    unfamiliar = warning.line("someone irons", fam(0.40, 0.70, known=False), agreed(-0.5))
    assert unfamiliar.startswith("'someone irons' is unlike anything this model was trained on")
    assert "like 'a woman irons a shirt'" in unfamiliar
    assert unfamiliar.endswith("looks more like: dance, spin")
    shown = warning.line("a man walks", fam(0.60, 0.55), agreed(-0.8))
    assert shown == ("the motion for 'a man walks' may not show it (text-motion agreement -0.80); "
                     "the motion looks more like: dance, spin")
    no_judge = warning.line("x", fam(0.2, 0.0, known=False), None)
    assert no_judge.endswith("the closest actions it knows: walk, run")
    lines = warning.warnings(["a", "b"], [fam(0.6, 0.3), fam(0.3, 0.6, known=False)], [agreed(0), agreed(0)],
                             RULE, [80, 80])
    assert lines[0] is None and lines[1] and "\n" not in lines[1]
