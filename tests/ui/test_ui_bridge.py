"""The bridge hands each tick's events to the panels sorted by kind, in arrival order, with the
drops of its bounded buffer counted; a flood's all-frames tick takes the short way."""

from __future__ import annotations

import time

import pytest

import ui.bridge
from core.events import (
    ConnectionAdded,
    ConnectionRemoved,
    Direction,
    Event,
    FrameEvent,
    HandshakeInfo,
    LatencySample,
    Opcode,
    StateChanged,
)
from core.hub import EventHub
from core.manager import ConnectionManager
from core.states import ConnState
from tests.helpers_ui import dispose
from ui.bridge import CoreBridge, TickBatch


def frame(i: int) -> FrameEvent:
    return FrameEvent(1, time.time(), Direction.IN, Opcode.TEXT, b'{"n": %d}' % i)


def publish(hub: EventHub, events: list[Event], batched: bool) -> None:
    """As the connections do: one by one, or each run of frames as one read's batch."""
    if not batched:
        for event in events:
            hub.publish(event)
        return
    run: list[FrameEvent] = []
    for event in [*events, None]:
        if type(event) is FrameEvent:
            run.append(event)
            continue
        if run:
            hub.publish_frames(run)
            run = []
        if event is not None:
            hub.publish(event)


BATCHED = pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])


@BATCHED
def test_each_tick_sorts_the_events_by_kind_in_order(qtbot, monkeypatch, batched) -> None:
    monkeypatch.setattr(ui.bridge, "BUFFER_LIMIT", 6)
    manager = ConnectionManager()
    bridge = CoreBridge(manager, interval_ms=3_600_000)  # ticks only when called here
    batches: list[TickBatch] = []
    bridge.tick.connect(batches.append)
    try:
        hub = manager.hub
        publish(hub, [frame(i) for i in range(3)], batched)
        bridge._drain()  # frames only: the flood path
        state = StateChanged(1, time.time(), ConnState.CLOSED, ConnState.CONNECTING, 1)
        rtt = LatencySample(1, time.time(), 0.001, "ping")
        added = ConnectionAdded(2, time.time(), "ws://127.0.0.1:9/", "x")
        shake = HandshakeInfo(1, time.time(), "ws://127.0.0.1:9/", 101, (), (), None, ())
        publish(hub, [frame(3), state, shake, rtt, frame(4), added], batched)
        bridge._drain()
        # 8 into a buffer of 6: the 2 oldest are dropped, and counted
        publish(hub, [frame(i) for i in range(5, 13)], batched)
        bridge._drain()
        bridge._drain()  # nothing new: an empty tick
    finally:
        bridge.stop()
        dispose(bridge)
    ns = [[int(f.payload[6:-1]) for f in b.frames] for b in batches]
    assert ns == [[0, 1, 2], [3, 4], [7, 8, 9, 10, 11, 12], []]
    assert batches[1].states == [state] and batches[1].latencies == [rtt]
    assert batches[1].handshakes == [shake] and batches[1].others == [added]
    assert [b.dropped for b in batches] == [0, 0, 2, 0]
    assert all(not b.states and not b.others and not b.handshakes
               for b in (batches[0], batches[2], batches[3]))


@BATCHED
def test_the_buffer_is_bounded_in_bytes_too(qtbot, monkeypatch, batched) -> None:
    """Big frames past BUFFER_BYTES between two ticks are dropped and counted; the next tick
    starts a new budget; one frame larger than the whole budget still gets through alone."""
    monkeypatch.setattr(ui.bridge, "BUFFER_BYTES", 3 * 1024)
    manager = ConnectionManager()
    bridge = CoreBridge(manager, interval_ms=3_600_000)  # ticks only when called here
    batches: list[TickBatch] = []
    bridge.tick.connect(batches.append)

    def big(i: int, size: int = 1024) -> FrameEvent:
        return FrameEvent(1, time.time(), Direction.IN, Opcode.BINARY, bytes([i]) * size)

    try:
        hub = manager.hub
        # 5 KiB into 3 KiB: the last two are dropped, and a small one still over the budget too
        publish(hub, [*(big(i) for i in range(5)), frame(99)], batched)
        bridge._drain()
        publish(hub, [big(5), big(6)], batched)
        bridge._drain()
        publish(hub, [big(7, 10 * 1024), big(8)], batched)  # alone, bigger than the budget
        bridge._drain()
    finally:
        bridge.stop()
        dispose(bridge)
    assert [[f.payload[0] for f in b.frames] for b in batches] == [[0, 1, 2], [5, 6], [7]]
    assert [b.dropped for b in batches] == [3, 0, 1]


