"""A hand-rolled WebSocket peer for tests that need a server to misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    accept: bytes | None = None,
    extra: bytes = b"",
    tail: bytes = b"",
) -> bytes:
    """Answer the opening handshake; `accept` overrides Sec-WebSocket-Accept (to break it),
    `extra` adds header lines (each ending in CRLF), `tail` follows the response in the same
    write (frames that arrive with it)."""
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


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked (server-to-client) frame."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one masked client frame; returns (opcode, unmasked payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def frames_until_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int = 100
) -> AsyncIterator[tuple[int, bytes]]:
    """After the handshake, the client's frames (at most `limit`); its close is answered."""
    await handshake(reader, writer)
    for _ in range(limit):
        opcode, payload = await read_frame(reader)
        if opcode == 0x8:
            writer.write(frame(0x8, payload))
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
