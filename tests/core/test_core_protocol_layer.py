"""Decoders in a running connection (core/decoders/layer.py) against real servers on 127.0.0.1:
python-socketio under uvicorn (detected, kept open by the protocol client, acks paired), the
embedded server (a lazy decoder: nothing fed per frame), and a decoder that breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.decoders.api import (
    FIRST_FRAMES,
    URL_SIGNATURE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.decoders.layer import BATCH_ITEMS, ProtocolLayer, decode_frame, default_registry
from core.decoders.registry import Registry
from core.events import (
    Direction,
    Event,
    FrameEvent,
    HandshakeInfo,
    MessagesDecoded,
    Opcode,
    PairsMatched,
    ProtocolDetected,
    StateChanged,
)
from core.hub import EventHub
from core.states import ConnState
from tests.servers.socketio_server import running

NO_RETRY = ReconnectPolicy(enabled=False)


async def until(predicate: Callable[[], object], timeout: float = 8.0, what: str = "") -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


def of(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def frames(events: list[Event], direction: Direction) -> list[bytes]:
    return [e.payload for e in of(events, FrameEvent)
            if e.direction is direction and e.opcode in (Opcode.TEXT, Opcode.BINARY)]


def messages(events: list[Event]) -> list[Message]:
    return [m for e in of(events, MessagesDecoded) for _, m in e.items]


@pytest.fixture
def sio_server():
    server = running(ping_interval=1.0, ping_timeout=1.0)
    yield server
    server.stop()


def connection(url: str, **fields: Any) -> tuple[Connection, list[Event]]:
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    registry = fields.pop("registry", None)
    resolve = fields.pop("resolve", None)
    fields.setdefault("reconnect", NO_RETRY)
    config = ConnectionConfig(url, **fields)
    return Connection(config, hub, registry=registry, resolve=resolve), events


# ----- Socket.IO: the protocol client keeps the connection -----------------------------------


async def test_socketio_is_detected_stays_open_and_pairs_an_ack(sio_server) -> None:
    conn, events = connection(sio_server.url)
    conn.connect()
    try:
        await conn.wait_for_state(ConnState.OPEN, 10)
        await until(lambda: of(events, ProtocolDetected), what="ProtocolDetected")
        detected = of(events, ProtocolDetected)[0]
        assert detected.protocol == "socketio" and detected.client and not detected.overridden
        assert detected.score >= URL_SIGNATURE and detected.note == ""
        await until(lambda: any(p.startswith(b"40{") for p in frames(events, Direction.IN)),
                    what="the namespace connect answered by the server")
        assert frames(events, Direction.OUT)[0] == b"40"  # the client connected "/" itself
        await asyncio.sleep(4.0)  # twice the server's ping interval + timeout
        assert conn.state is ConnState.OPEN
        assert b"3" in frames(events, Direction.OUT)  # Engine.IO pongs answered the pings
        assert sio_server.disconnects == 0
        await conn.send('421["echo",{"x":1}]')
        await until(lambda: of(events, PairsMatched), what="the ack paired")
        pair = of(events, PairsMatched)[0].pairs[0]
        assert pair.request.correlation == "ack:/:1" and pair.request.name == "echo"
        assert pair.reply.kind is Kind.RESPONSE and pair.reply.payload == [{"x": 1}]
        assert 0.0 <= pair.latency < 5.0
        assert pair.conn_id == conn.id
        decoded = messages(events)
        assert any(m.kind is Kind.HEARTBEAT and m.direction is Direction.IN for m in decoded)
        assert any(m.kind is Kind.REQUEST and m.name == "echo" for m in decoded)
    finally:
        await conn.disconnect()
    assert len(of(events, ProtocolDetected)) == 1  # one per open


async def test_without_the_protocol_client_the_server_drops_the_connection(sio_server) -> None:
    conn, events = connection(sio_server.url, protocol_client=False)
    conn.connect()
    try:
        await conn.wait_for_state(ConnState.OPEN, 10)
        await until(lambda: of(events, ProtocolDetected), what="ProtocolDetected")
        detected = of(events, ProtocolDetected)[0]
        assert detected.protocol == "socketio" and not detected.client
        await conn.wait_for_state(ConnState.CLOSED, 8.0)  # interval + timeout is 2 s
        assert frames(events, Direction.OUT) == []  # nothing answered for us
        assert any(m.kind is Kind.HEARTBEAT for m in messages(events))  # still decoded
    finally:
        await conn.disconnect()


async def test_protocol_options_are_resolved_and_passed_to_the_session(sio_server) -> None:
    conn, events = connection(sio_server.url, protocol_options={"namespaces": "{{ns}}"},
                              resolve=lambda text: text.replace("{{ns}}", "/chat"))
    conn.connect()
    try:
        await until(lambda: b"40/chat," in frames(events, Direction.OUT),
                    what="the namespace from the options connected")
        assert frames(events, Direction.OUT)[:2] == [b"40", b"40/chat,"]
    finally:
        await conn.disconnect()


# ----- the embedded server: a lazy decoder ----------------------------------------------------


async def test_embedded_is_detected_lazy_and_not_fed(embedded_server) -> None:
    server = embedded_server(auth=False)
    conn, events = connection(server.url)
    conn.connect()
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: of(events, ProtocolDetected), what="ProtocolDetected")
        detected = of(events, ProtocolDetected)[0]
        assert detected.protocol == "embedded" and not detected.client
        assert detected.score >= FIRST_FRAMES
        assert conn.protocol is not None and not conn.protocol.fed
        reply = await conn.request({"type": "join_room", "room": "lobby"})
        assert reply.message["type"] == "ack"
        await asyncio.sleep(0.2)  # longer than a batch
        assert of(events, MessagesDecoded) == [] and of(events, PairsMatched) == []
        first = frames(events, Direction.IN)[0]
        decoded = decode_frame("embedded", Opcode.TEXT, first)
        assert decoded[0].protocol == "embedded" and decoded[0].name == "connected"
    finally:
        await conn.disconnect()


def test_decode_frame_is_stateless_and_never_raises() -> None:
    text = b'{"type": "join_room", "room": "a", "requestId": "r1"}'
    [message] = decode_frame("embedded", Opcode.TEXT, text, Direction.OUT)
    assert message.kind is Kind.SUBSCRIBE and message.topic == "a"
    assert message.correlation == "req:r1"
    assert decode_frame("json", Opcode.TEXT, b'{"event": "tick"}')[0].name == "tick"
    assert decode_frame("raw", Opcode.TEXT, text) == []
    assert decode_frame("no-such", Opcode.TEXT, text) == []
    assert decode_frame("json", Opcode.BINARY, b"\xff\x00") == []
    assert all(getattr(default_registry().get(n), "lazy", False) for n in ("json", "embedded"))
    assert not getattr(default_registry().get("socketio"), "lazy", False)


async def test_set_decoder_overrides_while_open_and_on_later_opens(embedded_server) -> None:
    server = embedded_server(auth=False)
    conn, events = connection(server.url, reconnect=ReconnectPolicy(initial=0.05, jitter=0.0))
    conn.connect()
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: of(events, ProtocolDetected), what="ProtocolDetected")
        with pytest.raises(ValueError, match="no decoder named 'nope'"):
            conn.set_decoder("nope")
        await asyncio.to_thread(conn.set_decoder, "jsonrpc")  # from another thread
        await until(lambda: len(of(events, ProtocolDetected)) == 2, what="the override")
        chosen = of(events, ProtocolDetected)[1]
        assert chosen.protocol == "jsonrpc" and chosen.overridden
        assert conn.protocol is not None and conn.protocol.fed
        await conn.send('{"jsonrpc": "2.0", "method": "list_rooms", "id": 7}')
        await until(lambda: any(m.correlation == "rpc:7" for m in messages(events)),
                    what="the jsonrpc session fed")
        conn.set_decoder("raw")
        raw = of(events, ProtocolDetected)[2]
        assert raw.protocol is None and raw.overridden and not conn.protocol.fed
        conn.reconnect_now()
        await until(lambda: len(of(events, ProtocolDetected)) == 4, what="the next open")
        assert of(events, ProtocolDetected)[3].protocol is None  # the override is kept
    finally:
        await conn.disconnect()


# ----- a decoder that breaks ------------------------------------------------------------------


class BrokenSession:
    def __init__(self) -> None:
        self.fed = 0

    def feed(self, frame: Frame) -> Sequence[Message]:
        self.fed += 1
        if self.fed >= 3:
            raise RuntimeError("boom")
        return (Message("broken", Kind.EVENT, f"frame {self.fed}", frame.direction),)

    def on_open(self) -> Sequence[Outgoing]:
        return ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return ()


class BrokenDecoder:
    name = "broken"
    title = "breaks at its third frame"
    subprotocols: tuple[str, ...] = ()

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        return URL_SIGNATURE  # sure of itself from the handshake

    def session(self, handshake: Handshake) -> BrokenSession:
        return BrokenSession()

    def templates(self) -> Mapping[str, str]:
        return {}

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        return ()


async def test_a_decoder_that_raises_is_switched_off_and_frames_still_flow(
        embedded_server) -> None:
    server = embedded_server(auth=False)
    conn, events = connection(server.url, registry=Registry([BrokenDecoder()]),
                              heartbeat=HeartbeatConfig(interval=0))
    conn.connect()
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        for room in ("a", "b", "c"):
            await conn.request({"type": "join_room", "room": room})
        await until(lambda: len(of(events, ProtocolDetected)) == 2, what="the switch-off")
        first, off = of(events, ProtocolDetected)
        assert first.protocol == off.protocol == "broken" and first.client and first.note == ""
        assert off.note.startswith("broken decoder switched off: feed raised RuntimeError: boom")
        assert not off.client and not conn.protocol.fed
        await until(lambda: any(m.fields.get("switched_off") for m in messages(events)),
                    what="the note as a message")
        before = len(frames(events, Direction.IN))
        reply = await conn.request({"type": "list_rooms"})  # frames still flow, raw
        assert reply.message["type"] == "rooms" and len(frames(events, Direction.IN)) > before
        assert [m.summary for m in messages(events) if m.kind is Kind.EVENT] == [
            "frame 1", "frame 2"]
    finally:
        await conn.disconnect()
    assert of(events, StateChanged)[-1].new is ConnState.CLOSED


# ----- batching -------------------------------------------------------------------------------


async def test_events_are_batched_by_count_and_time_and_flushed_at_close() -> None:
    published: list[Event] = []
    handshake = HandshakeInfo(1, 0.0, "ws://127.0.0.1:1/rpc", 101, (), (), None, ())
    layer = ProtocolLayer(1, handshake, published.append, registry=default_registry(),
                          decoder="jsonrpc")
    layer.start()
    assert of(published, ProtocolDetected)[0].protocol == "jsonrpc" and layer.fed
    for i in range(BATCH_ITEMS):  # a full batch goes out at once
        layer.feed(Direction.OUT, Opcode.TEXT,
                   b'{"jsonrpc": "2.0", "method": "m", "id": %d}' % i, float(i))
    assert [len(e.items) for e in of(published, MessagesDecoded)] == [BATCH_ITEMS]
    for i in range(10):  # a few wait for the timer
        layer.feed(Direction.IN, Opcode.TEXT,
                   b'{"jsonrpc": "2.0", "result": 1, "id": %d}' % i, 1000.0 + i)
    assert len(of(published, MessagesDecoded)) == 1 and of(published, PairsMatched) == []
    await until(lambda: len(of(published, MessagesDecoded)) == 2, timeout=2.0)
    [pairs] = of(published, PairsMatched)
    assert len(pairs.pairs) == 10 and pairs.pairs[0].latency == 1000.0
    layer.feed(Direction.IN, Opcode.TEXT, b'{"jsonrpc": "2.0", "result": 1, "id": 10}', 2000.0)
    layer.close()  # flushed now, not 50 ms later
    assert len(of(published, MessagesDecoded)) == 3 and len(of(published, PairsMatched)) == 2
    assert not layer.fed and layer.pairer.pending_count == BATCH_ITEMS - 11
