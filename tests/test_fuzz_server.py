"""Property-based fuzzing of the server's JSON: any body is parsed and validated (http_api + the
Generator's request checks, exactly what a handler thread runs before queueing) into either arguments
the worker can run or a 4xx HttpError / RoparError; and a live server answers hostile bodies with JSON
errors and keeps serving."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ropar_core import limits
from ropar_core.errors import RoparError
from ropar_core.http_api import HttpError, bad_request, parse_edit, parse_generate
from tests.helpers.fuzzing import FUZZ, JSON, NUMBERS, dumps, nested

STILL = [[[0.0, 1.0, 0.0]] * 22] * 8
REQUEST_FIELDS = {"prompt": JSON | st.just("a person walks"), "prompts": JSON | st.just(["a", "b"]),
                  "seconds": JSON | NUMBERS, "frames": JSON | NUMBERS, "seed": JSON | NUMBERS,
                  "cfg": JSON | NUMBERS, "steps": JSON | NUMBERS, "temperature": JSON | NUMBERS}
EDIT_FIELDS = {**REQUEST_FIELDS, "motion": JSON | st.fixed_dictionaries(
    {"joints": JSON | st.just(STILL)}, optional={"fps": JSON | NUMBERS}),
    "keep_parts": JSON | st.just(["legs"]), "keep_frames": JSON | st.just([0, 4])}


@pytest.fixture(scope="module")
def gen():
    from tests.helpers.tiny_model import tiny_generator

    return tiny_generator()


def _validate(gen, kind: str, text: str):
    """What RequestHandler.do_POST does before submitting: parse, validate; a 4xx error or arguments."""
    try:
        body = limits.parse_json(text, "request body", error=bad_request)
        args = (parse_generate if kind == "generate" else parse_edit)(body)
        if kind == "generate":
            gen.check_request(args["prompts"], frames=args["frames"], seconds=args["seconds"],
                              seed=args["seed"], cfg=args["cfg"], steps=args["steps"],
                              temperature=args["temperature"])
        else:
            gen.check_request([args["prompt"]], frames=args["frames"], seconds=args["seconds"],
                              seed=args["seed"], cfg=args["cfg"], steps=args["steps"],
                              temperature=args["temperature"], default_frames=0)
    except HttpError as exc:
        assert 400 <= exc.status < 500 and "\n" not in str(exc)
        return None
    except RoparError as exc:  # the handler answers these with 400
        assert "\n" not in str(exc)
        return None
    return args


@FUZZ
@given(st.one_of(st.fixed_dictionaries({}, optional=REQUEST_FIELDS).map(dumps), JSON.map(dumps),
                 st.text(max_size=40), st.integers(1, 5000).map(nested)))
def test_fuzz_generate_bodies(gen, text):
    args = _validate(gen, "generate", text)
    if args is not None:
        assert all(isinstance(p, str) for p in args["prompts"])


@FUZZ
@given(st.fixed_dictionaries({}, optional=EDIT_FIELDS).map(dumps) | JSON.map(dumps))
def test_fuzz_edit_bodies(gen, text):
    args = _validate(gen, "edit", text)
    if args is not None:
        assert args["joints"].shape[1:] == (22, 3) and limits.MIN_FPS <= args["fps"] <= limits.MAX_FPS
        frames_at_20 = limits.resampled_count(len(args["joints"]), args["fps"], 20.0)
        assert frames_at_20 <= 2400  # the edit never resamples to more than 2 minutes


def test_live_server_answers_hostile_bodies(gen):
    from tests.helpers.server import Running

    s = Running(gen)
    try:
        bodies = [b"", b"{", b"\xff\xfe", nested(50_000).encode(), b'{"prompt": "a", "frames": 1e400}',
                  json.dumps({"prompt": "a", "motion": {"joints": STILL, "fps": 1e-4}}).encode(),
                  b'{"prompt": "a", "seed": ' + b"9" * 5000 + b"}", b"[" * 3000 + b"1" + b"]" * 3000]
        for path in ("/generate", "/edit"):
            for body in bodies:
                status, payload = s.request("POST", path, body)
                assert 400 <= status < 500, (path, body[:40], payload)
                assert "\n" not in payload["error"]["message"]
        assert s.healthy()
    finally:
        s.close()
