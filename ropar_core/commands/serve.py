"""`ropar serve`: the HTTP JSON server the Blender add-on talks to (ropar_core.server).

Loopback only unless --allow-remote; with a token (--token-file, or the ROPAR_SERVE_TOKEN environment
variable, which a program starting its own server sets) every request must send it. The first line on
stderr says where it listens ("ropar serve: listening on http://127.0.0.1:8765 ..."), so a parent process
started with --port 0 can read the port it got."""

from __future__ import annotations

import os
import sys

from ropar_core.server import DEFAULT_HOST, DEFAULT_MAX_BATCH, DEFAULT_PORT, DEFAULT_TIMEOUT_S, MAX_BODY_BYTES

MAX_TIMEOUT_S = 86400.0  # a day; "inf" would overflow the wait
MAX_BODY_MB = 1024.0  # bodies are held in memory and parsed whole


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the model over HTTP JSON on 127.0.0.1 (for Blender)",
                       description="Serve GET /health, POST /generate and POST /edit (JSON) on loopback.")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)")
    p.add_argument("--model", metavar="DIR", default=None,
                   help="model directory, or a shipped model by name (a folder of assets/; default: default)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (no authentication: anyone reaching it can use it)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds a request may wait for its result (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help=f"most motions generated in one batch (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--max-body-mb", type=float, default=MAX_BODY_BYTES / 2**20,
                   help=f"largest request body in MiB (default {MAX_BODY_BYTES / 2**20:g})")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU: fastest)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA)")
    p.add_argument("--token-file", metavar="FILE", default=None,
                   help="require `Authorization: Bearer <token>` on every request, the token being this "
                        "file's first line (default: the ROPAR_SERVE_TOKEN environment variable, if set)")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    p.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                   help="stop by itself once process PID has ended (a program that starts the server "
                        "for itself passes its own PID, so a crash leaves no server behind)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ropar_core import limits
    from ropar_core.errors import RoparError
    from ropar_core.server import check_host, make_server

    if not 0 <= args.port <= 65535:
        raise RoparError(f"--port must be in 0..65535, got {args.port}")
    bounds = (("--timeout", args.timeout, MAX_TIMEOUT_S), ("--max-batch", args.max_batch, 1024),
              ("--max-body-mb", args.max_body_mb, MAX_BODY_MB))
    for flag, value, top in bounds:
        if not 0 < value <= top:  # also refuses nan and inf
            raise RoparError(f"{flag} must be above 0 and at most {top:g}, got {value}")
    limits.check_threads(args.threads)
    check_host(args.host, args.allow_remote)  # before the slow model load
    token = _token(args.token_file)
    httpd = None
    if args.parent_pid is not None:  # watched from now on: a parent dying during the load ends us too
        from ropar_core.watchdog import check_parent_pid, stop_when_parent_ends

        check_parent_pid(args.parent_pid)
        stop_when_parent_ends(args.parent_pid, lambda: httpd.shutdown() if httpd is not None else os._exit(0))

    from ropar_core.generator import Generator

    gen = Generator.from_pretrained(args.model, device=args.device, compile=args.compile,
                                    threads=args.threads)
    httpd = make_server(gen, host=args.host, port=args.port, allow_remote=args.allow_remote,
                        timeout_s=args.timeout, max_body=int(args.max_body_mb * 2**20),
                        max_batch=args.max_batch, verbose=args.verbose, token=token, model_dir=args.model)
    host, port = httpd.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    needs = "; token required" if token else ""
    print(f"ropar serve: listening on http://{shown}:{port} (model {gen.name} on {gen.device}{needs}); "
          "Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        print("ropar serve: stopping", file=sys.stderr)
    finally:
        httpd.server_close()
        httpd.service.stop()
    return 0


def _token(path: str | None) -> str | None:
    """--token-file's first line, else $ROPAR_SERVE_TOKEN, else None (no token); never a command-line
    argument, which every local user could read from the process list."""
    from ropar_core import limits
    from ropar_core.http_guard import TOKEN_ENV, check_token_value

    if path is None:
        value = os.environ.get(TOKEN_ENV)
        return None if not value else check_token_value(value.strip(), TOKEN_ENV)
    text = limits.read_text_file(path, 4096, "--token-file")
    lines = text.splitlines()
    return check_token_value(lines[0].strip() if lines else "", f"--token-file {path}")
