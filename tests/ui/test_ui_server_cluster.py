"""Server panel: a local cluster of three instances over a real redis-server, started and stopped
from the panel; the rooms list shows which instance each client is on."""

from __future__ import annotations

import shutil

import pytest

from core.config import ConnectionConfig
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.server_panel import ServerPanel

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (apt-get install redis-server)",
)


def _members(panel: ServerPanel) -> str:
    tree = panel.rooms_tree
    return " ".join(tree.topLevelItem(i).text(2) for i in range(tree.topLevelItemCount()))


async def test_start_a_local_cluster_and_see_each_clients_instance(qtbot):
    bridge = make_bridge()
    panel = ServerPanel(bridge)
    manager = bridge.manager
    try:
        panel.port_spin.setValue(0)
        panel.bots_spin.setValue(0)
        panel.auth_check.setChecked(False)
        panel.instances_spin.setValue(3)
        server = panel.start_server()
        assert server is not None and bridge.server is server
        servers = panel.servers
        assert len(servers) == 3 and all(s.running for s in servers)
        cluster = panel.cluster
        assert cluster is not None and cluster.redis_running
        assert "3 instances" in panel.status_label.text()
        assert not panel.instances_spin.isEnabled()

        conns = [manager.add(ConnectionConfig(s.url + "/"), connect=True) for s in servers[1:]]
        for conn in conns:
            await conn.wait_for_state(ConnState.OPEN, 5)
            await conn.send('{"type": "join_room", "room": "shared"}')
        await until(lambda: "@#2" in _members(panel) and "@#3" in _members(panel), 10,
                    "clients of instances 2 and 3 in the rooms list")
        await until(lambda: "2 clients" in panel.totals_label.text(), 5, "two clients")
        await until(lambda: "#1 instance #1 joined cluster" in panel.log_text(), 5, "cluster log")

        await manager.close_all()
        task = panel.stop_server()
        assert task is not None
        await task
        assert not any(s.running for s in servers)
        assert not cluster.redis_running  # The redis-server child is gone too.
        assert bridge.server is None and "Stopped" in panel.status_label.text()
    finally:
        await manager.close_all()
        if panel.cluster is not None:
            panel.cluster.stop()
        bridge.stop()
        dispose(panel, bridge)


async def test_the_windows_shutdown_stops_the_local_cluster(qtbot, no_quit_on_close):
    """Closing the app stops every instance of the panel's cluster and its redis-server, not
    only the first instance (the one the bridge holds)."""
    from ui.main_window import MainWindow

    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    panel = window.server_panel
    try:
        panel.port_spin.setValue(0)
        panel.bots_spin.setValue(0)
        panel.instances_spin.setValue(2)
        assert panel.start_server() is not None
        cluster, servers = panel.cluster, panel.servers
        assert cluster is not None and cluster.redis_running and len(servers) == 2
        await window.shutdown()
        assert not any(s.running for s in servers) and not cluster.redis_running
    finally:
        if panel.cluster is not None:
            panel.cluster.stop()
        await window.shutdown()
        dispose(window, bridge)
