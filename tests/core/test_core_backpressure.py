"""The recorder holds back socket reads when it falls behind: a flood bigger than its bound is
recorded whole while its queue stays within the bound, a closed recorder holds no one, and
heartbeats give no verdict on a wait that was ours."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from core.config import ConnectionConfig, HeartbeatConfig
from core.connection import Connection
from core.events import ErrorEvent
from core.hub import EventHub
from core.recorder import Recorder
from core.states import ConnState
from tests.core.test_hostile_client import NO_PING, ONCE
from tests.rawws import frame, handshake, raw_server, read_frame

COUNT, SIZE = 20_000, 1024
HOLD_BYTES = 128 * 1024


async def test_a_flood_is_recorded_whole_within_the_recorders_bound(tmp_path: Path) -> None:
    blob = b"".join(frame(0x2, i.to_bytes(4, "big") * (SIZE // 4)) for i in range(COUNT))

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(blob + frame(0x8, (1000).to_bytes(2, "big")))
        await writer.drain()
        await reader.read(65536)

    hub = EventHub()
    recorder = Recorder(tmp_path / "r.sqlite", hub, batch_rows=100, hold_bytes=HOLD_BYTES)
    most = 0
    async with raw_server(sender) as port:
        conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                           heartbeat=NO_PING), hub)
        conn.connect()
        async with asyncio.timeout(60):
            while conn.state is not ConnState.CLOSED or not conn.metrics.msgs_in:
                most = max(most, recorder.stats().queued)
                await asyncio.sleep(0.001)
    stats = recorder.stats()
    recorder.close()
    assert conn.metrics.msgs_in == COUNT and conn.close_code == 1000, conn.last_error
    assert stats.holds > 0 and stats.dropped == 0
    # The bound (128 frames' worth), the batch size the check runs at, one 64 KiB read in hand,
    # a few such reads that websockets made before the connection was open (their frames are
    # replayed at once), and a batch to spare. Unheld: ~6,000.
    assert most <= 100 + HOLD_BYTES // SIZE + 64 * 4 + 100, most
    db = sqlite3.connect(tmp_path / "r.sqlite")
    rows = db.execute("SELECT payload FROM frames WHERE opcode = 2 ORDER BY id").fetchall()
    db.close()
    assert [int.from_bytes(p[:4], "big") for (p,) in rows] == list(range(COUNT))


def test_closing_the_recorder_releases_the_connections(tmp_path: Path) -> None:
    hub = EventHub()
    recorder = Recorder(tmp_path / "c.sqlite", hub, batch_rows=10, batch_seconds=30,
                        hold_rows=20)
    for i in range(50):
        hub.publish(ErrorEvent(1, float(i), "x"))
    assert hub.backpressure.engaged
    recorder.close()
    assert not hub.backpressure.engaged
    assert recorder.stats().dropped == 0


async def test_while_reads_are_held_a_late_pong_is_no_verdict_and_no_sample() -> None:
    """A pong that comes late while the recorder holds the reads may have waited on our side:
    no RTT sample and no "no pong" close. The same lateness with nothing held is a timeout."""

    async def slow_pongs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        for _ in range(100):
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                await asyncio.sleep(0.3)
                writer.write(frame(0xA, payload))
                await writer.drain()

    hub = EventHub()
    held = hub.backpressure
    async with raw_server(slow_pongs) as port:
        conn = Connection(ConnectionConfig(
            f"ws://127.0.0.1:{port}", reconnect=ONCE,
            heartbeat=HeartbeatConfig(interval=0.1, timeout=0.2)), hub)
        held.engage()
        conn.connect()
        await conn.wait_for_state(ConnState.OPEN, 5)
        await asyncio.sleep(1.2)  # several pings, each answered after its timeout
        assert conn.state is ConnState.OPEN, conn.last_error
        assert conn.metrics.last_rtt("ping") is None
        held.release()
        await conn.wait_for_state(ConnState.CLOSED, 5)
    assert "No pong within 0.2 s" in (conn.last_error or ""), conn.last_error
