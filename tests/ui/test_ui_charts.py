"""The live charts, fed by real connections to the embedded server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable

import numpy as np
import pytest
import shiboken6

import ui.bridge
from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import Direction, FrameEvent, Opcode
from core.manager import ConnectionManager
from core.states import ConnState
from ui.bridge import CoreBridge, TickBatch
from ui.chart_series import MarkerLog, decimate
from ui.charts_panel import FLOOD_FRAMES, FLOOD_REDRAW_TICKS, REDRAW_TICKS, ChartsPanel
from ui.series import T_BYTES_IN, T_MSGS_IN, T_MSGS_OUT, T_SEC, Series

FAST = ReconnectPolicy(initial=0.05, max_delay=0.3, jitter=0.1, stable_after=0.5)
HEARTBEAT = HeartbeatConfig(interval=0.1, timeout=2.0, app_template='{"type":"ping"}')


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@pytest.fixture
def setup(qtbot):
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = ChartsPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    yield manager, bridge, panel
    bridge.stop()
    for obj in (panel, bridge):  # deleted now, in the GUI thread
        if shiboken6.isValid(obj):
            shiboken6.delete(obj)


def test_series_are_bounded_and_never_write_over_a_view_handed_out() -> None:
    series = Series(limit=4000, columns=2, horizon=1e9)
    series.extend([(float(t), 1.0) for t in range(3000)])
    tail = series.since(2500.0)
    assert tail[0, 0] == 2500.0 and len(tail) == 500
    assert np.shares_memory(tail, series.view())  # a view, no copy
    held = series.view()
    kept = held.copy()
    for start in range(3000, 20_000, 1000):  # full many times over
        series.extend([(float(t), 2.0) for t in range(start, start + 1000)])
        assert len(series) <= 4000
    np.testing.assert_array_equal(held, kept)  # what a curve holds stays as it was given
    whole = series.view()
    assert len(whole) == 4000 and whole[0, 0] == 16_000.0 and whole[-1, 0] == 19_999.0
    assert np.all(np.diff(whole[:, 0]) == 1.0)
    series.extend(np.zeros((0, 2)))
    assert len(series) == 4000
    recent = Series(limit=4000, columns=2, horizon=100.0)  # rows older than the window go
    recent.extend([(float(t), 1.0) for t in range(1000)])
    assert len(recent) == 101 and recent.view()[0, 0] == 899.0

    rows = np.column_stack((np.arange(10_000.0), np.sin(np.arange(10_000.0) / 50.0)))
    rows[5_003, 1] = 9.0  # a spike: decimation keeps every bin's extremes
    few = decimate(rows, 500)
    assert len(few) <= 1_000 + 20 and np.all(np.diff(few[:, 0]) >= 0)
    assert few[:, 1].max() == 9.0 and few[:, 1].min() == rows[:, 1].min()
    assert decimate(rows[:50], 500) is not None and len(decimate(rows[:50], 500)) == 50
    marks = MarkerLog(limit=3)
    for t, opened in ((1.0, True), (2.0, False), (3.0, True), (4.0, False)):
        marks.add(7, t, opened)
    (ox, oy), (cx, _cy) = marks.lines([7], 0.0, 0.0, 5.0)
    assert list(ox) == [3.0, 3.0] and list(oy) == [0.0, 5.0]
    assert list(cx) == [2.0, 2.0, 4.0, 4.0]


async def test_rtt_and_throughput_curves_follow_the_metrics(setup, embedded_server) -> None:
    """The charts draw the UI's own series, which the events keep equal to the core's figures."""
    manager, bridge, panel = setup
    srv = embedded_server(auth=False, demo_bots=3, demo_rate=5)
    conn = manager.add(ConnectionConfig(srv.url, name="charted", heartbeat=HEARTBEAT), connect=True)
    panel.set_connections([conn.id])
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await conn.request({"type": "join_room", "room": "lobby"})  # bots' chatter comes in
        for i in range(20):
            await conn.send(json.dumps({"type": "ping", "n": i}))
        m = conn.metrics
        await until(lambda: len(m.rtt) >= 3 and len(m.app_rtt) >= 2)
        await until(lambda: (m.throughput.view()[:, T_MSGS_IN] > 0).sum() >= 2, timeout=6)
        series = bridge.series.get(conn.id)
        assert series is not None
        await until(lambda: len(series.rtt) >= 3 and len(series.app_rtt) >= 2)
        await until(lambda: (series.throughput.view()[:, T_MSGS_IN] > 0).sum() >= 2)

        panel.refresh()  # no await between this and the checks: the series cannot move
        curves = panel.curves(conn.id)
        assert curves is not None
        x, y = curves.ping.getData()
        assert len(x) >= 3
        np.testing.assert_array_equal(x, series.rtt.view()[:, 0])
        np.testing.assert_array_equal(y, series.rtt.view()[:, 1])
        x, _y = curves.app.getData()
        np.testing.assert_array_equal(x, series.app_rtt.view()[:, 0])
        rows = series.throughput.view()
        x, y = curves.msgs_in.getData()
        np.testing.assert_array_equal(x, rows[:, 0])
        np.testing.assert_array_equal(y, rows[:, T_MSGS_IN])
        # ... and the series hold what the core counted: every sample, every finished second
        np.testing.assert_array_equal(series.rtt.view(), m.rtt.view()[: len(series.rtt)])
        core_rows = m.seconds(rows[0, T_SEC], time.time())[: len(rows)]
        np.testing.assert_array_equal(rows, core_rows)
        assert y.sum() > 0
        assert curves.msgs_out.getData()[1].sum() > 0
        assert np.array_equal(curves.msgs_out.getData()[1], rows[:, T_MSGS_OUT])
        assert np.array_equal(curves.bytes_in.getData()[1], rows[:, T_BYTES_IN])
        assert np.all(np.diff(curves.ping.getData()[0]) >= 0)  # x ascending
        legend = [label.text for _sample, label in panel.rtt_plot.legend.items]
        assert "charted ping" in legend and "charted heartbeat" in legend
        assert "RTT" in panel.summary.text()

        # Live: the panel redraws by itself on bridge ticks while shown.
        count = len(curves.ping.getData()[0])
        await until(lambda: len(curves.ping.getData()[0]) > count)
    finally:
        await manager.close_all()


async def test_window_selector_sets_the_x_range(setup, embedded_server) -> None:
    manager, _bridge, panel = setup
    srv = embedded_server(auth=False)
    conn = manager.add(ConnectionConfig(srv.url, heartbeat=HEARTBEAT), connect=True)
    panel.set_connections([conn.id])
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        for seconds, index in ((60, 0), (300, 1), (900, 2)):
            panel.window_box.setCurrentIndex(index)
            assert panel.window_s == seconds
            for plot in panel.plots:
                x0, x1 = plot.viewRange()[0]
                assert x1 - x0 == pytest.approx(seconds, rel=0.02)
        panel.set_window(60)
        assert panel.window_box.currentIndex() == 0
        # Scope: "all" shows every connection, "selected" only the selection.
        other = manager.add(ConnectionConfig(srv.url, heartbeat=HEARTBEAT), connect=True)
        await other.wait_for_state(ConnState.OPEN, 5)
        panel.set_scope("all")
        assert panel.curves(other.id) is not None
        panel.set_scope("selected")
        assert panel.curves(other.id) is None and panel.curves(conn.id) is not None
        panel.set_connections([])
        assert panel.curves(conn.id) is None
        assert "No connection selected" in panel.summary.text()
    finally:
        await manager.close_all()


async def test_close_and_reopen_are_marked(setup, embedded_server) -> None:
    manager, _bridge, panel = setup
    srv = embedded_server(auth=False)
    conn = manager.add(ConnectionConfig(srv.url, heartbeat=HEARTBEAT, reconnect=FAST), connect=True)
    panel.set_connections([conn.id])
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        conn.reconnect_now()  # drops the open connection; the policy reopens it
        await conn.wait_for_state(ConnState.WAITING, 5)
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: len([m for m in panel.markers.get(conn.id) if m.opened]) >= 2)
        marks = panel.markers.get(conn.id)
        assert [m.opened for m in marks] == [True, False, True]
        panel.refresh()
        for opens, closes in zip(panel.open_lines, panel.close_lines, strict=True):
            assert len(opens.getData()[0]) == 4  # two vertical lines: x pairs
            assert list(closes.getData()[0]) == [marks[1].time, marks[1].time]
    finally:
        await manager.close_all()


def test_a_flood_slows_the_redraws_and_quiet_traffic_restores_them(setup, monkeypatch) -> None:
    """Every tick spent drawing during a flood is taken from the network thread (one GIL); a
    flood's redraw does one plot at a time, in turn."""
    _manager, bridge, panel = setup
    monkeypatch.setattr(ui.bridge, "TURN_MS", 0)  # no other panel here to take turns with
    drawn: list[int | None] = []
    refresh = panel.refresh

    def counted(only: int | None = None) -> None:
        drawn.append(only)
        refresh(only)

    panel.refresh = counted
    bridge._timer.stop()  # only the ticks emitted here
    flood = [FrameEvent(1, 0.0, Direction.IN, Opcode.TEXT, b"{}")] * (FLOOD_FRAMES + 1)
    quiet = REDRAW_TICKS[panel.window_s]
    assert quiet < FLOOD_REDRAW_TICKS

    def redraws(ticks: int, frames: list[FrameEvent]) -> int:
        before = panel._redraws
        for _ in range(ticks):
            bridge.tick.emit(TickBatch(time.time(), frames=frames))
        return panel._redraws - before

    redraws(FLOOD_REDRAW_TICKS, [])  # whatever was counted before, a redraw is behind us
    drawn.clear()
    assert redraws(FLOOD_REDRAW_TICKS * 3, flood) == 3
    assert drawn == [0, 1, 2] * 3 + [0]
    drawn.clear()
    assert redraws(quiet * 3, []) == 3
    assert drawn == [None] * 3


