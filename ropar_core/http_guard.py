"""Which HTTP requests `ropar serve` accepts at all, decided from the request line and headers alone.

The server listens on loopback, but a web page in the user's browser can still reach loopback: a
DNS-rebinding page sends `Host: attacker.example`, and any page can send a "simple" cross-origin POST
(`Content-Type: text/plain`, `Origin: http://attacker.example`). Refusing a foreign Host, a foreign
Origin and any POST that is not `application/json` (which a browser never sends cross-origin without a
CORS preflight this server does not grant) closes both doors. An optional per-start token (sent as
`Authorization: Bearer <token>`) also keeps out other local users' programs.

Each check is a pure function raising HttpError, so it can be fuzzed without a server."""

from __future__ import annotations

import hmac
import re
from http import HTTPStatus

from ropar_core.errors import RoparError
from ropar_core.http_api import HttpError, bad_request

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_TOKEN_CHARS = 256
TOKEN_ENV = "ROPAR_SERVE_TOKEN"

_DIGITS = re.compile(r"[0-9]{1,18}")  # RFC 9110 1*DIGIT, ASCII only; 18 digits cannot overflow int64
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[^/?#\s]+)")
_TOKEN = re.compile(rf"[A-Za-z0-9._~+/=-]{{16,{MAX_TOKEN_CHARS}}}")  # RFC 6750 b64token, at least 16


def _forbidden(message: str) -> HttpError:
    return HttpError(HTTPStatus.FORBIDDEN, "forbidden", message)


def _one(headers, name: str) -> str | None:
    """The single value of a header, None when absent; a repeated header is refused (RFC 9110: Host,
    Content-Length, Origin, Authorization and Content-Type are single-valued)."""
    values = headers.get_all(name) or []
    if len(values) > 1:
        raise bad_request(f"the {name} header is repeated")
    return values[0].strip() if values else None


def host_name(value: str) -> str:
    """`Host` (or an Origin's authority) -> its lower-case host name without port or brackets."""
    m = _HOST.fullmatch(value.strip())
    if not m:
        raise bad_request(f"bad Host header {value[:60]!r}")
    return m.group("name").strip("[]").lower()


def check_host(headers, allow_any: bool, http_10: bool = False) -> str | None:
    """The request's host name; a name other than a loopback one is refused unless the server was
    started with --allow-remote (then users reach it by any of the machine's names)."""
    value = _one(headers, "Host")
    if value is None:
        if http_10:  # HTTP/1.0 clients may omit it; browsers never do
            return None
        raise bad_request("a Host header is required")
    name = host_name(value)
    if not allow_any and name not in LOOPBACK_NAMES:
        raise _forbidden(f"Host {value[:60]!r} is not this server's loopback address; use "
                         "http://127.0.0.1:<port> (requests through other names are refused, so that "
                         "web pages cannot reach the server)")
    return name


def check_origin(headers, host: str | None) -> None:
    """A browser's Origin must be a loopback page or this very server (same origin); `null` (sandboxed
    frames, file:// pages) and every other site are refused. Non-browser clients send no Origin."""
    value = _one(headers, "Origin")
    if value is None:
        return
    m = _ORIGIN.fullmatch(value)
    name = host_name(m.group("host")) if m else None
    if name is None or not (name in LOOPBACK_NAMES or name == host):
        raise _forbidden(f"requests from web pages of origin {value[:60]!r} are refused")


def check_content_type(headers) -> None:
    """A POST body must be declared `application/json` (charset utf-8 if one is given)."""
    value = _one(headers, "Content-Type")
    if value is None:
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                        "send the body with Content-Type: application/json")
    media, *params = [p.strip() for p in value.split(";")]
    charsets = [p.split("=", 1)[1].strip('" ').lower() for p in params if p.lower().startswith("charset=")]
    if media.lower() != "application/json" or any(c not in ("utf-8", "utf8") for c in charsets):
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                        f"Content-Type {value[:60]!r} is not accepted; send application/json (UTF-8)")


def content_length(headers, limit: int) -> int:
    """The body's length: exactly one Content-Length of ASCII digits (RFC 9112 §6.3: anything else,
    a repeated header or a Transfer-Encoding, could be read differently by a proxy), at most `limit`."""
    if headers.get_all("Transfer-Encoding"):
        raise bad_request("Transfer-Encoding is not supported; send the body with a Content-Length")
    value = _one(headers, "Content-Length")
    if value is None:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "bad_request", "a Content-Length header is required")
    if not _DIGITS.fullmatch(value):
        raise bad_request(f"bad Content-Length {value[:30]!r} (decimal digits only)")
    n = int(value)
    if n > limit:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large",
                        f"request body of {n} bytes exceeds the limit of {limit} bytes")
    return n


def check_token_value(token: str, what: str) -> str:
    """A token chosen at start-up: 16 to MAX_TOKEN_CHARS characters of RFC 6750's token alphabet."""
    if not _TOKEN.fullmatch(token):
        raise RoparError(f"{what}: a token must be 16 to {MAX_TOKEN_CHARS} characters of letters, digits "
                         "and -._~+/= (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return token


def check_token(headers, token: str | None) -> None:
    """With a token set, every request must carry `Authorization: Bearer <token>`; compared in constant
    time so that timing does not reveal how much of a guess was right."""
    if token is None:
        return
    value = _one(headers, "Authorization") or ""
    scheme, _, given = value.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                                            token.encode("utf-8"))
    if not ok:
        raise HttpError(HTTPStatus.UNAUTHORIZED, "unauthorized",
                        "this server needs its token: send Authorization: Bearer <token>")


def sanitize(text: str, limit: int = 300) -> str:
    """Untrusted text for a log line: control and other non-printable characters escaped, length cut."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out + ("..." if len(text) > limit else "")
