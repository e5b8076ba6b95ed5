"""Turn whatever a connection attempt raised into words a user understands, and a retry verdict."""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
)

from core.proxy import ProxyError


class SettingsError(ValueError):
    """A connection's settings cannot be used as they are (e.g. a {{variable}} with no value):
    retrying cannot fix it, so an attempt that raises it is not retried."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    kind: str  # refused, dns, offline, tls, http, timeout, protocol, url, network
    message: str
    retry: bool = True
    status: int | None = None


_HTTP_WORDS = {
    400: "bad request (the server did not accept this WebSocket handshake)",
    401: "the server rejected the token",
    403: "forbidden (origin not allowed or access denied)",
    404: "no WebSocket endpoint at this path",
    429: "too many connections from this address",
    500: "the server failed while handling the handshake",
    502: "bad gateway",
    503: "the server is unavailable or at its connection limit",
}
# Handshake rejections that repeating cannot fix: retrying them would only hammer the server.
_FATAL_STATUS = frozenset({400, 401, 403, 404, 405, 426})
# Name lookups that say the name does not exist (as opposed to EAI_AGAIN: no answer, offline).
_NOT_FOUND = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL")
    if hasattr(socket, name)
)
# OpenSSL's reasons when the peer answered a ClientHello with something that is not TLS.
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
                              "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_EOF_WHILE_READING"})
_TRY_WS = "the server does not seem to speak TLS on this port — try ws://"
_TRY_WSS = "the server may speak TLS on this port — try wss://"


def describe_error(
    exc: BaseException, url: str = "", has_token: bool = False, reached: bool | None = None
) -> ErrorInfo:
    """`reached`: whether the TCP (and TLS) connection was up and the HTTP request sent; None
    when unknown. It tells a reset of the TLS handshake from one after it."""
    where = _host_port(url)
    if isinstance(exc, SettingsError):
        return ErrorInfo("settings", str(exc), False)
    scheme = _scheme(url)
    if isinstance(exc, InvalidStatus):
        return _http_error(exc, has_token, scheme)
    if scheme == "ws" and isinstance(exc, InvalidMessage) and _not_http(exc):
        return ErrorInfo("protocol", f"No HTTP response from {where}: {_TRY_WSS}")
    if scheme == "wss" and reached is not True and _not_tls(exc):
        return ErrorInfo("tls", f"TLS handshake with {where} failed ({_what(exc)}): {_TRY_WS}")
    if isinstance(exc, InvalidURI):
        return ErrorInfo("url", f"Invalid URL: {exc.uri!r} is not a ws:// or wss:// URL", False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        return ErrorInfo("tls", f"TLS failure: the certificate of {where} was refused ({reason})")
    if isinstance(exc, ssl.SSLError):
        return ErrorInfo("tls", f"TLS failure with {where}: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        host = _hostname(url)
        if exc.errno in _NOT_FOUND:
            return ErrorInfo("dns", f"Host name not found: {host} — check the URL")
        return ErrorInfo("offline", f"Cannot look up {host} ({exc.strerror or exc}): "
                         "no DNS answer, is the network down?")
    if isinstance(exc, ProxyError):
        return ErrorInfo("proxy", str(exc))
    if isinstance(exc, ConnectionRefusedError) or _all_refused(exc):
        return ErrorInfo("refused", f"Connection refused by {where}: nothing is listening "
                         "on that port (is the server running, is the port right?)")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ErrorInfo("timeout", f"Timed out opening the connection to {where}")
    if isinstance(exc, SecurityError):
        text = str(exc)
        if "non-secure" in text:
            return ErrorInfo("redirect", "Refused a redirect from wss:// to insecure ws:// "
                             f"({text.rsplit(' ', 1)[-1]})", False)
        if "redirects" in text:
            return ErrorInfo("redirect", f"Redirect loop: the server redirected {text[:-10]} "
                             "times", False)
        return ErrorInfo("redirect", f"Refused redirect: {text}", False)
    if isinstance(exc, PayloadTooBig):
        return ErrorInfo("protocol", f"Message too big: {exc}")
    if isinstance(exc, InvalidHandshake | ProtocolError):
        return ErrorInfo("protocol", f"Protocol error during the handshake with {where}: {exc}")
    if isinstance(exc, ConnectionResetError):
        return ErrorInfo("network", f"Connection reset by {where}")
    if isinstance(exc, OSError):
        return ErrorInfo("network", f"Network error with {where}: {exc.strerror or exc}")
    return ErrorInfo("error", f"{type(exc).__name__}: {exc}")


def _http_error(exc: InvalidStatus, has_token: bool, scheme: str) -> ErrorInfo:
    status = exc.response.status_code
    words = _HTTP_WORDS.get(status, exc.response.reason_phrase or "unexpected HTTP status")
    if status == 401 and not has_token:
        words = "the server requires a token and none was given"
    body = _excerpt(exc.response.body)
    if body and status not in (401, 403):
        words += f": {body}"
    if scheme == "ws" and "https" in body.lower():  # e.g. nginx: "plain HTTP ... to HTTPS port"
        words += f" ({_TRY_WSS})"
    return ErrorInfo("http", f"HTTP {status}: {words}", status not in _FATAL_STATUS, status)


def _not_http(exc: InvalidMessage) -> bool:
    """The server closed before any status line, or answered with TLS records (a TLS alert
    or handshake: 0x15/0x16 0x03) where an HTTP status line belongs."""
    cause = exc.__cause__
    return isinstance(cause, EOFError) or (
        isinstance(cause, ValueError) and re.search("line: [\x15\x16]\x03", str(cause)) is not None
    )


def _not_tls(exc: BaseException) -> bool:
    """What a ClientHello sent to a plain-TCP server ends in: a reset, an EOF, or bytes that
    are not a TLS record (an HTTP 400, say)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | ConnectionAbortedError):
        return True
    return isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS_REASONS


def _what(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError):
        return "connection reset"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _all_refused(exc: BaseException) -> bool:
    """asyncio (3.11) joins the failures of a host's several addresses into one OSError
    without an errno ("Multiple exceptions: [Errno 111] ..., [Errno 111] ...")."""
    if not isinstance(exc, OSError) or exc.errno is not None:
        return False
    codes = re.findall(r"\[Errno (\d+)\]", str(exc))
    return bool(codes) and all(int(code) == errno.ECONNREFUSED for code in codes)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
    except ValueError:
        return url or "the server"
    return f"{parts.hostname}:{port}" if parts.hostname else (url or "the server")


def _excerpt(body: bytes | bytearray | None, limit: int = 120) -> str:
    """A short, printable quote of what the server said; never more than `limit` characters."""
    text = (body or b"").decode("utf-8", errors="replace").strip()
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:limit] + ("…" if len(text) > limit else "")
