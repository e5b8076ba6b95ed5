"""The core on a thread of its own, used from another thread's loop, as the desktop app does."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import FrameEvent, StateChanged
from core.loopthread import LoopThread
from core.manager import ConnectionManager
from core.metrics import ConnectionMetrics, GrowingRing
from core.states import ConnState


async def _echo_with_reply(ws: ServerConnection) -> None:
    async for message in ws:
        data = json.loads(message)
        if "requestId" in data:
            await ws.send(json.dumps({"type": "reply", "requestId": data["requestId"]}))
        else:
            await ws.send(message)


async def test_connections_run_on_the_core_thread_and_answer_callers_on_another_loop() -> None:
    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)
    seen: list[tuple[str, object]] = []
    manager.hub.subscribe(lambda e: seen.append((threading.current_thread().name, e)))
    async with serve(_echo_with_reply, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            conn = manager.add(
                ConnectionConfig(f"ws://127.0.0.1:{port}/", heartbeat=HeartbeatConfig(0.1)),
                connect=True,  # called here, started there
            )
            await conn.wait_for_state(ConnState.OPEN, 5)
            assert await conn.send('{"n": 1}') is True
            reply = await conn.request({"type": "ping"}, timeout=5)
            assert reply.message["type"] == "reply" and reply.rtt > 0
            async with asyncio.timeout(5):
                while len(conn.metrics.rtt) < 2:
                    await asyncio.sleep(0.02)
            await manager.close_all()
            assert conn.state is ConnState.CLOSED
        finally:
            core.stop()
    assert not core.alive
    threads = {name for name, e in seen if isinstance(e, FrameEvent | StateChanged)}
    assert threads == {"socketscope-core"}, threads  # the network never ran on this loop
    echoed = [e for _t, e in seen if isinstance(e, FrameEvent) and e.payload == b'{"n": 1}']
    assert [e.direction.name for e in echoed] == ["OUT", "IN"]


async def test_cancelling_the_caller_cancels_the_request_on_the_core_thread() -> None:
    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)

    async def silent(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    async with serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            conn = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}/"), connect=True)
            await conn.wait_for_state(ConnState.OPEN, 5)
            task = asyncio.ensure_future(conn.request({"type": "never"}, timeout=30))
            async with asyncio.timeout(5):
                while conn.pending_requests == 0:
                    await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with asyncio.timeout(5):
                while conn.pending_requests:
                    await asyncio.sleep(0.01)
            await manager.close_all()
        finally:
            core.stop()


def test_a_reader_thread_never_sees_a_torn_ring() -> None:
    """Rows are (t, 2t): every view a reader takes, while the writer grows and wraps the ring,
    holds only whole rows in order."""
    ring = GrowingRing(limit=1000, columns=2, start=4)
    done = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        checks = 0
        while not done.is_set() or checks < 10:
            view = ring.snapshot()
            checks += 1
            if len(view) and not (np.array_equal(view[:, 1], 2 * view[:, 0])
                                  and np.all(np.diff(view[:, 0]) == 1)):
                bad.append(repr(view[:5]))
                return

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, 50_001):
        ring.append((i, 2 * i))
    done.set()
    thread.join(10)
    assert not bad, bad[0]
    assert ring.capacity == 1000 and ring.view()[-1, 0] == 50_000


def test_seconds_are_read_without_waiting_for_the_next_frame() -> None:
    """A second that has ended shows at once, and silence after it as zeros, with no frame to
    close it: the reader does not write (it may be another thread)."""
    m = ConnectionMetrics(seconds_capacity=100)
    m.record_in(10, 1000.1)
    m.record_in(20, 1000.9)
    m.record_out(5, 1001.5)
    rows = m.seconds(0, 1004.2)
    assert rows[:, 0].tolist() == [1000, 1001, 1002, 1003]
    assert rows[:2, 1:].tolist() == [[2, 30, 0, 0], [0, 0, 1, 5]]
    assert rows[2:, 1:].sum() == 0
    assert len(m.throughput) == 1  # nothing was written by the read
    assert m.seconds(1002, 1004.2)[:, 0].tolist() == [1002, 1003]
    assert m.seconds(0, 1001.7)[:, 0].tolist() == [1000]  # 1001 is still running
    assert m.rate(1004.2, window=3) == (0.0, 0.0, pytest.approx(1 / 3), pytest.approx(5 / 3))
    m.record_in(1, 1004.5)  # now the writer closes them: same rows
    np.testing.assert_array_equal(m.throughput.view(), rows)


def test_totals_read_while_seconds_roll_on_another_thread_are_never_double_counted() -> None:
    m = ConnectionMetrics()
    done = threading.Event()
    worst: list[int] = []

    def reader() -> None:
        last = 0
        while not done.is_set():
            total = m.totals().msgs_in
            if total < last:
                worst.append(total - last)
            last = total

    thread = threading.Thread(target=reader)
    thread.start()
    t = 1000.0
    for _ in range(200_000):
        t += 0.001  # a new second every 1,000 frames
        m.record_in(1, t)
    done.set()
    thread.join(10)
    assert m.totals().msgs_in == 200_000
    assert not worst  # a double count would show as a later, smaller total


def test_loop_thread_call_runs_on_the_loop_and_returns_its_result() -> None:
    core = LoopThread()
    try:
        name = core.call(lambda: threading.current_thread().name)
        assert name == "socketscope-core"
        assert core.submit(asyncio.sleep(0, result=42)).result(5) == 42
    finally:
        started = time.monotonic()
        core.stop()
    assert not core.alive and time.monotonic() - started < 5
