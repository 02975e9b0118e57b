"""`ropar serve`: health, generate, edit, JSON errors, body limits, timeouts, and 200 concurrent requests
that are batched but never lost or mixed up."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ropar_core import skeleton as sk
from ropar_core.errors import RoparError
from ropar_core.server import check_host
from tests.helpers.server import (
    Running,
    SlowGenerator,
)
from tests.helpers.tiny_model import walking_motion


@pytest.fixture(scope="module")
def server(gen):
    s = Running(gen)
    yield s
    s.close()


def test_health(server):
    status, body = server.request("GET", "/health")
    assert status == 200
    assert body["status"] == "ok" and body["model"] == "tiny" and body["device"] == "cpu" and body["version"]


def test_generate_matches_the_generator(server, gen):
    status, body = server.request("POST", "/generate", {"prompt": "a person walks", "frames": 30, "seed": 5,
                                                        "steps": 3, "cfg": 2.5})
    assert status == 200, body
    [m] = body["motions"]
    assert m["prompt"] == "a person walks" and m["seed"] == 5 and m["fps"] == 20 and m["frames"] == 30
    joints = np.array(m["joints"])
    assert joints.shape == (30, 22, 3) and np.array(m["rotations"]).shape == (30, 22, 4)
    assert np.array(m["root"]).shape == (30, 3) and body["elapsed_s"] >= 0
    [ref] = gen.generate("a person walks", frames=30, seed=5, steps=3, cfg=2.5)
    assert np.allclose(joints, ref.joints, atol=1e-4)


def test_generate_several_prompts_and_seconds(server):
    status, body = server.request("POST", "/generate", {"prompts": ["a person runs", "a person sits"],
                                                        "seconds": 1.0, "seed": 10, "steps": 2})
    assert status == 200, body
    assert [m["seed"] for m in body["motions"]] == [10, 11]
    assert [m["prompt"] for m in body["motions"]] == ["a person runs", "a person sits"]
    assert all(m["frames"] == 20 for m in body["motions"])


def test_edit_keeps_parts(server):
    src = walking_motion(24)
    status, body = server.request("POST", "/edit", {
        "prompt": "a person waves", "motion": {"joints": src.tolist(), "fps": 20}, "keep_parts": ["legs"],
        "seed": 1, "steps": 2})
    assert status == 200, body
    out = np.array(body["motions"][0]["joints"])
    kept = sorted(set(sk.PART_JOINTS["left_leg"]) | set(sk.PART_JOINTS["right_leg"]))
    assert np.allclose(out[:, kept], src[:, kept], atol=1e-5)  # exact up to the JSON's 5 decimals
    assert np.abs(out[:, [18, 19, 20, 21]] - src[:, [18, 19, 20, 21]]).max() > 1e-3
    status, body = server.request("POST", "/edit", {
        "prompt": "a person waves", "motion": {"joints": src.tolist()}, "keep_frames": [0, 12], "steps": 2})
    assert status == 200, body
    assert np.allclose(np.array(body["motions"][0]["joints"])[:12], src[:12], atol=1e-5)


@pytest.mark.parametrize("path, body, status, code, match", [
    ("/generate", b"{not json", 400, "bad_request", "invalid JSON"),
    ("/generate", b"\xff\xfe", 400, "bad_request", "invalid JSON"),
    ("/generate", b"[1, 2]", 400, "bad_request", "JSON object"),
    ("/generate", {"prompt": "a", "colour": "red"}, 400, "bad_request", "unknown field"),
    ("/generate", {"frames": 40}, 400, "bad_request", "exactly one of"),
    ("/generate", {"prompt": "a", "prompts": ["b"]}, 400, "bad_request", "exactly one of"),
    ("/generate", {"prompts": []}, 400, "bad_request", "non-empty list"),
    ("/generate", {"prompts": ["a"] * 65}, 400, "bad_request", "at most 64"),
    ("/generate", {"prompt": 3}, 400, "bad_request", "string"),
    ("/generate", {"prompt": "   "}, 400, "bad_request", "empty prompt"),
    ("/generate", {"prompt": "x" * 400}, 400, "bad_request", "too long"),
    ("/generate", {"prompt": "a", "frames": 0}, 400, "bad_request", "at least"),
    ("/generate", {"prompt": "a", "frames": "ten"}, 400, "bad_request", "number"),
    ("/generate", {"prompt": "a", "seconds": 1, "frames": 20}, 400, "bad_request", "not both"),
    ("/generate", {"prompt": "a", "cfg": 99}, 400, "bad_request", "cfg"),
    ("/generate", {"prompt": "a", "steps": 1.5}, 400, "bad_request", "whole number"),
    ("/generate", {"prompt": "a", "seed": True}, 400, "bad_request", "number"),
    ("/edit", {"prompt": "a"}, 400, "bad_request", "motion"),
    ("/edit", {"prompt": "a", "motion": {"joints": [[1, 2]]}, "keep_parts": ["legs"]}, 400, "bad_request",
     "shape"),
    ("/edit", {"prompt": "a", "motion": {"joints": "x"}}, 400, "bad_request", "shape|array"),
    ("/edit", {"prompt": "a", "motion": {"joints": [[[0, 0, 0]] * 22] * 8}, "keep_frames": [1]}, 400,
     "bad_request", "keep_frames"),
    ("/nope", {"prompt": "a"}, 404, "bad_request", "unknown path"),
])
def test_bad_requests_get_json_errors_and_the_server_survives(server, path, body, status, code, match):
    got, payload = server.request("POST", path, body)
    assert got == status, payload
    assert payload["error"]["code"] == code
    assert re.search(match, payload["error"]["message"]), payload
    assert "\n" not in payload["error"]["message"]
    assert server.healthy()


def test_missing_length_and_unknown_get(server):
    status, payload = server.request("POST", "/generate", None)
    assert status == 411 and payload["error"]["code"] == "bad_request"
    status, payload = server.request("GET", "/generate")
    assert status == 404 and payload["error"]["code"] == "bad_request"
    assert server.healthy()


def test_too_large_body_is_refused_without_reading_it(gen):
    s = Running(gen, max_body=2000)
    try:
        status, payload = s.request("POST", "/generate", {"prompt": "a" * 100, "pad": "x" * 5000})
        assert status == 413 and payload["error"]["code"] == "too_large"
        # a lying Content-Length is refused before any body arrives
        status, payload = s.request("POST", "/generate", b"", headers={"Content-Length": str(10**9)})
        assert status == 413 and payload["error"]["code"] == "too_large"
        assert s.healthy()
    finally:
        s.close()




def test_timeouts_and_internal_errors_are_json_and_not_fatal(gen):
    s = Running(SlowGenerator(gen, delay=1.0), timeout_s=0.2)
    try:
        body = {"prompt": "a person walks", "frames": 8, "steps": 1}
        status, payload = s.request("POST", "/generate", body)
        assert status == 504 and payload["error"]["code"] == "timeout"
        assert s.healthy()
    finally:
        s.close()
    s = Running(SlowGenerator(gen, fail=True))
    try:
        status, payload = s.request("POST", "/generate", {"prompt": "a person walks", "frames": 8})
        assert status == 500 and payload["error"]["code"] == "internal"
        assert "caught fire" in payload["error"]["message"]
        assert s.healthy()
        s.httpd.service.generator.fail = False
        status, _ = s.request("POST", "/generate", {"prompt": "a person walks", "frames": 8, "steps": 1})
        assert status == 200  # the worker thread survived
    finally:
        s.close()


def test_200_concurrent_requests_are_batched_never_lost_or_mixed(server, gen):
    n = 200
    lengths = (8, 12, 16)

    def one(i):
        body = {"prompt": f"person number {i} walks", "seed": 1000 + i, "frames": lengths[i % 3], "steps": 2}
        return i, server.request("POST", "/generate", body, timeout=120)

    before = server.httpd.service.batches_run
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    batches = server.httpd.service.batches_run - before
    assert len(results) == n
    for i, (status, body) in results:
        assert status == 200, body
        [m] = body["motions"]
        assert m["prompt"] == f"person number {i} walks" and m["seed"] == 1000 + i
        assert m["frames"] == lengths[i % 3] and np.array(m["joints"]).shape == (lengths[i % 3], 22, 3)
    assert batches < n  # concurrent requests of one length shared generator calls
    for i in (0, 1, 2, 97, 199):  # and a batched result is the request's own motion
        [ref] = gen.generate(f"person number {i} walks", frames=lengths[i % 3], seed=1000 + i, steps=2)
        _, (_, body) = results[i]
        assert np.allclose(np.array(body["motions"][0]["joints"]), ref.joints, atol=1e-4)
    assert server.healthy()


def test_non_loopback_hosts_need_allow_remote():
    with pytest.raises(RoparError, match="allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    warnings = []
    check_host("0.0.0.0", allow_remote=True, warn=warnings.append)
    assert warnings and "WARNING" in warnings[0]
    check_host("127.0.0.1", allow_remote=False)
    check_host("::1", allow_remote=False)


# ---------------------------------------------------------------------------------------------
# What a web page could send is refused (http_guard.py); a plain local client is served.
GOOD = {"prompt": "a person walks", "frames": 8, "steps": 1}


@pytest.mark.parametrize("method, headers, body, status, code", [
    ("GET", {"Host": "attacker.example"}, None, 403, "forbidden"),  # DNS rebinding
    ("POST", {"Host": "attacker.example:8765"}, GOOD, 403, "forbidden"),
    ("POST", {"Origin": "http://attacker.example"}, GOOD, 403, "forbidden"),
    ("GET", {"Origin": "null"}, None, 403, "forbidden"),
    ("POST", {"Content-Type": "text/plain"}, GOOD, 415, "unsupported_media_type"),  # a "simple" no-cors POST
    ("POST", {"Content-Type": "application/json; charset=latin-1"}, GOOD, 415, "unsupported_media_type"),
    ("PUT", {}, GOOD, 405, "method_not_allowed"),
    ("DELETE", {}, None, 405, "method_not_allowed"),
    ("OPTIONS", {"Origin": "http://attacker.example"}, None, 405, "method_not_allowed"),  # no CORS preflight
    ("BREW", {}, None, 501, "not_implemented"),
    ("POST", {"Content-Length": "+28"}, GOOD, 400, "bad_request"),
    ("POST", {"Content-Length": "2_8"}, GOOD, 400, "bad_request"),
    ("POST", {"Transfer-Encoding": "chunked"}, GOOD, 400, "bad_request"),
    ("POST", {}, {"prompt": "a \ud800 person walks"}, 400, "bad_request"),  # a lone surrogate
])
def test_requests_a_web_page_could_send_are_refused_in_json(server, method, headers, body, status, code):
    got, payload = server.request(method, "/generate" if method != "GET" else "/health", body, headers)
    assert got == status, payload
    assert payload["error"]["code"] == code and "\n" not in payload["error"]["message"]
    assert server.healthy()


def test_a_doubled_content_length_is_refused(server):
    got, payload = server.raw(b"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Content-Type: application/json\r\n"
                              b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    assert got == 400 and "repeated" in payload["error"]["message"], payload


@pytest.mark.parametrize("line, status", [(b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414),
                                          (b"GET /health HTTP/1.1\r\n" + b"X-Pad: y\r\n" * 8000, 431),
                                          (b"GET /health HTTP/9.9", 505),
                                          (b"\x01\x02 garbage", 400)])
def test_http_servers_own_refusals_are_json(server, line, status):
    got, payload = server.raw(line + b"\r\n\r\n")
    assert got == status and payload["error"]["message"], payload


def test_loopback_origins_and_hosts_are_served(server):
    for headers in ({"Host": "localhost:1"}, {"Host": "[::1]"}, {"Origin": "http://localhost:3000"},
                    {"Origin": f"http://127.0.0.1:{server.port}"}):
        got, payload = server.request("POST", "/generate", GOOD, headers)
        assert got == 200, (headers, payload)


def test_a_token_is_required_when_set(gen):
    token = "s3cret-token-of-32-characters-xx"
    s = Running(gen, token=token)
    try:
        assert s.request("GET", "/health")[0] == 401
        wrong = {"Authorization": "Bearer wrong-token-0123456789"}
        assert s.request("GET", "/health", headers=wrong)[0] == 401
        got, payload = s.request("POST", "/generate", GOOD, {"Authorization": f"Bearer {token}"})
        assert got == 200, payload
    finally:
        s.close()
    with pytest.raises(RoparError, match="16 to"):
        Running(gen, token="short")


def test_verbose_log_escapes_control_bytes(gen, capfd):
    s = Running(gen, verbose=True)
    try:
        got, _ = s.raw(b"GET /health\x1b[2J\x07 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert got == 404
    finally:
        s.close()
    err = capfd.readouterr().err
    assert "\\x1b[2J\\x07" in err and "\x1b" not in err and "\x07" not in err
