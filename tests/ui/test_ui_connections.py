"""Connections panel, model and dialog against real embedded servers."""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import StateChanged
from core.facade import Commands
from core.manager import ConnectionManager, snapshot
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.bridge import CoreBridge, TickBatch
from ui.connection_dialog import ConnectionDialog
from ui.connections_model import (
    PRECISE_UPDATE_CELLS,
    SORT_ROLE,
    STATE_ROLE,
    Column,
    ConnectionsModel,
)
from ui.connections_panel import ConnectionsPanel
from ui.series import SeriesStore
from ui.status_bar import StatusBar


def add(bridge, panel, config, **options):  # type: ignore[no-untyped-def]
    """Add through the panel; the core's Connection (the test looks at the core's side too)."""
    return bridge.commands.connection(panel.add_connection(config, **options))


def quick_reconnect() -> ReconnectPolicy:
    return ReconnectPolicy(initial=0.1, max_delay=0.3, jitter=0.0)


async def test_dialog_opens_a_connection(qtbot, qtmodeltester, embedded_server):
    srv = embedded_server(auth=False, demo_bots=2, demo_rate=5)
    bridge = make_bridge()
    panel = ConnectionsPanel(bridge)
    qtmodeltester.check(panel.model)  # stays attached: every later change is checked too
    selections: list[list[int]] = []
    panel.selection_changed.connect(selections.append)
    try:
        dialog = panel.new_connection()
        assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
        dialog.url_edit.setText("http://example.com/")
        assert "ws://" in dialog.url_error.text()
        dialog.accept()  # refused: the error stays inline, nothing is added
        assert dialog.result_config is None and len(bridge.manager) == 0

        dialog.url_edit.setText(srv.url + "/")
        assert dialog.url_error.isHidden()
        dialog.name_edit.setText("through the dialog")
        dialog.hb_interval_spin.setValue(0.2)
        dialog.accept()
        assert len(bridge.manager) == 1
        conn = bridge.manager.list()[0]
        assert conn.config.name == "through the dialog"
        assert selections[-1] == [conn.id]  # a new connection is selected

        model = panel.model
        await until(lambda: model.state_of(conn.id) is ConnState.OPEN, 5, "open")
        await until(lambda: model.text(conn.id, Column.RTT).endswith("ms"), 5, "an RTT")
        # the demo bots talk: a rate of messages in, from the last full seconds
        await until(lambda: float(model.text(conn.id, Column.RATE_IN) or 0) > 0, 5, "a rate in")
        row = model.row_of(conn.id)
        assert model.index(row, Column.STATE).data() == "open"
        assert model.index(row, Column.NAME).data() == "through the dialog"
        assert model.index(row, Column.STATE).data(STATE_ROLE) == "open"
        assert int(model.text(conn.id, Column.MSGS_IN)) >= 1  # the "connected" greeting
        assert model.text(conn.id, Column.ERROR) == ""

        edit = panel.edit_selected()  # Edit an open connection: it reopens with the new settings
        assert edit is not None and edit.url_edit.text() == srv.url + "/"
        edit.name_edit.setText("renamed")
        edit.accept()
        await until(lambda: model.text(conn.id, Column.NAME) == "renamed"
                    and model.state_of(conn.id) is ConnState.OPEN, 5, "reopened, renamed")

        panel.disconnect_selected()
        await until(lambda: model.state_of(conn.id) is ConnState.CLOSED, 5, "closed")
        assert model.text(conn.id, Column.CLOSE) == "1000 normal closure"
        panel.remove_selected()
        await until(lambda: model.rowCount() == 0, 5, "row removed")
        assert selections[-1] == []
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(panel, bridge)


