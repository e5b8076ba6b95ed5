"""An RTT is timed by the kernel's receive stamp: a pong that arrives while our process is busy
is not counted as the server's latency."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from core.config import ConnectionConfig, HeartbeatConfig
from core.connection import Connection
from core.hub import EventHub
from core.loopthread import LoopThread
from core.rxstamp import lag, stamp
from core.states import ConnState
from tests.rawws import frame, frames_until_close, raw_server
from tests.test_hostile_client import ONCE


async def test_reads_carry_the_kernels_stamp_of_their_arrival() -> None:
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Reader(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            got.put_nowait(data)

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        writer.write(b"hello")
        await writer.drain()
        await reader.read(1)

    async with raw_server(sender) as port:
        transport, _ = await asyncio.get_running_loop().create_connection(
            Reader, "127.0.0.1", port)
        stamped = stamp(transport)
        assert stamped is not None
        transport.pause_reading()
        transport.write(b"go")
        await asyncio.sleep(0.2)  # the data waits in the kernel
        transport.resume_reading()
        assert await asyncio.wait_for(got.get(), 5) == b"hello"
        assert 0.15 <= lag(stamped) < 5.0
        assert stamped.family == socket.AF_INET  # everything else goes to the socket
        transport.close()


@pytest.mark.parametrize("kind", ["ping", "app"])
async def test_a_reply_that_waited_on_our_side_is_timed_by_its_arrival(kind: str) -> None:
    """The server answers after 50 ms, and makes the client's loop busy for 0.3 s as it does:
    timed in Python that is ~0.3 s; the sample is the reply's arrival, a protocol pong's or an
    app-level heartbeat reply's."""
    core = LoopThread()

    async def busy_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for opcode, payload in frames_until_close(reader, writer):
            if (opcode, kind) in ((0x9, "ping"), (0x1, "app")):
                core.loop.call_soon_threadsafe(time.sleep, 0.3)
                await asyncio.sleep(0.05)  # the client's loop is asleep now
                reply = frame(0xA, payload) if kind == "ping" else frame(0x1, b'{"type":"pong"}')
                writer.write(reply)
                await writer.drain()

    heartbeat = (HeartbeatConfig(interval=0.2, timeout=5.0) if kind == "ping" else
                 HeartbeatConfig(interval=0.2, timeout=5.0, app_template='{"type":"ping"}'))
    try:
        async with raw_server(busy_client) as port:
            conn = Connection(ConnectionConfig(f"ws://127.0.0.1:{port}", reconnect=ONCE,
                                               heartbeat=heartbeat), EventHub(), loop=core.loop)
            conn.connect()
            await conn.wait_for_state(ConnState.OPEN, 5)
            async with asyncio.timeout(15):
                while conn.metrics.last_rtt(kind) is None:
                    await asyncio.sleep(0.02)
            rtt = conn.metrics.last_rtt(kind) or 0.0
            await conn.disconnect()
        assert 0.04 <= rtt < 0.2, rtt  # the server's 50 ms, not the client's 300 ms nap
    finally:
        core.stop()
