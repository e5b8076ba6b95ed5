"""The load panel, docked in the window: a local run against the embedded server, charted live
beside the RTT of the app's own connection, with samples mirrored into the inspector while it
runs and its results kept after; a bad scenario is one line in the panel; the window's shutdown
(or closing the panel) stops the run and its processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psutil

from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.load_panel import LoadPanel
from ui.main_window import MainWindow, embedded_connection_config
from ui.workspace_session import WorkspaceSession


def scenario_file(tmp_path: Path, url: str, duration: float) -> Path:
    path = tmp_path / "pings.toml"
    path.write_text(f'url = "{url}"\nusers = 5\nspawn_rate = 50\nduration = {duration}\n'
                    "on_open = ['{\"type\":\"join_room\",\"room\":\"load\"}']\n"
                    "[send]\nmessages = ['{\"type\":\"ping\"}']\nrate = 5\n")
    return path


async def test_a_docked_local_run_is_charted_mirrored_and_kept(
        qtbot, embedded_server, config_dir: Path, tmp_path: Path, no_quit_on_close) -> None:
    server = embedded_server(auth=False)
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    window.set_workspace(WorkspaceSession.load(tmp_path / "workspace.toml"),
                         remember_session=False)
    panel = window.panels["load"]
    try:
        assert isinstance(panel, LoadPanel) and window.docks["load"].widget() is panel
        assert panel.workspace is window.workspace_controller.session
        window.resize(1280, 800)
        window.show()
        window.docks["load"].raise_()
        own = window.connections.add_connection(embedded_connection_config(server))
        assert own is not None
        await until(lambda: bridge.state_of(own) is ConnState.OPEN, 5, "the app's connection")
        await until(lambda: len(panel.charts.rtt_curve.getData()[0] or ()) > 0, 10,
                    "the app's RTT in the load panel")
        assert panel.rtt_connection() == own

        panel.scenario.setText(str(scenario_file(tmp_path, f"{server.url}/?run=load", 600)))
        panel.duration.setValue(3)  # the panel's shape replaces the scenario's
        panel.local.setChecked(True)
        panel.mirror.setValue(2)
        said: list[str] = []
        bridge.message.connect(said.append)
        assert panel.start() and not panel.start_button.isEnabled()
        samples = list(panel.mirrors.ids)
        assert len(samples) == 2 and set(samples) <= set(bridge.commands.ids())
        await until(lambda: all(bridge.state_of(i) is ConnState.OPEN for i in samples), 10,
                    "the mirrored samples open")
        model = window.panels["inspector"].model

        def sample_frames() -> list[tuple[int, str, bytes]]:
            frames = (model.frame(r) for r in range(model.rowCount()))
            return [(f.conn_id, f.direction, bytes(f.payload)) for f in frames
                    if getattr(f, "conn_id", None) in samples and hasattr(f, "payload")]

        await until(lambda: {c for c, d, p in sample_frames() if b'"join_room"' in p
                             and d == "out"} == set(samples), 10,
                    "each sample's on-open join in the inspector")
        assert panel.rtt_connection() == own  # never a sample
        assert window.workspace_controller.session_entries() == [  # nor remembered
            bridge.commands.config(own).url]
        await until(lambda: not panel.session.running and not panel.timer.isActive(), 30,
                    "the run to end")
        session = panel.session
        assert session.error is None and session.final is not None and session.final.t < 10
        assert panel.status.text().startswith("Finished. stopped: 0 users")
        sends = session.final.send.requests
        assert sends > 20 and panel.summary.item(1, 0).text() == f"{sends:,}"
        assert panel.summary.item(2, 1).text() == "0"
        x, y = panel.charts.rate_curves[1].getData()
        assert len(x) >= 3 and np.nanmax(y) > 10  # sends/s, as drawn
        await until(lambda: not set(samples) & set(bridge.commands.ids()), 5,
                    "the samples removed when the run ended")
        results = panel.results
        assert results is not None and panel.open_results.isEnabled()
        assert str(results) in panel.results_label.text()
        assert any(str(results) in line for line in said)  # in the status bar
        summary = json.loads((results / "summary.json").read_text())
        assert summary["sends"] == sends and summary["runner"] == "local"
        assert len((results / "stats.ndjson").read_text().splitlines()) >= 3
    finally:
        await window.shutdown()
        dispose(window, bridge)
    assert not psutil.Process().children(recursive=True)


async def test_results_beside_the_recording(
        qtbot, config_dir: Path, tmp_path: Path, no_quit_on_close) -> None:
    """With a recording the results go beside it; without one, into the app's data folder."""
    from core.facade import LoadPlan, Recorder, data_dir

    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    panel = window.panels["load"]
    plan = LoadPlan("pings", {}, "ws://127.0.0.1:1/", [], [], 1.0, 0.0, 0.0, "none", 1.0)
    try:
        assert panel.results_dir(plan).parent == data_dir() / "load"
        window.recorder = Recorder(tmp_path / "rec" / "session.sqlite")
        folder = panel.results_dir(plan)
        assert folder.parent == tmp_path / "rec" and folder.name.startswith("session.load-pings-")
    finally:
        await window.shutdown()  # closes the recording too
        dispose(window, bridge)