def test_decoder_events_land_in_their_own_lists_once(qtbot) -> None:
    """ProtocolDetected, MessagesDecoded and PairsMatched each go to one list of the tick (the
    panels read every list: an event in two would be counted twice)."""
    from core.events import MessagesDecoded, PairsMatched, ProtocolDetected

    manager = ConnectionManager()
    bridge = CoreBridge(manager, interval_ms=3_600_000)
    batches: list[TickBatch] = []
    bridge.tick.connect(batches.append)
    detected = ProtocolDetected(1, time.time(), "jsonrpc", "JSON-RPC 2.0", 20.0, False)
    decoded = MessagesDecoded(1, time.time(), ())
    pairs = PairsMatched(1, time.time(), ())
    try:
        for event in (detected, decoded, pairs):
            manager.hub.publish(event)
        bridge._drain()
    finally:
        bridge.stop()
        dispose(bridge)
    (batch,) = batches
    assert (batch.protocols, batch.decoded, batch.pairs) == ([detected], [decoded], [pairs])
    assert batch.others == []


async def test_snapshots_feed_the_ui_series_from_the_core_thread(qtbot, embedded_server) -> None:
    """A real connection on the core thread: the bridge's series get its figures from the
    snapshots the manager takes there, and a connection with nothing new gets none."""
    from core.config import ConnectionConfig, HeartbeatConfig
    from tests.helpers_ui import make_bridge, shown, until

    srv = embedded_server(auth=False)
    bridge = make_bridge()
    batches: list[TickBatch] = []
    bridge.tick.connect(batches.append)
    try:
        conn_id = bridge.commands.add(ConnectionConfig(
            srv.url + "/echo", name="fed", heartbeat=HeartbeatConfig(interval=0.1, timeout=2)),
            connect=True)
        idle_id = bridge.commands.add(ConnectionConfig("ws://127.0.0.1:9/", name="idle"))
        await shown(bridge, conn_id, ConnState.OPEN)
        for i in range(5):
            assert await bridge.commands.send(conn_id, f'{{"n": {i}}}')
        series = bridge.series
        await until(lambda: (s := series.latest(conn_id)) is not None and s.msgs_in >= 5
                    and s.msgs_out >= 5, 5, "the echoes counted")
        await until(lambda: len(series.get(conn_id).rtt) >= 3, 5, "RTT samples")
        await until(lambda: series.get(conn_id).throughput.view()[:, 1].sum() >= 5, 5,
                    "the finished seconds")
        snap = series.latest(conn_id)
        assert snap is not None and snap.name == "fed" and snap.state is ConnState.OPEN
        assert snap.opened_at is not None and snap.rtt is not None and snap.queued == 0
        rows = series.get(conn_id).throughput.view()
        assert list(rows[:, 0]) == sorted(set(rows[:, 0]))  # each second once, in order
        # the idle connection: one snapshot when first seen, then none while nothing changes
        await until(lambda: series.latest(idle_id) is not None, 5, "the idle one's figures")
        counted = len(batches)
        await until(lambda: len(batches) >= counted + 20, 5, "a second of ticks")
        assert not any(s.conn_id == idle_id for b in batches[counted:] for s in b.snapshots)
        assert any(s.conn_id == conn_id for b in batches[counted:] for s in b.snapshots)
    finally:
        await bridge.commands.close_all()
        bridge.stop()
        dispose(bridge)


def test_series_apply_state_changes_newer_than_the_snapshot_only() -> None:
    from core.events import MetricsSnapshot
    from ui.series import SeriesStore

    def snap(t: float, state: ConnState, seconds=()) -> MetricsSnapshot:  # type: ignore[no-untyped-def]
        return MetricsSnapshot(1, t, state, 1, "a", "ws://h/", None, t - 5, None, None, "",
                               None, 3, 30, 1, 10, (1.0, 10.0, 0.5, 5.0), 0.002, None, 0.002,
                               None, 0, seconds)

    store = SeriesStore()
    store.feed((), (), [snap(100.0, ConnState.OPEN, ((98.0, 1, 10, 0, 0), (99.0, 2, 20, 1, 10)))],
               [ConnectionAdded(1, 90.0, "ws://h/", "a")])
    assert store.updated == {1} and len(store.get(1).throughput) == 2
    older = StateChanged(1, 99.5, ConnState.CONNECTING, ConnState.OPEN, 1)
    store.feed((), [older], (), ())  # published before the snapshot: it changes nothing
    assert store.latest(1).state is ConnState.OPEN and store.latest(1).opened_at == 95.0
    dropped = StateChanged(1, 101.0, ConnState.OPEN, ConnState.WAITING, 2, retry_in=1.5,
                           close_code=1006, error="connection lost")
    store.feed([LatencySample(1, 100.5, 0.003, "ping")], [dropped], (), ())
    latest = store.latest(1)
    assert (latest.state, latest.attempt, latest.retry_at, latest.close_code, latest.last_error) \
        == (ConnState.WAITING, 2, 102.5, 1006, "connection lost")
    assert store.get(1).rtt.view().tolist() == [[100.5, 0.003]]
    store.feed((), (), (), [ConnectionRemoved(1, 102.0)])
    assert store.get(1) is None
