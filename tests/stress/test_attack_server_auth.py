"""The JWT matrix against the EmbeddedServer (its own thread, as in the app): every bad token is
refused before the upgrade with one generic 401 body, a foreign Origin with 403, an oversized
token by websockets' own size limits; and no token ever reaches a log (websockets and core.server
loggers at DEBUG, the root logger, and the server's drain_log())."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import socket
import time
from collections.abc import Iterator

import pytest

from core.server import EmbeddedServer, ServerConfig, make_token
from tests.attackers import SECRET, report
from tests.rawws import upgrade_request

GOOD_ORIGIN = "https://good.example"
UNAUTHORIZED = b"401 Unauthorized: a valid token is required\n"


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _sign(header: dict[str, str], claims: dict[str, object], secret: str) -> str:
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _bad_tokens() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "mallory", "exp": now + 600}
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg none, signed anyway": _sign({"alg": "none"}, claims, SECRET),
        "alg HS512 header, HS256 signature": _sign({"alg": "HS512"}, claims, SECRET),
        "wrong secret": make_token("another-secret-that-is-also-32-bytes!", "mallory"),
        "expired": make_token(SECRET, "mallory", ttl=-5),
        "nbf in the future": make_token(SECRET, "mallory", nbf=now + 600),
        "exp not a number": _sign({"alg": "HS256"}, {"sub": "m", "exp": "never"}, SECRET),
        "garbage": "garbage!!<script>",
        "three garbage segments": "a.b.c",
        "random bytes": base64.urlsafe_b64encode(os.urandom(300)).decode(),
        "7 KiB of garbage (fits a request line)": "x" * 7 * 1024,
    }


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP exchange on a blocking socket; the server answers a refusal and closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(request)
        data = b""
        for _ in range(1000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"HTTP/1.1 101"):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), headers, body


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def logs() -> Iterator[_Everything]:
    """Every record of every logger, with websockets and core.server at DEBUG."""
    handler = _Everything()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("websockets", "core.server", "")}
    root.addHandler(handler)
    for name in ("websockets", "core.server", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_jwt_matrix_is_refused_before_the_upgrade_and_never_logged(logs: _Everything) -> None:
    server = EmbeddedServer(
        ServerConfig(port=0, secret=SECRET, ping_interval=0, origins=(GOOD_ORIGIN,))
    )
    server.start()
    try:
        port = server.port
        bad = _bad_tokens()
        seen: dict[str, tuple[int, bytes]] = {}
        bodies: set[bytes] = set()
        for why, tok in bad.items():
            for where, request in (
                ("query", upgrade_request(port, f"/?token={tok}")),
                ("bearer", upgrade_request(port, "/", f"Authorization: Bearer {tok}\r\n")),
                ("echo path", upgrade_request(port, f"/echo?token={tok}")),
            ):
                status, headers, body = _exchange(port, request)
                seen[f"{why} ({where})"] = (status, body)
                assert status == 401, (why, where, status, body)
                assert headers.get("WWW-Authenticate") == "Bearer"
                bodies.add(body)
        status, _, body = _exchange(port, upgrade_request(port, "/"))  # No token at all.
        seen["no token"] = (status, body)
        bodies.add(body)
        assert status == 401

        # 64 KiB tokens (validly signed, even): websockets' line limit refuses them first.
        huge = make_token(SECRET, "mallory", pad="p" * 64 * 1024)
        bad["64 KiB token"] = huge
        big_query = _exchange(port, upgrade_request(port, f"/?token={huge}"))
        bearer = f"Authorization: Bearer {huge}\r\n"
        big_header = _exchange(port, upgrade_request(port, "/", bearer))
        assert big_query[0] == 414 and big_header[0] == 431

        # A foreign Origin: 403 before the token is even looked at, good token or not.
        good = make_token(SECRET, "alice")
        for tok in (good, bad["garbage"]):
            status, _, body = _exchange(
                port, upgrade_request(port, f"/?token={tok}", "Origin: https://evil.example\r\n")
            )
            assert (status, body) == (403, b"403 Forbidden: origin not allowed\n")
        two = upgrade_request(port, f"/?token={good}", f"Origin: {GOOD_ORIGIN}\r\nOrigin: x\r\n")
        assert _exchange(port, two)[0] == 403

        # And the right token from the right origin does get in.
        ok = _exchange(port, upgrade_request(port, f"/?token={good}", f"Origin: {GOOD_ORIGIN}\r\n"))
        assert ok[0] == 101

        for _ in range(100):  # The server thread logs asynchronously; let it catch up.
            if server.snapshot().rejections >= len(seen) + 5:
                break
            time.sleep(0.02)
        entries = server.drain_log()
    finally:
        server.stop()

    rejected = [e for e in entries if e.kind == "rejected"]
    texts = [e.text for e in entries] + logs.lines
    secrets = [*bad.values(), good]
    pieces = [piece for tok in secrets for piece in tok.split(".") if len(piece) >= 16]
    leaked = [t for t in texts if any(s in t for s in [*secrets, *pieces])]
    report("jwt: bad-token requests refused with 401", len(seen), "", "all, before the upgrade")
    report("jwt: distinct 401 bodies", len(bodies), "", "1")
    report("jwt: 64 KiB token (query / header)", f"{big_query[0]} / {big_header[0]}", "",
           "refused before the upgrade")
    report("jwt: log lines searched (drain_log + DEBUG records)", len(texts))
    report("jwt: log lines containing a token or a token segment", len(leaked), "", "0")
    assert bodies == {UNAUTHORIZED}
    assert all(huge.encode() not in body for _, _, body in (big_query, big_header))
    assert len(rejected) >= len(seen) + 3
    assert leaked == []
    assert logging.getLogger("socketscope.server.wire").getEffectiveLevel() >= logging.WARNING
