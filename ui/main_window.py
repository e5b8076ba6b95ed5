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
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QStatusBar, QWidget

from ui import theme
from ui.demo_connection import embedded_connection_config, join_rooms
from ui.window_layout import DEFAULT_STATE, LAYOUT_VERSION, PANELS, PanelSpec, WindowLayout
from ui.window_menus import WindowMenus

__all__ = [  # with the names others import from here
    "PANELS", "MainWindow", "embedded_connection_config", "join_rooms",
]

if TYPE_CHECKING:  # the core (numpy, websockets, the server) is imported once the window shows
    import asyncio

    from PySide6.QtGui import QCloseEvent, QShowEvent

    from core.config import ConnectionConfig
    from core.events import StateChanged
    from core.facade import Recorder
    from ui.bridge import CoreBridge, TickBatch
    from ui.connections_panel import ConnectionsPanel
    from ui.server_panel import ServerPanel
    from ui.workspace_controller import WorkspaceController
    from ui.workspace_session import WorkspaceSession

log = logging.getLogger(__name__)

PROBE_ENV = "SOCKETSCOPE_STARTUP_PROBE"  # "1": print `shown`, `painted`, `ready`, `open` times


def probe(what: str) -> None:
    """With SOCKETSCOPE_STARTUP_PROBE=1, print `WHAT <CLOCK_MONOTONIC>` (bench_startup.py)."""
    if os.environ.get(PROBE_ENV) == "1":
        print(f"{what} {time.monotonic():.6f}", file=sys.stdout, flush=True)


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
        # dimmed by Qt's own disabled text colour: no palette file before the window shows,
        # and no Qt enum (the Qt namespace's enums cost ~11 ms to build)
        self.setEnabled(False)
        self.setStyleSheet("qproperty-alignment: AlignCenter;")


class _FirstPaint(QObject):
    """Runs the window's first UpdateRequest (it paints the window and flushes it to the
    screen), then tells the window, which removes this filter."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.UpdateRequest or not isinstance(watched, MainWindow):
            return False
        watched.event(event)
        watched._painted()
        return True


class MainWindow(WindowMenus, WindowLayout, QMainWindow):
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
        self._saved_size = None  # the window's size when its layout was saved
        self.is_ready = False  # every dock has its panel: `ready` was emitted
        self._probe_open = os.environ.get(PROBE_ENV) == "1"
        self._early_states: list[StateChanged] = []  # seen before the charts panel was built
        self._early_states_kept = False
        self.workspace_controller: WorkspaceController | None = None  # set_workspace()
        self._remember_session = False

        self._build_docks()
        self._make_menus()
        if bridge is not None:
            self.attach(bridge)
        if not self.restoreState(QByteArray.fromBase64(DEFAULT_STATE), LAYOUT_VERSION):
            self.default_layout()
        self.layout_restored = self.restore_layout() if remember_layout else False

    def _build_docks(self) -> None:
        """A dock per panel, each with a placeholder, and the plain status bar of the skeleton."""
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

    # ----- workspace ---------------------------------------------------------------------------

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

    def open_profile(self, name: str, select: bool = True) -> int | None:
        if self.workspace_controller is None:
            return None
        return self.workspace_controller.open_profile(name, select)

    # ----- actions -----------------------------------------------------------------------------

    def connect_embedded(self) -> int | None:
        """Start the embedded server when it is not running, then open a connection to it."""
        server = self.bridge.server
        if server is None or not server.running:
            server = self.server_panel.start_server()
            if server is None:
                return None
        conn_id = self.connections.add_connection(embedded_connection_config(server))
        if conn_id is not None:
            join_rooms(self.bridge, conn_id)
        return conn_id

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

        from ui.window_stop import stop_load, stop_server

        self.remember_session()  # while its connections and the embedded server still run
        load = stop_load(self)  # beside the rest: it may take seconds
        bridge = self.bridge
        if bridge is not None:  # None: closed before the session started
            try:
                async with asyncio.timeout(5.0):
                    await bridge.commands.close_all()
            except Exception:
                log.exception("closing the connections failed")
            bridge.stop()
        if self.recorder is not None:  # after the connections closed: their last frames too
            await asyncio.to_thread(self.recorder.close)
        await stop_server(self)  # or the panel's local cluster, its Redis too
        if load is not None:
            await load
        with contextlib.suppress(RuntimeError):  # the C++ objects may already be gone
            for timer in self.findChildren(QTimer):  # panels' own refresh timers
                timer.stop()
