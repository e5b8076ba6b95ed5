"""The core threads step aside for a GUI redraw during a flood: the network stops reading at its
next yield point until the claim is released or runs out, the recorder waits between two
statements unless it holds the reads, and a ping whose pong may have waited on our side gives
no RTT sample, while a pong that never comes is still a verdict."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.config import ConnectionConfig, HeartbeatConfig
from core.connection import Connection
from core.events import Direction, FrameEvent, Opcode
from core.hub import EventHub
from core.loopthread import LoopThread
from core.priority import Priority
from core.recorder import Recorder
from core.states import ConnState
from tests.core.test_hostile_client import NO_PING, ONCE
from tests.rawws import frame, frames_until_close, handshake, raw_server

FLOOD = 300_000  # 64 B frames, ~20 MB: far more than a test reads while claims hold it


def test_step_aside_waits_for_the_release_and_at_most_the_claim() -> None:
    priority = Priority()
    priority.step_aside()  # unclaimed: no wait
    marks = priority.claims
    priority.claim(5.0)
    assert priority.claimed and priority.claimed_since(marks)
    released = threading.Timer(0.1, priority.release)
    released.start()
    start = time.monotonic()
    priority.step_aside()
    assert 0.08 <= time.monotonic() - start < 2.0
    released.join()
    assert not priority.claimed and priority.claimed_since(marks)
    assert not priority.claimed_since(priority.claims)

    priority.claim(0.1)  # never released: it runs out by itself
    start = time.monotonic()
    priority.step_aside()
    assert 0.08 <= time.monotonic() - start < 2.0
    assert not priority.claimed
    start = time.monotonic()
    priority.step_aside()  # a claim that ran out holds no one
    assert time.monotonic() - start < 0.05


@asynccontextmanager
async def flooded(hub: EventHub, core: LoopThread) -> AsyncIterator[Connection]:
    """A connection on a core thread, as in the app, to a server that floods it."""
    blob = frame(0x1, b"x" * 64) * FLOOD

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(blob)
        await writer.drain()
        await reader.read(65536)

    async with raw_server(sender) as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                           heartbeat=NO_PING), hub, loop=core.loop)
        conn.connect()
        try:
            async with asyncio.timeout(20):
                while conn.metrics.msgs_in < 1_000:
                    await asyncio.sleep(0.005)
            yield conn
        finally:
            await conn.disconnect()


async def test_a_claim_stops_the_reads_until_released_or_run_out() -> None:
    hub = EventHub()
    core = LoopThread()
    try:
        async with flooded(hub, core) as conn:
            hub.priority.claim(5.0)
            await asyncio.sleep(0.05)  # the network reaches its next yield point
            held_at = conn.metrics.msgs_in
            await asyncio.sleep(0.3)
            assert conn.metrics.msgs_in == held_at < FLOOD
            hub.priority.release()
            await asyncio.sleep(0.1)
            assert conn.metrics.msgs_in > held_at + 1_000

            hub.priority.claim(0.2)  # a GUI that never paints: the reads go on by themselves
            await asyncio.sleep(0.6)
            assert conn.metrics.msgs_in > held_at + 2_000 or conn.metrics.msgs_in == FLOOD
            hub.priority.release()
    finally:
        core.stop()


def test_the_recorder_steps_aside_between_statements_unless_it_holds_the_reads(
    tmp_path: Path,
) -> None:
    def flood(hub: EventHub, count: int) -> None:
        for i in range(count):
            hub.publish(FrameEvent(1, float(i), Direction.IN, Opcode.TEXT, b"x" * 64))

    hub = EventHub()
    recorder = Recorder(tmp_path / "p.sqlite", hub, batch_rows=100, batch_seconds=0.01)
    try:
        hub.priority.claim(5.0)
        flood(hub, 300)
        time.sleep(0.3)
        assert recorder.stats().written == 0  # waiting before its first statement
        hub.priority.release()
        recorder.flush(10)
        assert recorder.stats().written == 300
    finally:
        hub.priority.release()
        recorder.close()

    # A writer that holds the reads is the bottleneck (and the network is not competing): it
    # writes on through a claim. hold_rows=0: it holds them until it has written everything.
    hub = EventHub()
    recorder = Recorder(tmp_path / "q.sqlite", hub, batch_rows=100, batch_seconds=0.01,
                        hold_rows=0)
    try:
        hub.priority.claim(5.0)
        flood(hub, 3_000)
        assert hub.backpressure.engaged
        recorder.flush(2)
        assert recorder.stats().written == 3_000 and hub.priority.claimed
    finally:
        hub.priority.release()
        recorder.close()


async def test_a_claim_during_a_pings_wait_is_no_sample_but_a_missing_pong_still_closes() -> None:
    async def slow_pongs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for opcode, payload in frames_until_close(reader, writer):
            if opcode == 0x9:
                await asyncio.sleep(0.15)
                writer.write(frame(0xA, payload))
                await writer.drain()

    hub = EventHub()
    core = LoopThread()
    claiming = True

    async def redraws() -> None:
        """Short claims, released at once, as a GUI painting during a flood makes them."""
        while claiming:
            hub.priority.claim(0.05)
            await asyncio.sleep(0.005)
            hub.priority.release()
            await asyncio.sleep(0.04)

    async def opened(port: int, interval: float, timeout: float) -> Connection:
        conn = Connection(ConnectionConfig(
            f"ws://127.0.0.1:{port}", reconnect=ONCE,
            heartbeat=HeartbeatConfig(interval=interval, timeout=timeout)), hub, loop=core.loop)
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        return conn

    try:
        async with raw_server(slow_pongs) as port:
            conn = await opened(port, 0.2, 1.0)
            gui = asyncio.create_task(redraws())
            await asyncio.sleep(1.0)  # several pings, each 150 ms with claims in it
            assert conn.state is ConnState.OPEN and conn.metrics.last_rtt("ping") is None
            claiming = False
            await gui
            async with asyncio.timeout(5):
                while conn.metrics.last_rtt("ping") is None:
                    await asyncio.sleep(0.02)
            assert 0.14 <= (conn.metrics.last_rtt("ping") or 0) < 1.0
            await conn.disconnect()

            claiming = True
            conn = await opened(port, 0.1, 0.1)
            gui = asyncio.create_task(redraws())
            await conn.wait_for_state(ConnState.CLOSED, 5)
            claiming = False
            await gui
        assert "No pong within 0.1 s" in (conn.last_error or ""), conn.last_error
    finally:
        core.stop()


async def test_a_round_trip_while_the_gui_thread_works_is_no_sample() -> None:
    """The GUI thread's working spells (its event dispatcher's awake .. aboutToBlock, which
    ui.bridge reports) may hold the GIL inside Qt's C++ while a pong waits to be read: a ping
    answered while the GUI works gives no RTT sample, and samples come back once it waits."""
    async def pongs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for opcode, payload in frames_until_close(reader, writer):
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
                await writer.drain()

    hub = EventHub()
    core = LoopThread()
    try:
        async with raw_server(pongs) as port:
            conn = Connection(ConnectionConfig(
                f"ws://127.0.0.1:{port}", reconnect=ONCE,
                heartbeat=HeartbeatConfig(interval=0.05, timeout=1.0)), hub, loop=core.loop)
            hub.priority.gui_awake()  # one long working spell
            conn.connect()
            await conn.wait_for_state(ConnState.OPEN, 5)
            await asyncio.sleep(0.5)  # ~10 pings, all answered
            assert conn.metrics.last_rtt("ping") is None and conn.state is ConnState.OPEN
            hub.priority.gui_idle()
            async with asyncio.timeout(5):
                while conn.metrics.last_rtt("ping") is None:
                    await asyncio.sleep(0.02)
            wakes = hub.priority.wakes
            hub.priority.gui_awake()
            hub.priority.gui_idle()  # a short spell: a round trip it fell into is no sample
            assert hub.priority.gui_awake_since(wakes) and not hub.priority.gui_awake_since(
                hub.priority.wakes)
            await conn.disconnect()
    finally:
        core.stop()
