"""Paired comparisons of two arms trained with the same seeds: the per-seed differences with their
Student-t interval and p-value, the power of that test, and a call that says what the numbers decide.

Arms that share seeds share their data order, initial weights and evaluation draws, so the per-seed
difference removes the seed's own effect; a paired t-test on those differences is the test the design
allows (an unpaired Welch test would throw that pairing away and need more seeds for the same answer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from training.evaluation.metrics import MetricError

ALPHA, POWER = 0.05, 0.80


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) over the shared seeds, its 95 % t interval half-width, the two-sided p-value, the sd of
    the per-seed differences, and the smallest |difference| the test finds with 80 % power."""

    mean: float
    ci95: float
    p: float
    sd: float
    n: int
    seeds: tuple[int, ...]
    detectable: float

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci95": self.ci95, "p": self.p, "sd": self.sd, "n": self.n,
                "seeds": list(self.seeds), "detectable_at_80": self.detectable}


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> PairedDifference:
    """a - b over the seeds both have (a, b: seed -> value). Needs two shared seeds."""
    from scipy import stats

    seeds = tuple(sorted(set(a) & set(b)))
    if len(seeds) < 2:
        raise MetricError(f"a paired difference needs two shared seeds, got {len(seeds)}")
    d = np.array([a[s] - b[s] for s in seeds], np.float64)
    if not np.isfinite(d).all():
        raise MetricError("paired_difference got non-finite values")
    n, sd = d.size, float(d.std(ddof=1))
    if sd == 0.0:  # identical differences: the interval is a point; p is 0 unless they are all 0
        return PairedDifference(float(d.mean()), 0.0, 1.0 if d.mean() == 0 else 0.0, 0.0, n, seeds, 0.0)
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / np.sqrt(n))
    p = float(stats.ttest_rel(np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])).pvalue)
    return PairedDifference(float(d.mean()), half, p, sd, n, seeds, detectable_effect(sd, n))


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Probability that a two-sided paired t-test at level alpha on n pairs rejects when the true mean
    difference is `effect` and the differences' sd is `sd` (noncentral t)."""
    from scipy import stats

    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if effect != 0 else alpha
    df, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)
    ncp = abs(effect) / (sd / np.sqrt(n))
    upper, lower = stats.nct.sf(crit, df, ncp), stats.nct.cdf(-crit, df, ncp)
    # scipy's noncentral t gives NaN far in its tails: there the upper tail is 1 and the lower 0
    upper = upper if np.isfinite(upper) else float(ncp > crit)
    lower = lower if np.isfinite(lower) else 0.0
    return float(min(1.0, upper + lower))


def detectable_effect(sd: float, n: int, target: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest |mean difference| found with probability `target` by the paired test on n pairs."""
    from scipy.optimize import brentq

    if n < 2:
        return float("inf")
    if sd <= 0:
        return 0.0
    hi = sd
    while power(hi, sd, n, alpha) < target:
        hi *= 2
    return float(brentq(lambda e: power(e, sd, n, alpha) - target, 0.0, hi, xtol=sd * 1e-6))


def seeds_needed(effect: float, sd: float, target: float = POWER, alpha: float = ALPHA,
                 most: int = 1000) -> int | None:
    """Pairs (seeds) the paired test needs to find `effect` with probability `target`; None beyond
    `most` (or for a zero effect)."""
    if effect == 0:
        return None
    for n in range(2, most + 1):
        if power(effect, sd, n, alpha) >= target:
            return n
    return None


# What the report treats as a difference that matters, per metric: R@1 two points (0.02); FID 0.01, a
# third of what the video noise does to the ground truth itself (0.031 against 0.002, reports/judge).
MARGINS = {"fid": 0.01, "r1": 0.02}
LOWER_IS_BETTER = {"fid": True, "r1": False}


def call(diff: PairedDifference, metric: str, a: str, b: str) -> str:
    """What one paired difference (a - b) decides:
    "<a> better" / "<b> better": the interval excludes 0 (p < alpha);
    "tie": it does not, and the test had 80 % power for a difference of the metric's margin;
    "underpowered": it does not, and a difference of the margin could have gone unseen."""
    if diff.p < ALPHA and diff.mean != 0:
        a_wins = (diff.mean < 0) if LOWER_IS_BETTER[metric] else (diff.mean > 0)
        return f"{a if a_wins else b} better"
    return "tie" if diff.detectable <= MARGINS[metric] else "underpowered"


def overall(calls: Mapping[str, str], a: str, b: str) -> str:
    """One word from the per-metric calls: a side wins when no metric goes the other way."""
    wins = {c for c in calls.values() if c.endswith(" better")}
    if len(wins) > 1:
        return "mixed"
    if wins:
        return wins.pop()
    if all(c == "tie" for c in calls.values()):
        return "tie"
    return "undecided"
