"""The message inspector: a filterable live table of every frame, and the selected one in full."""

from __future__ import annotations

import functools
import heapq
import time
import weakref
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.events import FrameEvent
from core.facade import Commands
from ui import theme
from ui.bridge import FLOOD_FRAMES, CoreBridge, TickBatch
from ui.conn_rows import RowMaker
from ui.frame_table import FrameTable
from ui.inspector_decoded import DecodedFeed
from ui.inspector_details import DetailsPanel, recorder_of
from ui.inspector_menu import RowMenu
from ui.inspector_model import (
    COL_CONN,
    COL_DIR,
    COL_MESSAGE,
    COL_PREVIEW,
    COL_SIZE,
    COL_TIME,
    COL_TYPE,
    MAX_ROWS,
    InspectorModel,
)
from ui.numbers import count
from ui.payload_store import MAX_BYTES, PayloadReader

__all__ = ["FLOOD_FRAMES", "FrameTable", "InspectorPanel", "namer"]

# Busy traffic is shown together, at most every so often: the table then adds rows, scrolls and
# repaints a few times a second instead of on every tick. Nobody reads 20,000 rows a second, and
# each repaint holds the GIL for a few milliseconds. (frames in a tick, at most every ... ms)
SHOW_EVERY_MS = ((FLOOD_FRAMES, 250), (50, 200))
HOLD_BYTES = 32 * 2**20  # payload bytes held back at most: large frames are shown at once
_TIME = attrgetter("time")
_PAYLOAD = attrgetter("payload")

_COLUMN_WIDTHS = {
    COL_TIME: 96, COL_CONN: 120, COL_DIR: 56, COL_TYPE: 56, COL_SIZE: 72, COL_MESSAGE: 180
}


def namer(commands: Commands) -> Callable[[int], str]:
    """conn_id -> the connection's label (or "#id" once it is removed)."""

    def name_of(conn_id: int) -> str:
        try:
            return commands.config(conn_id).label
        except KeyError:
            return f"#{conn_id}"

    return name_of


