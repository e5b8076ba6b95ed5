"""The replay diff as a table: one row per compared reply, its status coloured.

An adapter between the core's `ReplyDiff` list (bounded by the replay) and Qt's table view; cells
hold one-line previews cut at PREVIEW_CHARS, computed when shown.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from core.events import FrameEvent, Opcode
from core.facade import ReplyDiff, Status
from ui import theme

STATUSES: tuple[Status, ...] = ("same", "changed", "missing", "extra")
COLUMNS = ("Status", "Conn", "After msg", "Recorded", "Replayed", "Differs at")
COL_STATUS, COL_CONN, COL_AFTER, COL_RECORDED, COL_REPLAYED, COL_PATHS = range(len(COLUMNS))
PREVIEW_CHARS = 200
PATHS_SHOWN = 5  # in the table; the detail pane lists them all

_Index = QModelIndex | QPersistentModelIndex


def one_line(frame: FrameEvent | None, limit: int = PREVIEW_CHARS) -> str:
    """A payload on one line, cut at `limit` characters (binary as hex)."""
    if frame is None:
        return "—"
    if frame.opcode is Opcode.TEXT:
        text = frame.payload[: limit * 4].decode("utf-8", errors="replace")
        text = " ".join(text.split())
    else:
        text = f"binary {frame.size} B: " + frame.payload[:limit // 2].hex(" ")
    return text if len(text) <= limit and frame.size <= limit * 4 else text[:limit] + "…"


def paths_text(diff: ReplyDiff, shown: int = PATHS_SHOWN) -> str:
    """The differing JSON paths in words ("$" is the whole payload)."""
    words = ["whole payload" if p == "$" else "message type" if p == "$opcode" else p
             for p in diff.paths]
    more = f" (+{len(words) - shown} more)" if len(words) > shown else ""
    return ", ".join(words[:shown]) + more


class ReplayDiffModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.diffs: list[ReplyDiff] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def set_diffs(self, diffs: list[ReplyDiff]) -> None:
        self.beginResetModel()
        self.diffs = list(diffs)
        self.endResetModel()

    def diff_at(self, row: int) -> ReplyDiff | None:
        return self.diffs[row] if 0 <= row < len(self.diffs) else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.diffs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        diff = self.diffs[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(diff, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATUS:
            return theme.color(f"diff_{diff.status}")
        if role == Qt.ItemDataRole.FontRole and column == COL_STATUS:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == COL_PATHS and diff.paths:
            return paths_text(diff, len(diff.paths))
        return None

    def _text(self, diff: ReplyDiff, column: int) -> str:
        if column == COL_STATUS:
            return diff.status
        if column == COL_CONN:
            return str(diff.conn_id)
        if column == COL_AFTER:
            return "(before)" if diff.after < 0 else f"#{diff.after + 1}"
        if column == COL_RECORDED:
            return one_line(diff.recorded)
        if column == COL_REPLAYED:
            return one_line(diff.replayed)
        return paths_text(diff)
