"""The wire's defences, each on its own, against a real RoomServer in this process: control frames
spend the rate limit, one turn's output leaves in one write, work per turn is bounded, the close
reason is not echoed, and a parse failure frees its frames without a garbage collection."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.server import RoomServer
from core.server.rooms import Member
from core.server.wire import SLICE, Wire
from tests.attackers import RawPeer
from tests.core.test_server_support import running, wait_for
from tests.rawws import BINARY, CLOSE, PING, PONG, TEXT, client_frame, close_payload, parse_close

KEY = b"\x01\x02\x03\x04"


class CountingTransport:
    """The real transport, with its write() calls counted (a spy: every call goes through)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.writes: list[int] = []  # Bytes per write.

    def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        self.real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@asynccontextmanager
async def spied(server: RoomServer, sub: str, **kw: Any) -> AsyncIterator[tuple[RawPeer, Wire]]:
    """A raw peer that has read its `connected` message, and the server's wire for it, whose
    writes are counted from now on."""
    before = set(server.connections)
    peer = await RawPeer.connect(server.port, sub=sub, **kw)
    try:
        assert peer.status == 101, peer.head
        _opcode, payload = await peer.read_frame()
        assert b'"connected"' in payload, payload
        (wire,) = set(server.connections) - before
        wire.transport = CountingTransport(wire.transport)  # type: ignore[assignment]
        yield peer, wire
    finally:
        peer.abort()


def _writes(wire: Wire) -> list[int]:
    assert isinstance(wire.transport, CountingTransport)
    return wire.transport.writes


async def test_pongs_spend_the_rate_limit_and_a_pong_flooder_is_closed_1008() -> None:
    async with running(rate=1.0, burst=3, abuse_limit=6) as server:
        async with spied(server, "ponger") as (peer, _wire):
            await peer.send(client_frame(PONG, b"unsolicited") * 20)
            code, _reason = await peer.read_close()
        assert code == "1008"
        assert any("1008" in e.text for e in server.log.drain())


async def test_the_pongs_of_one_read_leave_in_one_write() -> None:
    async with (
        running(rate=1e6, burst=10**6) as server,
        spied(server, "pinger") as (peer, wire),
    ):
        pings = client_frame(PING, b"p", key=KEY) * 50  # 350 bytes: one read, one slice.
        assert len(pings) < SLICE
        await peer.send(pings)
        pongs = [await peer.read_frame() for _ in range(50)]
        assert pongs == [(PONG, b"p")] * 50
        assert _writes(wire) == [50 * 3]


async def test_broadcasts_queued_in_one_turn_leave_in_one_write() -> None:
    async with (
        running(rate=1e6, burst=10**6) as server,
        spied(server, "reader") as (peer, wire),
    ):
        join = {"type": "join_room", "room": "r", "requestId": 1}
        await peer.send(client_frame(TEXT, json.dumps(join).encode()))
        assert b'"ack"' in (await peer.read_frame())[1]
        bot = Member(client_id="bot-1", name="bot", dedup_key="bot-1")
        server.hub.connect(bot)
        server.hub.join(bot, "r")
        assert b'"presence"' in (await peer.read_frame())[1]
        _writes(wire).clear()
        for n in range(100):
            server.hub.broadcast(bot, "r", n)
        got = [json.loads((await peer.read_frame())[1])["data"] for _ in range(100)]
        assert got == list(range(100))
        assert len(_writes(wire)) == 1


async def test_one_turn_parses_a_bounded_slice_of_a_big_read() -> None:
    """12,000 empty pings in one write: the pongs leave in many writes, each the output of at
    most one slice (~170 pings), so other connections get the loop in between."""
    count = 12_000
    async with (
        running(rate=1e6, burst=10**6) as server,
        spied(server, "flooder") as (peer, wire),
    ):
        loop = asyncio.get_running_loop()
        turns = 0

        async def other_callbacks() -> None:  # Counts loop turns while the flood is parsed.
            nonlocal turns
            for _ in range(10_000):
                turns += 1
                await asyncio.sleep(0)

        ticker = loop.create_task(other_callbacks())
        await peer.send(client_frame(PING, b"", key=KEY) * count)
        for _ in range(count):
            assert await peer.read_frame() == (PONG, b"")
        ticker.cancel()
        writes = list(_writes(wire))
    per_slice = SLICE // 6 + 1  # An empty masked ping is 6 bytes; its pong 2.
    assert sum(writes) == 2 * count
    assert max(writes) <= 2 * per_slice, max(writes)
    assert len(writes) >= count // per_slice
    assert turns >= len(writes) // 2  # The loop did run other work between the slices.


async def test_a_client_close_reason_is_not_echoed_back() -> None:
    async with running() as server, spied(server, "closer") as (peer, _wire):
        await peer.send(client_frame(CLOSE, close_payload(1000, b"\x1b[31m<script>hello")))
        opcode, payload = await peer.read_frame()
        assert opcode == CLOSE and parse_close(payload) == (1000, "")
        assert await peer.wait_eof() in ("eof", "reset")


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


async def test_a_parse_failure_frees_its_frames_without_a_garbage_collection() -> None:
    """A decompression bomb fails to parse once max_size bytes are inflated; the failure's
    traceback holds them, in a cycle with the parser. With the collector off, they must still
    be gone once the connection is."""
    max_size = 1 << 20
    headers = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    async with running(max_size=max_size) as server:
        gc.collect()
        collecting = gc.isenabled()  # the suite runs with it off (tests/conftest.py)
        gc.disable()
        tracemalloc.start()
        try:
            peer = await RawPeer.connect(server.port, sub="bomber", headers=headers)
            try:
                match = re.search(rb"client_max_window_bits=(\d+)", peer.head)
                wbits = int(match.group(1)) if match else 15
                await peer.read_frame()  # connected
                before = tracemalloc.get_traced_memory()[0]
                bomb = _deflate(b"\0" * (8 * max_size), wbits)
                await peer.send(client_frame(BINARY, bomb, rsv=4))
                assert (await peer.read_close())[0] == "1009"
            finally:
                peer.abort()
            await wait_for(lambda: not server.connections)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            if collecting:
                gc.enable()
    assert grown < max_size // 4, grown
