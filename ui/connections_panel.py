"""The list of connections with their live state, and the actions that start, stop and edit them."""

from __future__ import annotations

import copy
from collections.abc import Callable

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRectF,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMainWindow,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from core.states import ConnState
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.connection_columns import columns_menu, set_up_columns
from ui.connection_dialog import ConnectionDialog
from ui.connections_model import BADGE_COLOR_ROLE, Column, ConnectionsModel, display_name
from ui.decoder_menu import DecoderMenu

UNDO_S = 10.0  # how long the status bar offers to undo a removal


class _BadgeDelegate(QStyledItemDelegate):
    """Paints the State column as a coloured pill with the state (or retry countdown) in it."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        color = index.data(BADGE_COLOR_ROLE)
        if not isinstance(color, QColor):
            super().paint(painter, option, index)
            return
        style = option.widget.style() if option.widget else None
        if style is not None:  # selection/hover background first
            opt = QStyleOptionViewItem(option)
            self.initStyleOption(opt, index)
            opt.text = ""
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)
        text = str(index.data() or "")
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = option.fontMetrics
        rect = QRectF(option.rect).adjusted(4, 3, -4, -3)
        width = min(rect.width(), metrics.horizontalAdvance(text) + 16)
        pill = QRectF(rect.left(), rect.top(), width, rect.height())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(theme.color("badge_text"))
        font = option.font
        font.setBold(True)
        painter.setFont(font)
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(pill.width()) - 10)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, elided)
        painter.restore()


class ConnectionsPanel(QWidget):
    """Table of connections (ConnectionsModel), a toolbar and a context menu."""

    selection_changed = Signal(list)  # list[int] of selected connection ids
    connection_added = Signal(int)

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ConnectionsPanel")
        self.bridge = bridge
        self.commands = bridge.commands
        self.series = bridge.series
        self.model = ConnectionsModel(self.commands, self.series, self,
                                      visible_rows=self.visible_rows)
        self._last_selection: list[int] = []
        self._dialogs: set[ConnectionDialog] = set()
        self.resolve: Callable[[str], str] | None = None  # {{variables}}: the workspace's
        self.removed: list[tuple[ConnectionConfig, bool]] = []  # the last removal: undo re-adds

        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setItemDelegateForColumn(Column.STATE, _BadgeDelegate(self.view))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        set_up_columns(header)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.doubleClicked.connect(lambda _index: self.edit_selected())
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.rowsRemoved.connect(self._selection_changed)
        self.model.rowsInserted.connect(self._rows_inserted)

        self.actions_by_name = self._make_actions()
        self.decoder_menu = DecoderMenu(bridge, self._selected, self)
        self.toolbar = QToolBar("Connection actions")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toolbar.setObjectName("ConnectionsToolbar")
        self.toolbar.setStyleSheet(theme.style("connections_toolbar"))
        # Duplicate is in the context menu and the Connection menu: the bar fits a narrow dock.
        for name in ("new", "connect", "disconnect", "reconnect", "edit", "remove"):
            self.toolbar.addAction(self.actions_by_name[name])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view)

        bridge.tick.connect(self._on_tick)
        self._update_actions()

    # ----- actions -----------------------------------------------------------------------------

    def _make_actions(self) -> dict[str, QAction]:
        def action(text: str, tip: str, slot: object, shortcut: str | None = None) -> QAction:
            act = QAction(text, self)
            act.setToolTip(tip)
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(act)
            return act

        acts = {
            "new": action("New…", "Add a connection", lambda: self.new_connection()),
            "connect": action("Connect", "Connect the selected connections", self.connect_selected),
            "disconnect": action(
                "Disconnect", "Close the selected connections (no retry)", self.disconnect_selected
            ),
            "reconnect": action(
                "Reconnect now",
                "Skip the retry delay, or drop and reopen an open connection",
                self.reconnect_selected,
            ),
            "edit": action("Edit…", "Change the selected connection", self.edit_selected),
            "duplicate": action(
                "Duplicate…", "A new connection with the same settings", self.duplicate_selected
            ),
            "remove": action(
                "Remove", "Disconnect and remove the selected connections", self.remove_selected,
                "Delete",
            ),
        }
        acts["new"].setIconText("New")
        acts["reconnect"].setIconText("Reconnect")
        acts["edit"].setIconText("Edit")
        return acts

    def new_connection(self, config: ConnectionConfig | None = None) -> ConnectionDialog:
        """Open the dialog (not blocking); accepting it adds and connects the connection."""
        dialog = ConnectionDialog(config, self, "New connection")
        dialog.accepted.connect(lambda: self.add_connection(dialog.result_config))
        return self._show(dialog)

    def edit_selected(self) -> ConnectionDialog | None:
        conn_id = self._first_selected()
        if conn_id is None:
            return None
        config = self.commands.config(conn_id)
        dialog = ConnectionDialog(config, self, f"Edit {config.label}")
        dialog.accepted.connect(lambda: self.apply_config(conn_id, dialog.result_config))
        return self._show(dialog)

    def duplicate_selected(self) -> ConnectionDialog | None:
        conn_id = self._first_selected()
        if conn_id is None:
            return None
        config = copy.deepcopy(self.commands.config(conn_id))
        config.name = f"{config.label} (copy)"
        dialog = ConnectionDialog(config, self, "Duplicate connection")
        dialog.accepted.connect(lambda: self.add_connection(dialog.result_config))
        return self._show(dialog)

    def _show(self, dialog: ConnectionDialog) -> ConnectionDialog:
        self._dialogs.add(dialog)
        dialog.finished.connect(lambda _r: self._dialogs.discard(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()  # window-modal without a nested event loop (qasync-safe)
        return dialog

    def add_connection(
        self, config: ConnectionConfig | None, connect: bool = True, select: bool = True
    ) -> int | None:
        """Add (and by default connect and select) a connection; its id."""
        if config is None:
            return None
        conn_id = self.commands.add(config, connect=connect, resolve=self.resolve)
        self.model.refresh_connections([conn_id])
        self.connection_added.emit(conn_id)
        if select:
            self.select(conn_id)
        return conn_id

    def apply_config(self, conn_id: int, config: ConnectionConfig | None) -> None:
        """Use the edited settings; an active connection is closed and reopened with them."""
        if config is None:
            return
        self.bridge.run(self.commands.edit(conn_id, config), f"Reconnect {config.label}")
        self.model.refresh_connections([conn_id])

    def state_of(self, conn_id: int) -> ConnState | None:
        """As the last tick told it."""
        snap = self.series.latest(conn_id)
        return None if snap is None else snap.state

    def connect_selected(self) -> None:
        for conn_id in self._selected():
            state = self.state_of(conn_id)
            if state is ConnState.WAITING:
                self.commands.reconnect_now(conn_id)
            elif state is ConnState.CLOSED or state is None:
                self.commands.connect(conn_id)  # (a no-op for a connection already running)

    def disconnect_selected(self) -> None:
        for conn_id in self._selected():
            label = self.commands.config(conn_id).label
            self.bridge.run(self.commands.disconnect(conn_id), f"Disconnect {label}")

    def reconnect_selected(self) -> None:
        for conn_id in self._selected():
            self.commands.reconnect_now(conn_id)

    def remove_selected(self) -> None:
        """Remove at once; the status bar offers Undo for UNDO_S (`undo_remove()`)."""
        ids = self._selected()
        if not ids:
            return
        configs = [self.commands.config(i) for i in ids]
        self.removed = [(copy.deepcopy(config), self.state_of(i) is not ConnState.CLOSED)
                        for i, config in zip(ids, configs, strict=True)]
        for conn_id, config in zip(ids, configs, strict=True):
            self.bridge.run(self.commands.remove(conn_id), f"Remove {display_name(config)}")
        self.model.refresh_connections(())
        what = (f"Removed {display_name(configs[0])}" if len(ids) == 1
                else f"Removed {len(ids)} connections")
        window = self.window()
        status = window.statusBar() if isinstance(window, QMainWindow) else None
        offer = getattr(status, "offer_undo", None)
        if offer is not None:
            offer(what, self.undo_remove, UNDO_S)

    def undo_remove(self) -> list[int]:
        """Add the last removed connections again, with the same settings (connected if they
        were); returns their new ids."""
        removed, self.removed = self.removed, []
        added = []
        for config, active in removed:
            conn_id = self.add_connection(config, connect=active, select=False)
            if conn_id is not None:
                added.append(conn_id)
        if added:
            self.select(added[0])
        return added

    # ----- selection ---------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.conn_id(r) for r in rows if r < self.model.rowCount()]

    def select(self, conn_id: int) -> None:
        row = self.model.row_of(conn_id)
        if row >= 0:
            self._select_row(row)

    def _select_row(self, row: int) -> None:
        # The selection model directly: QTableView.selectRow() reads the keyboard modifiers and
        # would toggle or extend the selection while Ctrl or Shift happens to be held.
        index = self.model.index(row, 0)
        flag = QItemSelectionModel.SelectionFlag
        selection = self.view.selectionModel()
        selection.setCurrentIndex(index, flag.NoUpdate)
        selection.select(index, flag.ClearAndSelect | flag.Rows)

    def _selected(self) -> list[int]:
        known = set(self.commands.ids())
        return [i for i in self.selected_ids() if i in known]  # not removed since the last tick

    def _first_selected(self) -> int | None:
        selected = self._selected()
        return selected[0] if selected else None

    def _selection_changed(self, *_args: object) -> None:
        ids = self.selected_ids()
        self._update_actions()
        if ids != self._last_selection:
            self._last_selection = ids
            self.selection_changed.emit(ids)

    def _rows_inserted(self, *_args: object) -> None:
        if not self.selected_ids() and self.model.rowCount():
            self._select_row(0)  # something is always shown in the inspector

    # ----- live updates ------------------------------------------------------------------------

    def visible_rows(self) -> range:
        """The rows the table shows now (none while it is hidden, e.g. a tab behind another)."""
        view = self.view
        rows = self.model.rowCount()
        if not rows or not view.isVisible():
            return range(0)
        first = view.rowAt(0)
        if first < 0:
            return range(0)
        last = view.rowAt(view.viewport().height() - 1)
        return range(first, rows if last < 0 else last + 1)

    def _on_tick(self, batch: TickBatch) -> None:
        self.model.refresh(batch)
        if batch.states or batch.dropped:  # the actions follow the selected connections' states
            self._update_actions()

    def _update_actions(self) -> None:
        conns = self._selected()
        states = {self.state_of(c) or ConnState.CLOSED for c in conns}
        acts = self.actions_by_name
        acts["connect"].setEnabled(bool(states & {ConnState.CLOSED, ConnState.WAITING}))
        acts["disconnect"].setEnabled(bool(states - {ConnState.CLOSED}))
        acts["reconnect"].setEnabled(bool(states & {ConnState.OPEN, ConnState.WAITING,
                                                    ConnState.CLOSED}))
        for name in ("edit", "duplicate"):
            acts[name].setEnabled(len(conns) == 1)
        acts["remove"].setEnabled(bool(conns))

    def add_actions_to(self, menu: QMenu) -> None:
        """Connect, disconnect, reconnect | edit, duplicate, remove: the same in every menu."""
        acts = self.actions_by_name
        for name in ("connect", "disconnect", "reconnect"):
            menu.addAction(acts[name])
        menu.addSeparator()
        for name in ("edit", "duplicate", "remove"):
            menu.addAction(acts[name])
        menu.addSeparator()
        menu.addMenu(self.decoder_menu)

    def _header_menu(self, pos: QPoint) -> None:
        menu = columns_menu(self.view.horizontalHeader(), self)
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.view.horizontalHeader().mapToGlobal(pos))

    def columns_menu(self) -> QMenu:
        """The header's context menu: which columns the table shows (remembered)."""
        return columns_menu(self.view.horizontalHeader(), self)

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        self.add_actions_to(menu)
        menu.addSeparator()
        menu.addAction(self.actions_by_name["new"])
        menu.popup(self.view.viewport().mapToGlobal(pos))
