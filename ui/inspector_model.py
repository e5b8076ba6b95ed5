"""The inspector's table: a bounded, filtered adapter between FrameEvent batches and Qt.

Rows are FrameEvent objects kept as they are (payloads stay bytes). A tick's batch is taken with
list operations done in C (`extend`, `del` of a chunk), never a Python loop over its frames unless
a filter is set; text, previews and the JSON `type` are worked out only for rows a view asks
about (the type is cached per row). Every frame gets a sequence number; the store holds the newest
`max_rows` of them and drops the oldest in chunks (one beginRemoveRows per chunk), counting them
in `dropped`. Payloads are bounded in bytes too (`max_bytes`): past it, the oldest large
frames are cut to a preview (`ui.payload_store.FramePreview`, the full payload stays in the
recording), and should previews alone not fit, the oldest rows go. Connection events
(`ui.conn_rows.ConnectionRow`) are rows too, but not frames: no frame counter counts them.
With a filter set, the visible rows are an ascending list of sequence numbers: an
incoming batch is filtered on arrival and the whole store is filtered again only when the filter
changes.

What a row shows is worked out once, when it is first painted (`cells_at()`), and cached. The
inspector's own table (`ui.frame_table.FrameTable`) paints from that cache in one call into
Python per paint. Any other view asks the model about every visible cell, and each call from Qt
into Python has to take the GIL from the network thread, so a cell costs two of them here, not
ten: `index()` is answered directly (not through `rowCount()` and `columnCount()`), `flags()` is
Qt's own, and `multiData()` answers all the roles a delegate asks for in one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QModelRoleDataSpan, Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QPalette

from core.codecs import preview
from core.decoders.api import Message
from core.events import Direction, Opcode
from ui import theme
from ui.conn_rows import ConnectionRow
from ui.decoded_cache import DecodedIndex
from ui.frame_store import MAX_ROWS, TRIM_FRACTION, FrameStore
from ui.inspector_columns import (
    _ALIGNMENT,
    _COLUMNS,
    _DISPLAY,
    _FONT,
    _FOREGROUND,
    _RIGHT,
    _TOOLTIP,
    _USER,
    COL_CONN,
    COL_DIR,
    COL_MESSAGE,
    COL_PREVIEW,
    COL_SIZE,
    COL_TIME,
    COL_TYPE,
    DIR_LABEL,
    EVENT_LABEL,
    HEADERS,
    Index,
    _role,
    clock,
    human_size,
)
from ui.inspector_filter import FrameFilter
from ui.payload_store import MAX_BYTES

__all__ = [
    "COL_CONN", "COL_DIR", "COL_MESSAGE", "COL_PREVIEW", "COL_SIZE", "COL_TIME", "COL_TYPE",
    "DIR_LABEL", "EVENT_LABEL", "HEADERS", "MAX_ROWS", "PREVIEW_CHARS", "InspectorModel",
    "clock", "human_size",
]

PREVIEW_CHARS = 300
_ROW_CACHE = 512  # rows whose cells are kept (those on screen, and some scrolled past)


class InspectorModel(FrameStore):
    """Bounded frame table. Feed it with `add_frames(batch)` once per tick."""

    def __init__(
        self,
        name_of: Callable[[int], str] | None = None,
        max_rows: int = MAX_ROWS,
        trim_fraction: float = TRIM_FRACTION,
        parent: Any = None,
        max_bytes: int = MAX_BYTES,
        decoded: DecodedIndex | None = None,
    ) -> None:
        """`decoded` says what each row decodes to (the Message column, decoded filters)."""
        super().__init__(name_of, max_rows, trim_fraction, parent, max_bytes, decoded)
        self.preview_chars = PREVIEW_CHARS  # see set_preview_chars()
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._dir_color = {Direction.OUT: theme.color("dir_out"),
                           Direction.IN: theme.color("dir_in")}
        self._control_color = theme.color("control_frame")
        self._event_font = QFont()
        self._event_font.setItalic(True)

    @property
    def preview_font(self) -> QFont:
        """The (fixed-width) font of the Preview column."""
        return self._mono

    # ----- filter ---------------------------------------------------------------------------

    @property
    def filter(self) -> FrameFilter:
        return self._filter

    def set_filter(self, flt: FrameFilter) -> None:
        """Re-filter every stored row; raises InvalidFilter (and keeps the old filter) on error.
        A filter on decoded messages starts empty and fills in turns (`scan_filter()`)."""
        accept = None if flt.is_empty else flt.predicate(self.type_at_seq, self.decoded.messages)
        self.beginResetModel()
        self._filter = flt
        self._accept = accept
        self._scan_at = self._base if flt.needs_decoding else None
        if accept is None:
            self._view = None
        elif flt.needs_decoding:
            self._view = []
        else:
            self._view = [s for s, ev in enumerate(self._events, self._base) if accept(s, ev)]
        self.endResetModel()
        self.counts_changed.emit()

    @property
    def scanning(self) -> bool:
        """A filter on decoded messages has rows left to look at (call `scan_filter()`), the
        ones younger than `scan_settle` left out."""
        return self._scan_at is not None and self._scan_at < self._settled_end()

    def _settled_end(self) -> int:
        """The sequence number after the last row older than `scan_settle` seconds."""
        base, events = self._base, self._events
        end = base + len(events)
        if self.scan_settle > 0:
            cutoff = time.time() - self.scan_settle
            while end > base and events[end - 1 - base].time > cutoff:
                end -= 1
        return end

    def scan_filter(self, budget: float = 0.02) -> bool:
        """Judge the rows a decoded filter has not looked at yet (decoding them), for at most
        `budget` seconds; the accepted ones are appended in one insertion. Rows younger than
        `scan_settle` seconds wait (their messages decoded in core may still be on the way).
        True: more left (young ones too)."""
        if self._scan_at is None or self._view is None or self._accept is None:
            return False
        accept, base, events = self._accept, self._base, self._events
        end = self._settled_end()
        seq = max(self._scan_at, base)
        deadline = time.perf_counter() + budget
        found: list[int] = []
        while seq < end:
            stop = min(end, seq + 256)
            found += [s for s in range(seq, stop) if accept(s, events[s - base])]
            seq = stop
            if time.perf_counter() > deadline:
                break
        self._scan_at = seq
        if found:
            rows = len(self._view)
            self.beginInsertRows(QModelIndex(), rows, rows + len(found) - 1)
            self._view.extend(found)
            self.endInsertRows()
        self.counts_changed.emit()
        return seq < base + len(events)

    def messages_at_seq(self, seq: int) -> tuple[Message, ...]:
        """What a stored row decodes to (decoded now if need be)."""
        i = seq - self._base
        if not 0 <= i < len(self._events):
            return ()
        return self.decoded.messages(seq, self._events[i])

    def forget_rows(self, seqs: set[int]) -> None:
        """Work out these rows' cells again (their decoded messages arrived)."""
        shown = [row for row in map(self.row_of_seq, seqs) if row >= 0]
        for seq in seqs:
            self._rows.pop(seq, None)
        if shown:
            self.dataChanged.emit(
                self.index(min(shown), COL_MESSAGE), self.index(max(shown), COL_MESSAGE)
            )

    @property
    def total(self) -> int:
        """Rows stored (shown or hidden by the filter)."""
        return len(self._events)

    @property
    def frames_stored(self) -> int:
        """Frames stored (shown or hidden), connection rows left out."""
        return len(self._events) - len(self._event_seqs)

    @property
    def frames_shown(self) -> int:
        """Frames the filter shows, connection rows left out."""
        if self._view is None:
            return self.frames_stored
        return len(self._view) - sum(self.row_of_seq(s) >= 0 for s in self._event_seqs)

    # ----- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self._events) if self._view is None else len(self._view)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMNS

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount() first: two calls into Python for
        # every cell painted. Here it is one.
        rows = len(self._events) if self._view is None else len(self._view)
        if 0 <= row < rows and 0 <= column < _COLUMNS and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HEADERS):
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole and section == COL_SIZE:
                return _RIGHT
        return None

    def set_preview_chars(self, chars: int) -> None:
        """Cut previews at this many characters (at most PREVIEW_CHARS): a view passes what its
        column can show, since the longer the text, the longer Qt takes to elide it."""
        chars = max(1, min(PREVIEW_CHARS, chars))
        if chars != self.preview_chars:
            self.preview_chars = chars
            self.forget_cells(COL_PREVIEW)

    # flags(): QAbstractTableModel's own (enabled, selectable, never has children) is exactly
    # what the table needs, and asking it costs no call into Python.

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        view = self._view
        if not 0 <= row < (len(self._events) if view is None else len(view)) or col >= _COLUMNS:
            return None
        seq = row + self._base if view is None else view[row]
        role = _role(role)
        if role == _USER:
            return self._events[seq - self._base]
        if role == _TOOLTIP:
            size = self._events[seq - self._base].size
            return f"{size:,} bytes" if col == COL_SIZE else None
        return self._cells(seq)[col].get(role)

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan) -> None:
        """Every role a delegate asks for when it paints a cell, in one call from Qt."""
        row, col = index.row(), index.column()
        view = self._view
        if not 0 <= row < (len(self._events) if view is None else len(view)) or col >= _COLUMNS:
            for item in roleDataSpan:
                item.clearData()
            return
        seq = row + self._base if view is None else view[row]
        cells = self._rows.get(seq)
        if cells is None:
            cells = self._cells(seq)
        get = cells[col].get  # every role is set, None too: a delegate reuses its span
        for item in roleDataSpan:
            item.setData(get(item.role()))

    def cells_at(self, row: int) -> tuple[dict[int, Any], ...]:
        """What each column of a visible row shows, as {role: value} (Display, Foreground,
        TextAlignment, Font), for a view that paints rows itself."""
        return self._cells(row + self._base if self._view is None else self._view[row])

    def _cells(self, seq: int) -> tuple[dict[int, Any], ...]:
        """What each column of a row shows, by role: worked out once per row a view paints."""
        cells = self._rows.get(seq)
        if cells is not None:
            return cells
        event = self._events[seq - self._base]
        if type(event) is ConnectionRow:
            return self._keep_cells(seq, self._event_cells(event))
        op = event.opcode
        data = op is Opcode.TEXT or op is Opcode.BINARY
        text = preview(op, event.payload, self.preview_chars)
        if data:
            kind = self.type_at_seq(seq)
            if kind is not None:
                text = f"[{preview(Opcode.TEXT, kind.encode(), 40)}] {text}"
        fg = None if data else self._control_color
        cells = (
            {_DISPLAY: clock(event.time), _FOREGROUND: fg},
            {_DISPLAY: self.name_of(event.conn_id), _FOREGROUND: fg},
            {_DISPLAY: DIR_LABEL[event.direction], _FOREGROUND: self._dir_color[event.direction]},
            {_DISPLAY: op.name.lower(), _FOREGROUND: fg},
            {_DISPLAY: human_size(event.size), _FOREGROUND: fg, _ALIGNMENT: _RIGHT},
            {_DISPLAY: self.decoded.summary(seq, event) if data else "", _FOREGROUND: fg},
            {_DISPLAY: text, _FOREGROUND: fg, _FONT: self._mono},
        )
        return self._keep_cells(seq, cells)

    def _keep_cells(
        self, seq: int, cells: tuple[dict[int, Any], ...]
    ) -> tuple[dict[int, Any], ...]:
        if len(self._rows) >= _ROW_CACHE:
            self._rows.clear()
        self._rows[seq] = cells
        return cells

    def _event_cells(self, row: ConnectionRow) -> tuple[dict[int, Any], ...]:
        """A connection event: italic, in the palette's link colour, across the columns."""
        fg = QGuiApplication.palette().color(QPalette.ColorRole.Link)
        font = self._event_font
        return (
            {_DISPLAY: clock(row.time), _FOREGROUND: fg, _FONT: font},
            {_DISPLAY: self.name_of(row.conn_id), _FOREGROUND: fg, _FONT: font},
            {_DISPLAY: EVENT_LABEL, _FOREGROUND: fg, _FONT: font},
            {_DISPLAY: row.kind, _FOREGROUND: fg, _FONT: font},
            {_DISPLAY: "", _FOREGROUND: fg, _ALIGNMENT: _RIGHT},
            {_DISPLAY: "", _FOREGROUND: fg},
            {_DISPLAY: row.summary, _FOREGROUND: fg, _FONT: font},
        )

    def forget_cells(self, column: int | None = None) -> None:
        """Work out the shown cells again (e.g. after a connection was renamed)."""
        self._rows.clear()
        rows = self.rowCount()
        if rows:
            first, last = (0, _COLUMNS - 1) if column is None else (column, column)
            self.dataChanged.emit(self.index(0, first), self.index(rows - 1, last))
