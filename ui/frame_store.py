"""The inspector's rows: a bounded store of FrameEvent batches, with their filter view, the
pause, and the byte bound (see `ui.inspector_model` for the whole design). Qt's model API and
what a row shows are `ui.inspector_model.InspectorModel`'s."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Signal

from core.events import FrameEvent
from ui.conn_rows import ConnectionRow
from ui.decoded_cache import DecodedIndex
from ui.inspector_filter import FrameFilter, frame_type
from ui.payload_store import MAX_BYTES, PREVIEW_BYTES, FramePreview, MemoryReturner

MAX_ROWS = 100_000
TRIM_FRACTION = 0.1
_UNSET = object()
SHRINK_TO = 0.75  # a shrink cuts payloads until they fill this much of max_bytes (not every tick)
_PAYLOAD = attrgetter("payload")


class FrameStore(QAbstractTableModel):
    """The stored rows, the visible ones and the counters; `InspectorModel` shows them."""

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
