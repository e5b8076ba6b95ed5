"""Start-up order: the window shows as a skeleton first, then the session fills it (ui/app.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.states import ConnState
from tests.helpers_ui import dispose, until
from ui.app import parse_args, show_window, start_session
from ui.conn_rows import ConnectionRow
from ui.inspector_model import COL_PREVIEW
from ui.main_window import PANELS, MainWindow, _Pending

ROOT = Path(__file__).resolve().parents[2]


def _layout(window: MainWindow) -> dict[str, tuple[bool, tuple[int, int, int, int]]]:
    return {key: (dock.isVisible(), dock.geometry().getRect())
            for key, dock in window.docks.items()}


async def test_default_state_is_the_default_layout(qtbot, config_dir, no_quit_on_close):
    """DEFAULT_STATE (what a new window restores) places every dock as default_layout() does."""
    restored = MainWindow(None, remember_layout=False)
    coded = MainWindow(None, remember_layout=False)
    try:
        coded.default_layout()
        for window in (restored, coded):
            window.resize(1280, 800)
            window.show()
        await until(lambda: restored.has_painted and coded.has_painted, 3, "painted")
        await until(lambda: _layout(restored) == _layout(coded), 3,
                    f"the same layout: {_layout(restored)} vs {_layout(coded)}")
    finally:
        dispose(restored, coded)


def _run_offscreen(code: str, tmp_path) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, offscreen, with its own config dir; it must succeed."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               SOCKETSCOPE_CONFIG_DIR=str(tmp_path / "config"))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=60,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def test_the_skeleton_imports_nothing_heavy(tmp_path):
    """Shown before asyncio, numpy, websockets, the server, SQLite or pyqtgraph are imported,
    and before the palette file is read (tomllib) when no scheme is forced."""
    code = (
        "import sys\n"
        "from ui.app import parse_args, show_window\n"
        "from ui import theme\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(['x'])\n"
        "theme.apply(app)\n"
        "window = show_window(parse_args([]))\n"
        "app.processEvents()\n"
        "heavy = ('asyncio', 'numpy', 'websockets', 'jwt', 'msgpack', 'sqlite3', 'pyqtgraph',\n"
        "         'tomllib', 'importlib.resources', 'core.connection', 'core.server.app',\n"
        "         'ui.bridge')\n"
        "print(window.has_painted, sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = _run_offscreen(code, tmp_path)
    assert result.stdout.split("\n")[0] == "True []"


def test_the_started_session_keeps_no_module_sources(tmp_path):
    """PySide6's import hook reads the source of every module imported after it, and linecache
    kept it all (~200,000 lines, 18 MiB of the idle app); start_session() lets it go."""
    code = (
        "import linecache, sys\n"
        "from ui.app import main\n"
        f"code = main(['--screenshot', {str(tmp_path / 'x.png')!r}, '--after', '0',\n"
        "             '--no-record'])\n"
        "lines = sum(len(entry[2]) for entry in linecache.cache.values() if len(entry) > 2)\n"
        "print(code, 'ui.charts_panel' in sys.modules, lines)\n"
    )
    result = _run_offscreen(code, tmp_path)
    code, charts, lines = result.stdout.split("\n")[-2].split()
    assert (code, charts) == ("0", "True"), result.stdout
    assert int(lines) < 20_000, result.stdout


async def test_the_session_fills_the_skeleton(qtbot, config_dir, no_quit_on_close):
    """Every panel replaces its placeholder; the panels that must see the first frames saw them
    (the inspector starts with the server's greeting, the room browser knows who we are), and
    the charts, built later, still mark the moment the connection opened."""
    options = parse_args(["--no-record"])
    window = show_window(options)
    assert not window.is_ready
    assert all(isinstance(dock.widget(), _Pending) for dock in window.docks.values())
    ready = []
    window.ready.connect(lambda: ready.append(True))
    try:
        await start_session(window, options)
        assert window.is_ready and ready == [True]
        assert window.panel_errors == {}
        assert set(window.panels) == {spec.key for spec in PANELS}
        assert not any(isinstance(dock.widget(), _Pending) for dock in window.docks.values())
        assert all(action.isEnabled() for action in window._needs_panels)
        (conn,) = window.bridge.manager.list()
        await until(lambda: conn.state is ConnState.OPEN, 5, "open")
        inspector = window.panels["inspector"]
        await until(lambda: inspector.model.rowCount() > 3, 5, "inspector rows")
        model = inspector.model
        frame_rows = [r for r in range(model.rowCount())
                      if not isinstance(model.frame(r), ConnectionRow)]  # not "connecting"...
        first = model.data(model.index(frame_rows[0], COL_PREVIEW))
        assert '"type":"connected"' in first.replace(" ", "")
        charts = window.panels["charts"]
        await until(lambda: any(mark.opened for mark in charts.markers.get(conn.id)), 3,
                    "the open marker")
        # panels built after the connection opened still know what it speaks (they saw no
        # ProtocolDetected): the Topics/Pairs feed and the composer's templates
        assert window.panels["topics"].feed.protocol(conn.id) == "embedded"
        templates = window.panels["composer"].protocol_templates
        assert templates.target_decoder() is not None
        assert templates.target_decoder().name == "embedded"
    finally:
        window.hide()
        await window.shutdown()
        dispose(window)
