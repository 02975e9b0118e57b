"""A loopback RoPAR server running in a thread for the server tests, and a deliberately slow generator."""

from __future__ import annotations

import http.client
import json
import threading
import time

from ropar_core.server import make_server


class Running:
    """A server on an ephemeral loopback port, served from a background thread."""

    def __init__(self, generator, **kwargs):
        self.httpd = make_server(generator, host="127.0.0.1", port=0, log=lambda m: None, **kwargs)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 60.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if data is not None and "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(data))
        try:
            conn.putrequest(method, path, skip_host="Host" in hdrs)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            if data is not None:
                conn.send(data)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read().decode())
        finally:
            conn.close()

    def raw(self, data: bytes, timeout: float = 30.0):
        """Send raw bytes (a request http.client would not write) -> (status, JSON answer)."""
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body.decode())

    def healthy(self) -> bool:
        status, body = self.request("GET", "/health")
        return status == 200 and body["status"] == "ok"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.service.stop()


class SlowGenerator:
    """A stand-in generator: validates like the real one, sleeps or fails when generating."""

    def __init__(self, real, delay=0.0, fail=False):
        self.real, self.delay, self.fail = real, delay, fail
        self.name, self.device = "slow", "cpu"

    def check_request(self, *a, **kw):
        return self.real.check_request(*a, **kw)

    def generate(self, prompts, **kw):
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the GPU caught fire")
        return self.real.generate(prompts, **kw)
