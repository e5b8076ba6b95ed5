"""The Collections dock: collections > folders > saved messages of the workspace.

The panel edits the workspace (add, rename in place, delete, move up/down) and asks the window to
send a message or open it in the composer (`send_requested`, `compose_requested`); it holds no
connection. The tree is rebuilt from the workspace on every change: collections are small."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QMenu,
    QMessageBox,
    QToolBar,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.facade import Collection, SavedMessage
from ui.saved_message_dialog import SavedMessageDialog

if TYPE_CHECKING:
    from ui.bridge import CoreBridge
    from ui.workspace_session import WorkspaceSession

ROLE = Qt.ItemDataRole.UserRole
HINT = "No saved messages yet: save one from the composer, an inspector row, or New message."
Key = tuple[str, str, int]  # ("collection" | "folder" | "message", collection, message index)


class CollectionsPanel(QWidget):
    send_requested = Signal(object)  # SavedMessage: to the selected connections
    compose_requested = Signal(object)  # SavedMessage: into the composer's editor
    problem = Signal(str)  # a line for the status bar (e.g. the workspace was not saved)

    def __init__(self, bridge: CoreBridge | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: WorkspaceSession | None = None
        self._dialogs: set[QWidget] = set()
        self._in_edit = False  # in the tree's own itemChanged: rebuild after it returns
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Format"])
        self.tree.setColumnWidth(0, 200)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemDoubleClicked.connect(lambda *_: self.compose_selected())
        self.tree.itemChanged.connect(self._renamed)
        self.tree.setToolTip(HINT)
        self.actions_by_name = self._make_actions()
        delete = self.actions_by_name["delete"]
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(delete)
        bar = QToolBar()
        for key in ("send", "compose"):
            bar.addAction(self.actions_by_name[key])
        new_menu = QMenu(self)
        new_menu.addAction(self.actions_by_name["new_message"])
        new_menu.addAction(self.actions_by_name["new_collection"])
        new = QToolButton()
        new.setText("New")
        new.setToolTip("A new saved message or collection")
        new.setMenu(new_menu)
        new.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(new)
        for key in ("edit", "up", "down", "delete"):  # Delete (also the Del key) may overflow
            bar.addAction(self.actions_by_name[key])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(bar)
        layout.addWidget(self.tree, 1)
        self.tree.currentItemChanged.connect(lambda *_: self._update_actions())
        self._update_actions()

    def _make_actions(self) -> dict[str, QAction]:
        def action(text: str, tip: str, slot: object) -> QAction:
            act = QAction(text, self)
            act.setToolTip(tip)
            act.triggered.connect(slot)
            return act

        return {
            "send": action("Send", "Send to the selected connections ({{variables}} resolved)",
                           self.send_selected),
            "compose": action("Compose", "Open in the composer", self.compose_selected),
            "new_message": action("New message…", "A new saved message",
                                  lambda: self.new_message()),
            "new_collection": action("New collection", "A new collection",
                                     lambda: self.new_collection()),
            "edit": action("Edit…", "Edit the message; F2 renames in place", self.edit_selected),
            "delete": action("Delete", "Delete the selected message or collection (Del)",
                             lambda: self.delete_selected()),
            "up": action("↑", "Move up", lambda: self.move_selected(-1)),
            "down": action("↓", "Move down", lambda: self.move_selected(1)),
        }

    # ----- the workspace -----------------------------------------------------------------------

    def set_workspace(self, session: WorkspaceSession) -> None:
        if self.session is not None:
            self.session.changed.disconnect(self.refresh)
        self.session = session
        session.changed.connect(self.refresh)
        self.refresh()

    @property
    def collections(self) -> list[Collection]:
        return self.session.workspace.collections if self.session is not None else []

    def refresh(self) -> None:
        """Rebuild the tree from the workspace, keeping the selection and what was expanded."""
        if self._in_edit:  # the edited item must outlive the signal that reports its edit
            QTimer.singleShot(0, self, self.refresh)
            return
        selected = self.selected_key()
        collapsed = {item.text(0) for item in self._top_items() if not item.isExpanded()}
        self.tree.blockSignals(True)
        self.tree.clear()
        for collection in self.collections:
            top = self._item(None, collection.name, ("collection", collection.name, -1))
            folders: dict[str, QTreeWidgetItem] = {}
            for index, message in enumerate(collection.messages):
                parent = self._folder(top, folders, collection.name, message.folder)
                item = self._item(parent, message.name, ("message", collection.name, index))
                kind = message.format + (" · request" if message.as_request else "")
                item.setText(1, kind)
                item.setToolTip(0, message.body[:500])
            top.setExpanded(collection.name not in collapsed)
        self.tree.blockSignals(False)
        if selected is not None:
            self.select(selected)
        self._update_actions()

    def _item(self, parent: QTreeWidgetItem | None, text: str, key: Key) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text])
        item.setData(0, ROLE, key)
        if key[0] != "folder":
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        if parent is None:
            self.tree.addTopLevelItem(item)
        else:
            parent.addChild(item)
        return item

    def _folder(self, top: QTreeWidgetItem, folders: dict[str, QTreeWidgetItem],
                collection: str, path: str) -> QTreeWidgetItem:
        parent, sofar = top, ""
        for part in (p for p in path.split("/") if p):
            sofar = f"{sofar}/{part}" if sofar else part
            if sofar not in folders:
                folders[sofar] = self._item(parent, part, ("folder", collection, -1))
                folders[sofar].setData(1, ROLE, sofar)
                folders[sofar].setExpanded(True)
            parent = folders[sofar]
        return parent

    def _top_items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    # ----- selection -----------------------------------------------------------------------------

    def selected_key(self) -> Key | None:
        item = self.tree.currentItem()
        return item.data(0, ROLE) if item is not None else None

    def selected_message(self) -> SavedMessage | None:
        key = self.selected_key()
        if key is None or key[0] != "message":
            return None
        return self._collection(key[1]).messages[key[2]]

    def select(self, key: Key) -> bool:
        it = [*self._top_items()]
        while it:
            item = it.pop(0)
            if item.data(0, ROLE) == key:
                self.tree.setCurrentItem(item)
                return True
            it.extend(item.child(i) for i in range(item.childCount()))
        return False

    def select_message(self, collection: str, name: str) -> bool:
        messages = self._collection(collection).messages
        index = next((i for i, m in enumerate(messages) if m.name == name), -1)
        return index >= 0 and self.select(("message", collection, index))

    def _collection(self, name: str) -> Collection:
        return next(c for c in self.collections if c.name == name)

    def _update_actions(self) -> None:
        key = self.selected_key()
        has_ws = self.session is not None
        is_message = key is not None and key[0] == "message"
        acts = self.actions_by_name
        for name in ("send", "compose", "edit"):
            acts[name].setEnabled(is_message)
        for name in ("delete", "up", "down"):
            acts[name].setEnabled(key is not None and key[0] != "folder")
        acts["new_message"].setEnabled(has_ws)
        acts["new_collection"].setEnabled(has_ws)

    # ----- actions -----------------------------------------------------------------------------

    def send_selected(self) -> None:
        message = self.selected_message()
        if message is not None:
            self.send_requested.emit(message)

    def compose_selected(self) -> None:
        message = self.selected_message()
        if message is not None:
            self.compose_requested.emit(message)

    def add_message(self, collection: str, message: SavedMessage) -> None:
        """Append to `collection` (made if missing), save, and select it."""
        if self.session is None:
            return
        messages = self.session.workspace.collection(collection).messages
        messages.append(message)
        self._edited()
        self.select(("message", collection, len(messages) - 1))

    def new_collection(self, name: str = "") -> str:
        """A collection named `name` (or "Collection N"), renamed in place at once."""
        if self.session is None:
            return ""
        taken = {c.name for c in self.collections}
        n = len(taken) + 1
        while not name or name in taken:
            name, n = f"Collection {n}", n + 1
        self.session.workspace.collection(name)
        self._edited()
        self.select(("collection", name, -1))
        if self.isVisible():
            self.tree.editItem(self.tree.currentItem(), 0)
        return name

    def new_message(self, message: SavedMessage | None = None) -> SavedMessageDialog | None:
        """The Save message dialog (not blocking), prefilled; Save adds the message."""
        if self.session is None:
            return None
        key = self.selected_key()
        current = key[1] if key is not None else ""
        dialog = SavedMessageDialog(message or SavedMessage("", ""),
                                    [c.name for c in self.collections], current, self)
        dialog.accepted.connect(
            lambda: self.add_message(dialog.result_collection, dialog.result_message))
        return self._show(dialog)

    def edit_selected(self) -> SavedMessageDialog | None:
        key, message = self.selected_key(), self.selected_message()
        if key is None or message is None:
            return None
        dialog = SavedMessageDialog(message, [c.name for c in self.collections], key[1], self,
                                    f"Edit {message.name}")
        dialog.accepted.connect(lambda: self._replace(key, dialog))
        return self._show(dialog)

    def _replace(self, key: Key, dialog: SavedMessageDialog) -> None:
        assert dialog.result_message is not None
        if dialog.result_collection == key[1]:
            self._collection(key[1]).messages[key[2]] = dialog.result_message
            self._edited()
            self.select(key)
        else:  # moved to another collection
            del self._collection(key[1]).messages[key[2]]
            self.add_message(dialog.result_collection, dialog.result_message)

    def _show(self, dialog: QWidget) -> SavedMessageDialog:
        self._dialogs.add(dialog)
        dialog.finished.connect(lambda _r: self._dialogs.discard(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()  # window-modal without a nested event loop (qasync-safe)
        return dialog  # type: ignore[return-value]

    def delete_selected(self, confirm: bool = True) -> QMessageBox | None:
        """Delete the selected message or collection; with `confirm`, after a Yes."""
        key = self.selected_key()
        if key is None or key[0] == "folder":
            return None
        if not confirm:
            self._delete(key)
            return None
        what = (f"the collection {key[1]!r} and its {len(self._collection(key[1]).messages)} "
                "messages" if key[0] == "collection" else repr(self.selected_message().name))
        box = QMessageBox(QMessageBox.Icon.Question, "Delete", f"Delete {what}?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.accepted.connect(lambda: self._delete(key))
        box.finished.connect(box.deleteLater)
        box.open()
        return box

    def _delete(self, key: Key) -> None:
        if key[0] == "collection":
            self.collections.remove(self._collection(key[1]))
        else:
            del self._collection(key[1]).messages[key[2]]
        self._edited()

    def move_selected(self, step: int) -> None:
        """Move a message past its neighbour in the same folder, or a collection in the list."""
        key = self.selected_key()
        if key is None or key[0] == "folder":
            return
        if key[0] == "collection":
            items = self.collections
            index = items.index(self._collection(key[1]))
            target = index + step
            if 0 <= target < len(items):
                items[index], items[target] = items[target], items[index]
                self._edited()
            return
        messages = self._collection(key[1]).messages
        folder = messages[key[2]].folder
        target = key[2] + step
        while 0 <= target < len(messages) and messages[target].folder != folder:
            target += step
        if 0 <= target < len(messages):
            messages[key[2]], messages[target] = messages[target], messages[key[2]]
            self._edited()
            self.select(("message", key[1], target))

    def _renamed(self, item: QTreeWidgetItem, column: int) -> None:
        self._in_edit = True
        try:
            self._rename(item, column)
        finally:
            self._in_edit = False

    def _rename(self, item: QTreeWidgetItem, column: int) -> None:
        key = item.data(0, ROLE)
        name = item.text(0).strip()
        if column != 0 or key is None or not name:
            self.refresh()  # an empty name is not taken: the old one comes back
            return
        if key[0] == "collection" and name != key[1]:
            if any(c.name == name for c in self.collections):
                self.problem.emit(f"There is already a collection named {name!r}")
            else:
                self._collection(key[1]).name = name
                self.tree.blockSignals(True)  # keys of the new name until the rebuild
                stack = [item]
                while stack:
                    node = stack.pop()
                    kind, _, index = node.data(0, ROLE)
                    node.setData(0, ROLE, (kind, name, index))
                    stack.extend(node.child(i) for i in range(node.childCount()))
                self.tree.blockSignals(False)
        elif key[0] == "message":
            self._collection(key[1]).messages[key[2]].name = name
        self._edited()

    def _edited(self) -> None:
        assert self.session is not None
        problem = self.session.edited()  # emits changed: the tree is rebuilt
        if problem:
            self.problem.emit(problem)

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for key in ("send", "compose", "edit", "delete", "up", "down"):
            menu.addAction(self.actions_by_name[key])
        menu.addSeparator()
        menu.addAction(self.actions_by_name["new_message"])
        menu.addAction(self.actions_by_name["new_collection"])

        menu.popup(self.tree.viewport().mapToGlobal(pos))
