"""Raw WebSocket by hand, for peers that misbehave on purpose: the one place in the tests that
builds and parses frames and handshakes (hostile servers, attackers, raw clients)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- frames -----------------------------------------------------------------------------------


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR with a 4-byte key, as one big-integer operation (fast for megabytes)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = False,
    length: int | None = None,
    key: bytes | None = None,
) -> bytes:
    """One frame, unmasked (server to client) unless `masked`; `rsv` sets RSV1-3 (4, 2, 1),
    `length` lies about the payload size, `key` fixes the mask (random otherwise)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask(payload, key)


def client_frame(opcode: int, payload: bytes = b"", *, masked: bool = True, **kw: object) -> bytes:
    """A client-to-server frame: masked, as clients must (`masked=False` breaks that rule)."""
    return frame(opcode, payload, masked=masked, **kw)  # type: ignore[arg-type]


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def parse_close(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


@dataclass(frozen=True)
class RawFrame:
    opcode: int
    payload: bytes  # Unmasked.
    fin: bool
    rsv: int  # RSV1-3 as 4, 2, 1 (RSV1: compressed, with permessage-deflate).


async def read_raw_frame(reader: asyncio.StreamReader) -> RawFrame:
    """One frame, masked or not."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    key = await reader.readexactly(4) if b1 & 0x80 else None
    data = await reader.readexactly(n)
    return RawFrame(b0 & 0x0F, mask(data, key) if key else data, bool(b0 & 0x80), (b0 >> 4) & 7)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame, masked or not: (opcode, unmasked payload)."""
    raw = await read_raw_frame(reader)
    return raw.opcode, raw.payload


# -- handshakes -------------------------------------------------------------------------------


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def upgrade_request(port: int, path: str = "/", headers: str = "") -> bytes:
    """A client's opening handshake; `headers` adds lines (each ending in CRLF)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        f"{headers}\r\n"
    ).encode()


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    accept: bytes | None = None,
    extra: bytes = b"",
    tail: bytes = b"",
) -> bytes:
    """Answer the opening handshake as a server; `accept` overrides Sec-WebSocket-Accept (to
    break it), `extra` adds header lines (each ending in CRLF), `tail` follows the response in
    the same write (frames that arrive with it)."""
    request = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
    assert match, request
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + (accept or accept_key(match.group(1))) + b"\r\n"
        + extra + b"\r\n" + tail
    )
    await writer.drain()
    return request


# -- a raw server -----------------------------------------------------------------------------


async def frames_until_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int = 100
) -> AsyncIterator[tuple[int, bytes]]:
    """After the handshake, the client's frames (at most `limit`); its close is answered."""
    await handshake(reader, writer)
    for _ in range(limit):
        opcode, payload = await read_frame(reader)
        if opcode == CLOSE:
            writer.write(frame(CLOSE, payload))
            return
        yield opcode, payload


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1 and yield the port; the server and its peers stop on exit."""
    writers: set[asyncio.StreamWriter] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in list(writers):
            writer.transport.abort()
        server.close()
        await server.wait_closed()
