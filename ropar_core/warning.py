"""The generation warning: one calibrated rule over both checks, "is the prompt something this model knows"
(knowledge.py) and "does the motion show it" (agreement.py), instead of two separately calibrated tests
joined by OR.

    score = margin (knowledge.py)  +  agreement_weight * agreement (agreement.py)

and a motion is warned about when its score is below the threshold. Both numbers are chosen by
`python -m training.build_agreement` (training/train/build_agreement.py) on held-out prompts: the
threshold warns on the most unknown actions while warning on at most --max-false of the known actions in
words their training captions do not use. They are stored as the `rule` of agreement.safetensors. A
model without a rule (older files, or no judge at all) keeps the two tests: an unfamiliar prompt or a
motion below the judge's own threshold. Motions too short to show an action (agreement.MIN_FRAMES) are
judged by familiarity alone.
"""

from __future__ import annotations

from ropar_core import agreement as agr
from ropar_core import knowledge as kn

AGREEMENT_WEIGHT = 0.1  # margin units per unit of agreement (chosen on the calibration data)


def score(fam: kn.Familiarity, agreement: agr.Agreement, rule: dict) -> float:
    return fam.margin + rule["agreement_weight"] * agreement.score


def warns(fam: kn.Familiarity | None, agreement: agr.Agreement | None, rule: dict | None,
          frames: int) -> bool:
    """Whether one motion of `frames` frames gets a warning."""
    if rule is not None and fam is not None and agreement is not None and frames >= agr.MIN_FRAMES:
        return score(fam, agreement, rule) < rule["threshold"]
    return (fam is not None and not fam.known) or (agreement is not None and not agreement.agrees)


def line(prompt: str, fam: kn.Familiarity | None, agreement: agr.Agreement | None) -> str:
    """The one line a warned motion gets: what the prompt is unlike, and what the motion looks like."""
    looks = "" if agreement is None else f"; the motion looks more like: {', '.join(agreement.looks_like)}"
    if fam is not None and not fam.known:
        return f"{kn.warning_for(prompt, fam)}{looks}"
    return (f"the motion for {prompt!r} may not show it (text-motion agreement {agreement.score:+.2f})"
            f"{looks}")


def warnings(prompts: list[str], fams: list, agreements: list, rule: dict | None,
             frames: list[int]) -> list[str | None]:
    """Per prompt: its warning line or None. fams / agreements: one each, or Nones (no such file)."""
    return [line(p, f, a) if warns(f, a, rule, n) else None
            for p, f, a, n in zip(prompts, fams, agreements, frames)]
