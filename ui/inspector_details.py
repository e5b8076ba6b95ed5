"""The inspector's detail pane and selection: the selected row in full (its payload read back
from the recording when the table keeps only a preview), or its connection event."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QStackedWidget

from core.events import FrameEvent
from ui.conn_rows import ConnectionRow
from ui.frame_detail import FrameDetail
from ui.frame_table import FrameTable
from ui.handshake_view import HandshakeView
from ui.inspector_filter_bar import FilterBarPanel
from ui.payload_store import WAIT_S, Lookup, PayloadReader, Status

if TYPE_CHECKING:
    from ui.payload_store import RecordingFile

RETRY_MS = 100  # the detail pane asks the recording again for a row not written yet


class DetailsPanel(FilterBarPanel):
    """The part of the inspector panel that shows the selected row: `InspectorPanel` builds on
    it (and on the filter bar)."""

    frame_selected = Signal(object)  # FrameEvent or None (nothing, or a connection event)

    view: FrameTable
    payloads: PayloadReader
    _recorder: RecordingFile | None
    _recorder_set: bool
    _last_seq: int

    def _build_details(self) -> None:
        """The detail pane (a frame, or a connection event) and its timer to read again."""
        self.detail = FrameDetail()
        self.handshake = HandshakeView()
        self.details = QStackedWidget()  # the frame, or the connection event, selected
        self.details.addWidget(self.detail)
        self.details.addWidget(self.handshake)
        self._retry = QTimer(self)  # reads the selected row's payload again (not written yet)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self._read_again)
        self._retry_until = 0.0

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

    def conn_name(self, conn_id: int) -> str:
        return self.model.name_of(conn_id)

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


def recorder_of(panel: weakref.ref[DetailsPanel]) -> RecordingFile | None:
    """The panel's recorder, through a weak reference: no cycle through the Qt object."""
    alive = panel()
    return alive.recorder() if alive is not None else None