def test_during_a_flood_the_charts_and_the_inspector_redraw_in_turn(qtbot, setup) -> None:
    """A chart plot and the inspector's new rows are never drawn in the same pass of the event
    loop: the inspector waits for the turn the charts took, then shows every frame it held."""
    from ui.inspector_panel import InspectorPanel

    _manager, bridge, charts = setup
    bridge._timer.stop()
    inspector = InspectorPanel(bridge)  # its tick slot runs after the charts'
    qtbot.addWidget(inspector)
    drawn: list[float] = []
    refresh = charts.refresh

    def counted(only: int | None = None) -> None:
        drawn.append(time.monotonic())
        refresh(only)

    charts.refresh = counted
    flood = [FrameEvent(1, 0.0, Direction.IN, Opcode.TEXT, b"{}")] * (FLOOD_FRAMES + 1)
    charts._ticks = FLOOD_REDRAW_TICKS // len(charts.plots) - 1  # this tick redraws a plot
    inspector._last_shown = 0.0  # and the inspector is free to show at once, but for turns
    bridge.tick.emit(TickBatch(time.time(), frames=flood))
    assert len(drawn) == 1
    assert inspector.model.received == 0  # the charts' turn: the rows wait
    qtbot.waitUntil(lambda: inspector.model.received == len(flood), timeout=2000)
    assert time.monotonic() - drawn[0] >= ui.bridge.TURN_MS / 1000
    bridge.stop()


