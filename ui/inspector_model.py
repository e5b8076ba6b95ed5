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
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QPalette

from core.codecs import preview
from core.decoders.api import Message
from core.events import Direction, FrameEvent, Opcode
from ui import theme
from ui.conn_rows import ConnectionRow
from ui.decoded_cache import DecodedIndex
from ui.inspector_filter import FrameFilter, frame_type
from ui.payload_store import MAX_BYTES, PREVIEW_BYTES, FramePreview, MemoryReturner

MAX_ROWS = 100_000
TRIM_FRACTION = 0.1
PREVIEW_CHARS = 300
_UNSET = object()
_ROW_CACHE = 512  # rows whose cells are kept (those on screen, and some scrolled past)
SHRINK_TO = 0.75  # a shrink cuts payloads until they fill this much of max_bytes (not every tick)
_PAYLOAD = attrgetter("payload")

COL_TIME, COL_CONN, COL_DIR, COL_TYPE, COL_SIZE, COL_MESSAGE, COL_PREVIEW = range(7)
HEADERS = ("Time", "Connection", "Dir", "Type", "Size", "Message", "Preview")
_COLUMNS = len(HEADERS)
DIR_LABEL = {Direction.OUT: "↑ out", Direction.IN: "↓ in"}
EVENT_LABEL = "⇄ conn"  # the Dir column of a connection event
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_FONT = Qt.ItemDataRole.FontRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_USER = Qt.ItemDataRole.UserRole.value

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


def _role(role: Any) -> int:
    return role if type(role) is int else int(getattr(role, "value", role))