async def test_server_restart_shows_waiting_then_open(qtbot, embedded_server):
    srv = embedded_server(auth=False)
    port = srv.port
    bridge = make_bridge()
    panel = ConnectionsPanel(bridge)
    model = panel.model
    try:
        conn = add(bridge, panel,
            ConnectionConfig(srv.url + "/", name="survivor", reconnect=quick_reconnect(),
                             heartbeat=HeartbeatConfig(interval=0.2, timeout=5.0))
        )
        assert conn is not None
        await until(lambda: model.state_of(conn.id) is ConnState.OPEN, 5, "first open")
        await until(lambda: model.text(conn.id, Column.RTT).endswith("ms"), 5, "an RTT")

        await asyncio.to_thread(srv.stop)  # the server goes away under the connection
        await until(lambda: model.state_of(conn.id) is ConnState.WAITING, 5, "waiting")
        assert model.text(conn.id, Column.STATE).startswith("retry in ")
        assert model.text(conn.id, Column.RTT) == "\u2014"  # not the last RTT before the outage
        assert model.text(conn.id, Column.RATE_IN) == ""
        assert model.text(conn.id, Column.CLOSE).startswith("1001")

        embedded_server(auth=False, port=port)  # back, on the same port
        await until(lambda: model.state_of(conn.id) is ConnState.OPEN, 8, "open again")
        assert model.text(conn.id, Column.STATE) == "open"
        assert model.text(conn.id, Column.ERROR) == ""
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(panel, bridge)


async def test_failure_in_words_and_actions(qtbot):
    bridge = make_bridge()
    panel = ConnectionsPanel(bridge)
    model = panel.model
    try:
        # Nothing listens on port 9 of 127.0.0.1; no retry: the error shows at once.
        conn = add(bridge, panel,
            ConnectionConfig("ws://127.0.0.1:9/", reconnect=ReconnectPolicy(enabled=False))
        )
        assert conn is not None
        await until(lambda: model.state_of(conn.id) is ConnState.CLOSED
                    and model.text(conn.id, Column.ERROR), 5, "refused")
        assert "refused" in model.text(conn.id, Column.ERROR).lower()
        row = model.row_of(conn.id)
        assert model.index(row, Column.ERROR).data(0x03)  # ToolTipRole: the full text
        assert panel.actions_by_name["connect"].isEnabled()
        assert not panel.actions_by_name["disconnect"].isEnabled()

        dup = panel.duplicate_selected()
        assert dup is not None and dup.name_edit.text().endswith("(copy)")
        assert dup.isVisible()  # window-modal, no nested event loop
        dup.reconnect_group.setChecked(False)
        dup.accept()
        assert len(bridge.manager) == 2
        assert model.rowCount() == 2
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(panel, bridge)


def test_dialog_round_trips_every_field(qtbot):
    config = ConnectionConfig(
        url="wss://example.com:8443/socket?x=1",
        name="prod",
        headers=[("X-Trace", "abc"), ("Cookie", "a=b")],
        subprotocols=["msgpack", "graphql-ws"],
        token="t0k3n",
        token_mode="bearer",
        origin="https://app.example.com",
        cafile="/tmp/ca.pem",
        insecure=True,
        compression=False,
        max_size=2 * 1024 * 1024,
        heartbeat=HeartbeatConfig(interval=2.5, timeout=7.0, app_template='{"type":"ping"}',
                                  app_reply_type="pong2"),
        reconnect=ReconnectPolicy(enabled=True, initial=0.25, max_delay=12.0, max_attempts=9),
    )
    dialog = ConnectionDialog(config)
    assert not dialog.insecure_warning.isHidden()  # the red warning is shown when checked
    assert dialog.config() == config
    dialog.insecure_check.setChecked(False)
    assert dialog.insecure_warning.isHidden()
    dialog.max_attempts_spin.setValue(0)
    assert dialog.config().reconnect.max_attempts is None  # 0 = forever
    dialog.initial_spin.setValue(20.0)
    assert dialog.error() is not None  # max delay shorter than the first delay
    dispose(dialog)


def test_token_in_a_pasted_url_moves_to_the_token_field(qtbot):
    dialog = ConnectionDialog()
    dialog.url_edit.setText("ws://host.example:8080/ws?room=a&token=s3cret")
    config = dialog.config()
    assert config.url == "ws://host.example:8080/ws?room=a"
    assert config.token == "s3cret" and config.token_mode == "query"
    dispose(dialog)