def test_large_tick_labels_are_compact() -> None:
    from ui.charts_panel import CompactAxis

    axis = CompactAxis(orientation="left")
    assert axis.tickStrings([0.0, 5000.0, 100_000.0, 250_000.0], 1.0, 50_000.0)[2:] == [
        "100k", "250k"]
    assert axis.tickStrings([1_500_000.0], 1.0, 500_000.0) == ["1.5M"]
    assert axis.tickStrings([2.0, 4.0], 1.0, 2.0) == ["2", "4"]  # small ones as pyqtgraph has them


def test_a_turn_claims_priority_over_the_core_until_the_panel_has_painted(
    qtbot, setup, monkeypatch
) -> None:
    """The core threads step aside from a flood tick's turn until that panel's paint: a chart
    plot's, or the inspector's new rows'."""
    from ui.inspector_panel import InspectorPanel

    monkeypatch.setattr(ui.bridge, "CLAIM_S", 60.0)  # released by the paint, not by the clock
    _manager, bridge, charts = setup
    bridge._timer.stop()
    priority = bridge.manager.hub.priority
    flood = [FrameEvent(1, 0.0, Direction.IN, Opcode.TEXT, b"{}")] * (FLOOD_FRAMES + 1)
    charts._ticks = FLOOD_REDRAW_TICKS // len(charts.plots) - 1
    bridge.tick.emit(TickBatch(time.time(), frames=flood))
    assert priority.claims == 1 and priority.claimed  # the charts' turn
    qtbot.waitUntil(lambda: not priority.claimed, timeout=2000)  # the plot painted

    inspector = InspectorPanel(bridge)
    qtbot.addWidget(inspector)
    inspector.resize(800, 400)
    inspector.show()
    qtbot.waitExposed(inspector)
    qtbot.wait(50)
    inspector._last_shown = bridge._turn_at = 0.0  # its turn, and the charts' is not due
    bridge.tick.emit(TickBatch(time.time(), frames=flood))
    assert priority.claims == 2 and priority.claimed
    assert inspector.model.received == len(flood)
    qtbot.waitUntil(lambda: not priority.claimed, timeout=2000)  # its rows painted
    bridge.stop()