class InspectorPanel(DetailsPanel):
    """Frames of every connection; `dropped` (frames trimmed to keep the bound) for the status
    bar, `set_connections()` feeds the "Selected connections" choice of the connection filter."""

    counts_changed = Signal(str)  # the counter text, after each change
    # From the rows' context menu, always with the full payload (read back from the recording
    # when the table keeps only a preview); the window wires them to the composer, the
    # collections and the exporters.
    resend_requested = Signal(object)  # FrameEvent: send it again on its connection
    compose_requested = Signal(object)  # FrameEvent: open it in the composer
    save_requested = Signal(object)  # FrameEvent: save it to a collection
    export_requested = Signal(list, str)  # list[FrameEvent], "har" or "ndjson"

    def __init__(
        self,
        bridge: CoreBridge,
        parent: QWidget | None = None,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._selected_conns: list[int] = []
        self._conn_ids: tuple[int, ...] = ()
        self._last_seq = -1  # sequence number of the selected frame, kept across re-filters
        # the name lookup holds the commands, not the panel: no reference cycle through Qt objects
        self.model = InspectorModel(
            namer(bridge.commands), max_rows=max_rows, max_bytes=max_bytes, parent=self
        )
        self.decoded = DecodedFeed(self.model, self)
        self._recorder = None
        self._recorder_set = False
        self.payloads = PayloadReader(functools.partial(recorder_of, weakref.ref(self)))
        self.destroyed.connect(self.payloads.close)
        self._rows_of = RowMaker()
        bar = self._build_filter_bar()
        self._build_table()
        self._build_details()
        self._lay_out(bar)
        self._wire_filter()
        self._wire()

    def _build_table(self) -> None:
        self.view = FrameTable(self.bridge.redrawn)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.row_menu = RowMenu(self)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setWordWrap(False)
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        vh = self.view.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        for col, width in _COLUMN_WIDTHS.items():
            hh.resizeSection(col, width)
        hh.sectionResized.connect(self._on_section_resized)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)

    def _lay_out(self, bar: QHBoxLayout) -> None:
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([550, 450])  # scaled to the real height on first layout

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.decoded_bar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.splitter, 1)

    def _wire(self) -> None:
        """Pause, Clear, the model's signals, the flood hold, Ctrl+F and the bridge's tick."""
        self.pause_button.toggled.connect(self.set_paused)
        self.clear_button.clicked.connect(self.clear)
        self.model.counts_changed.connect(self._update_counter)
        self.model.modelReset.connect(self._restore_selection)
        self.model.rowsAboutToBeRemoved.connect(self._before_trim)
        self.model.rowsRemoved.connect(self._after_trim)
        self._keep_scroll: int | None = None
        self._counter_paused = False
        self._held: list[FrameEvent] = []  # frames of a flood, not yet given to the model
        self._last_shown = 0.0  # time.monotonic() of the last add_frames
        self._hold_timer = QTimer(self)
        self._hold_timer.setSingleShot(True)
        self._hold_timer.timeout.connect(self._show_held_in_turn)
        self._held_events = 0  # connection rows among the held frames
        self._held_bytes = 0
        QShortcut(
            QKeySequence.StandardKey.Find,
            self,
            self.search.setFocus,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self.bridge.tick.connect(self._on_tick)
        self._refresh_connections()
        self._update_counter()

    # ----- public API -----------------------------------------------------------------------

    def row_text(self, row: int) -> str:
        """A row as the table shows it (the preview cut as shown), cells separated by tabs."""
        model = self.model
        cells = [model.data(model.index(row, c)) for c in range(model.columnCount())]
        return "\t".join("" if c is None else str(c) for c in cells)

    @property
    def dropped(self) -> int:
        """Frames dropped to keep the row bound (for the status bar)."""
        return self.model.dropped

    @property
    def rows(self) -> int:
        return self.model.rowCount()

    def set_paused(self, paused: bool) -> None:
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # comes back here through toggled
            return
        self.pause_button.setText("Resume" if paused else "Pause")
        self.show_held()
        at_bottom = self._at_bottom()
        self.model.set_paused(paused)
        if not paused and at_bottom:
            self.view.scrollToBottom()

    def clear(self) -> None:
        self._held.clear()  # they arrived before the click
        self._held_events = self._held_bytes = 0
        self._hold_timer.stop()
        self.model.clear()
        self._show_nothing()

    # ----- slots ----------------------------------------------------------------------------

    def _on_tick(self, batch: TickBatch) -> None:
        self.decoded.take(batch)
        frames = batch.frames
        events = 0
        if batch.states or batch.others or batch.handshakes:
            if batch.states:
                self._refresh_connections()
            rows = self._rows_of.rows(batch.states, [*batch.handshakes, *batch.others])
            if rows:  # among the frames by time (rare: heapq's Python key calls are fine)
                events = len(rows)
                frames = list(heapq.merge(frames, rows, key=_TIME)) if frames else rows
        if not frames:
            self.show_held()
            return
        every = next((ms for least, ms in SHOW_EVERY_MS if len(frames) > least), 0)
        wait = every - (time.monotonic() - self._last_shown) * 1000
        paused = self.model.paused
        if wait <= 0 and len(frames) > FLOOD_FRAMES and not paused:
            wait = self.bridge.take_turn()  # a chart may have just redrawn: after its paint
        size = None  # payload bytes of `frames`, when worked out (the model needs them)
        if wait > 0 and not paused:
            size = sum(map(len, map(_PAYLOAD, frames)))
            self._held.extend(frames)
            self._held_events += events
            self._held_bytes += size
            if self._held_bytes <= HOLD_BYTES:  # else large frames: shown without waiting
                if not self._hold_timer.isActive():
                    self._hold_timer.start(max(1, int(wait)))
                return
            frames, events, size = [], 0, 0
        if self._held:
            if size is None:
                size = sum(map(len, map(_PAYLOAD, frames)))
            self._held.extend(frames)
            frames, events, size = self._held, events + self._held_events, size + self._held_bytes
            self._held, self._held_events, self._held_bytes = [], 0, 0
        self._show(frames, events, size)

    def show_held(self) -> None:
        """Give the model the frames held back during a flood (now rather than on the timer)."""
        if self._held:
            frames, events, size = self._held, self._held_events, self._held_bytes
            self._held, self._held_events, self._held_bytes = [], 0, 0
            self._show(frames, events, size)

    def _show_held_in_turn(self) -> None:
        turn = self.bridge.take_turn() if len(self._held) > FLOOD_FRAMES else 0.0
        if turn:
            self._hold_timer.start(max(1, int(turn)))
        else:
            self.show_held()

    def _show(self, frames: list[FrameEvent], events: int = 0, size: int | None = None) -> None:
        self._hold_timer.stop()
        self._last_shown = time.monotonic()
        at_bottom = self._at_bottom()
        self.model.add_frames(frames, events, size)
        if at_bottom and not self.model.paused:
            self.view.scrollToBottom()
        self.decoded.scan_soon()

    def _on_section_resized(self, section: int, _old: int, width: int) -> None:
        if section == COL_PREVIEW:
            # what the column can show in its fixed-width font, and a quarter more for glyphs
            # of narrower fallback fonts; Qt elides the rest (the longer the text, the slower)
            columns = width // max(1, QFontMetrics(self.model.preview_font).averageCharWidth())
            self.model.set_preview_chars(columns + columns // 4 + 4)

    def _at_bottom(self) -> bool:
        bar = self.view.verticalScrollBar()
        return bar.value() >= bar.maximum()

    def _before_trim(self, _parent: QModelIndex, first: int, last: int) -> None:
        # rows trimmed above a reader who scrolled up: keep the same rows in sight
        if first == 0 and not self._at_bottom():
            self._keep_scroll = self.view.verticalScrollBar().value() - (last + 1)

    def _after_trim(self, *_: Any) -> None:
        if self._keep_scroll is not None:
            self.view.verticalScrollBar().setValue(max(0, self._keep_scroll))
            self._keep_scroll = None

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isRowSelected(index.row()):
            self.view.selectRow(index.row())  # a right click outside the selection selects
        self.row_menu.popup(self.view.viewport().mapToGlobal(pos))

    def _update_counter(self) -> None:
        model = self.model
        shown = model.frames_shown  # connection events are not frames
        dropped = count(model.dropped)  # compact past 99,999: it must fit the bar
        if model.filter.is_empty:
            text = f"rows: {count(shown)}, dropped: {dropped}"
        else:
            text = f"rows: {count(shown)} of {count(model.frames_stored)}, dropped: {dropped}"
        if model.paused:
            text = f"paused: {model.pending:,} new  ·  {text}"
        self.counter.setText(text)
        if model.paused != self._counter_paused:  # restyling re-polishes: only on a change
            self._counter_paused = model.paused
            self.counter.setStyleSheet(theme.style("paused_counter") if model.paused else "")
        self.counts_changed.emit(text)