def test_model_lists_manager_connections(qtmodeltester):
    from core.manager import ConnectionManager

    manager = ConnectionManager()
    model = ConnectionsModel(Commands(manager), SeriesStore())
    manager.add(ConnectionConfig("ws://a.example/?token=secret123", name="a"))
    manager.add(ConnectionConfig("ws://b.example/"))
    model.refresh()
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert "secret123" not in model.text(1, Column.URL)  # tokens never shown
    # unnamed: host and path, the name the charts' legends use too (no scheme, no query)
    assert model.text(2, Column.NAME) == "b.example/"
    manager.add(ConnectionConfig("wss://u@c.example:8443/feed?token=secret456"))
    model.refresh()
    assert model.text(3, Column.NAME) == "c.example:8443/feed"
    assert model.text(1, Column.BYTES_IN) == "0 B"
    dispose(model)


# ----- many connections: what a tick re-reads ---------------------------------------------------

N_IDLE = 200
TICK_S = 0.05


def idle_panel(qtbot, qtmodeltester):  # type: ignore[no-untyped-def]
    """A shown panel over N_IDLE idle connections (never connected), with a bridge whose timer
    does not fire during the test: the test hands the panel its ticks, with their times."""
    bridge = CoreBridge(ConnectionManager(), interval_ms=3_600_000)
    conns = [bridge.manager.add(ConnectionConfig(f"ws://127.0.0.1:9/{i}", name=f"idle-{i}"))
             for i in range(N_IDLE)]
    panel = ConnectionsPanel(bridge)
    qtmodeltester.check(panel.model)
    panel.resize(700, 220)  # room for a few rows only
    panel.show()
    qtbot.waitExposed(panel)
    QApplication.processEvents()
    return bridge, panel, conns


def tick(bridge, panel, t, conns=(), states=()):  # type: ignore[no-untyped-def]
    """Hand the panel a tick at time t with snapshots of `conns` taken now (as the manager
    publishes them) and these state changes; the bridge's series first, as its timer does."""
    batch = TickBatch(t, states=list(states), snapshots=[snapshot(c, t, t - 2) for c in conns])
    bridge.feed_series(batch)
    panel._on_tick(batch)


def test_tick_rereads_the_rows_it_has_news_of_and_the_visible_ones(qtbot, qtmodeltester):
    bridge, panel, conns = idle_panel(qtbot, qtmodeltester)
    model = panel.model
    try:
        visible = panel.visible_rows()
        assert 0 < len(visible) < 20 and visible.start == 0  # the table shows a few rows only
        t0 = time.time()
        tick(bridge, panel, t0, conns)
        for conn in conns:  # one message each, after the rows were read
            conn.metrics.record_in(10, t0)
        off_screen = conns[150]
        assert model.row_of(off_screen.id) not in visible

        read_before = model.rows_read
        ranges: list[tuple[int, int, int, int]] = []
        model.dataChanged.connect(lambda a, b, _roles=(): ranges.append(
            (a.row(), b.row(), a.column(), b.column())))
        tick(bridge, panel, t0 + TICK_S, [off_screen])  # news of one connection only
        assert model.text(off_screen.id, Column.MSGS_IN) == "1"  # shown at once, out of view
        for row in visible:  # rows in view are re-read, but the figures they show are old
            assert model.index(row, Column.MSGS_IN).data() == "0"
        assert model.rows_read - read_before == len(visible) + 1  # not every row

        tick(bridge, panel, t0 + 2 * TICK_S, conns)  # news of all
        assert [model.text(c.id, Column.MSGS_IN) for c in conns] == ["1"] * N_IDLE
        assert model.index(0, Column.BYTES_IN).data(SORT_ROLE) == 10
        # dataChanged: each row once, only the columns of the counters that changed, in ranges
        # a view can repaint in part
        assert sorted(r for top, bottom, _, _ in ranges for r in range(top, bottom + 1)) == list(
            range(N_IDLE))
        assert {(left, right) for _, _, left, right in ranges} == {
            (Column.MSGS_IN, Column.BYTES_IN)}
        assert all((b - t + 1) * (r - le + 1) <= PRECISE_UPDATE_CELLS for t, b, le, r in ranges)

        # A state change shows at once on the tick that carries it, in view or not.
        conn = conns[170]
        t1 = t0 + 3 * TICK_S
        tick(bridge, panel, t1, states=[StateChanged(
            conn.id, t1, ConnState.CONNECTING, ConnState.CLOSED, 1, error="connection refused")])
        assert model.text(conn.id, Column.ERROR) == "connection refused"
        assert model.state_of(conn.id) is ConnState.CLOSED
        assert model.text(conns[171].id, Column.ERROR) == ""
    finally:
        bridge.stop()
        dispose(panel, bridge)


