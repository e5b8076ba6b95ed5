"""Server panel: live clients, rooms and log of a real embedded server; start/stop from the UI."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from core.config import ConnectionConfig, ReconnectPolicy
from core.server import make_token, verify_token
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.server_panel import ServerPanel


async def test_clients_rooms_and_401_in_the_log(qtbot, embedded_server):
    srv = embedded_server(auth=True, secret="s" * 32, demo_bots=2, demo_rate=1)
    bridge = make_bridge(srv)
    panel = ServerPanel(bridge)
    manager = bridge.manager
    try:
        assert panel.server is srv
        assert "Running at" in panel.status_label.text()
        assert not panel.port_spin.isEnabled()  # settings apply at start: locked while running

        no_token = manager.add(
            ConnectionConfig(srv.url + "/", reconnect=ReconnectPolicy(enabled=False)),
            connect=True,
        )
        await until(lambda: "401" in panel.log_text(), 5, "a 401 log line")
        assert no_token.state is ConnState.CLOSED

        token = make_token(srv.config.secret, "alice", 60)
        alice = manager.add(ConnectionConfig(srv.url + "/", token=token), connect=True)
        await alice.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: "1 client " in panel.totals_label.text(), 5, "one client")
        assert "alice" in panel.log_text()  # the handshake line names the client
        assert "1 rejected" in panel.totals_label.text()
        await until(lambda: panel.rooms_tree.topLevelItemCount() >= 1, 5, "demo rooms")
        rooms = [panel.rooms_tree.topLevelItem(i).text(0)
                 for i in range(panel.rooms_tree.topLevelItemCount())]
        assert "lobby" in rooms

        panel.bots_spin.setValue(4)  # applied live
        await until(lambda: srv.snapshot().bots == 4, 5, "4 bots")
    finally:
        await manager.close_all()
        bridge.stop()
        dispose(panel, bridge)


async def test_start_copy_token_stop(qtbot):
    bridge = make_bridge()
    panel = ServerPanel(bridge)
    started: list[object] = []
    panel.server_started.connect(started.append)
    try:
        assert "Stopped" in panel.status_label.text()
        panel.port_spin.setValue(0)
        panel.bots_spin.setValue(1)
        server = panel.start_server()
        assert server is not None and server.running
        assert bridge.server is server and started == [server]
        assert panel.start_button.text() == "Stop"
        port = server.port
        assert port > 0

        panel.subject_edit.setText("bob")
        token = panel.copy_token()
        assert QGuiApplication.clipboard().text() == token
        assert verify_token(token, server.config.secret)["sub"] == "bob"

        await until(lambda: "listening" in panel.log_text(), 5, "listening line")
        task = panel.stop_server()
        assert task is not None
        await task
        assert not server.running
        assert bridge.server is None
        assert "Stopped" in panel.status_label.text()
        assert "server stopped" in panel.log_text()
        assert panel.port_spin.value() == port  # Start again reuses the URL
    finally:
        if bridge.server is not None:
            bridge.server.stop()
        bridge.stop()
        dispose(panel, bridge)
