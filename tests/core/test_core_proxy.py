"""Through the environment's HTTP proxy (http_proxy, no_proxy), as websockets' connect() did: a
real CONNECT proxy written here on 127.0.0.1 tunnels to a plain websockets echo server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig, ReconnectPolicy
from core.connection import Connection
from core.events import Direction, Event, FrameEvent
from core.hub import EventHub
from core.states import ConnState


@dataclass
class ConnectProxy:
    """CONNECT host:port → 200 and a byte pipe both ways; 407 without the wanted credentials."""

    credentials: str | None = None
    tunnels: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            target = head.split(" ", 2)[1]
            wanted = self.credentials
            if wanted and f"Proxy-Authorization: Basic {_b64(wanted)}" not in head:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        for _ in range(100_000):  # bounded: far more reads than a test makes
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def running(proxy: ConnectProxy) -> AsyncIterator[ConnectProxy]:
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


async def open_and_echo(port: int) -> tuple[Connection, list[Event]]:
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}/",
                                       reconnect=ReconnectPolicy(enabled=False)), hub)
    conn.connect()
    with contextlib.suppress(TimeoutError):
        await conn.wait_for_state(ConnState.OPEN, 5)
    if conn.state is ConnState.OPEN:
        await conn.send("through the tunnel")
        for _ in range(100):
            if any(isinstance(e, FrameEvent) and e.direction is Direction.IN for e in events):
                break
            await asyncio.sleep(0.02)
    return conn, events


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_a_ws_url_goes_through_the_environments_proxy(proxy_env) -> None:  # type: ignore[no-untyped-def]
    async with echo_server() as port, running(ConnectProxy()) as proxy:
        proxy_env.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        conn, events = await open_and_echo(port)
        await conn.disconnect()
    assert proxy.tunnels == [f"127.0.0.1:{port}"]
    assert [e.payload for e in events if isinstance(e, FrameEvent)
            and e.direction is Direction.IN and e.payload == b"through the tunnel"]


async def test_credentials_in_the_proxy_url_and_a_refusal_in_words(proxy_env) -> None:  # type: ignore[no-untyped-def]
    async with echo_server() as port, running(ConnectProxy("ada:s3cret")) as proxy:
        proxy_env.setenv("http_proxy", f"http://ada:s3cret@127.0.0.1:{proxy.port}")
        conn, _ = await open_and_echo(port)
        assert conn.state is ConnState.OPEN
        await conn.disconnect()
        proxy_env.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        refused, _ = await open_and_echo(port)
    assert refused.state is ConnState.CLOSED
    assert refused.last_error is not None
    assert f"The proxy http://127.0.0.1:{proxy.port} refused the tunnel to 127.0.0.1:{port}: " \
           "HTTP 407 Proxy Authentication Required" in refused.last_error
    assert "s3cret" not in refused.last_error
    assert len(proxy.tunnels) == 1


async def test_no_proxy_and_unsupported_proxies(proxy_env) -> None:  # type: ignore[no-untyped-def]
    async with echo_server() as port, running(ConnectProxy()) as proxy:
        proxy_env.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        proxy_env.setenv("no_proxy", "127.0.0.1")
        direct, _ = await open_and_echo(port)
        assert direct.state is ConnState.OPEN and proxy.tunnels == []
        await direct.disconnect()
        proxy_env.delenv("no_proxy")
        proxy_env.setenv("http_proxy", "socks5://127.0.0.1:1080")
        socks, _ = await open_and_echo(port)
    assert "not an http:// proxy" in (socks.last_error or ""), socks.last_error
    proxy_env.setenv("http_proxy", "http://127.0.0.1:9")  # the discard port: nothing listens
    dead, _ = await open_and_echo(port)
    assert (dead.last_error or "").startswith("Cannot reach the proxy http://127.0.0.1:9"), \
        dead.last_error
