"""The main window: every panel in a dock, menus, the status bar, layout memory and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from core.config import ConnectionConfig, HeartbeatConfig
from core.connection import Connection
from core.recorder import Recorder
from core.server import EmbeddedServer, make_token
from ui.bridge import CoreBridge
from ui.connections_panel import ConnectionsPanel
from ui.server_panel import ServerPanel
from ui.settings import app_settings
from ui.status_bar import StatusBar

log = logging.getLogger(__name__)

LAYOUT_VERSION = 1
DEMO_ROOMS = ("lobby", "dev")
DEMO_USER = "you"


@dataclass(frozen=True)
class PanelSpec:
    key: str  # object name of the dock, used by saveState
    title: str
    module: str
    cls: str


# Panels other helpers write are imported lazily: a missing or broken one becomes a placeholder
# in its dock instead of taking the whole window down.
PANELS = (
    PanelSpec("connections", "Connections", "ui.connections_panel", "ConnectionsPanel"),
    PanelSpec("rooms", "Rooms", "ui.room_browser", "RoomBrowser"),
    PanelSpec("inspector", "Inspector", "ui.inspector_panel", "InspectorPanel"),
    PanelSpec("composer", "Composer", "ui.composer_panel", "ComposerPanel"),
    PanelSpec("charts", "Charts", "ui.charts_panel", "ChartsPanel"),
    PanelSpec("server", "Server", "ui.server_panel", "ServerPanel"),
)


def embedded_connection_config(server: EmbeddedServer, name: str = "demo (embedded)",
                               user: str = DEMO_USER, path: str = "/") -> ConnectionConfig:
    """A connection to the embedded server: its token, a 1 s heartbeat so the charts move."""
    cfg = server.config
    return ConnectionConfig(
        url=server.url + path,
        name=name,
        token=make_token(cfg.secret, user, None) if cfg.auth else None,
        heartbeat=HeartbeatConfig(interval=1.0, timeout=5.0),
    )


def join_rooms(bridge: CoreBridge, conn: Connection, rooms: tuple[str, ...] = DEMO_ROOMS) -> None:
    """Ask to join demo rooms; sent before the connection opens it waits in the offline queue."""
    for room in rooms:
        message = json.dumps({"type": "join_room", "room": room})
        bridge.run(conn.send(message), f"Join {room}")


class _Placeholder(QLabel):
    """Stands in for a panel that could not be created, and says why."""

    def __init__(self, title: str, error: str) -> None:
        super().__init__(f"{title} is not available:\n{error}")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("color: #8a8f98;")


class MainWindow(QMainWindow):
    """Owns no core state: the bridge has the manager and the server; panels show them."""

    closed = Signal()

    def __init__(
        self,
        bridge: CoreBridge,
        parent: QWidget | None = None,
        remember_layout: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowTitle("SocketScope")
        self.bridge = bridge
        self.remember_layout = remember_layout
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.panel_errors: dict[str, str] = {}
        self._shutdown_task: asyncio.Task[None] | None = None
        self._closed = False
        self.recorder: Recorder | None = None  # the session's recording, closed at shutdown
        self._recordings: QWidget | None = None

        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        for spec in PANELS:
            self._add_panel(spec)
        self.connections: ConnectionsPanel = self.panels["connections"]  # type: ignore[assignment]
        self.server_panel: ServerPanel = self.panels["server"]  # type: ignore[assignment]

        self.status = StatusBar(bridge, self)
        self.setStatusBar(self.status)
        inspector = self.panels.get("inspector")
        if inspector is not None and not isinstance(inspector, _Placeholder):
            self.status.dropped_sources.append(inspector)

        for key, panel in self.panels.items():
            if key != "connections" and hasattr(panel, "set_connections"):
                self.connections.selection_changed.connect(panel.set_connections)

        self._make_menus()
        self._shown = False
        self.default_layout()
        self.layout_restored = self.restore_layout() if remember_layout else False

    # ----- panels and layout -------------------------------------------------------------------

    def _add_panel(self, spec: PanelSpec) -> None:
        try:
            cls = getattr(importlib.import_module(spec.module), spec.cls)
            panel: QWidget = cls(self.bridge, self)
        except Exception as exc:  # a missing or failing panel must not stop the app
            log.error("panel %s failed:\n%s", spec.cls, traceback.format_exc())
            self.panel_errors[spec.key] = f"{type(exc).__name__}: {exc}"
            panel = _Placeholder(spec.title, self.panel_errors[spec.key])
        dock = QDockWidget(spec.title, self)
        dock.setObjectName(f"dock_{spec.key}")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.panels[spec.key] = panel
        self.docks[spec.key] = dock

    def default_layout(self) -> None:
        """Top row: connections over rooms on the left, the inspector (largest) beside them.
        Bottom row, full width: composer (server tabbed with it) and charts.

        All docks share one dock area, split in nested rows and columns: with no central
        widget, resizeDocks() only balances docks reliably within one area."""
        d = self.docks
        top = Qt.DockWidgetArea.TopDockWidgetArea
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        for dock in d.values():
            dock.setFloating(False)
            self.removeDockWidget(dock)
        self.addDockWidget(top, d["connections"])
        self.splitDockWidget(d["connections"], d["composer"], vertical)
        self.splitDockWidget(d["connections"], d["inspector"], horizontal)
        self.splitDockWidget(d["connections"], d["rooms"], vertical)
        self.splitDockWidget(d["composer"], d["charts"], horizontal)
        self.tabifyDockWidget(d["composer"], d["server"])
        for dock in d.values():
            dock.show()
        d["composer"].raise_()
        self.default_sizes()

    def default_sizes(self) -> None:
        """Proportions of the default layout for the current window size: at 1280x800 the left
        column is ~410 px (connections with State, Name, RTT, In and Out; member names in full)
        and the charts get more of the bottom row than the composer."""
        d = self.docks
        width, height = self.width(), self.height()
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        left = int(width * 0.32)
        self.resizeDocks([d["connections"], d["inspector"]], [left, width - left], horizontal)
        self.resizeDocks([d["inspector"], d["composer"]],
                         [int(height * 0.58), int(height * 0.42)], vertical)
        self.resizeDocks([d["connections"], d["rooms"]],
                         [int(height * 0.25), int(height * 0.33)], vertical)
        self.resizeDocks([d["composer"], d["charts"]],
                         [int(width * 0.40), int(width * 0.60)], horizontal)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            if not self.layout_restored:  # sizes need the real window size: after layout
                QTimer.singleShot(0, self.default_sizes)

    def reset_layout(self) -> None:
        self.default_layout()

    def restore_layout(self) -> bool:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            restored = self.restoreState(state, LAYOUT_VERSION) and restored
        return restored

    def save_layout(self) -> None:
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        settings.sync()

    # ----- menus -------------------------------------------------------------------------------

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        new = QAction("&New connection…", self)
        new.setShortcut(QKeySequence.StandardKey.New)
        new.triggered.connect(lambda: self.connections.new_connection())
        embedded = QAction("Connect to &embedded server", self)
        embedded.setStatusTip("Start the local test server if needed and connect to it")
        embedded.triggered.connect(lambda: self.connect_embedded())
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        recordings = QAction("&Recordings…", self)
        recordings.setStatusTip("Browse and export recorded sessions")
        recordings.triggered.connect(self.show_recordings)
        file_menu.addAction(new)
        file_menu.addAction(embedded)
        file_menu.addAction(recordings)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.embedded_action = embedded

        conn_menu = bar.addMenu("&Connection")
        acts = self.connections.actions_by_name
        for name in ("connect", "disconnect", "reconnect"):
            conn_menu.addAction(acts[name])
        conn_menu.addSeparator()
        for name in ("edit", "duplicate", "remove"):
            conn_menu.addAction(acts[name])

        server_menu = bar.addMenu("&Server")
        toggle = QAction("&Start/stop embedded server", self)
        toggle.triggered.connect(self.server_panel.toggle)
        copy = QAction("&Copy token", self)
        copy.triggered.connect(self.server_panel.copy_token)
        server_menu.addAction(toggle)
        server_menu.addAction(copy)

        view_menu = bar.addMenu("&View")
        for spec in PANELS:
            view_menu.addAction(self.docks[spec.key].toggleViewAction())
        view_menu.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view_menu.addAction(reset)
        self.view_menu = view_menu

        help_menu = bar.addMenu("&Help")
        about = QAction("&About SocketScope", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About SocketScope",
            "SocketScope: inspect, compose and load-watch WebSocket connections.\n"
            "Comes with an embedded test server (rooms, auth, demo bots).",
        )

    # ----- actions -----------------------------------------------------------------------------

    def connect_embedded(self) -> Connection | None:
        """Start the embedded server when it is not running, then open a connection to it."""
        server = self.bridge.server
        if server is None or not server.running:
            server = self.server_panel.start_server()
            if server is None:
                return None
        conn = self.connections.add_connection(embedded_connection_config(server))
        if conn is not None:
            join_rooms(self.bridge, conn)
        return conn

    # ----- closing -----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.remember_layout:
            try:
                self.save_layout()
            except Exception:
                log.exception("could not save the window layout")
        event.accept()
        if not self._closed:
            self._closed = True
            self.closed.emit()

    def show_recordings(self) -> QWidget:
        """The recordings browser, in a window of its own (kept while this one lives)."""
        from ui.recordings_window import RecordingsWindow

        if self._recordings is None:
            self._recordings = RecordingsWindow(parent=self)
            self._recordings.setWindowFlag(Qt.WindowType.Window)
        self._recordings.refresh()
        self._recordings.show()
        self._recordings.raise_()
        return self._recordings

    async def shutdown(self) -> None:
        """Disconnect everything, stop the bridge and the embedded server (idempotent)."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        bridge = self.bridge
        try:
            async with asyncio.timeout(5.0):
                await bridge.manager.close_all()
        except Exception:
            log.exception("closing the connections failed")
        bridge.stop()
        if self.recorder is not None:  # after the connections closed: their last frames too
            await asyncio.to_thread(self.recorder.close)
        server = bridge.server
        if server is not None:
            try:
                await asyncio.to_thread(server.stop)
            except Exception:
                log.exception("stopping the embedded server failed")
        with contextlib.suppress(RuntimeError):  # the C++ objects may already be gone
            for timer in self.findChildren(QTimer):  # panels' own refresh timers
                timer.stop()
