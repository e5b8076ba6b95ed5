"""The message inspector: a filterable live table of every frame, and the selected one in full."""

from __future__ import annotations

import functools
import heapq
import time
import weakref
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QFontMetrics,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.events import Direction, FrameEvent
from core.manager import ConnectionManager
from ui import theme
from ui.bridge import FLOOD_FRAMES, CoreBridge, TickBatch
from ui.conn_rows import ConnectionRow, RowMaker
from ui.elided_label import ElidedLabel
from ui.frame_detail import FrameDetail
from ui.frame_table import FrameTable
from ui.handshake_view import HandshakeView
from ui.inspector_decoded import DecodedFeed, DecodedFilterBar
from ui.inspector_filter import FrameFilter, InvalidFilter
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
from ui.payload_store import MAX_BYTES, WAIT_S, Lookup, PayloadReader, Status

if TYPE_CHECKING:
    from ui.payload_store import RecordingFile

ALL = "all"
SELECTED = "selected"
FILTER_DELAY_MS = 250  # typing in the search box re-filters after this pause
# Busy traffic is shown together, at most every so often: the table then adds rows, scrolls and
# repaints a few times a second instead of on every tick. Nobody reads 20,000 rows a second, and
# each repaint holds the GIL for a few milliseconds. (frames in a tick, at most every ... ms)
SHOW_EVERY_MS = ((FLOOD_FRAMES, 250), (50, 200))
HOLD_BYTES = 32 * 2**20  # payload bytes held back at most: large frames are shown at once
RETRY_MS = 100  # the detail pane asks the recording again for a row not written yet
_TIME = attrgetter("time")
_PAYLOAD = attrgetter("payload")
_NARROW = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon

_COLUMN_WIDTHS = {
    COL_TIME: 96, COL_CONN: 120, COL_DIR: 56, COL_TYPE: 56, COL_SIZE: 72, COL_MESSAGE: 180
}




def namer(manager: ConnectionManager) -> Callable[[int], str]:
    """conn_id -> the connection's label (or "#id" once it is removed)."""

    def name_of(conn_id: int) -> str:
        try:
            return manager.get(conn_id).config.label
        except KeyError:
            return f"#{conn_id}"

    return name_of