async def test_rtt_line_breaks_at_an_outage_and_legends_use_the_table_name(
    setup, embedded_server
) -> None:
    from ui.connections_model import Column, ConnectionsModel

    manager, _bridge, panel = setup
    srv = embedded_server(auth=False)
    conn = manager.add(ConnectionConfig(srv.url + "/", heartbeat=HEARTBEAT, reconnect=FAST),
                       connect=True)  # opened from a URL: no name
    panel.set_connections([conn.id])
    table = ConnectionsModel(_bridge.commands, _bridge.series)
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: _bridge.series.get(conn.id) is not None)
        m = _bridge.series.get(conn.id)
        await until(lambda: len(m.rtt) >= 3)
        conn.reconnect_now()  # an outage: dropped, then reopened by the policy
        await conn.wait_for_state(ConnState.WAITING, 5)
        await conn.wait_for_state(ConnState.OPEN, 5)
        before = len(m.rtt)
        await until(lambda: len(m.rtt) >= before + 3)
        await until(lambda: [k.opened for k in panel.markers.get(conn.id)] == [True, False, True])
        closed_at = panel.markers.get(conn.id)[1].time

        panel.refresh()
        curves = panel.curves(conn.id)
        assert curves is not None
        x, y = curves.ping.getData()
        gaps = np.flatnonzero(np.isnan(y))
        assert list(x[gaps]) == [closed_at]  # one break, where it closed
        assert np.isfinite(y[: gaps[0]]).all() and np.isfinite(y[gaps[0] + 1:]).all()
        assert x[gaps[0] - 1] < closed_at < x[gaps[0] + 1]  # samples on both sides
        assert np.all(np.diff(x) >= 0)
        finite = ~np.isnan(y)
        np.testing.assert_array_equal(x[finite], _bridge.series.get(conn.id).rtt.view()[:, 0])
        assert curves.ping.opts["connect"] == "finite"

        # the legend calls it what the connections table calls it
        table.refresh()
        name = table.text(conn.id, Column.NAME)
        assert name == f"127.0.0.1:{srv.port}/"
        legend = [label.text for _sample, label in panel.rtt_plot.legend.items]
        assert f"{name} ping" in legend
        assert not any(text.startswith("#") for text in legend)
        conn.config = dataclasses.replace(conn.config, name="renamed")  # the legend follows
        panel.refresh()
        legend = [label.text for _sample, label in panel.rtt_plot.legend.items]
        assert "renamed ping" in legend and f"{name} ping" not in legend
    finally:
        await manager.close_all()
        table.deleteLater()
