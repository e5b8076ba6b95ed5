"""The connection engine against real servers on 127.0.0.1: plain websockets and hostile ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection, RequestTimeout
from core.events import (
    Direction,
    ErrorEvent,
    Event,
    FrameEvent,
    LatencySample,
    Opcode,
    QueueDropped,
    RequestFinished,
    StateChanged,
)
from core.hub import EventHub
from core.states import ConnState
from tests.rawws import frame, handshake, raw_server, read_frame

FAST = ReconnectPolicy(initial=0.05, max_delay=0.2, jitter=0.0, stable_after=0.5)
NO_PING = HeartbeatConfig(interval=0)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def recorder() -> tuple[EventHub, list[Event]]:
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    return hub, events


def states(events: list[Event]) -> list[ConnState]:
    return [e.new for e in events if isinstance(e, StateChanged)]


@contextlib.asynccontextmanager
async def echo_server(port: int = 0) -> AsyncIterator[int]:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", port) as server:
        yield server.sockets[0].getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_text_and_binary_both_ways_with_lifecycle_events() -> None:
    hub, events = recorder()
    async with echo_server() as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", heartbeat=NO_PING), hub)
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        assert await conn.send("héllo") is True
        assert await conn.send(b"\x00\xff\x10") is True
        await until(lambda: conn.metrics.msgs_in == 2)
        await conn.disconnect()
    incoming = [e for e in events if isinstance(e, FrameEvent) and e.direction is Direction.IN]
    data = [(e.opcode, e.payload) for e in incoming if e.is_data]
    assert data == [(Opcode.TEXT, "héllo".encode()), (Opcode.BINARY, b"\x00\xff\x10")]
    assert all(type(e.payload) is bytes for e in incoming)
    assert incoming[0].text == "héllo"
    with pytest.raises(ValueError):
        _ = incoming[1].text
    assert states(events) == [
        ConnState.CONNECTING, ConnState.OPEN, ConnState.CLOSING, ConnState.CLOSED
    ]
    assert conn.metrics.bytes_out == len("héllo".encode()) + 3
    assert conn.close_code == 1000 and conn.last_error is None


async def test_refused_retries_with_growing_delays_then_gives_up() -> None:
    hub, events = recorder()
    policy = ReconnectPolicy(initial=0.02, factor=2.0, max_delay=0.1, jitter=0.0, max_attempts=5)
    conn = Connection(
        ConnectionConfig(f"ws://127.0.0.1:{free_port()}", reconnect=policy, heartbeat=NO_PING),
        hub,
    )
    conn.connect()
    await conn.wait_for_state(ConnState.CLOSED, 5)
    waits = [e for e in events if isinstance(e, StateChanged) and e.new is ConnState.WAITING]
    assert [round(e.retry_in, 3) for e in waits] == [0.02, 0.04, 0.08, 0.1]
    assert [e.attempt for e in waits] == [1, 2, 3, 4]
    assert "Connection refused" in (waits[0].error or "")
    assert conn.attempt == 5 and "Connection refused" in (conn.last_error or "")


async def test_jitter_spreads_delays_within_bounds() -> None:
    from core.backoff import backoff

    policy = ReconnectPolicy(initial=1.0, factor=2.0, max_delay=8.0, jitter=0.25)
    delays = backoff(policy, random.Random(7))
    got = [next(delays) for _ in range(6)]
    for value, base in zip(got, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.75 <= value <= min(8.0, base * 1.25)
    assert len({round(v, 6) for v in got}) == len(got)  # jittered, not lockstep


@pytest.mark.parametrize(("status", "words"), [
    (401, "HTTP 401: the server rejected the token"),
    (403, "HTTP 403: forbidden"),
    (404, "HTTP 404: no WebSocket endpoint at this path"),
])
async def test_handshake_rejection_is_explained_and_not_retried(status: int, words: str) -> None:
    hub, events = recorder()
    attempts = 0

    def reject(connection: ServerConnection, request: object) -> Response:
        nonlocal attempts
        attempts += 1
        return connection.respond(status, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=reject) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = ConnectionConfig(f"ws://127.0.0.1:{port}", token="bad", reconnect=FAST,
                                  heartbeat=NO_PING)
        conn = Connection(config, hub)
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 5)
        await asyncio.sleep(0.3)  # a retry would have happened by now
    assert attempts == 1
    assert conn.last_error is not None and conn.last_error.startswith(words)
    assert "not retrying" in conn.last_error
    assert ConnState.WAITING not in states(events)


async def test_429_is_retried_with_backoff() -> None:
    attempts = 0

    def busy(connection: ServerConnection, request: object) -> Response | None:
        nonlocal attempts
        attempts += 1
        return connection.respond(429, "busy\n") if attempts < 3 else None

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=busy) as srv:
        port = srv.sockets[0].getsockname()[1]
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=FAST,
                                           heartbeat=NO_PING))
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        await conn.disconnect()
    assert attempts == 3


async def test_server_restart_reconnects_and_flushes_offline_queue_once_in_order() -> None:
    received: list[str] = []

    async def collect(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(message)

    port = free_port()
    hub, events = recorder()
    conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=FAST,
                                       heartbeat=NO_PING), hub)
    async with serve(collect, "127.0.0.1", port):
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        await conn.send("before")
        await until(lambda: received == ["before"])
    # server gone: 1001 from its shutdown, then retries
    await conn.wait_for_state(ConnState.WAITING, 5)
    for i in range(5):
        assert await conn.send(f"offline-{i}") is False
    assert len(conn.queue) == 5
    async with serve(collect, "127.0.0.1", port):
        await conn.wait_for_state(ConnState.OPEN, 5)
        await conn.send("after")
        await until(lambda: len(received) == 7)
        await asyncio.sleep(0.1)
        await conn.disconnect()
    assert received == ["before", *[f"offline-{i}" for i in range(5)], "after"]
    assert not conn.queue
    closes = [e for e in events if isinstance(e, StateChanged) and e.new is ConnState.WAITING]
    assert closes[0].close_code == 1001


async def test_offline_queue_is_bounded_and_counts_drops() -> None:
    hub, events = recorder()
    conn = Connection(ConnectionConfig("ws://127.0.0.1:9", queue_size=3), hub)
    for i in range(5):
        await conn.send(f"m{i}")
    assert [p for p, _ in conn.queue] == [b"m2", b"m3", b"m4"]
    assert conn.queue_dropped == 2
    assert [e.dropped_total for e in events if isinstance(e, QueueDropped)] == [1, 2]


async def test_heartbeat_records_rtt_and_detects_a_silent_server() -> None:
    silent_after_open = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        silent_after_open.set()
        while await reader.read(4096):  # reads pings, never answers
            pass

    hub, events = recorder()
    async with raw_server(silent) as port:
        config = ConnectionConfig(
            f"ws://127.0.0.1:{port}",
            heartbeat=HeartbeatConfig(interval=0.05, timeout=0.2),
            reconnect=ReconnectPolicy(initial=5.0, jitter=0.0),
        )
        conn = Connection(config, hub)
        conn.connect()
        await conn.wait_for_state(ConnState.WAITING, 5)
        await conn.disconnect()
    waiting = next(e for e in events if isinstance(e, StateChanged) and e.new is ConnState.WAITING)
    assert waiting.error is not None and "stopped answering pings" in waiting.error
    assert waiting.retry_in == 5.0


async def test_rtt_samples_from_a_live_server() -> None:
    hub, events = recorder()
    async with echo_server() as port:
        config = ConnectionConfig(f"ws://127.0.0.1:{port}",
                                  heartbeat=HeartbeatConfig(interval=0.02, timeout=1))
        conn = Connection(config, hub)
        conn.connect()
        await until(lambda: len(conn.metrics.rtt) >= 5)
        await conn.disconnect()
    samples = [e for e in events if isinstance(e, LatencySample)]
    assert len(samples) >= 5 and all(0 < s.rtt < 1 for s in samples)
    assert conn.metrics.rtt.view()[:, 1].tolist()[:5] == [s.rtt for s in samples[:5]]


async def test_app_level_heartbeat_is_a_second_series() -> None:
    async def pong(ws: ServerConnection) -> None:
        async for message in ws:
            if json.loads(message).get("type") == "ping":
                await ws.send('{"type":"pong"}')

    async with serve(pong, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = ConnectionConfig(
            f"ws://127.0.0.1:{port}",
            heartbeat=HeartbeatConfig(interval=0.05, timeout=1, app_template='{"type":"ping"}'),
        )
        conn = Connection(config)
        conn.connect()
        await until(lambda: len(conn.metrics.app_rtt) >= 2 and len(conn.metrics.rtt) >= 2)
        await conn.disconnect()
    assert conn.metrics.last_rtt("app") is not None


async def test_request_response_and_timeout_never_leak() -> None:
    async def answer_some(ws: ServerConnection) -> None:
        async for message in ws:
            obj = json.loads(message)
            if obj["type"] != "ignored":
                await ws.send(json.dumps({"type": "ack", "requestId": obj["requestId"]}))

    hub, events = recorder()
    async with serve(answer_some, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", heartbeat=NO_PING), hub)
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        reply = await conn.request({"type": "join_room", "room": "a"})
        assert reply.message["type"] == "ack" and reply.rtt > 0
        with pytest.raises(RequestTimeout):
            await conn.request({"type": "ignored"}, timeout=0.1)
        assert conn.pending_requests == 0
        await conn.disconnect()
    finished = [e for e in events if isinstance(e, RequestFinished)]
    assert finished[0].rtt is not None and finished[0].error is None
    assert finished[1].rtt is None and "no reply within 0.1 s" in (finished[1].error or "")


async def test_oversized_message_is_refused_with_1009() -> None:
    async def big(ws: ServerConnection) -> None:
        await ws.send("x" * 5000)
        await ws.wait_closed()

    hub, _events = recorder()
    async with serve(big, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = ConnectionConfig(f"ws://127.0.0.1:{port}", max_size=1000, heartbeat=NO_PING,
                                  reconnect=ReconnectPolicy(enabled=False))
        conn = Connection(config, hub)
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 5)
    assert "1009 message too big" in (conn.last_error or "")
    assert conn.metrics.msgs_in == 0


async def test_invalid_utf8_text_is_refused_with_1007() -> None:
    async def bad_utf8(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(frame(0x1, b"ok") + frame(0x1, b"\xff\xfe bad"))
        await writer.drain()
        opcode, payload = await read_frame(reader)
        assert opcode == 0x8
        assert int.from_bytes(payload[:2], "big") == 1007

    hub, events = recorder()
    async with raw_server(bad_utf8) as port:
        config = ConnectionConfig(f"ws://127.0.0.1:{port}", heartbeat=NO_PING,
                                  reconnect=ReconnectPolicy(enabled=False))
        conn = Connection(config, hub)
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 5)
    assert "invalid UTF-8" in (conn.last_error or "")
    assert conn.metrics.msgs_in == 1  # the good message before it is kept
    assert any(isinstance(e, ErrorEvent) and "1007" in e.message for e in events)


async def test_fragmented_messages_are_reassembled() -> None:
    async def fragments(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(frame(0x1, b"hel", fin=False) + frame(0x9, b"p") + frame(0x0, b"lo"))
        await writer.drain()
        await reader.read(4096)

    async with raw_server(fragments) as port:
        hub, events = recorder()
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", heartbeat=NO_PING), hub)
        conn.connect()
        await until(lambda: conn.metrics.msgs_in == 1)
        await conn.disconnect()
    frames = [(e.direction, e.opcode, e.payload) for e in events if isinstance(e, FrameEvent)]
    assert (Direction.IN, Opcode.PING, b"p") in frames
    assert (Direction.OUT, Opcode.PONG, b"p") in frames
    assert (Direction.IN, Opcode.TEXT, b"hello") in frames


async def test_wrong_accept_key_is_a_protocol_error_without_a_tight_loop() -> None:
    attempts = 0

    async def wrong_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await handshake(reader, writer, accept=b"d3Jvbmc=")
        await reader.read(4096)

    async with raw_server(wrong_accept) as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=FAST,
                                           heartbeat=NO_PING))
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 5)
    assert attempts == 3  # max_protocol_errors, then it stops
    assert "Protocol error" in (conn.last_error or "") and "not retrying" in conn.last_error


async def test_headers_subprotocol_origin_and_bearer_token_are_sent() -> None:
    seen: dict[str, Headers] = {}

    async def handler(ws: ServerConnection) -> None:
        seen["headers"] = ws.request.headers
        seen["path"] = ws.request.path  # type: ignore[assignment]
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = ConnectionConfig(
            f"ws://127.0.0.1:{port}/x?a=1", headers=[("X-Trace", "42")], subprotocols=["chat"],
            origin="http://example.test", token="tok", token_mode="bearer", heartbeat=NO_PING,
        )
        conn = Connection(config)
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        query = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}/q?a=1", token="t k",
                                            subprotocols=["chat"], heartbeat=NO_PING))
        query.connect()
        await query.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: "path" in seen and seen["path"].startswith("/q"))
        assert seen["path"] == "/q?a=1&token=t+k"
        await conn.disconnect()
        await query.disconnect()
    assert conn.subprotocol == "chat"


async def test_disconnect_while_waiting_cancels_the_retry() -> None:
    hub, events = recorder()
    config = ConnectionConfig(f"ws://127.0.0.1:{free_port()}",
                              reconnect=ReconnectPolicy(initial=30, jitter=0), heartbeat=NO_PING)
    conn = Connection(config, hub)
    conn.connect()
    await conn.wait_for_state(ConnState.WAITING, 5)
    await conn.disconnect()
    assert conn.state is ConnState.CLOSED
    assert states(events)[-2:] == [ConnState.WAITING, ConnState.CLOSED]


async def test_reconnect_now_skips_the_delay() -> None:
    port = free_port()
    config = ConnectionConfig(f"ws://127.0.0.1:{port}",
                              reconnect=ReconnectPolicy(initial=30, jitter=0), heartbeat=NO_PING)
    conn = Connection(config)
    conn.connect()
    await conn.wait_for_state(ConnState.WAITING, 5)
    async with echo_server(port):
        conn.reconnect_now()
        await conn.wait_for_state(ConnState.OPEN, 5)
        await conn.disconnect()


async def test_http_error_body_is_quoted_briefly() -> None:
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, subprotocols=["chat"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", heartbeat=NO_PING))
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 5)
    assert (conn.last_error or "").startswith("HTTP 400: bad request")
    assert "missing subprotocol" in (conn.last_error or "")
