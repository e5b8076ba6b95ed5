"""The main window's docks: the panels they hold, the default layout and its proportions, and
the layout remembered between launches. Qt only (part of the start-up skeleton)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtWidgets import QDockWidget

from ui.settings import app_settings

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow as _Base
else:
    _Base = object

LAYOUT_VERSION = 1
# A saved layout is kept only in a window about as large as the one it was saved in (dock sizes
# are saved in pixels): in one larger or smaller by more than this, the proportions are redone.
LAYOUT_SIZE_SLACK = 0.1
# default_layout() as QMainWindow.saveState() writes it for a 1280x800 window (base64), restored
# by a new window in its place: restoreState() needs no Qt enum, and the first use of one costs
# ~30 ms (PySide6 makes all ~125 enums of the Qt namespace at once), which the start-up skeleton
# can then spend after it is shown. tests/ui/test_ui_startup.py checks that it still matches
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
    b"XwBzAGUAcgB2AGUAcgEAAAAA/////wAAADwA/////AAAAAAAAAMAAAAAewD////6AAAAAAEAAAAD+wAAABYAZABvAGMA"
    b"awBfAGMAaABhAHIAdABzAQAAAAD/////AAAAPAD////7AAAAFABkAG8AYwBrAF8AcABhAGkAcgBzAQAAAAD/////AAAA"
    b"PAD////7AAAAEgBkAG8AYwBrAF8AbABvAGEAZAEAAAAA/////wAAADwA////AAAAAAAAAAAAAAAEAAAABAAAAAgAAAAI"
    b"/AAAAAA="
)


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
    PanelSpec("load", "Load", "ui.load_panel", "LoadPanel"),
)


class WindowLayout(_Base):
    """The layout half of MainWindow (a mixin on its QMainWindow)."""

    docks: dict[str, QDockWidget]
    layout_restored: bool
    _saved_size: QSize | None  # the window's size when its layout was saved

    def default_layout(self) -> None:
        """Top row: connections over rooms on the left, the inspector (largest) beside them.
        Bottom row, full width: composer (server tabbed with it) and charts (pairs and load
        tabbed with them).

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
        self.tabifyDockWidget(d["charts"], d["load"])
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
