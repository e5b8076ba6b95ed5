"""The inspector's filter bar: its widgets, and the FrameFilter they make."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from core.events import Direction
from ui import theme
from ui.bridge import CoreBridge
from ui.elided_label import ElidedLabel
from ui.inspector_decoded import DecodedFeed, DecodedFilterBar
from ui.inspector_filter import FrameFilter, InvalidFilter
from ui.inspector_model import COL_CONN, InspectorModel

ALL = "all"
SELECTED = "selected"
FILTER_DELAY_MS = 250  # typing in the search box re-filters after this pause
_NARROW = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


class _PopupCombo(QComboBox):
    """A combo box that says when its list is about to open (to fill it lazily)."""

    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class FilterBarPanel(QWidget):
    """The part of the inspector panel that filters: `InspectorPanel` builds on it."""

    bridge: CoreBridge
    model: InspectorModel
    decoded: DecodedFeed
    _selected_conns: list[int]
    _conn_ids: tuple[int, ...]

    def _build_filter_bar(self) -> QHBoxLayout:
        """The bar's widgets (`self.decoded_bar` too, which goes below it) and its layout."""
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
        return self._filter_bar_layout()

    def _filter_bar_layout(self) -> QHBoxLayout:
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
        return bar

    def _wire_filter(self) -> None:
        """Re-filter as the bar changes (typing in turns of FILTER_DELAY_MS)."""
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

    def set_connections(self, conn_ids: list[int]) -> None:
        """The connections selected in the connections panel ("Selected connections" filter)."""
        self._selected_conns = list(conn_ids)
        if self.conn_combo.currentData() == SELECTED:
            self.apply_filter()

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

    def _refresh_connections(self) -> None:
        commands = self.bridge.commands
        ids = tuple(commands.ids())
        labels = [commands.config(c).label for c in ids]
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
        for conn_id, label in zip(ids, labels, strict=True):
            self.conn_combo.addItem(label, conn_id)
        index = self.conn_combo.findData(current)
        self.conn_combo.setCurrentIndex(max(0, index))
        self.conn_combo.blockSignals(False)
        if index < 0:
            self.apply_filter()
