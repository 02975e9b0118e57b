"""training/evaluation/statistics.py against hand-computed values and textbook power figures."""

import math

import pytest

from training.evaluation import statistics as st
from training.evaluation.metrics import MetricError


def test_paired_difference_matches_the_hand_computation():
    # differences 1, 1, 3: mean 5/3, sd sqrt(4/3), se 2/3, t = 2.5 on 2 degrees of freedom. For 2 dof the
    # t distribution has a closed form: F(t) = 1/2 + t / (2 sqrt(2 + t^2)), and its 0.975 quantile is
    # 0.95 sqrt(2 / 0.0975).
    d = st.paired_difference({0: 1.0, 1: 2.0, 2: 4.0, 7: 9.0}, {0: 0.0, 1: 1.0, 2: 1.0, 5: 0.0})
    assert d.seeds == (0, 1, 2) and d.n == 3  # only the shared seeds are paired
    assert d.mean == pytest.approx(5 / 3) and d.sd == pytest.approx(math.sqrt(4 / 3))
    assert d.ci95 == pytest.approx(0.95 * math.sqrt(2 / 0.0975) * 2 / 3, rel=1e-9)
    assert d.p == pytest.approx(2 * (0.5 - 2.5 / (2 * math.sqrt(2 + 2.5 ** 2))), rel=1e-9)


def test_a_paired_difference_needs_two_shared_seeds():
    with pytest.raises(MetricError):
        st.paired_difference({0: 1.0, 1: 2.0}, {1: 1.0, 2: 0.0})


def test_power_agrees_with_the_textbook_sample_size():
    # A paired t-test for a standardised effect of 0.5 at alpha 0.05 (two-sided) needs 34 pairs for
    # 80 % power (Cohen's tables, G*Power); 33 fall short.
    assert st.seeds_needed(0.5, 1.0) == 34
    assert st.power(0.5, 1.0, 33) < 0.8 <= st.power(0.5, 1.0, 34)
    # The detectable effect is where the power reaches 80 %, and it shrinks about as 1/sqrt(n):
    # for many pairs it approaches (z_0.975 + z_0.8) sd / sqrt(n) = 2.8016 sd / sqrt(n).
    e = st.detectable_effect(0.02, 5)
    assert st.power(e, 0.02, 5) == pytest.approx(0.8, abs=1e-6)
    assert st.detectable_effect(1.0, 400) == pytest.approx(2.8016 / 20, rel=0.01)
    assert st.detectable_effect(1.0, 3) > 2 * st.detectable_effect(1.0, 8)


def test_calls_follow_the_interval_and_the_power():
    win = st.paired_difference({s: 0.05 - 0.001 * s for s in range(8)}, {s: 0.08 for s in range(8)})
    assert st.call(win, "fid", "ropar", "blind_both") == "ropar better"  # lower FID wins
    assert st.call(win, "r1", "ropar", "blind_both") == "blind_both better"  # lower R@1 loses
    flat = [0.001, -0.001, 0.0005, -0.0005, 0.0, 0.001, -0.001, 0.0]
    tie = st.paired_difference({s: 0.5 + v for s, v in enumerate(flat)}, {s: 0.5 for s in range(8)})
    assert tie.p > 0.05 and tie.detectable < st.MARGINS["r1"] and st.call(tie, "r1", "a", "b") == "tie"
    loose = st.paired_difference({0: 0.50, 1: 0.40, 2: 0.47}, {0: 0.45, 1: 0.46, 2: 0.45})
    assert loose.detectable > st.MARGINS["r1"] and st.call(loose, "r1", "a", "b") == "underpowered"
    assert st.overall({"fid": "a better", "r1": "tie"}, "a", "b") == "a better"
    assert st.overall({"fid": "a better", "r1": "b better"}, "a", "b") == "mixed"
    assert st.overall({"fid": "tie", "r1": "underpowered"}, "a", "b") == "undecided"
    assert st.overall({"fid": "tie", "r1": "tie"}, "a", "b") == "tie"
