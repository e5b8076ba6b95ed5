"""The whole app: embedded default, docks, layout memory, --screenshot and the no-display exit."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.app import NO_DISPLAY, Options, main, open_window, parse_args
from ui.connections_model import Column
from ui.main_window import PANELS, MainWindow

ROOT = Path(__file__).resolve().parents[2]


async def test_embedded_default_comes_alive(qtbot, config_dir, no_quit_on_close):
    window = open_window(Options([], None, None, (1280, 800), True))
    bridge = window.bridge
    try:
        server = bridge.server
        assert server is not None and server.running and server.config.auth
        assert window.panel_errors == {}  # every panel docked, no placeholder
        assert set(window.docks) == {spec.key for spec in PANELS}

        model = window.connections.model
        (conn,) = bridge.manager.list()
        await until(lambda: model.state_of(conn.id) is ConnState.OPEN, 5, "open")
        # joined a demo room through the offline queue: broadcasts from the bots flow in
        await until(lambda: conn.metrics.msgs_in >= 5, 8, "frames from the demo room")
        inspector = window.panels["inspector"]
        await until(lambda: inspector.model.rowCount() > 0, 3, "inspector rows")
        await until(lambda: model.text(conn.id, Column.RTT).endswith("ms"), 5, "RTT")
        await until(lambda: window.status.connections_label.text() == "1/1 open", 3, "status")
        assert "Embedded demo server" in window.status.message_label.text()

        window.close()
        assert config_dir.joinpath("socketscope.ini").is_file()  # layout saved on close
    finally:
        await window.shutdown()
        dispose(window, bridge)
    assert not server.running
    assert conn.state is ConnState.CLOSED


async def test_connect_to_embedded_server_action(qtbot, config_dir):
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    try:
        conn_id = window.connect_embedded()  # starts the server first, then connects
        assert conn_id is not None and bridge.server is not None
        conn = bridge.commands.connection(conn_id)
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: window.server_panel.clients == 1, 5, "one client")
    finally:
        await window.shutdown()
        server = bridge.server
        dispose(window, bridge)
    assert server is not None and not server.running


def test_layout_is_remembered(qtbot, config_dir, no_quit_on_close):
    bridge = make_bridge()
    first = MainWindow(bridge)
    first.resize(1100, 700)
    first.docks["rooms"].hide()
    first.close()
    second = MainWindow(bridge)
    assert second.layout_restored
    assert second.docks["rooms"].isHidden()
    assert not second.docks["inspector"].isHidden()
    second.reset_layout()
    assert not second.docks["rooms"].isHidden()
    bridge.stop()
    dispose(first, second, bridge)


def test_connection_menu_carries_the_panels_actions(qtbot, config_dir):
    bridge = make_bridge()
    window = MainWindow(bridge)
    texts = [a.text().replace("&", "") for a in window.connection_menu.actions() if a.text()]
    acts = window.connections.actions_by_name
    for name in ("connect", "disconnect", "reconnect", "edit", "duplicate", "remove"):
        assert acts[name].text().replace("&", "") in texts, name
    bridge.stop()
    dispose(window, bridge)


def test_demo_and_embedded_flags():
    options = parse_args(["--demo-bots", "12", "--demo-rate", "5", "--embedded-path", "/echo"])
    assert (options.demo_bots, options.demo_rate, options.embedded_paths) == (12, 5.0, ("/echo",))
    assert options.start_server
    options = parse_args(["--embedded", "ws://127.0.0.1:1/"])
    assert options.start_server and options.urls == ["ws://127.0.0.1:1/"]
    assert not parse_args(["ws://127.0.0.1:1/"]).start_server
    for bad in (["ws://h/", "--demo-bots", "3"], ["--demo-bots", "-1"], ["--demo-rate", "x"],
                ["--embedded-path", "echo"], ["--embedded", "--no-demo"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


async def test_busy_session_from_the_command_line(qtbot, config_dir, no_quit_on_close):
    options = parse_args(["--embedded", "--demo-bots", "2", "--embedded-path", "/echo",
                          "ws://127.0.0.1:1/"])
    window = open_window(options)
    bridge = window.bridge
    try:
        embedded, echo, failing = bridge.manager.list()
        assert echo.config.url.endswith("/echo") and failing.config.url == "ws://127.0.0.1:1/"
        assert window.connections.selected_ids() == [embedded.id]  # the demo stays selected
        await until(lambda: failing.state is ConnState.WAITING, 8, "a retry countdown")
        # the failure reaches the status bar in words, named as in the connections table
        await until(lambda: window.status.message_label.text().startswith("127.0.0.1:1/: "),
                    3, "the error in the status bar")
        await echo.wait_for_state(ConnState.OPEN, 5)
    finally:
        await window.shutdown()
        dispose(window, bridge)


def test_bad_arguments_exit_2(capsys):
    assert main(["http://example.com"]) == 2
    assert "ws://" in capsys.readouterr().err
    assert main(["--size", "huge"]) == 2


def _env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}}
    env["SOCKETSCOPE_CONFIG_DIR"] = str(config)
    env.update(extra)
    return env


def _run_main(args: list[str], env: dict[str, str], timeout: float):
    code = f"import sys; from ui.app import main; sys.exit(main({args!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=timeout,
                          capture_output=True, text=True)


def test_screenshot_writes_a_png(tmp_path):
    shot = tmp_path / "x.png"
    result = _run_main(["--screenshot", str(shot), "--after", "3"],
                       _env(tmp_path / "cfg", QT_QPA_PLATFORM="offscreen"), timeout=40)
    assert result.returncode == 0, result.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 800)
    assert "Traceback" not in result.stderr


def test_screenshot_save_failure_is_reported(tmp_path):
    shot = tmp_path / "missing-dir" / "x.png"
    result = _run_main(["--screenshot", str(shot), "--after", "0", "--no-demo"],
                       _env(tmp_path / "cfg", QT_QPA_PLATFORM="offscreen"), timeout=30)
    assert result.returncode == 1
    assert "could not save the screenshot" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
def test_no_display_is_one_clear_line(tmp_path):
    result = _run_main([], _env(tmp_path / "cfg"), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == NO_DISPLAY


def test_ctrl_c_or_sigterm_closes_the_app_cleanly(tmp_path):
    env = _env(tmp_path / "cfg", QT_QPA_PLATFORM="offscreen",
               SOCKETSCOPE_DATA_DIR=str(tmp_path / "data"))
    code = "import sys; from ui.app import main; sys.exit(main([]))"
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20  # until the session's recording shows traffic
        recordings = tmp_path / "data" / "recordings"
        while time.monotonic() < deadline and not any(
                p.stat().st_size > 0 for p in recordings.glob("*.sqlite-wal")):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
