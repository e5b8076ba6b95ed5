"""The main window: every panel in a dock, menus, the status bar, layout memory and shutdown.

`MainWindow(bridge)` builds every panel at once. `MainWindow(None)` is the start-up skeleton: the
docks, menus and layout are there, each dock holds a placeholder, and nothing heavier than Qt is
imported, so it can be shown at once; `attach(bridge, keys)` then puts the panels in (all, or a
few at a time) and `ready` is emitted once every dock has its panel.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QStatusBar, QWidget

from ui import theme
from ui.settings import app_settings

if TYPE_CHECKING:  # the core (numpy, websockets, the server) is imported once the window shows
    import asyncio

    from PySide6.QtGui import QAction, QCloseEvent, QShowEvent
    from PySide6.QtWidgets import QMenu, QMenuBar

    from core.config import ConnectionConfig
    from core.connection import Connection
    from core.events import StateChanged
    from core.recorder import Recorder
    from core.server import EmbeddedServer
    from ui.bridge import CoreBridge, TickBatch
    from ui.connections_panel import ConnectionsPanel
    from ui.server_panel import ServerPanel
    from ui.workspace_controller import WorkspaceController
    from ui.workspace_session import WorkspaceSession

log = logging.getLogger(__name__)

LAYOUT_VERSION = 1
# A saved layout is kept only in a window about as large as the one it was saved in (dock sizes
# are saved in pixels): in one larger or smaller by more than this, the proportions are redone.
LAYOUT_SIZE_SLACK = 0.1
DEMO_ROOMS = ("lobby", "dev")
DEMO_USER = "you"
PROBE_ENV = "SOCKETSCOPE_STARTUP_PROBE"  # "1": print `shown`, `painted`, `ready`, `open` times
# default_layout() as QMainWindow.saveState() writes it for a 1280x800 window (base64), restored
# by a new window in its place: restoreState() needs no Qt enum, and the first use of one costs
# ~30 ms (PySide6 makes all ~125 enums of the Qt namespace at once), which the start-up skeleton
# can then spend after it is shown. tests/test_ui_startup.py checks that it still matches
# default_layout(); `default_state()` makes it anew. If it cannot be restored (other docks, another
# LAYOUT_VERSION), the window runs default_layout() instead.
DEFAULT_STATE = (
    b"AAAA/wAAAAH9AAAAAQAAAAIAAAUGAAADLPwBAAAAAfwAAAAAAAAFBgAAAPwA/////AIAAAAC/AAAAAAAAAHWAAAAXAD/"
    b"///8AQAAAAL8AAAAAAAAAZkAAAB7AP////wCAAAAAvsAAAAgAGQAbwBjAGsAXwBjAG8AbgBuAGUAYwB0AGkAbwBuAHMB"
    b"AAAAAAAAAMgAAAAeAP////wAAAAAAAABCAAAADgBAAAZ+gAAAAACAAAAA/sAAAAUAGQAbwBjAGsAXwByAG8AbwBtAHMB"
    b"AAAAAP////8AAAAeAP////sAAAAgAGQAbwBjAGsAXwBjAG8AbABsAGUAYwB0AGkAbwBuAHMBAAAAAP////8AAAAeAP//"
    b"//sAAAAWAGQAbwBjAGsAXwB0AG8AcABpAGMAcwEAAAAA/////wAAAB4A////+wAAABwAZABvAGMAawBfAGkAbgBzAHAA"
    b"ZQBjAHQAbwByAQAAAAAAAANnAAAAPAD////8AAAAAAAAAVAAAAA4AP////wBAAAAAvwAAAAAAAACAAAAAHsA////+gAA"
    b"AAABAAAAAvsAAAAaAGQAbwBjAGsAXwBjAG8AbQBwAG8AcwBlAHIBAAAAAP////8AAAA8AP////sAAAAWAGQAbwBjAGsA"
    b"XwBzAGUAcgB2AGUAcgEAAAAA/////wAAADwA/////AAAAAAAAAMAAAAAewD////6AAAAAAEAAAAC+wAAABYAZABvAGMA"
    b"awBfAGMAaABhAHIAdABzAQAAAAD/////AAAAPAD////7AAAAFABkAG8AYwBrAF8AcABhAGkAcgBzAQAAAAD/////AAAA"
    b"PAD///8AAAAAAAAAAAAAAAQAAAAEAAAACAAAAAj8AAAAAA=="
)


def probe(what: str) -> None:
    """With SOCKETSCOPE_STARTUP_PROBE=1, print `WHAT <CLOCK_MONOTONIC>` (bench_startup.py)."""
    if os.environ.get(PROBE_ENV) == "1":
        print(f"{what} {time.monotonic():.6f}", file=sys.stdout, flush=True)


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
    PanelSpec("collections", "Collections", "ui.collections_panel", "CollectionsPanel"),
    PanelSpec("topics", "Topics", "ui.topics_panel", "TopicsPanel"),
    PanelSpec("pairs", "Pairs", "ui.pairs_panel", "PairsPanel"),
)


def embedded_connection_config(server: EmbeddedServer, name: str = "demo (embedded)",
                               user: str = DEMO_USER, path: str = "/") -> ConnectionConfig:
    """A connection to the embedded server: its token, a 1 s heartbeat so the charts move."""
    from core.config import ConnectionConfig, HeartbeatConfig
    from core.server.tokens import make_token

    cfg = server.config
    return ConnectionConfig(
        url=server.url + path,
        name=name,
        token=make_token(cfg.secret, user, None) if cfg.auth else None,
        heartbeat=HeartbeatConfig(interval=1.0, timeout=5.0),
    )


def join_rooms(bridge: CoreBridge, conn: Connection, rooms: tuple[str, ...] = DEMO_ROOMS) -> None:
    """Ask to join demo rooms; sent before the connection opens it waits in the offline queue."""
    import json

    for room in rooms:
        message = json.dumps({"type": "join_room", "room": room})
        bridge.run(conn.send(message), f"Join {room}")


class _Placeholder(QLabel):
    """Stands in for a panel that could not be created, and says why."""

    def __init__(self, title: str, error: str) -> None:
        from PySide6.QtCore import Qt

        super().__init__(f"{title} is not available:\n{error}")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet(theme.style("unavailable"))


class _Pending(QLabel):
    """Holds a dock's place while the app starts, until its panel is built (a few 100 ms)."""

    def __init__(self) -> None:
        super().__init__("Loading…")
        self.setStyleSheet(theme.style("pending"))  # no Qt enums


