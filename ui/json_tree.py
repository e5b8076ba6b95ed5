"""A collapsible tree of a JSON (or decoded MessagePack) value, built lazily and capped.

`JsonTreeModel` creates the nodes of a container only when a view first asks for its children,
shows at most `MAX_CHILDREN` children per container (then a "… N more" row) and stops expanding
once `max_nodes` nodes exist, so a 16 MiB array cannot freeze the window.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFontDatabase, QPaintEvent
from PySide6.QtWidgets import QHeaderView, QTreeView, QWidget

from ui import theme
from ui.hint_list import paint_hint

MAX_NODES = 20_000
MAX_CHILDREN = 1_000
VALUE_CHARS = 200
HEADERS = ("Key", "Value", "Type")

Index = QModelIndex | QPersistentModelIndex


class _Node:
    __slots__ = ("children", "key", "parent", "row", "value")

    def __init__(self, key: str, value: Any, parent: _Node | None, row: int) -> None:
        self.key = key
        self.value = value
        self.parent = parent
        self.row = row
        self.children: list[_Node] | None = None  # None until first asked for


class _More:
    """Placeholder value of the "… N more" row."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, _More):
        return ""
    return type(value).__name__


def value_text(value: Any) -> str:
    """One line for the Value column: scalars as JSON, containers as their size."""
    if isinstance(value, dict):
        return f"{{{len(value)}}}"
    if isinstance(value, list | tuple):
        return f"[{len(value)}]"
    if isinstance(value, _More):
        return value.text
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: VALUE_CHARS // 3]).hex(" ")
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


class JsonTreeModel(QAbstractItemModel):
    """Key / Value / Type columns over one JSON value."""

    def __init__(self, parent: Any = None, max_nodes: int = MAX_NODES) -> None:
        super().__init__(parent)
        self.max_nodes = max_nodes
        self.nodes = 0  # nodes created so far
        self.capped = False  # the node limit stopped some expansion
        self._root = _Node("", None, None, 0)
        self._root.children = []

    def set_value(self, value: Any) -> None:
        self.beginResetModel()
        self.nodes = 1
        self.capped = False
        self._root = _Node("", None, None, 0)
        self._root.children = [_Node("(root)", value, self._root, 0)]
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self.nodes = 0
        self.capped = False
        self._root = _Node("", None, None, 0)
        self._root.children = []
        self.endResetModel()

    # ----- lazy children --------------------------------------------------------------------

    def _children(self, node: _Node) -> list[_Node]:
        if node.children is not None:
            return node.children
        value = node.value
        if isinstance(value, dict):
            items: list[tuple[str, Any]] = [(str(k), v) for k, v in _head(value.items())]
            total = len(value)
        elif isinstance(value, list | tuple):
            items = [(f"[{i}]", v) for i, v in enumerate(_head(value))]
            total = len(value)
        else:
            node.children = []
            return node.children
        room = self.max_nodes - self.nodes
        if room <= 0:
            self.capped = True
            node.children = [_Node("…", _More(f"node limit ({self.max_nodes:,}) reached"), node, 0)]
            self.nodes += 1
            return node.children
        if len(items) > room:
            self.capped = True
            items = items[:room]
        children = [_Node(k, v, node, i) for i, (k, v) in enumerate(items)]
        if total > len(items):
            more = _More(f"{total - len(items):,} more not shown")
            children.append(_Node("…", more, node, len(children)))
        self.nodes += len(children)
        node.children = children
        return children

    def _node(self, index: Index) -> _Node:
        return index.internalPointer() if index.isValid() else self._root  # type: ignore[return-value]

    # ----- Qt model API ---------------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(HEADERS) or row < 0:
            return QModelIndex()
        children = self._children(self._node(parent))
        if row >= len(children):
            return QModelIndex()
        return self.createIndex(row, column, children[row])

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        node: _Node = index.internalPointer()  # type: ignore[assignment]
        up = node.parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(up.row, 0, up)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._children(self._node(parent)))

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        if not parent.isValid():
            return bool(self._root.children)
        if parent.column() != 0:
            return False
        value = self._node(parent).value
        return isinstance(value, dict | list | tuple) and len(value) > 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(HEADERS)
        ):
            return HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node: _Node = index.internalPointer()  # type: ignore[assignment]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return node.key
            if col == 1:
                return value_text(node.value)
            return kind_of(node.value)
        if role == Qt.ItemDataRole.ToolTipRole and col < 2:
            # tooltips guess rich text: escape, so a value like "<img src=…>" stays text
            text = node.key if col == 0 else value_text(node.value)
            return f"<qt>{html.escape(text)}</qt>"
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            if isinstance(node.value, _More):
                return theme.color("json_null")
            return _kind_color(kind_of(node.value))
        return None


KIND_COLORS = {"string": "json_string", "number": "json_number", "bool": "json_bool",
               "null": "json_null"}  # a value's kind -> its colour's name in the theme


def _kind_color(kind: str) -> QColor | None:
    name = KIND_COLORS.get(kind)
    return theme.color(name) if name else None


def _head(items: Any) -> list[Any]:
    out = []
    for i, item in enumerate(items):
        if i >= MAX_CHILDREN:
            break
        out.append(item)
    return out


class JsonTreeView(QTreeView):
    """The tree widget of the detail pane; `set_value(obj)` shows a value, top levels open."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree_model = JsonTreeModel(self)
        self.setModel(self.tree_model)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 180)
        header.resizeSection(2, 70)
        self._hint = ""

    def set_hint(self, text: str) -> None:
        """What the empty tree says (e.g. how to get something into it)."""
        self._hint = text
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.tree_model.rowCount() == 0:
            paint_hint(self, self._hint)

    def set_value(self, value: Any) -> None:
        self.tree_model.set_value(value)
        root = self.tree_model.index(0, 0)
        self.expand(root)
        # open the first level too when it is small
        if self.tree_model.rowCount(root) <= 50:
            for row in range(self.tree_model.rowCount(root)):
                child = self.tree_model.index(row, 0, root)
                if self.tree_model.hasChildren(child) and self.tree_model.rowCount(child) <= 20:
                    self.expand(child)

    def clear(self) -> None:
        self.tree_model.clear()
