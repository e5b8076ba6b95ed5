"""What the server says back never carries more than a short, escaped excerpt of what a client
sent: errors (JSON and MessagePack), close reasons, HTTP refusals and the server's own log.
Inputs: `<script>`, terminal escapes (C0 and C1), line separators, and 10 KiB strings, in the
type, room, targetId, requestId and id fields, in close frames, paths and handshake headers."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import msgpack

from tests.attackers import ChildServer, RawPeer, report
from tests.rawws import BINARY, CLOSE, TEXT, client_frame, close_payload, upgrade_request

SCRIPT = "<script>alert(1)</script>"
ANSI = "\x1b[2J\x1b[31mred\x1b[0m\x9b31m\x07"
SEPARATORS = "line\u2028para\u2029end"
LONG = "A" * 10 * 1024
HOSTILE = [SCRIPT, ANSI, SEPARATORS, LONG, SCRIPT + ANSI + LONG, "&" * 2000]
ECHO_LIMIT = 64
RAW_UNSAFE = re.compile("[<>&\x00-\x1f\x7f-\x9f\u2028\u2029]")  # Never raw in JSON we receive.
PREFIXES = ("Unknown message type: ", "Not a member of room: ", "Unknown target: ")


def _messages() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, h in enumerate(HOSTILE):
        out += [
            {"type": h},
            {"type": "join_room", "room": h, "requestId": n},
            {"type": "leave_room", "room": h, "requestId": n},
            {"type": "broadcast", "room": h, "data": h, "requestId": n},
            {"type": "private_message", "targetId": h, "data": h, "requestId": n},
            {"type": "ping", "requestId": h},
            {"type": "join_room", "room": "ok", "id": h, "requestId": n},
        ]
    return out


def _excerpt(message: str) -> str:
    """The part of an error message that came from the client (empty for fixed messages)."""
    for prefix in PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return ""


async def _replies(peer: RawPeer, expected: int) -> list[bytes]:
    """Payloads of the next `expected` frames after "connected" (bounded in time)."""
    frames = []
    for _ in range(expected):
        _, payload = await peer.read_frame(timeout=5.0)
        frames.append(payload)
    return frames


async def test_errors_and_close_reasons_never_echo_more_than_an_escaped_excerpt() -> None:
    messages = _messages()
    async with ChildServer(max_size=64 * 1024, rate=10_000.0, burst=10_000) as server:
        # JSON: every reply frame is checked raw (escaping) and decoded (length of the excerpt).
        peer = await RawPeer.connect(server.port, sub=SCRIPT + ANSI)
        try:
            frames = [json.dumps(m).encode() for m in messages] + [h.encode() for h in HOSTILE]
            await peer.send(b"".join(client_frame(TEXT, f) for f in frames))
            raw = await _replies(peer, 1 + len(messages) + len(HOSTILE))  # +1: "connected".
        finally:
            peer.abort()
        # MessagePack: no escaping in binary, but the same excerpt limit.
        peer = await RawPeer.connect(server.port, headers="Sec-WebSocket-Protocol: msgpack\r\n")
        try:
            await peer.send(b"".join(client_frame(BINARY, msgpack.packb(m)) for m in messages))
            packed = await _replies(peer, 1 + len(messages))
        finally:
            peer.abort()
        reasons = await _close_reasons(server.port)
        http = await _http_refusals(server.port)
        probe = await server.probe(settle=0.2)

    decoded = [json.loads(f) for f in raw] + [msgpack.unpackb(f) for f in packed]
    errors = [d["message"] for d in decoded if d.get("type") == "error"]
    excerpts = [_excerpt(e) for e in errors]
    raw_unsafe = [f[:80] for f in raw if RAW_UNSAFE.search(f.decode())]
    log_texts = [text for _, _, text in probe["log"]]
    report("echo: replies checked (JSON + MessagePack)", len(decoded))
    report("echo: error replies", len(errors))
    report("echo: longest client excerpt in an error", max(map(len, excerpts)), "chars",
           f"<= {ECHO_LIMIT}")
    report("echo: JSON replies with a raw <, >, &, C0/C1 or U+2028/9", len(raw_unsafe), "", "0")
    report("echo: close reasons seen", "; ".join(sorted(set(reasons))))
    report("echo: longest server log line", max(map(len, log_texts)), "chars")
    assert len(errors) >= 5 * len(HOSTILE)
    assert all(len(x) <= ECHO_LIMIT for x in excerpts), excerpts
    assert not any(LONG[: ECHO_LIMIT + 1] in e for e in errors)
    assert raw_unsafe == []
    for reason in reasons:
        assert len(reason.encode()) <= 123 and not RAW_UNSAFE.search(reason), reason
        assert "script" not in reason and "AAAA" not in reason and "red" not in reason, reason
    for status, body in http:
        assert b"<" not in body and b"\x1b" not in body and b"AAAA" not in body, (status, body)
    for text in log_texts:  # A path is quoted in the log: short, escapes shown as text.
        assert "\x1b" not in text and "A" * (ECHO_LIMIT + 1) not in text, text
    assert probe["errors"] == [] and probe["exceptions"] == []


async def _close_reasons(port: int) -> list[str]:
    """Provoke closes with hostile input; the close reason each attacker receives."""
    hostile_close = (SCRIPT + ANSI).encode()[:100]
    attacks = [
        client_frame(TEXT, (SCRIPT + LONG * 7).encode()),  # Over max_size: 1009.
        client_frame(TEXT, b"\xff" + ANSI.encode()),  # Invalid UTF-8: 1007.
        client_frame(CLOSE, close_payload(999, hostile_close)),  # Bad code: 1002.
        client_frame(CLOSE, close_payload(1000, hostile_close)),  # Good code: echoed back.
        client_frame(CLOSE, close_payload(4000, LONG.encode()[:120])),  # Echoed back.
        client_frame(0x3, ANSI.encode()),  # Reserved opcode: 1002.
    ]
    reasons = []
    for data in attacks:
        peer = await RawPeer.connect(port)
        try:
            await peer.send(data)
            code, reason = await peer.read_close()
            assert code.isdigit(), code
            reasons.append(f"{code} {reason}".strip())
        finally:
            peer.abort()
    return reasons


async def _http_refusals(port: int) -> list[tuple[int, bytes]]:
    """Handshakes refused by us (404) and by websockets (400, 426, ...): the bodies."""
    requests = [
        upgrade_request(port, "/" + SCRIPT.replace(" ", "") + "A" * 5000),
        upgrade_request(port, "/\x1b[31m"),
        upgrade_request(port, "/", "Sec-WebSocket-Version: " + SCRIPT + "\r\n"),
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: " + SCRIPT.encode() + b"\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + (SCRIPT + "A" * 5000).encode() + b"\r\n\r\n",
    ]
    out = []
    for request in requests:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            data = await asyncio.wait_for(reader.read(1 << 20), 5.0)
            head, _, body = data.partition(b"\r\n\r\n")
            out.append((int(head.split(b" ")[1]) if head else 0, body))
        finally:
            writer.transport.abort()
    return out
