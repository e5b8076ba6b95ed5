"""The inspector's table: a bounded, filtered adapter between FrameEvent batches and Qt.

Rows are FrameEvent objects kept as they are (payloads stay bytes); text, previews and the JSON
`type` are worked out only for rows a view asks about, and the type is cached per row. Every frame
gets a sequence number; the store holds the newest `max_rows` of them and drops the oldest in
chunks (one beginRemoveRows per chunk), counting them in `dropped`. With a filter set, the visible
rows are an ascending list of sequence numbers: an incoming batch is filtered on arrival and the
whole store is filtered again only when the filter changes.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFontDatabase

from core.codecs import preview
from core.events import Direction, FrameEvent, Opcode
from ui.inspector_filter import FrameFilter, frame_type

MAX_ROWS = 100_000
TRIM_FRACTION = 0.1
PREVIEW_CHARS = 300
_UNSET = object()
_PREVIEW_CACHE = 4096

COL_TIME, COL_CONN, COL_DIR, COL_TYPE, COL_SIZE, COL_PREVIEW = range(6)
HEADERS = ("Time", "Connection", "Dir", "Type", "Size", "Preview")
DIR_LABEL = {Direction.OUT: "↑ out", Direction.IN: "↓ in"}
DIR_COLOR = {Direction.OUT: QColor("#c7641a"), Direction.IN: QColor("#1f8a4c")}
CONTROL_COLOR = QColor("#7a7a7a")

Index = QModelIndex | QPersistentModelIndex


def clock(t: float) -> str:
    """HH:MM:SS.mmm in local time."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


