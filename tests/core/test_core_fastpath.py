"""The wire's fast path (core/wire.py) against raw servers: whatever the mix of frames, compressed
or not, and however the bytes are cut into reads, the engine sees exactly what websockets alone
would have shown, and every malformed frame inside a run of fast frames still ends the connection
with its own code."""

from __future__ import annotations

import asyncio
import json
import random
import zlib

import pytest
from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig
from core.connection import Connection
from core.events import Direction, Event, FrameEvent, HandshakeInfo, Opcode, StateChanged
from core.hub import EventHub
from core.states import ConnState
from core.wire import FAST_MAX, Wire
from tests.core.test_hostile_client import NO_PING, ONCE, deflate, run_until_closed
from tests.rawws import frame, handshake, raw_server

DEFLATE = b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
CONTEXT = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"  # the server keeps its context
HEADERS = {"plain": b"", "deflate": DEFLATE, "context": CONTEXT}

SIZES = [0, 1, 125, 126, 127, 1000, 65535, 65536, FAST_MAX, FAST_MAX + 1, 70_000]
CLOSE_OK = (1000).to_bytes(2, "big") + b"bye"


def script(
    rng: random.Random, count: int, mode: str = "plain"
) -> tuple[bytes, list[tuple[Opcode, bytes]]]:
    """A stream of mixed frames ending in a close, and the frames the engine must report.
    "deflate": most messages, fragmented ones too, are deflated each on its own (no context
    takeover); "context": the same on one stream, so the fast
    path (small whole messages) and websockets' parser (fragments, large messages) take turns
    on the one inflate stream and every message depends on the ones before it."""
    wire = bytearray()
    seen: list[tuple[Opcode, bytes]] = []
    stream = zlib.compressobj(wbits=-15)

    def compress(data: bytes) -> bytes:
        if mode == "deflate":
            return deflate(data)
        out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]

    def payload(text: bool) -> bytes:
        size = rng.choice(SIZES) if rng.random() < 0.15 else rng.randint(0, 300)
        if text:
            return ("é" * (size // 2) if rng.random() < 0.3 else "a" * size).encode()
        return rng.randbytes(size)

    for i in range(count):
        kind = rng.random()
        if kind < 0.7:
            text = rng.random() < 0.6
            data = payload(text)
            if mode != "plain" and rng.random() < 0.8:
                wire += frame(0x1 if text else 0x2, compress(data), rsv=4)
            else:
                wire += frame(0x1 if text else 0x2, data)
            seen.append((Opcode.TEXT if text else Opcode.BINARY, data))
        elif kind < 0.8:
            data = b"p%d" % i
            wire += frame(0x9, data)
            seen.append((Opcode.PING, data))
        elif kind < 0.85:
            data = b"unsolicited %d" % i
            wire += frame(0xA, data)
            seen.append((Opcode.PONG, data))
        else:  # a fragmented message with a ping between its fragments
            parts = [payload(True) for _ in range(3)]
            seen_text = b"".join(parts)
            rsv = 0
            if mode != "plain" and rng.random() < 0.8:  # its compressed bytes, cut in three
                packed = compress(seen_text)
                cuts = sorted(rng.randint(0, len(packed)) for _ in range(2))
                parts = [packed[: cuts[0]], packed[cuts[0] : cuts[1]], packed[cuts[1] :]]
                rsv = 4
            wire += frame(0x1, parts[0], fin=False, rsv=rsv)
            wire += frame(0x9, b"mid")
            seen.append((Opcode.PING, b"mid"))
            wire += frame(0x0, parts[1], fin=False) + frame(0x0, parts[2])
            seen.append((Opcode.TEXT, seen_text))
    wire += frame(0x8, CLOSE_OK)
    seen.append((Opcode.CLOSE, CLOSE_OK))
    return bytes(wire), seen


def frames_in(events: list[Event]) -> list[tuple[Opcode, bytes]]:
    return [(e.opcode, e.payload) for e in events
            if isinstance(e, FrameEvent) and e.direction is Direction.IN]


async def run_counting(url: str, **fields: object) -> tuple[Connection, list[Event], Wire]:
    """Like run_until_closed, and the wire of the (only) open, whose counters say which path
    read each data frame."""
    hub = EventHub()
    events: list[Event] = []
    wires: list[Wire] = []
    conn = Connection(ConnectionConfig(url, reconnect=ONCE, heartbeat=NO_PING, **fields), hub)  # type: ignore[arg-type]

    def seen(event: Event) -> None:
        events.append(event)
        if isinstance(event, StateChanged) and event.new is ConnState.OPEN and conn.wire:
            wires.append(conn.wire)

    hub.subscribe(seen)
    conn.connect()
    await conn.wait_for_state(ConnState.CLOSED, 15)
    assert len(wires) == 1
    return conn, events, wires[0]


@pytest.mark.parametrize("mode", ["plain", "deflate", "context"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_any_mix_cut_anywhere_is_seen_exactly(seed: int, mode: str) -> None:
    rng = random.Random(seed)
    wire, expected = script(rng, 400, mode)
    # Seeds 2 and 4 send the first bytes in the handshake's own write, cut inside a frame:
    # they are held until the engine attaches, and read from the frame boundary on.
    early = rng.randint(1, 5000) if seed % 2 == 0 else 0

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, extra=HEADERS[mode],
                        tail=wire[:early])
        pos = early
        for _ in range(len(wire)):
            if pos >= len(wire):
                break
            step = rng.choice([1, 2, 3, 7, 64, 1000, 4096, 65536])
            writer.write(wire[pos : pos + step])
            pos += step
            await writer.drain()
            await asyncio.sleep(0)  # the client reads what is there: reads end anywhere
        await reader.read(65536)

    async with raw_server(sender) as port:
        conn, events, used = await run_counting(f"ws://127.0.0.1:{port}")
    assert frames_in(events) == expected
    assert conn.close_code == 1000, conn.last_error
    data = sum(op in (Opcode.TEXT, Opcode.BINARY) for op, _ in expected)
    assert conn.metrics.msgs_in == data
    # every whole message of at most FAST_MAX took the fast path; fragments and large ones not
    assert used.fast_frames + used.slow_frames >= data
    assert 0.5 * data < used.fast_frames < data


GOOD = b"".join(frame(0x1, b"m%d" % i) for i in range(50))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (bytes([0x81, 0x82]) + b"abcd" + b"\x09\x0b", "1002 protocol error"),  # masked
        (frame(0x1, b"part", fin=False) + frame(0x1, b"oops"), "expected a continuation"),
        (frame(0x1, b"\xff\xfe"), "1007"),  # not UTF-8
        (bytes([0x82, 127]) + (100 * 2**20).to_bytes(8, "big"), "1009 message too big"),
        (frame(0x1, b"x", rsv=2), "reserved bits"),
        (frame(0x3, b"x"), "invalid opcode"),
        (frame(0x0, b"x"), "unexpected continuation"),
        (frame(0x1, b"x", rsv=4), "reserved bits"),  # compressed, but deflate not negotiated
    ],
    ids=["masked", "no-continuation", "utf8", "oversized", "rsv", "opcode", "stray-cont",
         "rsv1-without-deflate"],
)
async def test_a_bad_frame_among_fast_frames_ends_with_its_own_code(
    bad: bytes, words: str
) -> None:
    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        await asyncio.sleep(0.05)  # after the engine attached: the fast path reads GOOD
        writer.write(GOOD + bad + GOOD)
        await writer.drain()
        await reader.read(65536)

    async with raw_server(sender) as port:
        conn, _ = await run_until_closed(f"ws://127.0.0.1:{port}", max_size=2**20)
    assert words in (conn.last_error or ""), conn.last_error
    assert conn.metrics.msgs_in == 50  # what came before is kept; nothing after it is read


async def test_frames_waiting_in_a_partial_read_survive_a_dropped_tcp() -> None:
    """A fast frame cut short by the end of the stream is a 1006, like websockets says it."""

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        await asyncio.sleep(0.05)
        writer.write(GOOD + frame(0x1, b"cut short")[:5])
        await writer.drain()
        writer.write_eof()
        await reader.read(65536)

    hub = EventHub()
    async with raw_server(sender) as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                           heartbeat=NO_PING), hub)
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 15)
    assert conn.metrics.msgs_in == 50
    assert "1006" in (conn.last_error or ""), conn.last_error


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (frame(0x1, b"\x00garbage that does not inflate", rsv=4), "1002"),
        (frame(0x2, deflate(b"\0" * (2 * 2**20)), rsv=4), "1009 message too big"),
        (frame(0x1, deflate(b"\xff\xfe"), rsv=4), "1007"),
    ],
    ids=["not-deflate", "bomb", "utf8"],
)
async def test_a_bad_compressed_frame_among_fast_frames_ends_with_its_own_code(
    bad: bytes, words: str
) -> None:
    good = b"".join(frame(0x1, deflate(b"m%d" % i), rsv=4) for i in range(50))

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, extra=DEFLATE)
        await asyncio.sleep(0.05)
        writer.write(good + bad + good)
        await writer.drain()
        await reader.read(65536)

    async with raw_server(sender) as port:
        conn, events, used = await run_counting(f"ws://127.0.0.1:{port}", max_size=2**20)
    assert words in (conn.last_error or ""), conn.last_error
    assert conn.metrics.msgs_in == 50
    assert [p for op, p in frames_in(events) if op is Opcode.TEXT][:2] == [b"m0", b"m1"]
    assert used.fast_frames >= 50


