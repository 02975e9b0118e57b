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


# ---------------------------------------------------------------------------------------------
# The request guard (http_guard.py): any header value is either accepted for what it is, or a 4xx.
def _headers(*pairs):
    from http.client import HTTPMessage

    msg = HTTPMessage()
    for name, value in pairs:
        msg[name] = value  # appends: a repeated header stays repeated
    return msg


HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40)
HOSTS = HEADER_TEXT | st.sampled_from(["127.0.0.1", "localhost:8765", "[::1]:1", "LOCALHOST", "0x7f.1", "",
                                       "attacker.example", "127.0.0.1.nip.io", "localhost.",
                                       "[::ffff:127.0.0.1]"])


def _four_xx(call):
    try:
        return call()
    except HttpError as exc:
        assert 400 <= exc.status < 500 and "\n" not in str(exc)
        return HttpError


@FUZZ
@given(st.lists(HOSTS, max_size=3), st.booleans())
def test_fuzz_host(values, allow_any):
    from ropar_core import http_guard

    got = _four_xx(lambda: http_guard.check_host(_headers(*[("Host", v) for v in values]), allow_any))
    if got is not HttpError:
        assert len(values) == 1 and (allow_any or got in http_guard.LOOPBACK_NAMES)


@FUZZ
@given(HEADER_TEXT | st.sampled_from(["null", "http://localhost:3000", "http://attacker.example",
                                      "http://127.0.0.1@attacker.example", "https://[::1]", "file://"]))
def test_fuzz_origin(value):
    from ropar_core import http_guard

    got = _four_xx(lambda: http_guard.check_origin(_headers(("Origin", value)), "127.0.0.1"))
    if got is not HttpError:  # accepted: a loopback page, exactly
        host = value.split("://", 1)[1]
        assert http_guard.host_name(host) in http_guard.LOOPBACK_NAMES


@FUZZ
@given(st.lists(HEADER_TEXT | st.integers(-5, 10**20).map(str) | st.sampled_from(["+28", "2_8", " 7", "٣"]),
                min_size=1, max_size=2))
def test_fuzz_content_length(values):
    from ropar_core import http_guard

    headers = _headers(*[("Content-Length", v) for v in values])
    got = _four_xx(lambda: http_guard.content_length(headers, 1000))
    if got is not HttpError:
        [value] = values
        assert value.strip().isascii() and value.strip().isdigit() and got == int(value) <= 1000


@FUZZ
@given(HEADER_TEXT | st.sampled_from(["application/json", "Application/JSON; charset=UTF-8", "text/plain",
                                      "application/x-www-form-urlencoded", "multipart/form-data"]))
def test_fuzz_content_type(value):
    from ropar_core import http_guard

    if _four_xx(lambda: http_guard.check_content_type(_headers(("Content-Type", value)))) is not HttpError:
        assert value.split(";")[0].strip().lower() == "application/json"


@FUZZ
@given(HEADER_TEXT)
def test_fuzz_token(guess):
    from ropar_core import http_guard

    token = "a-per-start-token-0123456789abcdef"
    for value in (guess, f"Bearer {guess}", f"bearer {token}{guess}"):
        headers = _headers(("Authorization", value))
        if _four_xx(lambda h=headers: http_guard.check_token(h, token)) is not HttpError:
            assert value.split(" ", 1)[1].strip() == token


@pytest.fixture(scope="module")
def running(gen):
    from tests.helpers.server import Running

    s = Running(gen, deadline_s=5.0)
    yield s
    s.close()


@FUZZ
@given(st.binary(max_size=60), st.sampled_from(["Host", "Origin", "Content-Type", "Content-Length", "X-Any"]))
def test_fuzz_live_header_bytes(running, junk, name):
    """Any bytes in a header: a JSON answer (the request is refused or served), never a hang or a 500."""
    value = junk.replace(b"\r", b"").replace(b"\n", b"")
    body = b'{"prompt": "a person walks", "frames": 8, "steps": 1}'
    head = {b"Host": b"127.0.0.1", b"Content-Type": b"application/json", b"Content-Length": b"%d" % len(body)}
    head[name.encode()] = value
    raw = b"POST /generate HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in head.items())
    status, payload = running.raw(raw + b"\r\n" + body)
    assert status == 200 or (400 <= status < 500 and "\n" not in payload["error"]["message"]), payload