def test_scrolled_rows_and_retry_countdown_are_live(qtbot, qtmodeltester):
    bridge, panel, conns = idle_panel(qtbot, qtmodeltester)
    model = panel.model
    try:
        panel.view.scrollToBottom()
        QApplication.processEvents()
        visible = panel.visible_rows()
        assert visible.stop == N_IDLE and 0 < len(visible) < 20
        conn = conns[-1]
        t0 = time.time()
        conn.state = ConnState.WAITING  # as the core shows a dropped connection
        conn.retry_at = t0 + 3.0
        tick(bridge, panel, t0, [conn])
        assert model.text(conn.id, Column.STATE) == "retry in 3.0 s"
        tick(bridge, panel, t0 + 0.5)  # no news: the row in view counts down by itself
        assert model.text(conn.id, Column.STATE) == "retry in 2.5 s"
        row = model.row_of(conn.id)
        assert model.index(row, Column.NAME).data(STATE_ROLE) == "waiting"
        conn.metrics.record_rtt(0.004, t0)  # RTT samples: the last one and the average
        tick(bridge, panel, t0 + 0.5, [conn])
        # while it waits to retry, its last RTT is history: "—", the average stays
        assert (model.text(conn.id, Column.RTT), model.text(conn.id, Column.RTT_AVG)) == (
            "\u2014", "4.0 ms")
        conn.metrics.record_rtt(0.002, t0)
        tick(bridge, panel, t0 + 0.5, [conn])
        assert model.text(conn.id, Column.RTT_AVG) == "3.0 ms"
        conn.state = ConnState.OPEN  # as if it opened again: the last RTT shows
        tick(bridge, panel, t0 + 0.5, [conn])
        assert (model.text(conn.id, Column.RTT), model.text(conn.id, Column.RTT_AVG)) == (
            "2.0 ms", "3.0 ms")
        assert model.index(row, Column.RTT_AVG).data(SORT_ROLE) == pytest.approx(0.003)

        panel.hide()  # nothing shown, no news: nothing re-read on a tick
        assert panel.visible_rows() == range(0)
        read = model.rows_read
        tick(bridge, panel, t0 + 0.5)
        assert model.rows_read == read
    finally:
        bridge.stop()
        dispose(panel, bridge)


def test_rows_follow_the_manager_and_keep_the_selection(qtbot, qtmodeltester):
    bridge, panel, conns = idle_panel(qtbot, qtmodeltester)
    model = panel.model
    try:
        chosen = conns[120]
        panel.select(chosen.id)
        t0 = time.time()
        for conn in conns[100:110]:  # removed by something else than the panel
            asyncio.run(bridge.manager.remove(conn.id))
        added = bridge.manager.add(ConnectionConfig("ws://127.0.0.1:9/new", name="late"))
        tick(bridge, panel, t0)
        assert model.rowCount() == N_IDLE - 10 + 1
        assert [model.conn_id(r) for r in range(model.rowCount())] == [
            c.id for c in bridge.manager.list()]
        assert model.text(added.id, Column.NAME) == "late"  # a new row is filled at once
        assert panel.selected_ids() == [chosen.id]  # the selection moved with its row
    finally:
        bridge.stop()
        dispose(panel, bridge)


