"""Shared test set-up: offscreen Qt, the right event loop per test, real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SOCKETSCOPE_DATA_DIR", str(Path(__file__).parent / ".." / ".pytest_data"))

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):  # type: ignore[no-untyped-def]
    """The collector must never run on the server's thread: it could destroy a Qt object there,
    whose timers Qt then cannot stop (a later crash). Collect on the main thread between tests,
    as the app does on its GUI thread. GIL turns are as short as the app's too."""
    from ui.app import SWITCH_INTERVAL

    gc.disable()
    sys.setswitchinterval(SWITCH_INTERVAL)


@pytest.fixture(autouse=True)
def _collect_on_main_thread():  # type: ignore[no-untyped-def]
    yield
    gc.collect()


def _qasync_loop() -> asyncio.AbstractEventLoop:
    from PySide6.QtWidgets import QApplication  # PySide6 before qasync
    from qasync import QEventLoop

    app = QApplication.instance() or QApplication([])
    return QEventLoop(app)


def pytest_asyncio_loop_factories(config, item):  # type: ignore[no-untyped-def]
    """GUI tests (modules named test_ui_*) run on qasync, the loop the app runs on; the core
    is Qt-free and its tests run on plain asyncio."""
    if item.module.__name__.split(".")[-1].startswith("test_ui"):
        return {"qasync": _qasync_loop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
def embedded_server():
    """A factory: embedded_server(**ServerConfig fields) starts one on a free port; all are
    stopped when the test ends."""
    from core.server import EmbeddedServer, ServerConfig

    started: list[EmbeddedServer] = []

    def start(**fields: object) -> EmbeddedServer:
        fields.setdefault("port", 0)
        server = EmbeddedServer(ServerConfig(**fields))  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """Where the app keeps its settings, for this test only."""
    path = tmp_path / "config"
    monkeypatch.setenv("SOCKETSCOPE_CONFIG_DIR", str(path))
    return path


@pytest.fixture
def no_quit_on_close(qapp):
    """Closing the window must not end the qasync loop the test runs on (the app does the same)."""
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


# The real protocol servers (Socket.IO, GraphQL, JSON-RPC, STOMP, MQTT) for the protocol stories.
from tests.servers.fixtures import (  # noqa: E402, F401
    amqtt_broker,
    graphql_server,
    jsonrpc_server,
    mosquitto_broker,
    socketio_server,
    stomp_broker,
)
