"""`ropar serve` under hostile clients: tiny-fps /edit, deep JSON, slow and vanishing clients, too many
connections. Each is refused or dropped and the server keeps serving."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.helpers.server import Running, SlowGenerator


@pytest.fixture(scope="module")
def server(gen):
    s = Running(gen)
    yield s
    s.close()


def _edit(joints, fps):
    return {"prompt": "a person waves", "motion": {"joints": joints, "fps": fps}, "keep_parts": ["legs"]}


STILL = [[[0.0, 1.0, 0.0]] * 22] * 40


@pytest.mark.parametrize("fps,match", [
    (1e-4, "between 1 and 1000"), (0, "between 1 and 1000"), (1e9, "between 1 and 1000"),
    ("20", "number of frames per second"), (True, "number of frames per second"),
])
def test_edit_with_a_bad_frame_rate_is_400(server, fps, match):
    status, payload = server.request("POST", "/edit", _edit(STILL, fps))
    assert status == 400 and match in payload["error"]["message"], payload
    assert server.healthy()


def test_edit_longer_than_the_limit_is_refused_before_resampling(server):
    # 2 000 frames at 1 fps = 40 000 frames at 20 fps: refused from the frame count alone
    status, payload = server.request("POST", "/edit", _edit([[[0, 1, 0]] * 22] * 2000, 1))
    assert status == 400 and "at most 120 s" in payload["error"]["message"], payload


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_json_is_400_not_500(server, depth):
    body = b'{"prompt": ' + b"[" * depth + b"]" * depth + b"}"
    status, payload = server.request("POST", "/generate", body)
    assert status == 400 and payload["error"]["code"] == "bad_request", payload
    assert server.healthy()


def test_huge_whole_numbers_are_400(server):
    status, payload = server.request("POST", "/generate", b'{"prompt": "a", "frames": 1' + b"0" * 400 + b"}")
    assert status == 400, payload
    status, payload = server.request("POST", "/generate", {"prompt": "a", "seed": 10**40})
    assert status == 400, payload


def test_a_client_that_trickles_its_request_is_cut_off_at_the_deadline(gen):
    s = Running(gen, deadline_s=1.0)
    try:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        t0 = time.monotonic()
        closed = False
        for ch in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: y\r\n" * 100:
            try:
                sock.send(bytes([ch]))  # one byte every 0.05 s: each read is well within a per-read timeout
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - t0 > 6:
                break
        if not closed:
            sock.settimeout(5)
            closed = sock.recv(100) == b""  # the server shut the connection down
        assert closed and time.monotonic() - t0 < 6
        sock.close()
        assert s.healthy()
    finally:
        s.close()


def test_requests_beyond_the_cap_wait_for_a_slot(gen):
    s = Running(gen, max_connections=2, deadline_s=30.0)
    try:
        stalled = []
        for _ in range(2):  # a complete head promising a body that never comes: each holds a thread
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(b"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10\r\n\r\n")
            stalled.append(sock)
        time.sleep(0.5)
        result = {}
        waiter = threading.Thread(target=lambda: result.update(ok=s.healthy()))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive()  # no third thread: the request waits for a slot
        for sock in stalled:
            sock.close()
        waiter.join(30)
        assert result.get("ok") is True
    finally:
        s.close()


def test_idle_and_half_sent_connections_hold_no_thread(gen):
    """300 connections that send nothing or half a head: /health still answers at once, and an idle
    connection is closed (with a JSON 408) at the request deadline."""
    s = Running(gen, max_connections=4, deadline_s=3.0)
    held = []
    try:
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", s.port))
            if i % 2:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: half a head
            held.append(sock)
        t0 = time.monotonic()
        assert s.healthy()
        assert time.monotonic() - t0 < 2.0
        held[0].settimeout(10)
        answer = held[0].recv(4096)
        assert answer.startswith(b"HTTP/1.0 408") and b'"code": "timeout"' in answer, answer[:200]
    finally:
        for sock in held:
            sock.close()
        s.close()


def test_a_client_that_leaves_early_leaves_no_traceback(gen, capfd):
    logged = []
    s = Running(SlowGenerator(gen, delay=0.5))
    s.httpd.service.log = logged.append
    try:
        body = b'{"prompt": "a person walks", "frames": 8, "steps": 1}'
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", s.port))
            head = (b"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body))
            sock.sendall(head + body)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()  # reset: the answer will hit a dead socket
        time.sleep(2.0)
        assert s.healthy()
    finally:
        s.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    assert not any("Traceback" in m for m in logged)
