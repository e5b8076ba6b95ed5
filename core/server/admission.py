"""The opening handshake: who gets in, in the order 404, 403, 429, 401, and what a refusal says.

Rejections happen before the upgrade. websockets' own refusals of a broken handshake (400, 426,
...) quote request headers in their body: that body is replaced by a fixed one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from .config import ServerConfig
from .events import WARNING, ServerLog, Stats
from .tokens import TokenError, verify_token

__all__ = ["PATHS", "Admission", "Gate"]

PATHS = ("/", "/echo")
MAX_NAME = 64
SERVER_HEADER = "SocketScope"

UNAUTHORIZED = "401 Unauthorized: a valid token is required\n"
NOT_FOUND = "404 Not Found: no such path\n"
FORBIDDEN = "403 Forbidden: origin not allowed\n"
TOO_MANY = "429 Too Many Requests: too many connections from this address\n"


@dataclass
class Admission:
    """What the handshake learned about a connection it let through."""

    ip: str
    path: str
    name: str | None  # Display name from the token, when there is one.
    key: str | None  # Exactly-once key: the token's subject.


def _token_from(query: str, headers: Headers) -> str | None:
    tokens = parse_qs(query).get("token")
    if tokens:
        return tokens[0]
    for value in headers.get_all("Authorization"):
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _display_name(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    """(display name, exactly-once key) from the `sub` or `name` claim."""
    for claim in ("sub", "name"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            printable = "".join(ch for ch in value if ch.isprintable())[:MAX_NAME]
            return (printable or None), value
    return None, None


def _excerpt(text: str) -> str:
    """At most MAX_NAME characters of client input, anything unprintable as an escape."""
    clipped = text[:MAX_NAME]
    if clipped.isprintable():
        return clipped
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in clipped)


def _plain(protocol: ServerProtocol, response: Response) -> Response:
    """websockets' refusal with a fixed body instead of one that quotes the request."""
    plain = protocol.reject(
        response.status_code,
        f"{response.status_code} {response.reason_phrase}: not a valid WebSocket handshake\n",
    )
    for name in ("Allow", "Upgrade"):
        if name in response.headers:
            plain.headers[name] = response.headers[name]
    return plain


class Gate:
    """Decides each handshake and counts admitted connections per address."""

    def __init__(self, config: ServerConfig, log: ServerLog, stats: Stats) -> None:
        self.config = config
        self.log = log
        self.stats = stats
        self.per_ip: Counter[str] = Counter()

    def decide(
        self, protocol: ServerProtocol, request: Request, peer: Any
    ) -> tuple[Response, Admission | None]:
        """The response to send, and the admission when it is a 101."""
        admission, refusal = self._check(protocol, request, peer)
        response = refusal or protocol.accept(request)
        admitted = refusal is None and response.status_code == 101
        if refusal is None and not admitted:
            response = _plain(protocol, response)
        response.headers["Server"] = SERVER_HEADER
        if not admitted:
            return response, None
        self.per_ip[admission.ip] += 1
        return response, admission

    def release(self, admission: Admission) -> None:
        self.per_ip[admission.ip] -= 1
        if self.per_ip[admission.ip] <= 0:
            del self.per_ip[admission.ip]

    def _check(
        self, protocol: ServerProtocol, request: Request, peer: Any
    ) -> tuple[Admission, Response | None]:
        cfg = self.config
        url = urlsplit(request.path)
        path = url.path  # Never log request.path: its query may hold a token.
        shown = _excerpt(path)  # And never more than a short, escaped excerpt of client input.
        ip = str(peer[0]) if peer else "unknown"
        admission = Admission(ip, path, None, None)
        if path not in PATHS:
            return admission, self._reject(protocol, 404, NOT_FOUND, ip, shown, "no such path")
        origins = request.headers.get_all("Origin")
        if cfg.origins and origins and (len(origins) > 1 or origins[0] not in cfg.origins):
            return admission, self._reject(
                protocol, 403, FORBIDDEN, ip, shown, "origin not allowed"
            )
        if self.per_ip[ip] >= cfg.max_conns_per_ip:
            why = f"more than {cfg.max_conns_per_ip} connections from this address"
            return admission, self._reject(protocol, 429, TOO_MANY, ip, shown, why)
        if cfg.auth:
            token = _token_from(url.query, request.headers)
            try:
                claims = verify_token(token or "", cfg.secret)
            except TokenError as exc:
                response = self._reject(protocol, 401, UNAUTHORIZED, ip, shown, str(exc))
                response.headers["WWW-Authenticate"] = "Bearer"
                return admission, response
            admission.name, admission.key = _display_name(claims)
        return admission, None

    def _reject(
        self, protocol: ServerProtocol, status: int, body: str, ip: str, path: str, why: str
    ) -> Response:
        self.stats.rejections += 1
        response = protocol.reject(status, body)
        self.log.add(
            WARNING, "rejected", f"{status} {response.reason_phrase} for {ip} on {path}: {why}"
        )
        return response
