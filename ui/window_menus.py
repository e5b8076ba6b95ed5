"""The main window's menu bar: made empty with the start-up skeleton, filled with actions just
after the first paint. Qt only at import."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ui.window_layout import PANELS

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QWidget
    from PySide6.QtWidgets import QMainWindow as _Base

    from ui.connections_panel import ConnectionsPanel
    from ui.main_window import MainWindow
    from ui.server_panel import ServerPanel
    from ui.workspace_controller import WorkspaceController
else:
    _Base = object


class WindowMenus(_Base):
    """The menus half of MainWindow (a mixin on its QMainWindow)."""

    panels: dict[str, QWidget]
    docks: dict[str, QDockWidget]
    connections: ConnectionsPanel
    server_panel: ServerPanel
    is_ready: bool
    workspace_controller: WorkspaceController | None

    if TYPE_CHECKING:  # the window's, used here

        def connect_embedded(self) -> int | None: ...

        def show_recordings(self) -> QWidget: ...

        def reset_layout(self) -> None: ...

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
        if self._menus_filled:
            return
        self._menus_filled = True
        new, embedded = self._fill_file_menu()
        if "connections" in self.panels:
            self._connection_menu()
        toggle, copy = self._fill_server_menu()
        self._needs_panels = (new, embedded, toggle, copy)
        for action in self._needs_panels:
            action.setEnabled(self.is_ready)
        self._fill_view_menu()

    def _fill_file_menu(self) -> tuple[QAction, QAction]:
        """File's actions; the two that need the panels are returned."""
        from PySide6.QtGui import QAction, QKeySequence

        from ui.file_actions import add_recording_actions

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
        add_recording_actions(cast("MainWindow", self), file_menu)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.embedded_action = embedded
        return new, embedded

    def _fill_server_menu(self) -> tuple[QAction, QAction]:
        from PySide6.QtGui import QAction

        server_menu = self.server_menu
        toggle = QAction("&Start/stop embedded server", self)
        toggle.triggered.connect(lambda: self.server_panel.toggle())
        copy = QAction("&Copy token", self)
        copy.triggered.connect(lambda: self.server_panel.copy_token())
        server_menu.addAction(toggle)
        server_menu.addAction(copy)
        return toggle, copy

    def _fill_view_menu(self) -> None:
        """View (a dock's toggle each, Reset layout) and Help."""
        from PySide6.QtGui import QAction

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
