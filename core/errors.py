"""Turn whatever a connection attempt raised into words a user understands, and a retry verdict."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
)


class SettingsError(ValueError):
    """A connection's settings cannot be used as they are (e.g. a {{variable}} with no value):
    retrying cannot fix it, so an attempt that raises it is not retried."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    kind: str  # refused, dns, tls, http, timeout, protocol, url, network
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


def describe_error(exc: BaseException, url: str = "", has_token: bool = False) -> ErrorInfo:
    where = _host_port(url)
    if isinstance(exc, SettingsError):
        return ErrorInfo("settings", str(exc), False)
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        words = _HTTP_WORDS.get(status, exc.response.reason_phrase or "unexpected HTTP status")
        if status == 401 and not has_token:
            words = "the server requires a token and none was given"
        body = _excerpt(exc.response.body)
        if body and status not in (401, 403):
            words += f": {body}"
        return ErrorInfo("http", f"HTTP {status}: {words}", status not in _FATAL_STATUS, status)
    if isinstance(exc, InvalidURI):
        return ErrorInfo("url", f"Invalid URL: {exc.uri!r} is not a ws:// or wss:// URL", False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        return ErrorInfo("tls", f"TLS failure: the certificate of {where} was refused ({reason})")
    if isinstance(exc, ssl.SSLError):
        return ErrorInfo("tls", f"TLS failure with {where}: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return ErrorInfo("dns", f"DNS failure: cannot resolve {urlsplit(url).hostname or url}")
    if isinstance(exc, ConnectionRefusedError):
        return ErrorInfo("refused", f"Connection refused: nothing is listening at {where}")
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


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
    except ValueError:
        return url or "the server"
    return f"{parts.hostname}:{port}" if parts.hostname else (url or "the server")


def _excerpt(body: bytes | None, limit: int = 120) -> str:
    """A short, printable quote of what the server said; never more than `limit` characters."""
    text = (body or b"").decode("utf-8", errors="replace").strip()
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:limit] + ("…" if len(text) > limit else "")
