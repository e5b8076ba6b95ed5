"""The inspector's decoded side: the filter row on decoded messages (kind, event/method name or
topic, heartbeats hidden) and the hand-over of the decoders' events to the model each tick."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from core.decoders.api import Kind
from core.events import FrameEvent
from ui.bridge import TickBatch
from ui.decoded_cache import DecodedIndex
from ui.inspector_model import COL_MESSAGE, InspectorModel

SCAN_MS = 60  # a decoded filter judges new rows in turns this far apart
SCAN_BUDGET_S = 0.02  # ... for at most this long each
SETTLE_S = 0.3  # rows this young wait: their messages decoded in core may still be on the way


class DecodedFilterBar(QWidget):
    """Kind, name/topic and "hide heartbeats"; `changed` at once, `edited` while typing."""

    changed = Signal()
    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        label = QLabel("Message:")
        label.setToolTip("Filter on what the connection's protocol decoder read in each frame")
        self.kind_combo = QComboBox()
        self.kind_combo.setToolTip("Kind of decoded message")
        self.kind_combo.addItem("Any kind", None)
        for kind in Kind:
            self.kind_combo.addItem(kind.value, kind.value)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("event, method or topic")
        self.name_edit.setToolTip("Show frames whose decoded event/method name or topic "
                                  "contains this text (any case)")
        self.name_edit.setClearButtonEnabled(True)
        self.name_edit.setMinimumWidth(80)
        self.heartbeats_box = QCheckBox("Hide heartbeats")
        self.heartbeats_box.setToolTip(
            "Hide protocol pings and pongs (Engine.IO, GraphQL, STOMP, MQTT, JSON ping/pong) "
            "and WebSocket ping and pong frames"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addWidget(self.kind_combo)
        layout.addWidget(self.name_edit, 1)
        layout.addWidget(self.heartbeats_box)
        self.kind_combo.currentIndexChanged.connect(self.changed)
        self.heartbeats_box.toggled.connect(self.changed)
        self.name_edit.textChanged.connect(self.edited)

    @property
    def kind(self) -> str | None:
        return self.kind_combo.currentData()

    @property
    def name(self) -> str:
        return self.name_edit.text().strip()

    @property
    def hide_heartbeats(self) -> bool:
        return self.heartbeats_box.isChecked()


class DecodedFeed:
    """Gives the model's DecodedIndex the tick's decoder events, refreshes the rows they change,
    and runs a decoded filter's scan in turns (never more than SCAN_BUDGET_S at a time)."""

    def __init__(self, model: InspectorModel, parent: QWidget) -> None:
        self.model = model
        self.index: DecodedIndex = model.decoded
        model.scan_settle = SETTLE_S
        self.timer = QTimer(parent)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SCAN_MS)
        self.timer.timeout.connect(self._scan)

    def take(self, batch: TickBatch) -> None:
        """Before the tick's frames are added."""
        if not batch.protocols and not batch.decoded:
            return
        for detected in batch.protocols:
            self.index.protocol_detected(detected)
        for decoded in batch.decoded:
            self.index.messages_decoded(decoded)
        if batch.protocols:
            self.index.take_waiting()
            self.model.forget_cells(COL_MESSAGE)
        else:
            waiting = self.index.take_waiting()
            if waiting:
                self.model.forget_rows(waiting)

    def scan_soon(self) -> None:
        if self.model.scanning and not self.timer.isActive():
            self.timer.start()

    def scan_now(self) -> None:
        """A first turn at once (a new filter)."""
        self.timer.stop()
        self._scan()

    def _scan(self) -> None:
        if self.model.scan_filter(SCAN_BUDGET_S):
            self.timer.start()

    def title_of(self, event: FrameEvent) -> str | None:
        """The decoder's title for a frame, or None when its connection was raw."""
        name = self.index.protocol_at(event.conn_id, event.time)
        return None if name is None else self.index.title(name)
