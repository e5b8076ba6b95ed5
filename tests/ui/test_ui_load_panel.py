"""The load panel: a local run against the embedded server, charted live and summed up after;
a bad scenario is one line in the panel; closing the panel stops the run and its processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil

from tests.helpers_ui import dispose, until
from ui.load_panel import LoadPanel


def scenario_file(tmp_path: Path, url: str, duration: float) -> Path:
    path = tmp_path / "pings.toml"
    path.write_text(f'url = "{url}"\nusers = 5\nspawn_rate = 50\nduration = {duration}\n'
                    "[send]\nmessages = ['{\"type\":\"ping\"}']\nrate = 5\n")
    return path


async def test_a_local_run_is_charted_and_summed_up(
        qapp, embedded_server, config_dir: Path, tmp_path: Path) -> None:
    server = embedded_server(auth=False)
    panel = LoadPanel(tmp_path / "workspace.toml")
    try:
        panel.scenario.setText(str(scenario_file(tmp_path, server.url, 600)))
        panel.duration.setValue(3)  # the panel's shape replaces the scenario's
        panel.local.setChecked(True)
        assert panel.start() and not panel.start_button.isEnabled()
        assert panel.session is not None
        await until(lambda: not panel.session.running and not panel.timer.isActive(), 30,
                    "the run to end")
        assert panel.session.error is None and panel.session.final is not None
        assert panel.session.final.t < 10 and panel.start_button.isEnabled()
        assert panel.status.text().startswith("Finished. stopped: 0 users")
        sends = panel.session.final.send.requests
        assert sends > 20 and panel.summary.item(1, 0).text() == f"{sends:,}"
        assert panel.summary.item(2, 1).text() == "0"
        x, y = panel.rate_curves[1].getData()
        assert len(x) >= 3 and np.nanmax(y) > 10  # sends/s, as drawn
    finally:
        panel.shutdown()
        dispose(panel)
    assert not psutil.Process().children(recursive=True)


async def test_bad_scenarios_and_closing_mid_run(
        qapp, embedded_server, config_dir: Path, tmp_path: Path) -> None:
    server = embedded_server(auth=False)
    panel = LoadPanel(tmp_path / "workspace.toml")
    try:
        panel.scenario.setText("no-such-scenario")
        assert not panel.start()
        assert "no scenario file or workspace scenario named 'no-such-scenario'" in (
            panel.status.text())
        panel.scenario.setText(str(scenario_file(tmp_path, server.url, 600)))
        panel.local.setChecked(True)
        assert panel.start()
        await until(lambda: panel.summary.item(1, 0) is not None, 20, "the first stats")
        panel.close()  # stops the run and waits for the child
        assert panel.session is not None and not panel.session.running
        assert panel.session.final is not None and panel.session.final.state == "stopped"
    finally:
        panel.shutdown()
        dispose(panel)
    assert not psutil.Process().children(recursive=True)