async def test_many_live_connections_states_at_once_values_soon(
    qtbot, qtmodeltester, embedded_server
):
    srv = embedded_server(auth=False, ping_interval=0)
    bridge = make_bridge()
    panel = ConnectionsPanel(bridge)
    qtmodeltester.check(panel.model)
    model = panel.model
    panel.resize(700, 220)
    panel.show()
    seen: list[tuple[int, ConnState, ConnState | None]] = []

    def after_panel(batch: TickBatch) -> None:  # connected after the panel: sees its result
        seen.extend((e.conn_id, e.new, model.state_of(e.conn_id)) for e in batch.states)

    bridge.tick.connect(after_panel)
    try:
        hb = HeartbeatConfig(interval=0.2, timeout=5.0)
        conns = [add(bridge, panel, ConnectionConfig(srv.url + "/", name=f"live-{i}",
                                                       heartbeat=hb), select=False)
                 for i in range(40)]
        assert all(c is not None for c in conns)
        await until(lambda: all(model.state_of(c.id) is ConnState.OPEN for c in conns), 10,
                    "every row open")
        assert len(panel.visible_rows()) < 20  # most rows are out of view
        # RTT and counters reach every row, in view or not
        await until(lambda: all(model.text(c.id, Column.RTT).endswith("ms") for c in conns), 10,
                    "an RTT in every row")
        last = conns[-1]
        assert model.row_of(last.id) not in panel.visible_rows()
        await bridge.commands.disconnect(last.id)  # on the core thread, as the panel does
        await until(lambda: any(i == last.id and new is ConnState.CLOSED for i, new, _ in seen),
                    5, "the closed state in a tick")
        # the tick that carried the change showed it (CLOSED is final after a disconnect; an
        # earlier state of a tick may already have been overtaken by a later one)
        assert [shown for i, new, shown in seen if i == last.id and new is ConnState.CLOSED] == [
            ConnState.CLOSED]
        assert all(shown is not None for _, _, shown in seen)
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(panel, bridge)


def news(bridge, conns, t):  # type: ignore[no-untyped-def]
    """Snapshots of these connections into the bridge's series, as a tick brings them."""
    batch = TickBatch(t, snapshots=[snapshot(c, t, t - 2) for c in conns])
    bridge.feed_series(batch)
    return batch


def test_status_bar_rates_from_totals(qtbot):
    bridge = CoreBridge(ConnectionManager(), interval_ms=3_600_000)
    conns = [bridge.manager.add(ConnectionConfig(f"ws://127.0.0.1:9/{i}")) for i in range(3)]
    status = StatusBar(bridge)
    try:
        t0 = time.time() + 100  # well after the first figures, shown when it was made
        news(bridge, conns, t0)
        status.refresh(t0)
        assert status.connections_label.text() == "0/3 open"
        for conn in conns:
            for _ in range(10):
                conn.metrics.record_in(5, t0)
            conn.metrics.record_out(5, t0)
        news(bridge, conns, t0)
        status.refresh(t0 + 1.0)
        assert status.rates_label.text() == "▼ 30.0 msg/s  ▲ 3.0 msg/s"
        status.refresh(t0 + 1.5)  # within a sample period: the same figures
        assert status.rates_label.text() == "▼ 30.0 msg/s  ▲ 3.0 msg/s"
        status.refresh(t0 + 2.0)  # nothing more arrived: the mean over the window falls
        assert status.rates_label.text() == "▼ 15.0 msg/s  ▲ 1.5 msg/s"
        asyncio.run(bridge.manager.remove(conns[0].id))
        status.refresh(t0 + 3.0)  # what it received in the window still counts, no less
        assert status.connections_label.text() == "0/2 open"
        assert status.rates_label.text() == "▼ 10.0 msg/s  ▲ 1.0 msg/s"
        late = bridge.manager.add(ConnectionConfig("ws://127.0.0.1:9/late"))
        for _ in range(1000):  # a connection added with a history: that is not a rate
            late.metrics.record_in(5, t0)
        news(bridge, [late], t0)
        status.refresh(t0 + 4.0)
        assert status.rates_label.text() == "▼ 7.5 msg/s  ▲ 0.8 msg/s"
    finally:
        bridge.stop()
        dispose(status, bridge)


