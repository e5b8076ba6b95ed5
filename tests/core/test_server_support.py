"""Helpers for the server tests (no tests here): a real RoomServer on a free port, and peers.

Every wait is bounded by a timeout and every loop by a count, so a broken server fails a test
instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.server import RoomServer, ServerConfig, make_token
from tests.rawws import upgrade_request

SECRET = "test-secret-that-is-at-least-32-bytes-long"
WAIT = 3.0  # Upper bound for anything that should happen "now".


@contextlib.asynccontextmanager
async def running(**fields: Any) -> AsyncIterator[RoomServer]:
    """A RoomServer on 127.0.0.1, port 0, auth on with SECRET, health pings off unless asked."""
    fields.setdefault("port", 0)
    fields.setdefault("secret", SECRET)
    fields.setdefault("ping_interval", 0.0)
    server = RoomServer(ServerConfig(**fields))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def token(sub: str = "alice", secret: str = SECRET, **claims: Any) -> str:
    return make_token(secret, sub, **claims)


def url_with_token(server: RoomServer, sub: str = "alice", path: str = "/") -> str:
    return f"{server.url}{path}?token={token(sub)}"


class Peer:
    """A websockets client speaking the room protocol, JSON or MessagePack."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.binary = ws.subprotocol == "msgpack"
        self.client_id = ""
        self.name = ""

    async def send(self, **msg: Any) -> None:
        await self.ws.send(msgpack.packb(msg) if self.binary else json.dumps(msg))

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.binary:
            assert isinstance(raw, bytes), raw
            return msgpack.unpackb(raw)
        assert isinstance(raw, str), raw
        return json.loads(raw)

    async def expect(self, kind: str, timeout: float = WAIT, limit: int = 200) -> dict[str, Any]:
        """The next message of type `kind`, skipping others (at most `limit` of them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(limit):
            msg = await self.recv(max(0.01, deadline - loop.time()))
            if msg.get("type") == kind:
                return msg
        raise AssertionError(f"no {kind} message in {limit} messages")

    async def request(self, **msg: Any) -> dict[str, Any]:
        """Send with a requestId and return the reply carrying it."""
        await self.send(**msg)
        for _ in range(200):
            reply = await self.recv()
            if "requestId" in reply and reply["requestId"] == msg["requestId"]:
                return reply
        raise AssertionError("no reply with our requestId")

    async def quiet(self, wait: float = 0.2, limit: int = 1000) -> list[dict[str, Any]]:
        """Everything that arrives within `wait` seconds."""
        got: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        for _ in range(limit):
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                got.append(await self.recv(left))
            except TimeoutError:
                break
        return got


@contextlib.asynccontextmanager
async def peer(
    server: RoomServer, sub: str = "alice", *, msgpack_: bool = False, **kwargs: Any
) -> AsyncIterator[Peer]:
    """A connected peer that has already read its `connected` message."""
    url = url_with_token(server, sub) if server.config.auth else server.url
    if msgpack_:
        kwargs["subprotocols"] = ["msgpack"]
    async with connect(url, open_timeout=WAIT, close_timeout=1, **kwargs) as ws:
        p = Peer(ws)
        hello = await p.recv()
        assert hello["type"] == "connected", hello
        p.client_id, p.name = hello["clientId"], hello["name"]
        yield p


async def closed_code(ws: ClientConnection, timeout: float = WAIT) -> int | None:
    """Read until the connection closes; returns the close code the server sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(100_000):
        try:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    raise AssertionError("connection did not close")


# -- a raw client, for peers that misbehave on purpose -----------------------------------------


async def raw_upgrade(
    port: int, path: str, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Open a TCP connection and send a WebSocket upgrade; returns the HTTP response head."""
    if rcvbuf is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    else:
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(upgrade_request(port, path))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    return reader, writer, head


async def wait_for(predicate: Any, timeout: float = WAIT, step: float = 0.02) -> None:
    """Poll `predicate()` until true; fails after `timeout`."""
    for _ in range(int(timeout / step) + 1):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not met in time")
