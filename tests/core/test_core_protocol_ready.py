"""With the protocol client on, the user's messages wait for the protocol's handshake: a
Connection's on-open messages and offline queue (and what is sent meanwhile) go out only once
the decoder session's `ready()` saw the server confirm it (Socket.IO namespace connect, graphql
`connection_ack`, MQTT CONNACK), against the real servers of tests/servers; before that a
server ignores them (Socket.IO), closes 4401 (graphql-transport-ws) or calls them a protocol
error (MQTT). A refused handshake keeps them queued; a silent one releases them after
`open_timeout` with a note."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
import websockets

from core.decoders.layer import default_registry
from core.events import Direction, ErrorEvent, FrameEvent, Opcode, ProtocolDetected
from core.states import ConnState
from tests.protocol_stories import Recorded
from tests.servers.common import Endpoint
from tests.servers.graphql_server import TRANSPORT_WS


def encoded(decoder: str, template: str, values: dict[str, Any]) -> tuple[bytes, bool]:
    [out] = default_registry().get(decoder).encode(template, values)  # type: ignore[union-attr]
    return out.payload, out.text


def wire(rec: Recorded) -> list[FrameEvent]:
    """The data frames in the order the hub saw them, both directions."""
    return [e for e in rec.events if isinstance(e, FrameEvent)
            and e.opcode in (Opcode.TEXT, Opcode.BINARY)]


def index(frames: list[FrameEvent], direction: Direction,
          wanted: Callable[[bytes], bool], what: str) -> int:
    found = [i for i, f in enumerate(frames) if f.direction is direction and wanted(f.payload)]
    assert found, f"no {direction.name} frame: {what}"
    return found[0]


async def opened(rec: Recorded, *early: tuple[bytes, bool]) -> list[tuple[bytes, bool]]:
    """connect(), a send right after it (offline queue) and one right after the open; returns
    what was sent. The caller disconnects."""
    rec.conn.connect()
    sent = list(early)
    for payload, text in early[:1]:
        assert not await rec.conn.send(payload, text=text)  # connecting: queued
    await rec.conn.wait_for_state(ConnState.OPEN, 10)
    for payload, text in early[1:]:
        await rec.conn.send(payload, text=text)  # open, handshake likely not confirmed yet
    await rec.until(lambda: rec.of(ProtocolDetected), what="ProtocolDetected")
    return sent


async def test_socketio_emits_wait_for_the_namespace_connect_and_are_acked(socketio_server):
    endpoint = socketio_server()
    on_open, _ = encoded("socketio", "emit with ack", {
        "event": "echo", "data": '"on-open"', "namespace": "/", "ack": "1"})
    early = [encoded("socketio", "emit with ack", {
        "event": "echo", "data": f'"early-{n}"', "namespace": "/", "ack": str(n)})
        for n in (2, 3)]
    rec = Recorded(endpoint, detected_at_open=False, on_open=[on_open.decode()])
    try:
        await opened(rec, *early)
        assert rec.detected.protocol == "socketio" and rec.detected.client
        acks = {}
        for n in (1, 2, 3):
            acks[n] = await rec.message(
                lambda m, n=n: m.direction is Direction.IN and m.name == "echo"
                and m.correlation == f"ack:/:{n}", f"the ack {n}")
        assert [acks[n].payload for n in (1, 2, 3)] == [["on-open"], ["early-2"], ["early-3"]]
    finally:
        await rec.conn.disconnect()
    frames = wire(rec)
    connect_out = index(frames, Direction.OUT, lambda p: p == b"40", "the client's 40")
    ready = index(frames, Direction.IN, lambda p: p.startswith(b"40{"), "the server's 40{sid}")
    user = [index(frames, Direction.OUT, lambda p, e=e: p == e, e.decode())
            for e in (on_open, early[0][0], early[1][0])]
    assert connect_out < ready < user[0] < user[1], [f.payload for f in frames]
    assert user[0] < user[2]
    assert rec.of(ErrorEvent) == []


async def test_graphql_subscribe_waits_for_connection_ack_and_gets_next(graphql_server):
    endpoint = graphql_server(TRANSPORT_WS, init_wait=5.0, keep_alive=None)
    query = "subscription Count { counter(n: 2) }"
    on_open, _ = encoded("graphql", "subscribe", {"id": "s1", "query": query})
    early = encoded("graphql", "subscribe", {"id": "s2", "query": query})
    rec = Recorded(endpoint, detected_at_open=False, on_open=[on_open.decode()])
    try:
        await opened(rec, early)
        for op in ("s1", "s2"):
            await rec.message(lambda m, op=op: m.direction is Direction.IN
                                and m.fields.get("type") == "next"
                                and m.correlation == f"op:{op}", f"the next of {op}")
        assert rec.conn.state is ConnState.OPEN  # no 4401 for subscribing too early
    finally:
        await rec.conn.disconnect()
    frames = wire(rec)
    ack = index(frames, Direction.IN, lambda p: b'"connection_ack"' in p, "connection_ack")
    first = index(frames, Direction.OUT, lambda p: p == on_open, "the on-open subscribe")
    queued = index(frames, Direction.OUT, lambda p: p == early[0], "the queued subscribe")
    assert ack < first < queued
    assert rec.errors() == []


@pytest.mark.broker
@pytest.mark.timeout(120)
async def test_mqtt_subscribe_sent_at_once_waits_for_connack_and_gets_suback(mosquitto_broker):
    # MQTT is binary and on-open messages are text: the user's SUBSCRIBEs are sent right after
    # connect() and right after the open, as a script would.
    base = f"ss/{secrets.token_hex(3)}"
    early = [encoded("mqtt", "SUBSCRIBE", {"filter": f"{base}/{n}", "qos": 1,
                                           "packet_id": n, "version": 5}) for n in (7, 8)]
    rec = Recorded(mosquitto_broker, detected_at_open=False,
                   protocol_options={"version": "5"})
    try:
        await opened(rec, *early)
        for n in (7, 8):
            pair = await rec.pair(f"mqtt:{n}")
            assert pair.reply.name == "SUBACK" and pair.reply.fields["reason_codes"] == [1]
    finally:
        await rec.conn.disconnect()
    frames = wire(rec)
    connack = index(frames, Direction.IN, lambda p: p[:1] == b"\x20", "CONNACK")
    subscribes = [index(frames, Direction.OUT, lambda p, e=e: p == e[0], "a SUBSCRIBE")
                  for e in early]
    assert connack < min(subscribes)
    assert rec.errors() == []


async def test_a_refused_handshake_keeps_the_messages_queued(graphql_server):
    """strawberry closes 4403 a connection_init whose on_ws_connect refuses; modelled here by
    a server that answers connection_init with a close 4403 (graphql-transport-ws): the on-open
    subscribe and the queued send are never written."""
    async def refuse(ws: Any) -> None:
        await ws.recv()
        await ws.close(4403, "Forbidden")

    async with websockets.serve(refuse, "127.0.0.1", 0, subprotocols=[TRANSPORT_WS]) as server:
        port = server.sockets[0].getsockname()[1]
        endpoint = Endpoint(f"ws://127.0.0.1:{port}/graphql", TRANSPORT_WS, "test", 0.0)
        on_open, _ = encoded("graphql", "subscribe", {"id": "s1", "query": "{ hello }"})
        rec = Recorded(endpoint, detected_at_open=False, on_open=[on_open.decode()])
        try:
            await opened(rec, (b'{"id": "q", "type": "subscribe"}', True))
            await rec.conn.wait_for_state(ConnState.CLOSED, 10)
        finally:
            await rec.conn.disconnect()
    out = [f.payload for f in wire(rec) if f.direction is Direction.OUT]
    assert [b"connection_init" in p for p in out] == [True]
    assert list(rec.conn.queue) == [(b'{"id": "q", "type": "subscribe"}', True)]
    refused = [e for e in rec.of(ErrorEvent) if "refused" in e.message]
    assert refused and "close 4403" in refused[0].message


async def test_a_silent_handshake_releases_the_messages_after_open_timeout():
    """A server that never acknowledges connection_init: after open_timeout the on-open
    message goes anyway, with a note."""
    got: list[str] = []

    async def silent(ws: Any) -> None:
        async for message in ws:
            got.append(message)

    async with websockets.serve(silent, "127.0.0.1", 0, subprotocols=[TRANSPORT_WS]) as server:
        port = server.sockets[0].getsockname()[1]
        endpoint = Endpoint(f"ws://127.0.0.1:{port}/graphql", TRANSPORT_WS, "test", 0.0)
        rec = Recorded(endpoint, detected_at_open=False, on_open=['{"on": "open"}'],
                       open_timeout=1.0)
        try:
            await opened(rec)
            await rec.until(lambda: len(got) == 2, 6.0, "the on-open message, late")
        finally:
            await rec.conn.disconnect()
    assert '"connection_init"' in got[0] and got[1] == '{"on": "open"}'
    [note] = [e for e in rec.of(ErrorEvent) if "not confirmed" in e.message]
    assert "1 s" in note.message
    assert any("did not confirm" in e.note for e in rec.of(ProtocolDetected))


READY_CASES = [
    ("stomp", "v12.stomp", {}, b"CONNECTED\nversion:1.2\n\n\x00", True),
    ("stomp", "v12.stomp", {}, b"ERROR\nmessage:bad login\n\n\x00", False),
    ("stomp", "v12.stomp", {}, b"\n", None),
    ("mqtt", "mqtt", {}, b"\x20\x02\x00\x00", True),
    ("mqtt", "mqtt", {}, b"\x20\x02\x00\x05", False),  # not authorised
    ("mqtt", "mqtt", {}, b"\xd0\x00", None),  # PINGRESP
    ("socketio", None, {}, b'40{"sid":"a"}', True),
    ("socketio", None, {}, b'44{"message":"no"}', False),
    ("socketio", None, {"namespaces": "/chat"}, b'40{"sid":"a"}', None),
    ("socketio", None, {"namespaces": "/chat"}, b'40/chat,{"sid":"b"}', True),
    ("socketio", None, {}, b"2", None),
    ("graphql", TRANSPORT_WS, {}, b'{"type":"connection_ack"}', True),
    ("graphql", "graphql-ws", {}, b'{"type":"connection_error","payload":{}}', False),
    ("graphql", TRANSPORT_WS, {}, b'{"type":"ping"}', None),
]


@pytest.mark.parametrize(("name", "subprotocol", "options", "payload", "verdict"), READY_CASES)
def test_each_session_says_when_its_handshake_is_done(name, subprotocol, options, payload,
                                                      verdict):
    from core.decoders.api import Frame, Handshake
    from core.decoders.guard import open_session

    decoder = default_registry().get(name)
    assert decoder is not None
    url = "ws://h/socket.io/?EIO=4&transport=websocket"
    guard = open_session(decoder, Handshake(url, subprotocol), options or None)
    assert guard.has_ready
    guard.on_open()
    op = Opcode.BINARY if name == "mqtt" else Opcode.TEXT
    messages = guard.feed(Frame(Direction.IN, op, payload))
    assert messages and not guard.off
    assert [guard.ready(m) for m in messages][-1] is verdict
    sent = guard.feed(Frame(Direction.OUT, op, payload))  # our own frames never decide
    assert {guard.ready(m) for m in sent} == {None}


def test_a_graphql_close_4401_refuses_and_a_raising_ready_switches_the_decoder_off():
    from core.decoders.api import Frame, Handshake
    from core.decoders.guard import open_session

    guard = open_session(default_registry().get("graphql"), Handshake("ws://h/", TRANSPORT_WS))
    [close] = guard.feed(Frame(Direction.IN, Opcode.CLOSE, b"\x11\x31Unauthorized"))
    assert guard.ready(close) is False

    class Broken:
        def ready(self, message: Any) -> bool:
            raise ValueError("boom")

    broken = open_session(default_registry().get("graphql"), Handshake("ws://h/"))
    broken.session = Broken()  # type: ignore[assignment]
    assert broken.ready(close) is None and broken.off and "ready raised" in str(broken.off_reason)