def test_status_bar_says_when_the_recorder_holds_the_reads(qtbot):
    bridge = CoreBridge(ConnectionManager(), interval_ms=3_600_000)
    status = StatusBar(bridge)
    held = bridge.manager.hub.backpressure
    try:
        status.refresh()
        assert not status.recording_label.isVisibleTo(status)
        held.engage()
        status.refresh()
        assert status.recording_label.isVisibleTo(status)
        held.release()
        status.refresh()
        assert not status.recording_label.isVisibleTo(status)
        held.engage()
        held.release()
        status.refresh()  # a hold between two looks (they last ~0.2 s) is still said
        assert status.recording_label.isVisibleTo(status)
        status.refresh()
        assert not status.recording_label.isVisibleTo(status)
    finally:
        bridge.stop()
        dispose(status, bridge)


def test_status_bar_reads_the_totals_over_the_ticks(qtbot):
    bridge = CoreBridge(ConnectionManager(), interval_ms=3_600_000)
    conns = [bridge.manager.add(ConnectionConfig(f"ws://127.0.0.1:9/{i}")) for i in range(3)]
    status = StatusBar(bridge)
    try:
        t0 = time.time() + 100
        status._on_tick(news(bridge, conns, t0))
        for conn in conns:
            for _ in range(10):
                conn.metrics.record_in(5, t0)
        for k in range(1, 41):  # two seconds of ticks, each with news of one connection
            status._on_tick(news(bridge, [conns[k % 3]], t0 + k * TICK_S))
        rate_in = float(status.rates_label.text().split()[1])
        assert 30 / 2.2 <= rate_in <= 30 / 2.0  # 30 messages since the sample at t0
    finally:
        bridge.stop()
        dispose(status, bridge)


def test_counts_stay_exact_until_they_would_not_fit_the_column() -> None:
    from ui.connections_model import human_count

    assert human_count(99_999) == "99\u2009999"
    assert [human_count(n) for n in (100_000, 314_160, 1_234_567, 2_500_000_000)] == [
        "100k", "314k", "1.23M", "2.5G"]


# ----- errors that end with their cause, undo of a removal, the columns shown --------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_status_bar_error_goes_when_its_connection_opens_or_is_removed(
    qtbot, embedded_server
):
    port = free_port()  # nothing listens there yet: "connection refused"
    bridge = make_bridge()
    status = StatusBar(bridge)
    try:
        conn = bridge.manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}/", name="later",
                                                   reconnect=quick_reconnect()), connect=True)
        await until(lambda: "refused" in status.message_label.text().lower(), 5, "refused")
        assert status.message_label.text().startswith("later: ")
        assert status.error_conn() == conn.id
        embedded_server(auth=False, port=port)  # the server comes: the connection opens
        await until(lambda: conn.state is ConnState.OPEN, 8, "open")
        await until(lambda: status.message_label.text() == "", 2, "the error gone")
        assert status.error_conn() is None

        # a connection that fails for good, then is removed: its error goes with it
        dead = bridge.manager.add(ConnectionConfig("ws://127.0.0.1:9/",
                                                   reconnect=ReconnectPolicy(enabled=False)),
                                  connect=True)
        await until(lambda: status.error_conn() == dead.id, 5, "the dead one's error")
        assert status.message_label.text().startswith("127.0.0.1:9/: ")  # host/path: no name
        await bridge.manager.remove(dead.id)
        await until(lambda: status.message_label.text() == "", 2, "removed: the error gone")
        # another message (not a connection's error) is left alone by opens
        status.show_message("something else")
        await bridge.commands.disconnect(conn.id)
        bridge.commands.connect(conn.id)
        await until(lambda: conn.state is ConnState.OPEN, 5, "open again")
        await asyncio.sleep(0.2)
        assert status.message_label.text() == "something else"
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(status, bridge)


