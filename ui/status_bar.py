"""Status bar: open connections, total message rates, dropped rows, the last bridge message or
connection error."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from core.events import ErrorEvent
from core.states import ConnState
from ui.bridge import CoreBridge, TickBatch

REFRESH_S = 0.5  # the figures change at most twice a second: readable, and cheap
MESSAGE_MS = 15_000
DROPPED_ATTRS = ("dropped_rows", "dropped_total", "dropped")


def dropped_of(source: object) -> int:
    """The dropped-row count a panel exposes (first of DROPPED_ATTRS found), else 0."""
    for name in DROPPED_ATTRS:
        value = getattr(source, name, None)
        if callable(value):
            value = value()
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


class StatusBar(QStatusBar):
    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("StatusBar")
        self.bridge = bridge
        self.dropped_sources: list[object] = []  # e.g. the inspector (its dropped-row counter)
        self._next = 0.0

        self.message_label = QLabel()
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setMinimumWidth(200)
        self.connections_label = QLabel()
        self.rates_label = QLabel()
        self.dropped_label = QLabel()
        for label, tip in (
            (self.connections_label, "Open connections / all connections"),
            (self.rates_label, "Messages per second received and sent, all connections, "
                               "averaged over the last 5 s"),
            (self.dropped_label, "Rows not shown because a buffer was full (UI event buffer "
                                 "and inspector row limit)"),
        ):
            label.setToolTip(tip)
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.addWidget(self.message_label, 1)
        self.addPermanentWidget(self.connections_label)
        self.addPermanentWidget(self.rates_label)
        self.addPermanentWidget(self.dropped_label)

        bridge.tick.connect(self._on_tick)
        bridge.message.connect(self.show_message)
        self.refresh()

    def show_message(self, text: str) -> None:
        line = text.splitlines()[0] if text else ""
        self.message_label.setText(line[:300])
        self.message_label.setToolTip(text)

    def _on_tick(self, batch: TickBatch) -> None:
        errors = [e for e in batch.others if type(e) is ErrorEvent]
        if errors:  # the latest connection error, in words, with the connection's name
            self.show_message(f"{self._label(errors[-1].conn_id)}: {errors[-1].message}")
        if batch.time >= self._next:
            self._next = batch.time + REFRESH_S
            self.refresh(batch.time)

    def _label(self, conn_id: int) -> str:
        try:
            return self.bridge.manager.get(conn_id).config.label
        except KeyError:
            return f"connection #{conn_id}"

    def refresh(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        conns = self.bridge.manager.list()
        open_count = sum(1 for c in conns if c.state is ConnState.OPEN)
        msgs_in = msgs_out = 0.0
        for conn in conns:
            rate = conn.metrics.rate(now)
            msgs_in += rate[0]
            msgs_out += rate[2]
        dropped = self.bridge.dropped_total + sum(dropped_of(s) for s in self.dropped_sources)
        self.connections_label.setText(f"{open_count}/{len(conns)} open")
        self.rates_label.setText(f"▼ {msgs_in:.1f} msg/s  ▲ {msgs_out:.1f} msg/s")
        self.dropped_label.setText(f"dropped: {dropped:,}")
        self.dropped_label.setStyleSheet("color: #c0392b;" if dropped else "")