async def test_a_real_compressing_server_keeps_one_context_across_both_paths() -> None:
    """websockets' own server, compression on with context takeover (its default): small whole
    messages (our fast path), fragmented and large ones (websockets' parser) and our own
    compressed sends, echoed back, all on the one inflate stream each way."""
    rng = random.Random(7)
    sent: list[bytes | str] = []
    for i in range(300):
        kind = rng.random()
        body = json.dumps({"seq": i, "pad": "ab" * rng.randint(0, 60)})
        if kind < 0.1:
            sent.append(rng.randbytes(FAST_MAX + 100))  # still over FAST_MAX compressed
        elif kind < 0.2:
            sent.append(body.encode() * 3)
        else:
            sent.append(body)
    fragmented = [json.dumps({"part": n}) for n in range(3)]

    async def handler(ws: ServerConnection) -> None:
        for i, message in enumerate(sent):
            if i % 50 == 25:
                await ws.send(fragmented)  # one message, three compressed frames
            await ws.send(message)
        async for echo in ws:  # what the client sends comes back once, then the close
            await ws.send(echo)
            await ws.close()

    expected: list[tuple[Opcode, bytes]] = []
    for i, message in enumerate(sent):
        if i % 50 == 25:
            expected.append((Opcode.TEXT, "".join(fragmented).encode()))
        text = isinstance(message, str)
        expected.append((Opcode.TEXT if text else Opcode.BINARY,
                         message.encode() if isinstance(message, str) else message))
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                           heartbeat=NO_PING), hub)
        conn.connect()
        for _ in range(500):
            if len(frames_in(events)) >= len(expected):
                break
            await asyncio.sleep(0.02)
        wire = conn.wire
        large = sum(isinstance(m, bytes) and len(m) > FAST_MAX for m in sent)
        assert wire is not None and wire.fast_frames > 200
        assert wire.slow_frames == large + len(sent) // 50  # the large and fragmented ones
        await conn.send("ping " * 100)
        await conn.wait_for_state(ConnState.CLOSED, 15)
    received = [f for f in frames_in(events) if f[0] in (Opcode.TEXT, Opcode.BINARY)]
    assert received == [*expected, (Opcode.TEXT, b"ping " * 100)]
    opened = [e for e in events if isinstance(e, HandshakeInfo)]
    assert "permessage-deflate" in opened[0].extensions[0]


async def test_an_observer_of_whole_reads_sees_what_one_of_single_events_sees() -> None:
    """The data frames of a read are published as one batch (EventHub.publish_frames); an
    observer taking batches and one taking events one by one see the same events in the same
    order, the batches among the control frames, state changes and close where they happened."""
    rng = random.Random(11)
    wire, expected = script(rng, 600, "context")

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, extra=CONTEXT)
        for pos in range(0, len(wire), 3000):
            writer.write(wire[pos : pos + 3000])
            await writer.drain()
            await asyncio.sleep(0)
        await reader.read(65536)

    hub = EventHub()
    single: list[Event] = []
    whole: list[Event] = []
    batches: list[int] = []

    def take(frames: list[FrameEvent]) -> None:
        batches.append(len(frames))
        whole.extend(frames)

    hub.subscribe(single.append)
    hub.subscribe(whole.append, take)
    async with raw_server(sender) as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                           heartbeat=NO_PING), hub)
        conn.connect()
        await conn.wait_for_state(ConnState.CLOSED, 15)
    assert whole == single
    assert frames_in(single) == expected
    # (the first messages go one by one while the protocol layer sniffs them for a protocol)
    assert max(batches) > 10 and sum(batches) > 0.9 * conn.metrics.msgs_in
