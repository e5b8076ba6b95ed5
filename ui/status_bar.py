"""Status bar: open connections, total message rates, dropped rows, the last bridge message or
connection error, and an Undo button for a while after connections were removed.

A connection's error stays only while it is true: it goes when that connection opens again or
is removed.

The figures are shown twice a second, not on every tick. The rates come from the message
totals of the connections, summed and differenced over the last RATE_WINDOW_S. Each tick adds
what the totals of the connections it brought a MetricsSnapshot of (ui.series) grew by to the
sum: with a thousand connections, summing every one's 5-second rate twice a second would cost
more than the few that changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from core.events import ConnectionRemoved, ErrorEvent, MetricsSnapshot
from core.states import ConnState
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.connections_model import display_name
from ui.elided_label import ElidedLabel

REFRESH_S = 0.5  # the figures change at most twice a second: readable, and cheap
RATE_WINDOW_S = 5.0
RATE_SAMPLE_S = 1.0  # the sums are sampled once in this time
UNDO_S = 10.0  # how long an Undo is offered
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
        # Message totals: each connection's (in, out) as last read, and their sum.
        self._counted: dict[int, tuple[int, int]] = {}
        self._sum_in = self._sum_out = 0
        # [time, sum in, sum out] once per RATE_SAMPLE_S over the last RATE_WINDOW_S
        self._samples: deque[list[float]] = deque()
        self._rates = (0.0, 0.0)

        self.message_label = ElidedLabel(min_chars=16)  # cut with "…", whole in its tooltip
        self._error_conn: int | None = None  # whose error the message is (None: no error's)
        self._error_time = 0.0
        self.undo_button = QPushButton("Undo")
        self.undo_button.setFlat(True)
        self.undo_button.setStyleSheet(theme.style("undo_button"))
        self.undo_button.hide()
        self.undo_button.clicked.connect(self._undo)
        self._undo_action: Callable[[], object] | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.withdraw_undo)
        self._holds_seen = 0
        self._build_figures()
        self.addWidget(self.message_label, 1)
        self.addWidget(self.undo_button)
        self.addPermanentWidget(self.recording_label)
        self.addPermanentWidget(self.connections_label)
        self.addPermanentWidget(self.rates_label)
        self.addPermanentWidget(self.dropped_label)

        bridge.tick.connect(self._on_tick)
        bridge.message.connect(self.show_message)
        self.refresh()

    def _build_figures(self) -> None:
        self.connections_label = QLabel()
        self.rates_label = QLabel()
        self.dropped_label = QLabel()
        self.recording_label = QLabel("recording catching up: reads held")
        self.recording_label.setStyleSheet(theme.style("recording"))
        self.recording_label.hide()
        for label, tip in (
            (self.recording_label, "The recording fell behind the traffic: SocketScope stopped "
                                   "reading the sockets for a moment, so that every frame is "
                                   "recorded and memory stays bounded (TCP slows the sender "
                                   "meanwhile)"),
            (self.connections_label, "Open connections / all connections"),
            (self.rates_label, "Messages per second received and sent, all connections, "
                               "averaged over the last 5 s"),
            (self.dropped_label, "Rows not shown because a buffer was full (UI event buffer "
                                 "and inspector row limit)"),
        ):
            label.setToolTip(tip)
            label.setTextFormat(Qt.TextFormat.PlainText)
        # Figures keep their width as their digits change: the bar does not jitter, and no
        # count can push the window's minimum width up.
        wide = self.fontMetrics().horizontalAdvance
        self.rates_label.setMinimumWidth(wide("▼ 9999.9 msg/s  ▲ 9999.9 msg/s"))
        self.connections_label.setMinimumWidth(wide("999/999 open"))
        self.dropped_label.setMinimumWidth(wide("dropped: 999,999"))
        for label in (self.rates_label, self.connections_label, self.dropped_label):
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def show_message(self, text: str) -> None:
        """A line that is no connection's error (it stays until the next one)."""
        self._error_conn = None
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        line = text.splitlines()[0] if text else ""
        self.message_label.setText(line[:300])
        self.message_label.setToolTip(text)

    def show_error(self, error: ErrorEvent) -> None:
        """A connection's error, in words, with its name; shown until the connection opens
        again or is removed (or another message replaces it)."""
        self._set_text(f"{self._label(error.conn_id)}: {error.message}")
        self._error_conn = error.conn_id
        self._error_time = error.time

    def error_conn(self) -> int | None:
        """The connection whose error is shown, if one is."""
        return self._error_conn

    def offer_undo(self, text: str, undo: Callable[[], object], seconds: float = UNDO_S) -> None:
        """Say `text` with an Undo button beside it for `seconds`; the button calls `undo`."""
        self.show_message(text)
        self._undo_action = undo
        self.undo_button.setToolTip(f"{text}: undo")
        self.undo_button.show()
        self._undo_timer.start(int(seconds * 1000))

    def withdraw_undo(self) -> None:
        self._undo_timer.stop()
        self._undo_action = None
        self.undo_button.hide()

    def _undo(self) -> None:
        action = self._undo_action
        self.withdraw_undo()
        if action is not None:
            action()

    def _on_tick(self, batch: TickBatch) -> None:
        errors = [e for e in batch.others if type(e) is ErrorEvent]
        if errors:  # the latest connection error
            self.show_error(errors[-1])
        if self._error_conn is not None:
            self._clear_outlived(batch)
        self._count_updated()
        if batch.time >= self._next:
            self._next = batch.time + REFRESH_S
            self._show(batch.time)

    def _clear_outlived(self, batch: TickBatch) -> None:
        """The shown error goes once its connection opened after it, or was removed."""
        conn_id = self._error_conn
        opened = any(
            e.conn_id == conn_id and e.new is ConnState.OPEN and e.time >= self._error_time
            for e in batch.states
        )
        removed = any(type(e) is ConnectionRemoved and e.conn_id == conn_id
                      for e in batch.others)
        if opened or removed:
            self.show_message("")

    def _label(self, conn_id: int) -> str:
        try:
            return display_name(self.bridge.commands.config(conn_id))
        except KeyError:
            return f"connection #{conn_id}"

    def refresh(self, now: float | None = None) -> None:
        """Read every connection's totals and show the figures now."""
        now = time.time() if now is None else now
        self._forget_removed(self.bridge.commands.ids())
        for snap in self.bridge.series.latest_all():
            self._count(snap)
        self._show(now)

    def _show(self, now: float) -> None:
        conns = self.bridge.commands.ids()
        if self._error_conn is not None and self._error_conn not in conns:
            self.show_message("")  # removed, whatever the events said
        latest = self.bridge.series.latest
        open_count = 0
        for conn_id in conns:
            snap = latest(conn_id)
            open_count += snap is not None and snap.state is ConnState.OPEN
        rate_in, rate_out = self._rate(now)
        dropped = self.bridge.dropped_total + sum(dropped_of(s) for s in self.dropped_sources)
        self.connections_label.setText(f"{open_count}/{len(conns)} open")
        self.rates_label.setText(f"▼ {rate_in:.1f} msg/s  ▲ {rate_out:.1f} msg/s")
        self.dropped_label.setText(f"dropped: {dropped:,}")
        style = theme.style("error_plain") if dropped else ""
        if self.dropped_label.styleSheet() != style:  # a new style sheet re-polishes the label
            self.dropped_label.setStyleSheet(style)
        held = self.bridge.commands.backpressure  # holds are short: any since the last show
        holding = held.held_since(self._holds_seen)
        self._holds_seen = held.holds
        if holding != self.recording_label.isVisibleTo(self):
            self.recording_label.setVisible(holding)

    # ----- message totals ----------------------------------------------------------------------

    def _count_updated(self) -> None:
        """Add what the totals of the connections this tick brought news of grew by."""
        series = self.bridge.series
        if len(self._counted) > len(self.bridge.commands):
            self._forget_removed(self.bridge.commands.ids())
        for conn_id in series.updated:
            snap = series.latest(conn_id)
            if snap is not None:
                self._count(snap)

    def _count(self, snap: MetricsSnapshot) -> None:
        now_in, now_out = snap.msgs_in, snap.msgs_out
        before = self._counted.get(snap.conn_id)
        self._counted[snap.conn_id] = (now_in, now_out)
        if before is None:  # new here: what it had before does not count as a rate
            self._shift(now_in, now_out)
        else:
            self._sum_in += now_in - before[0]
            self._sum_out += now_out - before[1]

    def _forget_removed(self, conns: list[int]) -> None:
        """Take removed connections out of the sum, and their last totals out of the earlier
        samples too: what they received in the window still counts, and the rate does not turn
        negative."""
        present = set(conns)
        if present.issuperset(self._counted):
            return
        for conn_id in [i for i in self._counted if i not in present]:
            gone_in, gone_out = self._counted.pop(conn_id)
            self._shift(-gone_in, -gone_out)

    def _shift(self, msgs_in: int, msgs_out: int) -> None:
        self._sum_in += msgs_in
        self._sum_out += msgs_out
        for sample in self._samples:
            sample[1] += msgs_in
            sample[2] += msgs_out

    def _rate(self, now: float) -> tuple[float, float]:
        """Messages/s in and out over the last RATE_WINDOW_S, from the sums sampled once per
        RATE_SAMPLE_S."""
        samples = self._samples
        if samples and now < samples[-1][0]:
            samples.clear()  # the clock went back: start a new window
        if samples and now - samples[-1][0] < RATE_SAMPLE_S * 0.99:
            return self._rates
        samples.append([now, self._sum_in, self._sum_out])
        oldest = now - RATE_WINDOW_S - RATE_SAMPLE_S / 2
        while len(samples) > 1 and samples[0][0] < oldest:
            samples.popleft()
        first = samples[0]
        span = now - first[0]
        if span > 0:  # else (a first sample) the figures stay as they were
            self._rates = ((self._sum_in - first[1]) / span, (self._sum_out - first[2]) / span)
        return self._rates
