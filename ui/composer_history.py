"""The composer's history: the messages sent, newest first (as typed, variables unresolved),
to load again or save to a collection from a context menu."""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QListWidgetItem, QMenu, QWidget

from core.codecs import preview
from core.events import Opcode
from ui.composer_text import MODE_TEXT
from ui.hex_view import monospace
from ui.hint_list import HintList

HISTORY_LIMIT = 200
HISTORY_HINT = "Messages you send appear here, newest first; click one to load it again."
SAVE_ACTIONS = (("Save to collection…", False), ("Save to collection as a request…", True))


class HistoryList(HintList):
    """Bounded to HISTORY_LIMIT entries; `entries` holds (text, mode), newest first."""

    load_requested = Signal(str, str)  # text, mode
    save_requested = Signal(str, str, bool)  # text, mode, as_request

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(HISTORY_HINT, parent)
        self.entries: deque[tuple[str, str]] = deque(maxlen=HISTORY_LIMIT)
        self.menu: QMenu | None = None  # the context menu last shown
        self.setToolTip("Sent messages, newest first; click to load one, right-click to save")
        self.setUniformItemSizes(True)
        self.setFont(monospace())
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.itemClicked.connect(self._load)
        self.itemActivated.connect(self._load)

    def remember(self, text: str, mode: str) -> None:
        if self.entries and self.entries[0] == (text, mode):
            return
        self.entries.appendleft((text, mode))
        stamp = time.strftime("%H:%M:%S")
        tag = "" if mode == MODE_TEXT else f"[{mode}] "
        line = preview(Opcode.TEXT, " ".join(text.split()).encode(), 120)
        item = QListWidgetItem(f"{stamp}  {tag}{line}")
        item.setData(Qt.ItemDataRole.UserRole, (text, mode))
        self.insertItem(0, item)
        while self.count() > HISTORY_LIMIT:
            self.takeItem(self.count() - 1)

    def context_menu(self, item: QListWidgetItem) -> QMenu:
        """Load, or save to a collection (as a message or a request), the entry of `item`."""
        text, mode = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        load = QAction("Load in the editor", menu)
        load.triggered.connect(lambda: self.load_requested.emit(text, mode))
        menu.addAction(load)
        menu.addSeparator()
        for title, as_request in SAVE_ACTIONS:
            action = QAction(title, menu)
            action.triggered.connect(
                lambda _=False, r=as_request: self.save_requested.emit(text, mode, r)
            )
            menu.addAction(action)
        return menu

    def _show_menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        if self.menu is not None:
            self.menu.deleteLater()
        self.menu = self.context_menu(item)
        self.menu.popup(self.viewport().mapToGlobal(pos))

    def _load(self, item: QListWidgetItem) -> None:
        self.load_requested.emit(*item.data(Qt.ItemDataRole.UserRole))
