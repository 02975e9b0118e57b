"""`ropar serve`: a small JSON-over-HTTP server around one Generator (docs/architecture.md, HTTP API).

One model, one worker thread. HTTP handler threads (ThreadingHTTPServer) only parse and validate; the
work goes through a queue to the worker, which batches concurrent /generate requests that share
length, cfg, steps and temperature into one `Generator.generate` call. Per-prompt seeding inside the
Generator makes a batched result identical to the request served alone, so batching never mixes
results. Bodies are bounded, every failure is a JSON error `{"error": {"code", "message"}}`, and a
request that waits longer than the timeout gets a 504 and is dropped from the queue.

Only requests a web page cannot forge are served (http_guard.py: loopback Host, no foreign Origin,
`application/json` bodies, strict Content-Length, an optional per-start token), and every status,
including the ones http.server raises itself (414, 431, 501, ...), is answered in JSON.

Held resources are bounded too: a connection gets a handler thread only once its request head is in
(http_gate.py), so idle or half-open connections hold no thread; at most MAX_CONNECTIONS requests are
handled at once (more wait, and get a 503 if no slot frees in time); each must deliver its whole request
within REQUEST_DEADLINE_S and take its answer within the same again (a watchdog closes it otherwise,
however slowly it trickles bytes); clients that leave early are dropped without a traceback in the log.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ropar_core import __version__, http_guard, limits
from ropar_core.errors import RoparError
from ropar_core.http_api import HttpError, bad_request, motion_json, parse_edit, parse_generate
from ropar_core.http_gate import HeadGate, PrefixedReader
from ropar_core.learn import Learning

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_HOSTS = http_guard.LOOPBACK_NAMES
MAX_BODY_BYTES = 4 * 1024 * 1024  # a 1-minute motion for /edit is about 1 MB of JSON
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_BATCH = 32
SOCKET_TIMEOUT_S = 30  # a client that stops sending its body does not hold a thread for ever
REQUEST_DEADLINE_S = 30.0  # to send the whole request (and, again, to take the whole answer)
MAX_CONNECTIONS = 128  # requests handled at once (threads); the 200-client burst test still passes
SLOT_WAIT_S = 30.0  # how long a complete request beyond MAX_CONNECTIONS waits for a slot before a 503
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "bad_request",
               405: "method_not_allowed", 408: "timeout", 409: "busy", 411: "bad_request", 413: "too_large",
               414: "too_large", 415: "unsupported_media_type", 431: "too_large", 501: "not_implemented",
               503: "busy", 504: "timeout", 505: "bad_request"}

# ---------------------------------------------------------------------------------------------
# The worker: one thread owns the model; concurrent /generate jobs with one key share a batch.
@dataclass
class Job:
    kind: str  # "generate" | "edit"
    args: dict
    future: Future = field(default_factory=Future)

    def batch_key(self):
        a = self.args
        if self.kind != "generate":
            return None
        if a.get("path") is not None:  # a path request has its own length and pace
            return None
        return (a["frames"], a["cfg"], a["steps"], a["temperature"])


class GenerationService:
    """Owns the Generator; submit() returns a Future completed by the single worker thread."""

    def __init__(self, generator, max_batch: int = DEFAULT_MAX_BATCH, log=None):
        self.generator = generator
        self.max_batch = max(1, int(max_batch))
        self.log = log or (lambda msg: None)
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self.batches_run = 0  # for tests and the log: how many Generator calls served the requests
        self._thread = threading.Thread(target=self._loop, name="ropar-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, args: dict) -> Future:
        job = Job(kind, args)
        with self._cond:
            if self._stopped:
                raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "internal", "the server is shutting down")
            self._jobs.append(job)
            self._cond.notify()
        return job.future

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._jobs and not self._stopped:
                self._cond.wait()
            if self._stopped:
                for job in self._jobs:
                    job.future.cancel()
                self._jobs.clear()
                return None
            first = self._jobs.popleft()
            batch, key = [first], first.batch_key()
            if key is not None:
                count = len(first.args["prompts"])
                for job in list(self._jobs):
                    n = len(job.args["prompts"]) if job.kind == "generate" else 0
                    if job.batch_key() == key and count + n <= self.max_batch:
                        self._jobs.remove(job)
                        batch.append(job)
                        count += n
            return batch

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = [job for job in batch if job.future.set_running_or_notify_cancel()]  # skips timed-out ones
            if not live:
                continue
            try:
                if live[0].kind == "generate":
                    self._run_generate(live)
                else:
                    self._finish(live[0], partial(self._edit, live[0].args))
            except Exception as exc:  # never let the worker die; report to every waiting request
                self.log("worker error: " + "".join(traceback.format_exception_only(type(exc), exc)).strip())
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _finish(self, job: Job, work) -> None:
        try:
            job.future.set_result(work())
        except Exception as exc:
            if not isinstance(exc, RoparError):
                self.log(traceback.format_exc().rstrip())
            job.future.set_exception(exc)

    def _generate(self, args: dict, prompts, seeds):
        return self.generator.generate(
            prompts, frames=args["frames"], seed=seeds, cfg=args["cfg"], steps=args["steps"],
            temperature=args["temperature"], batch_size=self.max_batch, path=args.get("path"))

    def _run_generate(self, jobs: list[Job]) -> None:
        prompts, seeds = [], []
        for job in jobs:
            prompts += job.args["prompts"]
            seeds += [job.args["seed"] + i for i in range(len(job.args["prompts"]))]
        try:
            motions = self._generate(jobs[0].args, prompts, seeds)
        except RoparError:
            # A request the validator let through failed inside the batch: serve each alone so that
            # only the culprit gets the error.
            for job in jobs:
                a = job.args
                seeds = [a["seed"] + i for i in range(len(a["prompts"]))]
                self._finish(job, partial(self._generate, a, a["prompts"], seeds))
            return
        self.batches_run += 1
        start = 0
        for job in jobs:
            n = len(job.args["prompts"])
            job.future.set_result(motions[start:start + n])
            start += n

    def _edit(self, a: dict):
        self.batches_run += 1
        motion = self.generator.edit(
            a["prompt"], a["joints"], fps=a["fps"], keep_parts=a["keep_parts"], keep_frames=a["keep_frames"],
            seed=a["seed"], cfg=a["cfg"], steps=a["steps"], temperature=a["temperature"],
            frames=a["frames"], seconds=a["seconds"])
        return [motion]


# ---------------------------------------------------------------------------------------------
# HTTP.
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         b'{"error":{"code":"busy","message":"too many open connections; retry shortly"}}')


class Deadlines:
    """One watchdog thread for all connections: a connection past its deadline has its socket shut down,
    which ends any blocking read or write on it (a socket timeout only bounds each single read)."""

    def __init__(self, tick_s: float = 0.2):
        self._due: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = tick_s
        threading.Thread(target=self._run, name="ropar-deadlines", daemon=True).start()

    def arm(self, sock: socket.socket, seconds: float) -> None:
        with self._lock:
            self._due[sock] = time.monotonic() + seconds

    def disarm(self, sock: socket.socket) -> None:
        with self._lock:
            self._due.pop(sock, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                expired = [s for s, due in self._due.items() if due <= now]
                for s in expired:
                    del self._due[s]
            for s in expired:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class RoparHTTPServer(HeadGate, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog: bursts of concurrent clients are not refused

    def __init__(self, address, service: GenerationService, timeout_s: float, max_body: int, verbose: bool,
                 max_connections: int = MAX_CONNECTIONS, deadline_s: float = REQUEST_DEADLINE_S,
                 allow_remote: bool = False, token: str | None = None, model_dir: str | None = None):
        self.service, self.timeout_s, self.max_body, self.verbose = service, timeout_s, max_body, verbose
        self.deadline_s, self.allow_remote, self.token = deadline_s, allow_remote, token
        self.learning = Learning(model_dir, allowed=not allow_remote)  # POST /learn (learn.py)
        self.deadlines = Deadlines()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._heads: dict[socket.socket, bytes] = {}
        self._closing = threading.Event()
        self.gate_init(deadline_s)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)
        self.socket.setblocking(False)  # the gate's accept loop drains bursts without blocking

    def dispatch(self, sock, address, head: bytes, waited_s: float) -> bool:
        """A complete request head: give it a thread when a slot is free; a 503 once it has waited
        SLOT_WAIT_S (or the server is closing); False leaves it queued for the next try."""
        if not self._slots.acquire(blocking=False):
            if not (self._closing.is_set() or waited_s >= SLOT_WAIT_S):
                return False
            with contextlib.suppress(OSError):
                sock.settimeout(1.0)
                sock.sendall(_BUSY)
            self.shutdown_request(sock)
            return True
        self._heads[sock] = head
        try:
            self.process_request(sock, address)
        except BaseException:
            self._heads.pop(sock, None)
            self._slots.release()
            self.shutdown_request(sock)
            raise
        return True

    def take_head(self, sock) -> bytes:
        return self._heads.pop(sock, b"")

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        """A client that hung up or timed out is normal; anything else is logged in one line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        self.service.log(f"connection error: {type(exc).__name__}: {exc}")

    def shutdown(self):
        self._closing.set()
        super().shutdown()  # HeadGate's: stops the accept loop and waits for it

    def server_close(self):
        self.deadlines.stop()
        self.learning.stop()  # a running learn job's child ends and its folder is removed
        super().server_close()


