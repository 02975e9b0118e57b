"""The server's accept loop: a connection gets a handler thread only once its whole request head
(request line and headers) has arrived.

Threads are few (server.MAX_CONNECTIONS), and a client that connects and then sends nothing, or half a
header, would hold one for the whole request deadline: 300 such connections used to leave `/health`
unanswered for minutes. Here one selector thread reads every waiting connection's head without
blocking; idle connections cost a socket and a small buffer, are closed at their deadline, and when too
many wait the oldest is dropped first, so a real client's request always gets through."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024  # request line + headers (http.server's own per-line limit)
MAX_WAITING = 1024  # connections still sending their head; beyond, the oldest is closed
HEAD_END = (b"\r\n\r\n", b"\n\n")


@dataclass
class Waiting:
    """A connection whose head is still arriving (or whose head is in and which waits for a thread)."""

    address: tuple
    due: float
    head: bytearray = field(default_factory=bytearray)
    since: float = field(default_factory=time.monotonic)


def _json_status(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class PrefixedReader(io.RawIOBase):
    """A socket's byte stream with the head the gate already read put back in front of it."""

    def __init__(self, prefix: bytes, sock: socket.socket):
        self._prefix = memoryview(prefix)
        self._raw = socket.SocketIO(sock, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # releases its hold on the socket, so closing the socket really closes it
        super().close()


class HeadGate:
    """Mixin for a socketserver TCP server: serve_forever() reads request heads in one thread and calls
    dispatch(sock, address, head) -> bool for complete ones (False: no thread free yet, retry later)."""

    gate_deadline_s: float = 30.0
    max_waiting: int = MAX_WAITING

    def gate_init(self, deadline_s: float) -> None:
        self.gate_deadline_s = deadline_s
        self._gate_stop = threading.Event()
        self._gate_done = threading.Event()
        self._gate_done.set()  # not serving yet: shutdown() returns at once
        self._ready: collections.deque = collections.deque()  # (sock, Waiting) with a complete head

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._gate_done.clear()
        waiting: dict[socket.socket, Waiting] = {}
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(self.socket, selectors.EVENT_READ)
                while not self._gate_stop.is_set():
                    for key, _ in sel.select(0.05 if self._ready else poll_interval):
                        if key.fileobj is self.socket:
                            self._accept(sel, waiting)
                        else:
                            self._read_head(sel, waiting, key.fileobj)
                    self._dispatch_ready()
                    self._expire(sel, waiting)
        finally:
            for sock in list(waiting) + [s for s, _ in self._ready]:
                self._close(sock)
            self._ready.clear()
            self._gate_done.set()

    def shutdown(self) -> None:
        self._gate_stop.set()
        self._gate_done.wait()

    # -- the loop's steps --------------------------------------------------------------------------
    def _accept(self, sel, waiting: dict) -> None:
        for _ in range(64):  # drain a burst, but keep serving the others
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of file descriptors: the oldest idle connection makes room
                self._drop_oldest(sel, waiting)
                return
            sock.setblocking(False)
            if len(waiting) >= self.max_waiting:
                self._drop_oldest(sel, waiting)
            waiting[sock] = Waiting(address, time.monotonic() + self.gate_deadline_s)
            sel.register(sock, selectors.EVENT_READ)

    def _read_head(self, sel, waiting: dict, sock: socket.socket) -> None:
        entry = waiting[sock]
        try:
            data = sock.recv(MAX_HEAD_BYTES + 1 - len(entry.head))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up before finishing its request
            self._forget(sel, waiting, sock)
            self._close(sock)
            return
        entry.head += data
        if any(end in entry.head for end in HEAD_END):
            self._forget(sel, waiting, sock)
            self._ready.append((sock, entry))
        elif len(entry.head) > MAX_HEAD_BYTES:
            self._forget(sel, waiting, sock)
            first_line_done = b"\n" in entry.head
            self._refuse(sock, *((431, "Request Header Fields Too Large", "too_large",
                                  f"request headers over {MAX_HEAD_BYTES} bytes") if first_line_done else
                                 (414, "URI Too Long", "too_large",
                                  f"request line over {MAX_HEAD_BYTES} bytes")))

    def _dispatch_ready(self) -> None:
        while self._ready:
            sock, entry = self._ready[0]
            sock.setblocking(True)
            if not self.dispatch(sock, entry.address, bytes(entry.head), time.monotonic() - entry.since):
                sock.setblocking(False)
                return  # no thread free; the queue keeps its order
            self._ready.popleft()

    def _expire(self, sel, waiting: dict) -> None:
        now = time.monotonic()
        for sock in [s for s, w in waiting.items() if w.due <= now]:
            self._forget(sel, waiting, sock)
            self._refuse(sock, 408, "Request Timeout", "timeout",
                         f"the request head did not arrive within {self.gate_deadline_s:g} s")

    def _drop_oldest(self, sel, waiting: dict) -> None:
        if waiting:
            oldest = min(waiting, key=lambda s: waiting[s].since)
            self._forget(sel, waiting, oldest)
            self._close(oldest)

    @staticmethod
    def _forget(sel, waiting: dict, sock: socket.socket) -> None:
        waiting.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            sel.unregister(sock)

    def _refuse(self, sock: socket.socket, status: int, reason: str, code: str, message: str) -> None:
        with contextlib.suppress(OSError):
            sock.send(_json_status(status, reason, code, message))  # small: fits the socket buffer
        self._close(sock)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def dispatch(self, sock: socket.socket, address, head: bytes, waited_s: float) -> bool:
        raise NotImplementedError
