"""Connections panel, model and dialog against real embedded servers."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QDialogButtonBox

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.connection_dialog import ConnectionDialog
from ui.connections_model import STATE_ROLE, Column, ConnectionsModel
from ui.connections_panel import ConnectionsPanel


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
        conn = panel.add_connection(
            ConnectionConfig(srv.url + "/", name="survivor", reconnect=quick_reconnect())
        )
        assert conn is not None
        await until(lambda: model.state_of(conn.id) is ConnState.OPEN, 5, "first open")

        await asyncio.to_thread(srv.stop)  # the server goes away under the connection
        await until(lambda: model.state_of(conn.id) is ConnState.WAITING, 5, "waiting")
        assert model.text(conn.id, Column.STATE).startswith("retry in ")
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
        conn = panel.add_connection(
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
    model = ConnectionsModel(manager)
    manager.add(ConnectionConfig("ws://a.example/?token=secret123", name="a"))
    manager.add(ConnectionConfig("ws://b.example/"))
    model.refresh()
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert "secret123" not in model.text(1, Column.URL)  # tokens never shown
    assert model.text(2, Column.NAME) == "ws://b.example/"
    assert model.text(1, Column.BYTES_IN) == "0 B"
    dispose(model)