class InspectorModel(QAbstractTableModel):
    """Bounded frame table. Feed it with `add_frames(batch)` once per tick."""

    counts_changed = Signal()  # rows, dropped, pending or the filter changed

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
        super().__init__(parent)
        self.decoded = decoded or DecodedIndex()
        if max_rows <= 0:
            raise ValueError("max_rows must be positive")
        self.max_rows = max_rows
        self.set_max_bytes(max_bytes)
        self.trim_fraction = trim_fraction
        self.name_of = name_of or (lambda conn_id: f"#{conn_id}")
        self._events: list[FrameEvent] = []
        self._types: list[Any] = []  # per stored row: _UNSET, None or the type string
        self._base = 0  # sequence number of _events[0]
        self._view: list[int] | None = None  # visible sequence numbers; None = all rows
        self._filter = FrameFilter()
        self._accept: Callable[[int, FrameEvent], bool] | None = None
        self._scan_at: int | None = None  # a decoded filter's next row to look at (None: done)
        self.scan_settle = 0.0  # seconds a row waits before a decoded filter judges it
        self._pending: list[FrameEvent] = []
        self._paused = False
        self._rows: dict[int, tuple[dict[int, Any], ...]] = {}  # seq -> cells; never reused
        self.preview_chars = PREVIEW_CHARS  # see set_preview_chars()
        self._type_scan = 0  # sequence number up to which every type has been worked out
        self.known_types: set[str] = set()
        self.dropped = 0  # frames removed to keep the bound (or never shown because of it)
        self.received = 0  # frames handed to add_frames since the last clear
        self._event_seqs: list[int] = []  # sequence numbers of the stored connection rows
        # Payload bytes of the stored rows (previews count what they keep): exact, or, after a
        # trim, at least that (a trim does not add up what it removes: worked out again, in C,
        # only when this passes the bound or is asked for).
        self._bytes = 0
        self._bytes_exact = True
        self._pending_bytes = 0
        self._pending_cut = 0  # index in _pending before which every payload is a preview
        self._shrunk = 0  # sequence number before which every stored payload is a preview
        self.shrunk = 0  # frames cut to a preview to keep the byte bound
        self._memory = MemoryReturner()
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

    @property
    def trim_chunk(self) -> int:
        """Rows removed at once when the bound is reached (follows `max_rows`)."""
        return max(1, int(self.max_rows * self.trim_fraction))

    def set_max_bytes(self, max_bytes: int) -> None:
        """Bound the payload bytes kept in memory (rows and frames held while paused)."""
        if max_bytes < PREVIEW_BYTES:
            raise ValueError(f"max_bytes must be at least {PREVIEW_BYTES} bytes")
        self.max_bytes = max_bytes
        if hasattr(self, "_events"):  # not while __init__ sets the first bound
            self._bound_bytes()

    @property
    def payload_bytes(self) -> int:
        """Payload bytes the stored rows hold (previews count what they keep)."""
        if not self._bytes_exact:
            self._bytes = sum(map(len, map(_PAYLOAD, self._events)))
            self._bytes_exact = True
        return self._bytes

    # ----- feeding --------------------------------------------------------------------------

    def add_frames(
        self, frames: Sequence[FrameEvent], events: int = 0, size: int | None = None
    ) -> None:
        """Append one tick's frames: at most one removal and one insertion signal. `events` of
        them are ConnectionRows (in time order among the frames), which are not frames: the
        frame counters leave them out. `size`, their payload bytes if the caller has them
        (else they are added up here: ~30 ns a frame)."""
        if not frames:
            return
        self.received += len(frames) - events
        if size is None:
            size = sum(map(len, map(_PAYLOAD, frames)))
        if self._paused:
            self._hold(frames, size)
            self.counts_changed.emit()
            return
        self._append(frames, events, size)
        self.counts_changed.emit()

    def _hold(self, frames: Sequence[FrameEvent], size: int) -> None:
        pending = self._pending
        pending.extend(frames)
        self._pending_bytes += size
        over = len(pending) - self.max_rows
        if over > 0:
            self._pending_bytes -= sum(map(len, map(_PAYLOAD, pending[:over])))
            del pending[:over]
            self._pending_cut = max(0, self._pending_cut - over)
            self.dropped += over
        if self._pending_bytes > self.max_bytes:
            self._bound_bytes()

    def _append(self, frames: Sequence[FrameEvent], events: int, size: int) -> None:
        n = len(frames)
        if n > self.max_rows:
            skipped = n - self.max_rows
            if events:  # connection rows are not frames
                gone = sum(type(ev) is ConnectionRow for ev in frames[:skipped])
                skipped, events = skipped - gone, events - gone
            self.dropped += skipped  # never shown: the newest max_rows win
            frames = frames[n - self.max_rows :]
            n = self.max_rows
            size = sum(map(len, map(_PAYLOAD, frames)))
        overflow = len(self._events) + n - self.max_rows
        if overflow > 0:
            self._trim(min(len(self._events), max(overflow, self.trim_chunk)))
        first_seq = self._base + len(self._events)
        self._bytes += size
        if events:
            self._event_seqs += [
                s for s, ev in enumerate(frames, first_seq) if type(ev) is ConnectionRow
            ]
        if self._view is None:
            rows = len(self._events)
            self.beginInsertRows(QModelIndex(), rows, rows + n - 1)
            self._events.extend(frames)
            self._types.extend(repeat(_UNSET, n))
            self.endInsertRows()
        elif self._scan_at is not None:  # judged in turns by scan_filter(), not at tick time
            self._events.extend(frames)
            self._types.extend(repeat(_UNSET, n))
        else:
            self._events.extend(frames)
            self._types.extend(repeat(_UNSET, n))
            accept = self._accept
            assert accept is not None
            seqs = [s for s, ev in enumerate(frames, first_seq) if accept(s, ev)]
            if seqs:
                rows = len(self._view)
                self.beginInsertRows(QModelIndex(), rows, rows + len(seqs) - 1)
                self._view.extend(seqs)
                self.endInsertRows()
        if self._bytes > self.max_bytes:
            self._bound_bytes()

    def _bound_bytes(self) -> None:
        """Cut the oldest large payloads to previews (their types worked out first, so the type
        filter still knows them), down to SHRINK_TO of the bound; then, if previews alone are
        too many, drop the oldest rows. Each row is looked at once: `_shrunk` moves forward."""
        if self._bytes > self.max_bytes and self.payload_bytes > self.max_bytes:
            base = self._base
            start = max(self._shrunk, base) - base
            want = self._bytes - int(self.max_bytes * SHRINK_TO)
            stop, freed, cut = _shrink(
                self._events, start, want, lambda i: self.type_at_seq(base + i)
            )
            self._bytes -= freed
            self.shrunk += cut
            self._shrunk = base + stop
            self._memory.freed(freed)
        while self._events and self.payload_bytes > self.max_bytes:
            self._trim(min(len(self._events), self.trim_chunk))
        if self._pending_bytes > self.max_bytes:
            want = self._pending_bytes - int(self.max_bytes * SHRINK_TO)
            stop, freed, cut = _shrink(self._pending, self._pending_cut, want)
            self._pending_bytes -= freed
            self._pending_cut = stop
            self.shrunk += cut
        while self._pending_bytes > self.max_bytes and self._pending:  # previews alone too many
            k = min(len(self._pending), self.trim_chunk)
            self._pending_bytes -= sum(map(len, map(_PAYLOAD, self._pending[:k])))
            del self._pending[:k]
            self._pending_cut = max(0, self._pending_cut - k)
            self.dropped += k

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
        events = bisect_left(self._event_seqs, new_base)  # connection rows are not frames
        del self._event_seqs[:events]
        self.dropped += k - events

    def _drop_stored(self, k: int, new_base: int) -> None:
        self._bytes_exact = False
        del self._events[:k]
        del self._types[:k]
        self._base = new_base
        self._type_scan = max(self._type_scan, new_base)
        if self._scan_at is not None:
            self._scan_at = max(self._scan_at, new_base)
        # cells of trimmed rows stay in the (bounded) cache: their seqs never come back

    def clear(self) -> None:
        """Forget every row, the pending ones and the counters."""
        self.beginResetModel()
        self._base += len(self._events)
        self._events.clear()
        self._types.clear()
        self._pending.clear()
        self._rows.clear()
        self._event_seqs.clear()
        self._type_scan = self._base
        if self._scan_at is not None:
            self._scan_at = self._base
        self.decoded.forget()
        if self._view is not None:
            self._view = []
        self.known_types.clear()
        self.dropped = 0
        self.received = 0
        self._bytes = self._pending_bytes = self._pending_cut = self.shrunk = 0
        self._bytes_exact = True
        self._shrunk = self._base
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

    @property
    def pending_bytes(self) -> int:
        """Payload bytes of the frames captured while paused (bounded by max_bytes too)."""
        return self._pending_bytes

    def set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        if not paused and self._pending:
            pending, self._pending = self._pending, []
            size, self._pending_bytes, self._pending_cut = self._pending_bytes, 0, 0
            self._append(pending, sum(type(ev) is ConnectionRow for ev in pending), size)
        self.counts_changed.emit()

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


def _shrink(
    rows: list[FrameEvent], start: int, want: int, before_cut: Callable[[int], object] | None = None
) -> tuple[int, int, int]:
    """Cut payloads over PREVIEW_BYTES to a preview, from `rows[start]` on, until `want` bytes
    are freed: (index where it stopped, bytes freed, rows cut). `before_cut(i)` is called first
    for each row cut."""
    freed = cut = 0
    i, n = start, len(rows)
    while i < n and freed < want:
        event = rows[i]
        size = len(event.payload)
        if size > PREVIEW_BYTES:
            if before_cut is not None:
                before_cut(i)
            rows[i] = FramePreview(event)
            freed += size - PREVIEW_BYTES
            cut += 1
        i += 1
    return i, freed, cut
