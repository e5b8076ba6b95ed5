"""Connection failures a new user makes, against real sockets on 127.0.0.1: a typo'd host gives
up with a hint, a ws/wss mismatch names TLS as the likely cause, a refusal names host:port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator

import pytest
import trustme
from websockets.asyncio.server import serve

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.errors import describe_error
from core.events import Event, StateChanged
from core.states import ConnState

NO_PING = HeartbeatConfig(interval=0)
ONCE = ReconnectPolicy(enabled=False)
QUICK = ReconnectPolicy(initial=0.01, factor=1.0, max_delay=0.01, jitter=0.0)
BAD_HOST = "no-such-host.invalid"  # RFC 2606: never resolves, and fails without a network


async def fail_once(url: str, policy: ReconnectPolicy = ONCE) -> tuple[Connection, list[Event]]:
    events: list[Event] = []
    conn = Connection(ConnectionConfig(url, reconnect=policy, heartbeat=NO_PING,
                                       open_timeout=5))
    conn.hub.subscribe(events.append)
    conn.connect()
    await conn.wait_for_state(ConnState.CLOSED, 20)
    return conn, events


@contextlib.asynccontextmanager
async def websocket_server(context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context) as server:
        yield server.sockets[0].getsockname()[1]


async def test_unknown_host_gives_up_after_three_lookups_with_a_hint() -> None:
    try:
        socket.getaddrinfo(BAD_HOST, 1)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            pytest.skip("this machine's resolver does not answer at all")
    started = time.monotonic()
    conn, events = await fail_once(f"ws://{BAD_HOST}:1/", QUICK)
    assert time.monotonic() - started < 20
    attempts = [e for e in events if isinstance(e, StateChanged)
                and e.new is ConnState.CONNECTING]
    assert len(attempts) == 3 and conn.attempt == 3
    error = conn.last_error or ""
    assert error.startswith(f"Host name not found: {BAD_HOST} — check the URL"), error
    assert "3 times in a row: gave up" in error
    waits = [e.error for e in events if isinstance(e, StateChanged)
             and e.new is ConnState.WAITING]
    assert len(waits) == 2 and all("gave up" not in (w or "") for w in waits)


async def test_wss_to_a_plain_server_names_tls() -> None:
    async with websocket_server() as port:
        conn, _ = await fail_once(f"wss://127.0.0.1:{port}/")
    error = conn.last_error or ""
    assert f"TLS handshake with 127.0.0.1:{port} failed" in error, error
    assert "does not seem to speak TLS on this port — try ws://" in error


async def test_wss_to_a_server_answering_http_names_tls() -> None:
    """A plain HTTP server answers the ClientHello with a 400: bytes that are not TLS."""
    async def http_400(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_400, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        conn, _ = await fail_once(f"wss://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
    assert "try ws://" in (conn.last_error or ""), conn.last_error


async def test_ws_to_a_tls_server_suggests_wss() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    async with websocket_server(context) as port:
        conn, _ = await fail_once(f"ws://127.0.0.1:{port}/")
    error = conn.last_error or ""
    assert error.startswith(f"No HTTP response from 127.0.0.1:{port}"), error
    assert "may speak TLS on this port — try wss://" in error


async def test_a_refusal_names_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        conn, _ = await fail_once(f"ws://127.0.0.1:{port}/")
    assert (conn.last_error or "").startswith(f"Connection refused by 127.0.0.1:{port}")


def test_error_words_without_a_socket() -> None:
    offline = describe_error(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "ws://h/")
    assert offline.kind == "offline" and offline.retry  # an outage heals: keep retrying
    multiple = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
                       "[Errno 111] Connect call failed ('127.0.0.1', 9)")
    assert describe_error(multiple, "ws://localhost:9/").message.startswith(
        "Connection refused by localhost:9")
    mixed = OSError("Multiple exceptions: [Errno 111] x, [Errno 101] Network is unreachable")
    assert describe_error(mixed, "ws://localhost:9/").kind == "network"
    reset = ConnectionResetError()
    assert "try ws://" in describe_error(reset, "wss://h/", reached=False).message
    assert "TLS" not in describe_error(reset, "wss://h/", reached=True).message
    assert "TLS" not in describe_error(reset, "ws://h/").message