class InspectorModel(QAbstractTableModel):
    """Bounded frame table. Feed it with `add_frames(batch)` once per tick."""

    counts_changed = Signal()  # rows, dropped, pending or the filter changed

    def __init__(
        self,
        name_of: Callable[[int], str] | None = None,
        max_rows: int = MAX_ROWS,
        trim_fraction: float = TRIM_FRACTION,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        if max_rows <= 0:
            raise ValueError("max_rows must be positive")
        self.max_rows = max_rows
        self.trim_chunk = max(1, int(max_rows * trim_fraction))
        self.name_of = name_of or (lambda conn_id: f"#{conn_id}")
        self._events: list[FrameEvent] = []
        self._types: list[Any] = []  # per stored row: _UNSET, None or the type string
        self._base = 0  # sequence number of _events[0]
        self._view: list[int] | None = None  # visible sequence numbers; None = all rows
        self._filter = FrameFilter()
        self._accept: Callable[[int, FrameEvent], bool] | None = None
        self._pending: list[FrameEvent] = []
        self._paused = False
        self._previews: dict[int, str] = {}
        self._type_scan = 0  # sequence number up to which every type has been worked out
        self.known_types: set[str] = set()
        self.dropped = 0  # frames removed to keep the bound (or never shown because of it)
        self.received = 0  # frames handed to add_frames since the last clear
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

    # ----- feeding --------------------------------------------------------------------------

    def add_frames(self, frames: Sequence[FrameEvent]) -> None:
        """Append one tick's frames: at most one removal and one insertion signal."""
        if not frames:
            return
        self.received += len(frames)
        if self._paused:
            self._pending.extend(frames)
            over = len(self._pending) - self.max_rows
            if over > 0:
                del self._pending[:over]
                self.dropped += over
            self.counts_changed.emit()
            return
        self._append(frames)
        self.counts_changed.emit()

    def _append(self, frames: Sequence[FrameEvent]) -> None:
        if len(frames) > self.max_rows:
            skipped = len(frames) - self.max_rows
            self.dropped += skipped  # never shown: the newest max_rows win
            frames = frames[skipped:]
        overflow = len(self._events) + len(frames) - self.max_rows
        if overflow > 0:
            self._trim(min(len(self._events), max(overflow, self.trim_chunk)))
        first_seq = self._base + len(self._events)
        if self._view is None:
            n = len(self._events)
            self.beginInsertRows(QModelIndex(), n, n + len(frames) - 1)
            self._events.extend(frames)
            self._types.extend([_UNSET] * len(frames))
            self.endInsertRows()
            return
        self._events.extend(frames)
        self._types.extend([_UNSET] * len(frames))
        accept = self._accept
        assert accept is not None
        seqs = [s for s, ev in enumerate(frames, first_seq) if accept(s, ev)]
        if seqs:
            n = len(self._view)
            self.beginInsertRows(QModelIndex(), n, n + len(seqs) - 1)
            self._view.extend(seqs)
            self.endInsertRows()

    def _trim(self, k: int) -> None:
        if k <= 0:
            return
        new_base = self._base + k
        if self._view is None:
            self.beginRemoveRows(QModelIndex(), 0, k - 1)
            self._drop_stored(k, new_base)
            self.endRemoveRows()
        else:
            j = bisect_left(self._view, new_base)
            if j:
                self.beginRemoveRows(QModelIndex(), 0, j - 1)
                del self._view[:j]
                self._drop_stored(k, new_base)
                self.endRemoveRows()
            else:
                self._drop_stored(k, new_base)
        self.dropped += k

    def _drop_stored(self, k: int, new_base: int) -> None:
        del self._events[:k]
        del self._types[:k]
        self._base = new_base
        self._type_scan = max(self._type_scan, new_base)
        if self._previews:
            self._previews = {s: p for s, p in self._previews.items() if s >= new_base}

    def clear(self) -> None:
        """Forget every row, the pending ones and the counters."""
        self.beginResetModel()
        self._base += len(self._events)
        self._events.clear()
        self._types.clear()
        self._pending.clear()
        self._previews.clear()
        self._type_scan = self._base
        if self._view is not None:
            self._view = []
        self.known_types.clear()
        self.dropped = 0
        self.received = 0
        self.endResetModel()
        self.counts_changed.emit()

    # ----- pause ----------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pending(self) -> int:
        """Frames captured while paused, shown when capture resumes."""
        return len(self._pending)

    def set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        if not paused and self._pending:
            pending, self._pending = self._pending, []
            self._append(pending)
        self.counts_changed.emit()

    # ----- filter ---------------------------------------------------------------------------

    @property
    def filter(self) -> FrameFilter:
        return self._filter

    def set_filter(self, flt: FrameFilter) -> None:
        """Re-filter every stored row; raises InvalidFilter (and keeps the old filter) on error."""
        accept = None if flt.is_empty else flt.predicate(self.type_at_seq)
        self.beginResetModel()
        self._filter = flt
        self._accept = accept
        if accept is None:
            self._view = None
        else:
            self._view = [s for s, ev in enumerate(self._events, self._base) if accept(s, ev)]
        self.endResetModel()
        self.counts_changed.emit()

    @property
    def total(self) -> int:
        """Rows stored (shown or hidden by the filter)."""
        return len(self._events)

    # ----- row access -----------------------------------------------------------------------

    def seq_at(self, row: int) -> int:
        return row + self._base if self._view is None else self._view[row]

    def row_of_seq(self, seq: int) -> int:
        """The visible row of a sequence number, or -1."""
        if self._view is None:
            row = seq - self._base
            return row if 0 <= row < len(self._events) else -1
        row = bisect_left(self._view, seq)
        return row if row < len(self._view) and self._view[row] == seq else -1

    def frame(self, row: int) -> FrameEvent:
        return self._events[self.seq_at(row) - self._base]

    def type_at_seq(self, seq: int) -> str | None:
        i = seq - self._base
        kind = self._types[i]
        if kind is _UNSET:
            kind = frame_type(self._events[i])
            self._types[i] = kind
            if kind is not None and kind not in self.known_types and len(self.known_types) < 500:
                self.known_types.add(kind)
        return kind

    def message_type(self, row: int) -> str | None:
        return self.type_at_seq(self.seq_at(row))

    def scan_types(self, budget: float = 0.25) -> list[str]:
        """Work out the types of rows not yet looked at, for at most `budget` seconds (the rest
        on the next call); returns the sorted seen types."""
        end = self._base + len(self._events)
        seq = max(self._type_scan, self._base)
        deadline = time.perf_counter() + budget
        while seq < end:
            stop = min(end, seq + 2000)
            for s in range(seq, stop):
                self.type_at_seq(s)
            seq = stop
            if time.perf_counter() > deadline:
                break
        self._type_scan = seq
        return sorted(self.known_types)

    # ----- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self._events) if self._view is None else len(self._view)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HEADERS):
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole and section == COL_SIZE:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag
        return f.ItemIsEnabled | f.ItemIsSelectable | f.ItemNeverHasChildren

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= self.rowCount() or col >= len(HEADERS):
            return None
        seq = self.seq_at(row)
        event = self._events[seq - self._base]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_TIME:
                return clock(event.time)
            if col == COL_CONN:
                return self.name_of(event.conn_id)
            if col == COL_DIR:
                return DIR_LABEL[event.direction]
            if col == COL_TYPE:
                return event.opcode.label
            if col == COL_SIZE:
                return human_size(event.size)
            return self._preview(seq, event)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_DIR:
                return DIR_COLOR[event.direction]
            if not event.is_data:
                return CONTROL_COLOR
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and col == COL_PREVIEW:
            return self._mono
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_SIZE:
            return f"{event.size:,} bytes"
        if role == Qt.ItemDataRole.UserRole:
            return event
        return None

    def _preview(self, seq: int, event: FrameEvent) -> str:
        cached = self._previews.get(seq)
        if cached is not None:
            return cached
        text = preview(event.opcode, event.payload, PREVIEW_CHARS)
        if event.is_data:
            kind = self.type_at_seq(seq)
            if kind is not None:
                text = f"[{preview(Opcode.TEXT, kind.encode(), 40)}] {text}"
        if len(self._previews) >= _PREVIEW_CACHE:
            self._previews.clear()
        self._previews[seq] = text
        return text