class _FirstPaint(QObject):
    """Runs the window's first UpdateRequest (it paints the window and flushes it to the
    screen), then tells the window, which removes this filter."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.UpdateRequest or not isinstance(watched, MainWindow):
            return False
        watched.event(event)
        watched._painted()
        return True


class MainWindow(QMainWindow):
    """Owns no core state: the bridge has the manager and the server; panels show them."""

    closed = Signal()
    painted = Signal()  # the first paint of the window is done
    ready = Signal()  # every dock has its panel
    has_painted = False

    def __init__(
        self,
        bridge: CoreBridge | None,
        parent: QWidget | None = None,
        remember_layout: bool = True,
    ) -> None:
        super().__init__(parent)
        # Not an event() override: every event of the window, and its whole repaint, would then
        # pass through Python, holding the GIL the core thread needs while Qt paints.
        self._first_paint = _FirstPaint(self)
        self.installEventFilter(self._first_paint)
        self.setObjectName("MainWindow")
        self.setWindowTitle("SocketScope")
        self.bridge: CoreBridge = bridge  # type: ignore[assignment]  # None until attach()
        self.remember_layout = remember_layout
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.panel_errors: dict[str, str] = {}
        self._shutdown_task: asyncio.Task[None] | None = None
        self._closed = False
        self.recorder: Recorder | None = None  # the session's recording, closed at shutdown
        self._recordings: QWidget | None = None
        self._shown = False
        self._sizes_due = False  # default_sizes() once the window has painted
        self._saved_size: QSize | None = None  # the window's size when its layout was saved
        self.is_ready = False  # every dock has its panel: `ready` was emitted
        self._probe_open = os.environ.get(PROBE_ENV) == "1"
        self._early_states: list[StateChanged] = []  # seen before the charts panel was built
        self._early_states_kept = False
        self.workspace_controller: WorkspaceController | None = None  # set_workspace()
        self._remember_session = False

        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        for spec in PANELS:
            self._add_dock(spec)
        self.status: QStatusBar = QStatusBar(self)  # a StatusBar once there is a bridge
        self.status.showMessage("Starting…")
        self.setStatusBar(self.status)
        self._make_menus()
        if bridge is not None:
            self.attach(bridge)
        if not self.restoreState(QByteArray.fromBase64(DEFAULT_STATE), LAYOUT_VERSION):
            self.default_layout()
        self.layout_restored = self.restore_layout() if remember_layout else False

    # ----- panels and layout -------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Every dock holds its panel (or a placeholder saying why it could not be made)."""
        return len(self.panels) == len(PANELS)

    def attach(self, bridge: CoreBridge, keys: Iterable[str] | None = None) -> None:
        """Build panels on `bridge` (the first call also makes the status bar): those in `keys`,
        or all that are still missing. Call again with the rest; `ready` follows the last."""
        from ui.status_bar import StatusBar

        self._fill_menus()
        if self.bridge is None:
            self.bridge = bridge
            if self._probe_open:
                bridge.tick.connect(self._probe_tick)
        if "charts" not in self.panels and not self._early_states_kept:
            self._early_states_kept = True  # the charts mark opens and closes they missed
            bridge.tick.connect(self._keep_states)
        wanted = {spec.key for spec in PANELS} if keys is None else set(keys)
        for spec in PANELS:  # in PANELS order, as signal connections are made in it
            if spec.key in wanted and spec.key not in self.panels:
                self._add_panel(spec)
        if not isinstance(self.status, StatusBar):  # after the first panels, as it always was
            self.status = StatusBar(bridge, self)
            self.setStatusBar(self.status)
            inspector = self.panels.get("inspector")
            if inspector is not None and not isinstance(inspector, _Placeholder):
                self.status.dropped_sources.append(inspector)
        if self.built and not self.is_ready:
            self._finish_panels()

    def _add_dock(self, spec: PanelSpec) -> None:
        dock = QDockWidget(spec.title, self)
        dock.setObjectName(f"dock_{spec.key}")
        dock.setWidget(_Pending())
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.docks[spec.key] = dock

    def _add_panel(self, spec: PanelSpec) -> None:
        try:
            cls = getattr(importlib.import_module(spec.module), spec.cls)
            panel: QWidget = cls(self.bridge, self)
        except Exception as exc:  # a missing or failing panel must not stop the app
            log.error("panel %s failed:\n%s", spec.cls, traceback.format_exc())
            self.panel_errors[spec.key] = f"{type(exc).__name__}: {exc}"
            panel = _Placeholder(spec.title, self.panel_errors[spec.key])
        dock = self.docks[spec.key]
        pending = dock.widget()
        dock.setWidget(panel)
        if pending is not None:
            pending.hide()
            pending.deleteLater()
        self.panels[spec.key] = panel
        if spec.key == "connections":
            self.connections: ConnectionsPanel = panel  # type: ignore[assignment]
            self._connection_menu()
            for key, other in self.panels.items():  # panels made before it (none in PANELS)
                self._follow_selection(key, other)
        else:
            self._follow_selection(spec.key, panel)
        if spec.key == "server":
            self.server_panel: ServerPanel = panel  # type: ignore[assignment]
        if spec.key == "charts" and self._early_states_kept:
            self.bridge.tick.disconnect(self._keep_states)
            mark_states = getattr(panel, "mark_states", None)  # None: a placeholder
            if mark_states is not None:  # what it would have drawn, had it been there
                mark_states(self._early_states)
            self._early_states = []
        if spec.key == "inspector" and not isinstance(panel, _Placeholder):
            from ui.inspector_links import link_inspector

            dropped = getattr(self.status, "dropped_sources", None)  # a StatusBar made before
            if dropped is not None:
                dropped.append(panel)
            link_inspector(self, panel)
        if self.workspace_controller is not None:
            self.workspace_controller.wire_panel(spec.key, panel)

    def _follow_selection(self, key: str, panel: QWidget) -> None:
        """Panels show the connections selected in the connections panel, from now on."""
        connections = self.panels.get("connections")
        if (key == "connections" or not hasattr(connections, "selection_changed")
                or not hasattr(panel, "set_connections")):
            return
        self.connections.selection_changed.connect(panel.set_connections)
        selected = self.connections.selected_ids()
        if selected:  # it was selected before this panel existed
            panel.set_connections(selected)

    def _keep_states(self, batch: TickBatch) -> None:
        self._early_states.extend(batch.states)

    def _finish_panels(self) -> None:
        self.is_ready = True
        for action in self._needs_panels:
            action.setEnabled(True)
        if self._shown and not self._layout_fits():  # minimum sizes changed: redo proportions
            self.default_sizes()
        probe("ready")
        self.ready.emit()

    def default_layout(self) -> None:
        """Top row: connections over rooms on the left, the inspector (largest) beside them.
        Bottom row, full width: composer (server tabbed with it) and charts.

        All docks share one dock area, split in nested rows and columns: with no central
        widget, resizeDocks() only balances docks reliably within one area."""
        from PySide6.QtCore import Qt

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
        self.tabifyDockWidget(d["rooms"], d["collections"])
        self.splitDockWidget(d["composer"], d["charts"], horizontal)
        self.tabifyDockWidget(d["composer"], d["server"])
        self.tabifyDockWidget(d["rooms"], d["topics"])
        self.tabifyDockWidget(d["charts"], d["pairs"])
        for dock in d.values():
            dock.show()
        d["composer"].raise_()
        d["rooms"].raise_()
        d["charts"].raise_()
        self.default_sizes()

    def default_state(self) -> bytes:
        """DEFAULT_STATE anew: default_layout() at 1280x800, saved and base64-encoded (the
        window's own size and layout are changed)."""
        self.resize(1280, 800)
        self.default_layout()
        return bytes(self.saveState(LAYOUT_VERSION).toBase64().data())

    def default_sizes(self) -> None:
        """Proportions of the default layout for the current window size: at 1280x800 the left
        column is ~410 px (connections with State, Name, RTT, In and Out; member names in full)
        and the charts get more of the bottom row than the composer."""
        from PySide6.QtCore import Qt

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
            probe("shown")
            # The proportions need the real window size, so after layout; and after the first
            # paint, as they need the Qt enums (~30 ms the first time; DEFAULT_STATE has them
            # right for 1280x800 already).
            self._sizes_due = not self._layout_fits()
            if self.has_painted:
                self._after_first_paint()

    def _painted(self) -> None:
        self.removeEventFilter(self._first_paint)
        self.has_painted = True
        probe("painted")
        self.painted.emit()
        self._after_first_paint()

    def _after_first_paint(self) -> None:
        if self._sizes_due:
            self._sizes_due = False
            QTimer.singleShot(0, self, self.default_sizes)
        QTimer.singleShot(0, self, self._fill_menus)

    def _probe_tick(self, batch: TickBatch) -> None:
        """With the start-up probe: print `open` when a connection first opens."""
        from core.states import ConnState

        if any(event.new is ConnState.OPEN for event in batch.states):
            self._probe_open = False
            self.bridge.tick.disconnect(self._probe_tick)
            probe("open")

    def reset_layout(self) -> None:
        self.default_layout()

    def restore_layout(self) -> bool:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        size = settings.value("window/size")
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            restored = self.restoreState(state, LAYOUT_VERSION) and restored
        self._saved_size = size if isinstance(size, QSize) and restored else None
        return restored

    def _layout_fits(self) -> bool:
        """The restored layout suits this window: it was saved at about this size. A layout
        squeezed into a small window must not come back to squeeze a larger one."""
        saved = self._saved_size
        if not self.layout_restored or saved is None:
            return False
        return (abs(self.width() - saved.width()) <= saved.width() * LAYOUT_SIZE_SLACK
                and abs(self.height() - saved.height()) <= saved.height() * LAYOUT_SIZE_SLACK)

    def save_layout(self) -> None:
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        settings.setValue("window/size", self.size())
        settings.sync()

    # ----- menus -------------------------------------------------------------------------------

    def _make_menus(self) -> None:
        """The menu bar with its menus, empty: `_fill_menus()` adds their actions just after the
        first paint (or with the panels, whichever comes first)."""
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.connection_menu = bar.addMenu("&Connection")  # the connections panel's actions
        self._make_workspace_menus(bar)
        self.server_menu = bar.addMenu("&Server")
        self.view_menu = bar.addMenu("&View")
        self.help_menu = bar.addMenu("&Help")
        self._needs_panels: tuple[QAction, ...] = ()
        self._menus_filled = False

    def _fill_menus(self) -> None:
        """Every action is there from the start; those that need the panels are enabled once
        every panel is built."""
        from PySide6.QtGui import QAction, QKeySequence

        from ui.file_actions import add_recording_actions

        if self._menus_filled:
            return
        self._menus_filled = True
        file_menu = self.file_menu
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
        file_menu.addSeparator()
        self._add_workspace_actions(file_menu)
        file_menu.addSeparator()
        file_menu.addAction(recordings)
        add_recording_actions(self, file_menu)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.embedded_action = embedded

        if "connections" in self.panels:
            self._connection_menu()

        server_menu = self.server_menu
        toggle = QAction("&Start/stop embedded server", self)
        toggle.triggered.connect(lambda: self.server_panel.toggle())
        copy = QAction("&Copy token", self)
        copy.triggered.connect(lambda: self.server_panel.copy_token())
        server_menu.addAction(toggle)
        server_menu.addAction(copy)
        self._needs_panels = (new, embedded, toggle, copy)
        for action in self._needs_panels:
            action.setEnabled(self.is_ready)

        view_menu = self.view_menu
        for spec in PANELS:
            view_menu.addAction(self.docks[spec.key].toggleViewAction())
        view_menu.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view_menu.addAction(reset)

        about = QAction("&About SocketScope", self)
        about.triggered.connect(self._about)
        self.help_menu.addAction(about)

    def _connection_menu(self) -> None:
        add_actions_to = getattr(self.connections, "add_actions_to", None)
        if add_actions_to is None or not self._menus_filled:  # no panel, or added with the others
            return
        add_actions_to(self.connection_menu)
        self.connection_menu.addSeparator()
        self.connection_menu.addMenu(self.profiles_menu)

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(
            self,
            "About SocketScope",
            "SocketScope: inspect, compose and load-watch WebSocket connections.\n"
            "Comes with an embedded test server (rooms, auth, demo bots).",
        )

    # ----- workspace ---------------------------------------------------------------------------

    def _make_workspace_menus(self, bar: QMenuBar) -> None:
        """Connection > Profiles and the Environment menu (Qt only: part of the skeleton)."""
        from ui.workspace_menus import EnvironmentMenu, ProfilesMenu

        self.profiles_menu = ProfilesMenu(lambda: self.workspace_controller, self)
        self.environment_menu = EnvironmentMenu(lambda: self.workspace_controller, self)
        bar.addMenu(self.environment_menu)

    def _add_workspace_actions(self, menu: QMenu) -> None:
        from PySide6.QtGui import QAction

        def call(method: str) -> None:
            if self.workspace_controller is not None:
                getattr(self.workspace_controller, method)()

        for text, method, tip in (
            ("&Open workspace…", "choose_file", "Load profiles, collections and environments "
             "from another workspace file"),
            ("Save workspace &as…", "choose_save_as", "Write this workspace to another file, "
             "which it then uses"),
        ):
            action = QAction(text, self)
            action.setStatusTip(tip)
            action.triggered.connect(lambda _=False, m=method: call(m))
            menu.addAction(action)

    def set_workspace(self, session: WorkspaceSession, remember_session: bool = True) -> None:
        """Use this workspace (profiles, collections, environments); with `remember_session`,
        the open connections are saved in it when the window closes."""
        from ui.workspace_controller import WorkspaceController

        if self.workspace_controller is None:
            self.workspace_controller = WorkspaceController(self)
        self._remember_session = remember_session
        self.workspace_controller.set_session(session)

    def remember_session(self) -> None:
        """Save the open connections in the workspace for the next launch (once, at close)."""
        if not self._remember_session or self.workspace_controller is None:
            return
        self._remember_session = False
        try:
            self.workspace_controller.remember_session()
        except Exception:
            log.exception("could not save the session's connections")

    def save_profile(self, config: ConnectionConfig) -> str:
        """The connection dialog's "Save as profile" (it finds this method on its parent)."""
        if self.workspace_controller is None:
            raise ValueError("the workspace is not loaded yet")
        return self.workspace_controller.save_profile(config)

    def open_profile(self, name: str, select: bool = True) -> Connection | None:
        if self.workspace_controller is None:
            return None
        return self.workspace_controller.open_profile(name, select)

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
        self.remember_session()
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
        from PySide6.QtCore import Qt

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
        import asyncio

        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        import asyncio
        import contextlib

        self.remember_session()  # while its connections and the embedded server still run
        bridge = self.bridge
        if bridge is not None:  # None: closed before the session started
            try:
                async with asyncio.timeout(5.0):
                    await bridge.manager.close_all()
            except Exception:
                log.exception("closing the connections failed")
            bridge.stop()
        if self.recorder is not None:  # after the connections closed: their last frames too
            await asyncio.to_thread(self.recorder.close)
        server = bridge.server if bridge is not None else None
        if server is not None:
            try:
                await asyncio.to_thread(server.stop)
            except Exception:
                log.exception("stopping the embedded server failed")
        with contextlib.suppress(RuntimeError):  # the C++ objects may already be gone
            for timer in self.findChildren(QTimer):  # panels' own refresh timers
                timer.stop()
