"""Shared pieces of the property-based fuzz tests (hypothesis): the settings that keep every fuzz test
small and repeatable in CI, strategies for hostile JSON and numbers, and the one property they check:
a reader either succeeds or raises a RoparError (one line for the user), never anything else."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ropar_core.errors import RoparError

# derandomize: the same examples on every run, so CI never flakes; database=None: nothing is written.
FUZZ = settings(max_examples=40, deadline=3000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])

WORK = Path(tempfile.mkdtemp(prefix="ropar-fuzz-"))  # hypothesis reuses one test call for many examples

# Numbers that break naive code: NaN, infinities, 1e308, tiny, negative zero, huge integers, bools.
NASTY_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-308, 0.0, -0.0, 1e-4,
                                 2**63, -(2**63) - 1, 10**30, True, False, 0, 1, -1, 20, 120, 1e9])
NUMBERS = st.one_of(NASTY_NUMBERS, st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True))
HUGE_INT = "__huge_int__"  # dumps() writes it as a 5000-digit number: json.loads refuses > 4300 digits
SCALARS = st.one_of(st.none(), NUMBERS, st.text(max_size=8), st.just(HUGE_INT))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                    max_leaves=25)


def dumps(value) -> str:
    """JSON text; NaN/Infinity are written as Python's json does (many tools emit them)."""
    return json.dumps(value).replace(f'"{HUGE_INT}"', "9" * 5000)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def path_for(name: str) -> Path:
    return WORK / name


def refused_or_read(fn, *args, **kwargs):
    """Call a reader: a result, or None when it refused the input with a RoparError."""
    try:
        return fn(*args, **kwargs)
    except RoparError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)  # the CLI prints it as one line
        return None