class _PopupCombo(QComboBox):
    """A combo box that says when its list is about to open (to fill it lazily)."""

    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class InspectorPanel(QWidget):
    """Frames of every connection; `dropped` (frames trimmed to keep the bound) for the status
    bar, `set_connections()` feeds the "Selected connections" choice of the connection filter."""

    frame_selected = Signal(object)  # FrameEvent or None (nothing, or a connection event)
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
        # the name lookup holds the manager, not the panel: no reference cycle through Qt objects
        self.model = InspectorModel(
            namer(bridge.manager), max_rows=max_rows, max_bytes=max_bytes, parent=self
        )
        self.decoded = DecodedFeed(self.model, self)
        self._recorder: RecordingFile | None = None
        self._recorder_set = False
        self.payloads = PayloadReader(functools.partial(_recorder_of, weakref.ref(self)))
        self.destroyed.connect(self.payloads.close)
        self._rows_of = RowMaker()

        # --- filter bar
        self.conn_combo = _PopupCombo()
        self.conn_combo.setToolTip("Show frames of these connections")
        self.conn_combo.addItem("All connections", ALL)
        self.conn_combo.addItem("Selected connections", SELECTED)
        # Combos are sized to a few characters, not to their longest item, so the filter bar
        # fits beside the connections column at 1280 px; their lists still show full names.
        self.conn_combo.setSizeAdjustPolicy(_NARROW)
        self.conn_combo.setMinimumContentsLength(9)
        self.conn_combo.about_to_show.connect(self._refresh_connections)
        self.dir_combo = QComboBox()
        self.dir_combo.setToolTip("Show frames received (in), sent (out) or both")
        self.dir_combo.addItem("In and out", None)
        self.dir_combo.addItem("↓ in", Direction.IN)
        self.dir_combo.addItem("↑ out", Direction.OUT)
        self.type_combo = _PopupCombo()
        self.type_combo.setToolTip("JSON `type` field (types seen so far)")
        self.type_combo.addItem("Any type", None)
        self.type_combo.setMinimumContentsLength(7)
        self.type_combo.setSizeAdjustPolicy(_NARROW)
        self.type_combo.view().setMinimumWidth(160)
        self.conn_combo.view().setMinimumWidth(200)
        self.type_combo.about_to_show.connect(self.refresh_types)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter (Ctrl+F)")
        self.search.setToolTip("Show frames containing this text (or regular expression)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(64)
        self.regex_box = QCheckBox(".*")
        self.regex_box.setToolTip("Regular expression")
        self.case_box = QCheckBox("Aa")
        self.case_box.setToolTip("Case sensitive")
        self.events_box = QCheckBox("⇄")
        self.events_box.setChecked(True)
        self.events_box.setToolTip(
            "Connection events: opens (with the handshake), closes, retries and errors"
        )
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the view; capture goes on and is shown on resume")
        self.clear_button = QPushButton("Clear")
        for button in (self.pause_button, self.clear_button):  # not the style's 80 px minimum
            button.setMaximumWidth(self.fontMetrics().horizontalAdvance("Resume") + 28)
        # "rows: 100k, dropped: 135k" whole while the filter box can give room; then cut with "…"
        self.counter = ElidedLabel(min_chars=8)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(theme.style("error_mark"))
        self.error_label.hide()

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.conn_combo, self.dir_combo, self.type_combo):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        for w in (
            self.regex_box, self.case_box, self.events_box, self.pause_button, self.clear_button
        ):
            bar.addWidget(w)
        bar.addWidget(self.counter)
        self.decoded_bar = DecodedFilterBar()

        # --- table
        self.view = FrameTable(bridge.redrawn)
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

        self.detail = FrameDetail()
        self.handshake = HandshakeView()
        self.details = QStackedWidget()  # the frame, or the connection event, selected
        self.details.addWidget(self.detail)
        self.details.addWidget(self.handshake)
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

        # --- wiring
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._filter_timer.start)
        self.decoded_bar.edited.connect(self._filter_timer.start)
        self.decoded_bar.changed.connect(self.apply_filter)
        self.regex_box.toggled.connect(self.apply_filter)
        self.case_box.toggled.connect(self.apply_filter)
        self.events_box.toggled.connect(self.apply_filter)
        self.conn_combo.currentIndexChanged.connect(self.apply_filter)
        self.dir_combo.currentIndexChanged.connect(self.apply_filter)
        self.type_combo.currentIndexChanged.connect(self.apply_filter)
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
        self._retry = QTimer(self)  # reads the selected row's payload again (not written yet)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self._read_again)
        self._retry_until = 0.0
        QShortcut(
            QKeySequence.StandardKey.Find,
            self,
            self.search.setFocus,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        bridge.tick.connect(self._on_tick)
        self._refresh_connections()
        self._update_counter()

    # ----- public API -----------------------------------------------------------------------

    def set_recorder(self, recorder: RecordingFile | None) -> None:
        """Where the full payloads of frames the table keeps only a preview of are: the session's
        Recorder, or the Recording a browser shows (anything with `.path`); None: recording is
        off. Until this is called, the main window's `recorder` attribute is used (the app
        sets it before it opens any connection)."""
        self._recorder = recorder
        self._recorder_set = True
        self.payloads.close()

    def recorder(self) -> RecordingFile | None:
        if self._recorder_set:
            return self._recorder
        widget = self.parentWidget()  # up to the main window, through a floating dock too
        while widget is not None:
            if hasattr(widget, "recorder"):
                return widget.recorder  # type: ignore[no-any-return]
            widget = widget.parentWidget()
        return None

    def selected_rows(self) -> list[int]:
        """The selected visible rows, in order (from the selection's ranges: no index per row)."""
        selection = self.view.selectionModel().selection()
        rows = sorted({r for rng in selection for r in range(rng.top(), rng.bottom() + 1)})
        return [r for r in rows if r < self.model.rowCount()]

    def selected_items(self) -> list[FrameEvent | ConnectionRow]:
        """The selected rows' frames and connection events (previews of large frames)."""
        return [self.model.frame(r) for r in self.selected_rows()]

    def current_item(self) -> FrameEvent | ConnectionRow | None:
        """The row the detail pane shows (the current one), if it is still visible."""
        row = self.model.row_of_seq(self._last_seq) if self._last_seq >= 0 else -1
        return self.model.frame(row) if row >= 0 else None

    def row_text(self, row: int) -> str:
        """A row as the table shows it (the preview cut as shown), cells separated by tabs."""
        model = self.model
        cells = [model.data(model.index(row, c)) for c in range(model.columnCount())]
        return "\t".join("" if c is None else str(c) for c in cells)

    def conn_name(self, conn_id: int) -> str:
        return self.model.name_of(conn_id)

    @property
    def dropped(self) -> int:
        """Frames dropped to keep the row bound (for the status bar)."""
        return self.model.dropped

    @property
    def rows(self) -> int:
        return self.model.rowCount()

    def set_connections(self, conn_ids: list[int]) -> None:
        """The connections selected in the connections panel ("Selected connections" filter)."""
        self._selected_conns = list(conn_ids)
        if self.conn_combo.currentData() == SELECTED:
            self.apply_filter()

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

    def select_newest(self, accept: Callable[[FrameEvent], bool], scan: int = 1000) -> bool:
        """Select the newest shown frame that `accept`s (of the last `scan` rows) and show it in
        the detail pane; False when there is none. (For --screenshot; users select by hand.)"""
        self.show_held()
        rows = self.model.rowCount()
        for row in range(rows - 1, max(-1, rows - 1 - scan), -1):
            item = self.model.frame(row)
            if isinstance(item, FrameEvent) and accept(item):
                index = self.model.index(row, 0)
                flags = (
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows
                )
                self.view.selectionModel().setCurrentIndex(index, flags)
                self.view.scrollTo(index)
                return True
        return False

    def clear(self) -> None:
        self._held.clear()  # they arrived before the click
        self._held_events = self._held_bytes = 0
        self._hold_timer.stop()
        self.model.clear()
        self._show_nothing()

    def current_filter(self) -> FrameFilter:
        conn = self.conn_combo.currentData()
        if conn == ALL:
            conn_ids = None
        elif conn == SELECTED:
            conn_ids = frozenset(self._selected_conns)
        else:
            conn_ids = frozenset([conn])
        direction = self.dir_combo.currentData()
        return FrameFilter(
            conn_ids=conn_ids,
            direction=Direction(direction) if direction else None,
            text=self.search.text(),
            regex=self.regex_box.isChecked(),
            case_sensitive=self.case_box.isChecked(),
            json_type=self.type_combo.currentData(),
            conn_events=self.events_box.isChecked(),
            kind=self.decoded_bar.kind,
            name=self.decoded_bar.name,
            hide_heartbeats=self.decoded_bar.hide_heartbeats,
        )

    def apply_filter(self, *_: Any) -> None:
        """Re-filter now; an invalid regular expression is reported inline, not applied."""
        self._filter_timer.stop()
        flt = self.current_filter()
        try:
            flt.compile_text()
        except InvalidFilter as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.search.setStyleSheet(theme.style("bad_search"))
            return
        self.error_label.hide()
        self.error_label.setText("")
        self.search.setStyleSheet("")
        if flt == self.model.filter:
            return
        self.model.set_filter(flt)
        self.decoded.scan_now()

    def refresh_types(self) -> None:
        """Fill the JSON type combo with the types seen so far (called when it opens)."""
        types = self.model.scan_types()
        current = self.type_combo.currentData()
        have = [self.type_combo.itemData(i) for i in range(1, self.type_combo.count())]
        if have == types:
            return
        self.type_combo.blockSignals(True)
        while self.type_combo.count() > 1:
            self.type_combo.removeItem(1)
        for kind in types:
            self.type_combo.addItem(kind, kind)
        if current is not None and current not in types:
            self.type_combo.addItem(current, current)
        self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(current)))
        self.type_combo.blockSignals(False)

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

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        item = self.model.frame(current.row())
        self._last_seq = self.model.seq_at(current.row())
        self._retry.stop()
        if isinstance(item, ConnectionRow):
            self.handshake.show_row(item, self.conn_name(item.conn_id))
            self.details.setCurrentWidget(self.handshake)
            self.frame_selected.emit(None)
            return
        self.details.setCurrentWidget(self.detail)
        title = self.decoded.title_of(item)
        messages = self.model.messages_at_seq(self._last_seq) if title is not None else None
        self.detail.set_decoded(messages, title or "")
        self._show_lookup(self.payloads.full(item))
        self._retry_until = time.monotonic() + WAIT_S
        self.frame_selected.emit(item)

    def _show_lookup(self, lookup: Lookup) -> None:
        """The frame in the detail pane: whole, or its preview and why (asked again later
        while the recorder has not written it yet)."""
        event = lookup.event
        self.detail.show_frame(event, self.conn_name(event.conn_id), lookup.text)
        if lookup.status is Status.PENDING:
            self._retry.start()

    def _read_again(self) -> None:
        item = self.current_item()  # a new current row stopped the timer: it is the same
        if not isinstance(item, FrameEvent):
            return
        lookup = self.payloads.full(item)
        if lookup.status is Status.PENDING and time.monotonic() > self._retry_until:
            lookup = Lookup(lookup.event, Status.MISSING)
        self._show_lookup(lookup)

    def _show_nothing(self) -> None:
        self._retry.stop()
        self.detail.show_frame(None)
        self.handshake.show_row(None)
        self.details.setCurrentWidget(self.detail)

    def _restore_selection(self) -> None:
        """After a re-filter: the same row selected again, or, when the filter hides it, none
        (the detail pane never shows a frame the table does not)."""
        row = self.model.row_of_seq(self._last_seq) if self._last_seq >= 0 else -1
        if row < 0:
            if self.detail.current is not None or self.handshake.current is not None:
                self._show_nothing()
                self.frame_selected.emit(None)
            return
        index = self.model.index(row, 0)
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

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

    def _refresh_connections(self) -> None:
        conns = self.bridge.manager.list()
        ids = tuple(c.id for c in conns)
        labels = [c.config.label for c in conns]
        have = [self.conn_combo.itemText(i) for i in range(2, self.conn_combo.count())]
        if ids == self._conn_ids and labels == have:
            return
        if labels != have:
            self.model.forget_cells(COL_CONN)  # a connection was renamed (or came or went)
        self._conn_ids = ids
        current = self.conn_combo.currentData()
        self.conn_combo.blockSignals(True)
        while self.conn_combo.count() > 2:
            self.conn_combo.removeItem(2)
        for conn in conns:
            self.conn_combo.addItem(conn.config.label, conn.id)
        index = self.conn_combo.findData(current)
        self.conn_combo.setCurrentIndex(max(0, index))
        self.conn_combo.blockSignals(False)
        if index < 0:
            self.apply_filter()


def _recorder_of(panel: weakref.ref[InspectorPanel]) -> RecordingFile | None:
    """The panel's recorder, through a weak reference: no cycle through the Qt object."""
    alive = panel()
    return alive.recorder() if alive is not None else None