class RequestHandler(BaseHTTPRequestHandler):
    server_version = f"ropar/{__version__}"
    timeout = SOCKET_TIMEOUT_S
    server: RoparHTTPServer

    def setup(self):
        super().setup()
        self.rfile.close()  # read the head the gate already took first, then the rest of the stream
        head = self.server.take_head(self.connection)
        self.rfile = io.BufferedReader(PrefixedReader(head, self.connection))
        self._arm()  # the whole request (line, headers, body) must arrive within the deadline

    def _arm(self) -> None:
        """(Re)start this connection's deadline: a client that trickles bytes cannot hold the thread."""
        self.server.deadlines.arm(self.connection, self.server.deadline_s)

    def _disarm(self) -> None:
        self.server.deadlines.disarm(self.connection)

    def finish(self):
        self._disarm()
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        if self.server.verbose:  # the request line is the client's: no raw control bytes in the log
            sys.stderr.write(f"ropar serve: {self.address_string()} {http_guard.sanitize(format % args)}\n")

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._arm()  # the client gets the deadline again to take the answer
        if self.command != "HEAD":
            self.wfile.write(data)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self.request_version == "HTTP/0.9":  # its answers have no status line: no JSON error
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported; use HTTP/1.1")
            return False
        return ok

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (bad request line, 414, 431, 501, ...) in the API's JSON."""
        if self.request_version == "HTTP/0.9":  # the request line was unreadable: answer in HTTP/1.0
            self.request_version = "HTTP/1.0"
        if not message:
            try:
                message = HTTPStatus(code).phrase
            except ValueError:
                message = "error"
        self._error(code, ERROR_CODES.get(code, "bad_request" if code < 500 else "internal"), message)

    def _guard(self, post: bool) -> None:
        """Refuse what a web page (or another local user's program, with a token) could send."""
        host = http_guard.check_host(self.headers, self.server.allow_remote,
                                     http_10=self.request_version == "HTTP/1.0")
        http_guard.check_origin(self.headers, host)
        http_guard.check_token(self.headers, self.server.token)
        if post:
            http_guard.check_content_type(self.headers)

    def _read_json(self):
        n = http_guard.content_length(self.headers, self.server.max_body)
        raw = self.rfile.read(n)
        if len(raw) < n:
            raise bad_request(f"request body ended after {len(raw)} of {n} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise bad_request(f"invalid JSON: the body is not UTF-8 ({exc.reason})") from None
        return limits.parse_json(text, "request body", error=bad_request)

    def do_GET(self):  # noqa: N802 - http.server's naming
        try:
            self._guard(post=False)
            path = self.path.split("?")[0]
            if path.startswith("/learn/"):  # a learn job's progress
                return self._send(HTTPStatus.OK, self.server.learning.status(path[len("/learn/"):]))
            if path != "/health":
                raise HttpError(HTTPStatus.NOT_FOUND, "bad_request",
                                f"unknown path {self.path[:100]}; try /health")
        except HttpError as exc:
            return self._refuse(exc)
        g = self.server.service.generator
        self._send(HTTPStatus.OK, {"status": "ok", "model": g.name, "device": str(g.device),
                                   "version": __version__})

    def _not_allowed(self):
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                    f"method {self.command} is not supported; use GET /health, POST /generate, POST /edit "
                    "or POST /learn (GET /learn/ID)",
                    {"Allow": "GET, POST"})

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _refuse(self, exc: HttpError) -> None:
        extra = {"WWW-Authenticate": "Bearer"} if exc.status == HTTPStatus.UNAUTHORIZED else None
        self._error(exc.status, exc.code, str(exc), extra)

    def do_POST(self):  # noqa: N802
        route = {"/generate": ("generate", parse_generate), "/edit": ("edit", parse_edit)}.get(self.path)
        try:
            self._guard(post=True)
            if route is None and self.path in ("/learn", "/learn/cancel"):  # learn.py: its own jobs
                return self._send(HTTPStatus.OK, self.server.learning.post(self.path, self._read_json()))
            if route is None:
                raise HttpError(HTTPStatus.NOT_FOUND, "bad_request", f"unknown path {self.path[:100]}; "
                                "use POST /generate, /edit or /learn")
            kind, parse = route
            body = self._read_json()
            self._disarm()  # the request is in; the wait for the worker is bounded by the timeout
            args = parse(body)
            self._precheck(kind, args)
            start = time.perf_counter()
            future = self.server.service.submit(kind, args)
            try:
                motions = future.result(timeout=self.server.timeout_s)
            except FutureTimeout:
                future.cancel()  # still queued: the worker will skip it
                raise HttpError(HTTPStatus.GATEWAY_TIMEOUT, "timeout",
                                f"no result within {self.server.timeout_s:g} s (server busy)") from None
            warnings = [m.warning for m in motions if getattr(m, "warning", None)]
            self._send(HTTPStatus.OK, {"motions": [motion_json(m) for m in motions], "warnings": warnings,
                                       "elapsed_s": round(time.perf_counter() - start, 4)})
        except HttpError as exc:
            self._refuse(exc)
        except RoparError as exc:
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to answer
        except Exception as exc:
            self.server.service.log(traceback.format_exc().rstrip())
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal", f"{type(exc).__name__}: {exc}")

    def _error(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        self.close_connection = True
        try:
            self._send(status, {"error": {"code": code, "message": message}}, headers)
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client left before its answer

    def _precheck(self, kind: str, args: dict) -> None:
        """Validate in the handler thread, so a bad request never reaches (or spoils) a batch; the frame
        count is resolved here so that 'seconds' and 'frames' requests of one length share a batch."""
        g = self.server.service.generator
        if kind == "generate":
            checked = g.check_request(args["prompts"], frames=args["frames"], seconds=args["seconds"],
                                      seed=args["seed"], cfg=args["cfg"], steps=args["steps"],
                                      temperature=args["temperature"], path=args.get("path"))
            own_pace = args.get("path") is not None and args["frames"] is None and args["seconds"] is None
            args.update(prompts=list(checked.prompts), frames=None if own_pace else checked.frames[0],
                        seconds=None, cfg=checked.cfg, steps=checked.steps, temperature=checked.temperature)
        else:
            checked = g.check_request([args["prompt"]], frames=args["frames"], seconds=args["seconds"],
                                      seed=args["seed"], cfg=args["cfg"], steps=args["steps"],
                                      temperature=args["temperature"], default_frames=0)
            args.update(cfg=checked.cfg, steps=checked.steps, temperature=checked.temperature)


def check_host(host: str, allow_remote: bool, warn=None) -> None:
    if host in LOOPBACK_HOSTS:
        return
    if not allow_remote:
        raise RoparError(f"refusing to listen on {host}: the server has no authentication; use 127.0.0.1, "
                         "or pass --allow-remote if you really mean to expose it")
    (warn or (lambda m: print(m, file=sys.stderr)))(
        f"ropar serve: WARNING: listening on {host}; anyone who can reach this port can use the model")


def make_server(generator, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, allow_remote: bool = False,
                timeout_s: float = DEFAULT_TIMEOUT_S, max_body: int = MAX_BODY_BYTES,
                max_batch: int = DEFAULT_MAX_BATCH, verbose: bool = False, log=None,
                max_connections: int = MAX_CONNECTIONS, deadline_s: float = REQUEST_DEADLINE_S,
                token: str | None = None, model_dir: str | None = None) -> RoparHTTPServer:
    """Build (and bind) the server; call .serve_forever(), then .shutdown() and .service.stop().
    token: when set, every request must send `Authorization: Bearer <token>` (http_guard.py).
    model_dir: the generator's model directory (None: the shipped one), the base of learn jobs."""
    check_host(host, allow_remote)
    if token is not None:
        http_guard.check_token_value(token, "token")
    log = log or (lambda msg: print(f"ropar serve: {msg}", file=sys.stderr))
    service = GenerationService(generator, max_batch=max_batch, log=log)
    try:
        return RoparHTTPServer((host, port), service, timeout_s, max_body, verbose,
                               max_connections, deadline_s, allow_remote, token, model_dir)
    except OSError as exc:
        service.stop()
        raise RoparError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
