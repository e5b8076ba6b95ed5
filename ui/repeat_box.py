"""The composer's "Repeat…" row: interval, jitter, count (or until stopped), start and stop, and
the progress of each connection's repeat ("A: sent 37/100"), from the ScheduleChanged events of
one tick (a few a second per schedule: the core throttles them). The schedules run in the core
(`core.schedule.Scheduler`); this row starts, stops and shows the ones started from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.events import ScheduleChanged
from core.facade import (
    MAX_COUNT,
    MAX_INTERVAL,
    MAX_JITTER,
    MIN_INTERVAL,
    Pace,
    Resolve,
    Scheduler,
)
from core.facade import ScheduledMessage as Message
from core.states import ConnState
from ui import theme
from ui.composer_targets import NARROW

DEFAULT_INTERVAL_MS = 1000.0
DEFAULT_COUNT = 10
MAX_SHOWN = 8  # progress lines shown at once (the newest schedules)
THIS_MESSAGE = "this message"


class Collected(Protocol):
    """A collection as core.workspace has it: a name and its messages, in the user's order."""

    name: str
    messages: Sequence[Message]


class RepeatBox(QWidget):
    """`start_clicked`: the composer gathers what to send (`chosen()`) and calls `start()`."""

    start_clicked = Signal()

    def __init__(self, scheduler: Scheduler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scheduler = scheduler
        self._collections: Callable[[], Sequence[Collected]] = tuple
        self.source = QComboBox()
        self.source.setMinimumContentsLength(10)
        self.source.setSizeAdjustPolicy(NARROW)
        self.source.setToolTip("Repeat the composer's message, or every message of a collection")
        self.source.addItem(THIS_MESSAGE, None)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(MIN_INTERVAL * 1000, MAX_INTERVAL * 1000)
        self.interval.setDecimals(0)
        self.interval.setSuffix(" ms")
        self.interval.setValue(DEFAULT_INTERVAL_MS)
        self.interval.setToolTip("Time between two sends (20 ms = 50 a second)")
        self.jitter = QSpinBox()
        self.jitter.setRange(0, int(MAX_JITTER * 100))
        self.jitter.setSuffix(" %")
        self.jitter.setPrefix("± ")
        self.jitter.setToolTip("Move each send by up to this share of the interval, at random")
        self.count = QSpinBox()
        self.count.setRange(0, MAX_COUNT)
        self.count.setSpecialValueText("until stopped")  # shown for 0
        self.count.setValue(DEFAULT_COUNT)
        self.count.setToolTip("Messages to send in all (0: until stopped)")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Send the composer's message again and again")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop every repeat started here")
        self.stop_button.setEnabled(False)
        self.progress = QLabel()
        self.progress.setTextFormat(Qt.TextFormat.PlainText)
        self.progress.setWordWrap(True)
        self.progress.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("Every", self.interval), ("", self.jitter), ("×", self.count)):
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        below = QHBoxLayout()
        below.setContentsMargins(0, 0, 0, 0)
        below.addWidget(self.source)
        below.addWidget(self.start_button)
        below.addWidget(self.stop_button)
        below.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addLayout(below)
        layout.addWidget(self.progress)

        self.start_button.clicked.connect(self.start_clicked)
        self.stop_button.clicked.connect(self.stop)
        self._mine: set[int] = set()  # ids of the schedules started here and still running
        self._latest: dict[int, ScheduleChanged] = {}  # schedule id -> its latest event

    def set_collections(self, collections: Callable[[], Sequence[Collected]]) -> None:
        """Where the collections come from (read afresh each time the row is shown)."""
        self._collections = collections
        self.refresh_sources()

    def refresh_sources(self) -> None:
        current = self.source.currentData()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItem(THIS_MESSAGE, None)
        for collection in self._collections():
            count = len(collection.messages)
            self.source.addItem(f"collection {collection.name} ({count})", collection.name)
        self.source.setCurrentIndex(max(0, self.source.findData(current)))
        self.source.blockSignals(False)

    def choose(self, collection: str | None) -> None:
        """Repeat that collection (None: the composer's message)."""
        self.refresh_sources()
        index = self.source.findData(collection)
        if index < 0:
            raise ValueError(f"no collection named {collection!r}")
        self.source.setCurrentIndex(index)

    def chosen(self) -> Collected | None:
        """The collection to repeat, or None for the composer's message; ValueError when it
        is gone from the workspace since it was chosen."""
        name = self.source.currentData()
        if name is None:
            return None
        found = next((c for c in self._collections() if c.name == name), None)
        if found is None:
            raise ValueError(f"the collection {name!r} is no longer in the workspace")
        return found

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh_sources()
        super().showEvent(event)

    def pace(self) -> Pace:
        """The settings as a Pace; ValueError in words when they cannot be used."""
        count = self.count.value()
        return Pace(self.interval.value() / 1000, self.jitter.value() / 100, count or None)

    def set_pace(self, interval: float, jitter: float = 0.0, count: int | None = None) -> None:
        self.interval.setValue(interval * 1000)
        self.jitter.setValue(round(jitter * 100))
        self.count.setValue(count or 0)

    @property
    def running(self) -> list[int]:
        """Ids of the schedules started here and not yet ended."""
        return sorted(self._mine)

    def start(
        self,
        targets: Sequence[tuple[int, str, ConnState]],
        messages: Sequence[Message],
        resolve: Resolve | None,
        label: str,
        prepared: Sequence[tuple[bytes, bool]] = (),
    ) -> list[str]:
        """Start a schedule on each target, (id, label, state) (see `Scheduler.start`); a line
        for each that did not start (empty: all did). ValueError when the settings cannot be
        used."""
        pace = self.pace()
        problems = []
        for conn_id, name, state in targets:
            if state is ConnState.CLOSED:
                problems.append(f"{name}: not started: the connection is closed "
                                "(connect it first)")  # fmt: skip
                continue
            try:
                schedule = self.scheduler.start(conn_id, messages, pace, resolve, label, prepared)
            except ValueError as exc:
                problems.append(f"{name}: not started: {exc}")
                continue
            self._mine.add(schedule.id)
        self.stop_button.setEnabled(bool(self._mine))
        return problems

    def stop(self) -> None:
        """Stop every repeat started here."""
        for schedule_id in self._mine:
            self.scheduler.stop(schedule_id)

    def on_events(self, events: Sequence[Any], label_of: Callable[[int], str]) -> None:
        """Show the newest state of each schedule started here, from one tick's events."""
        changed = False
        for event in events:
            if type(event) is ScheduleChanged and event.schedule_id in self._mine:
                self._latest[event.schedule_id] = event
                changed = True
                if not event.running:
                    self._mine.discard(event.schedule_id)
        if not changed:
            return
        while len(self._latest) > MAX_SHOWN:  # the oldest ended ones go first
            ended = [sid for sid, e in self._latest.items() if not e.running]
            del self._latest[ended[0] if ended else next(iter(self._latest))]
        self.show_progress(label_of)

    def show_progress(self, label_of: Callable[[int], str]) -> None:
        lines = [f"{label_of(e.conn_id)}: {describe(e)}" for e in self._latest.values()]
        failed = any(e.error for e in self._latest.values() if not e.running)
        self.progress.setText("\n".join(lines))
        self.progress.setVisible(bool(lines))
        self.progress.setStyleSheet(theme.style("error_mark") if failed else "")
        self.stop_button.setEnabled(bool(self._mine))


def describe(event: ScheduleChanged) -> str:
    """'sent 37/100', 'sent 12 (until stopped)', with what it waits for or why it ended."""
    total = f"/{event.total:,}" if event.total is not None else ""
    done = f"sent {event.sent:,}{total}"
    if event.running:
        if event.waiting:
            return f"{done}, waiting for the connection to open"
        return done if event.total is not None else f"{done} (until stopped)"
    if event.error:
        return f"{done}, {event.error}"
    if event.total is not None and event.sent >= event.total:
        return f"{done}, done"
    return f"{done}, stopped"