async def test_bad_scenarios_and_shutdown_mid_run(
        qtbot, embedded_server, config_dir: Path, tmp_path: Path, no_quit_on_close) -> None:
    server = embedded_server(auth=False)
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    panel = window.panels["load"]
    try:
        panel.workspace_path = tmp_path / "workspace.toml"
        panel.scenario.setText("no-such-scenario")
        assert not panel.start()
        assert "no scenario file or workspace scenario named 'no-such-scenario'" in (
            panel.status.text())
        panel.scenario.setText(str(scenario_file(tmp_path, server.url, 600)))
        panel.local.setChecked(True)
        assert panel.start()
        await until(lambda: panel.summary.item(1, 0) is not None, 20, "the first stats")
        assert psutil.Process().children(recursive=True)
        await window.shutdown()  # stops the run and waits for its child, off the GUI thread
        assert panel.session is not None and not panel.session.running
    finally:
        await window.shutdown()
        dispose(window, bridge)
    assert not psutil.Process().children(recursive=True)


async def test_closing_the_panel_stops_the_run(
        qapp, embedded_server, config_dir: Path, tmp_path: Path) -> None:
    server = embedded_server(auth=False)
    bridge = make_bridge()
    panel = LoadPanel(bridge, None)
    try:
        panel.workspace_path = tmp_path / "workspace.toml"
        panel.scenario.setText(str(scenario_file(tmp_path, server.url, 600)))
        panel.local.setChecked(True)
        assert panel.start()
        await until(lambda: panel.summary.item(1, 0) is not None, 20, "the first stats")
        panel.close()  # stops the run and waits for the child
        assert panel.session is not None and not panel.session.running
        assert panel.session.final is not None and panel.session.final.state == "stopped"
    finally:
        panel.shutdown()
        bridge.stop()
        dispose(panel, bridge)
    assert not psutil.Process().children(recursive=True)


async def test_a_locust_run_keeps_locusts_files_beside_the_recording(
        qtbot, embedded_server, config_dir: Path, tmp_path: Path, no_quit_on_close) -> None:
    """A real Locust master and one worker: the panel names the folder with Locust's CSV and
    JSON, kept beside the session's recording, and the command for workers elsewhere."""
    from core.facade import Recorder

    server = embedded_server(auth=False)
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    window.recorder = Recorder(tmp_path / "rec" / "session.sqlite")
    panel = window.panels["load"]
    try:
        panel.workspace_path = tmp_path / "workspace.toml"
        panel.scenario.setText(str(scenario_file(tmp_path, server.url, 600)))
        panel.users.setValue(4)
        panel.duration.setValue(4)
        panel.workers.setValue(1)
        assert panel.start()
        await until(lambda: "Workers on other machines: " in panel.status.text(), 60,
                    "Locust's workers ready")
        await until(lambda: not panel.session.running and not panel.timer.isActive(), 90,
                    "the run to end")
        session = panel.session
        assert session.error is None and session.final is not None
        assert session.final.send.requests > 10 and session.final.failures == 0
        results = panel.results
        assert results is not None and results.parent == tmp_path / "rec"
        assert panel.results_label.text() == f"Results: {results}"
        assert panel.open_results.isEnabled()
        for name in ("locust_stats.csv", "locust.json", "summary.json", "stats.ndjson"):
            assert (results / name).is_file(), name
        summary = json.loads((results / "summary.json").read_text())
        assert summary["runner"] == "locust" and summary["results"] == str(results)
        assert panel.summary.item(1, 0).text() == f"{session.final.send.requests:,}"
    finally:
        await window.shutdown()  # closes the recording too
        dispose(window, bridge)
    assert not psutil.Process().children(recursive=True)