async def test_remove_offers_undo_that_restores_the_same_config(qtbot, embedded_server,
                                                                 monkeypatch):
    from PySide6.QtWidgets import QMainWindow

    import ui.connections_panel as panel_module

    srv = embedded_server(auth=False)
    bridge = make_bridge()
    window = QMainWindow()
    panel = ConnectionsPanel(bridge)
    window.setCentralWidget(panel)
    status = StatusBar(bridge, window)
    window.setStatusBar(status)
    window.show()
    try:
        config = ConnectionConfig(srv.url + "/", name="keep me",
                                  headers=[("X-Trace", "abc")], reconnect=quick_reconnect())
        conn = add(bridge, panel, config)
        assert conn is not None
        await until(lambda: conn.state is ConnState.OPEN, 5, "open")
        remove = panel.actions_by_name["remove"]
        assert remove.shortcut().toString() == "Del"
        remove.trigger()  # Del: removed at once, no dialog
        await until(lambda: panel.model.rowCount() == 0, 5, "removed")
        assert status.message_label.text() == "Removed keep me"
        # (a status tip of a button under the pointer may cover the bar's widgets a moment)
        status.clearMessage()
        assert status.undo_button.isVisible()
        status.undo_button.click()
        await until(lambda: panel.model.rowCount() == 1, 5, "back")
        back = bridge.manager.list()[0]
        assert back.id != conn.id and back.config == config  # the same settings
        status.clearMessage()
        assert status.undo_button.isHidden()  # withdrawn once used
        # it was open; what the panel goes by is what the ticks told it (before its first tick
        # a connection has no state there, and Undo takes it for one that was connecting)
        await until(lambda: panel.state_of(back.id) is ConnState.OPEN, 5, "open again")
        assert panel.selected_ids() == [back.id]

        # the offer lasts UNDO_S only; a connection that was closed comes back closed
        monkeypatch.setattr(panel_module, "UNDO_S", 0.3)
        await bridge.commands.disconnect(back.id)  # on the core thread, as the panel does
        await until(lambda: panel.state_of(back.id) is ConnState.CLOSED, 5, "closed")
        panel.remove_selected()
        status.clearMessage()
        assert status.undo_button.isVisible()
        await until(lambda: status.undo_button.isHidden(), 3, "the offer expired")
        again = panel.undo_remove()  # still possible from code; the button is gone
        assert len(again) == 1
        await asyncio.sleep(0.3)  # (a connect would have begun by now)
        assert bridge.commands.connection(again[0]).state is ConnState.CLOSED
        assert panel.undo_remove() == []  # once
    finally:
        await bridge.manager.close_all()
        bridge.stop()
        dispose(window, bridge)


def test_important_columns_show_and_the_choice_is_remembered(qtbot, config_dir):
    from ui.connection_columns import DEFAULT_HIDDEN

    bridge = CoreBridge(ConnectionManager(), interval_ms=3_600_000)
    panel = ConnectionsPanel(bridge)
    panel.resize(410, 200)  # the left column of the default layout at 1280x800
    panel.show()
    qtbot.waitExposed(panel)
    header = panel.view.horizontalHeader()
    try:
        for column in (Column.STATE, Column.NAME, Column.RTT, Column.RATE_IN, Column.RATE_OUT):
            assert not header.isSectionHidden(column)
            right = header.sectionViewportPosition(column) + header.sectionSize(column)
            assert right <= panel.view.viewport().width(), f"{column.name} is cut off"
        assert {c for c in Column if header.isSectionHidden(c)} == DEFAULT_HIDDEN
        menu = panel.columns_menu()  # the header's context menu
        entries = {a.text(): a for a in menu.actions()}
        assert len(entries) == len(Column) and not entries["State"].isEnabled()
        entries["URL"].setChecked(True)
        entries["In/s"].setChecked(False)
        assert not header.isSectionHidden(Column.URL) and header.isSectionHidden(Column.RATE_IN)
        assert header.sectionSize(Column.URL) > 100
    finally:
        dispose(panel)
    later = ConnectionsPanel(bridge)  # the next launch
    try:
        header = later.view.horizontalHeader()
        assert not header.isSectionHidden(Column.URL) and header.isSectionHidden(Column.RATE_IN)
        assert header.isSectionHidden(Column.BYTES_IN)
    finally:
        bridge.stop()
        dispose(later, bridge)
