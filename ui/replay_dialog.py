"""Replay a recording or HAR against a server and compare the replies, without blocking the GUI.

The replay (core.recording.replay, plain asyncio) runs on a loop thread of the dialog's own, as
the app's connections do, so a busy window never delays a reply; the GUI's qasync loop awaits
it as a task and polls its progress on a timer. The result is bounded by the replay itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from core.facade import (
    DEFAULT_MAX_GAP,
    DEFAULT_REPLY_TIMEOUT,
    HarError,
    IgnoreRules,
    LoopThread,
    ReplayError,
    ReplayOptions,
    ReplayResult,
    Timing,
    hop,
    load_sources,
    replay,
    summarize,
)
from ui import theme
from ui.diff_panes import DiffPanes
from ui.elided_label import ElidedLabel
from ui.replay_model import COL_PATHS, COL_RECORDED, COL_REPLAYED, ReplayDiffModel

TIMING_CHOICES: tuple[tuple[str, Timing], ...] = (
    ("As fast as possible", "fast"),
    (f"Original timing (gaps up to {DEFAULT_MAX_GAP:g} s)", "original"),
    ("Wait for each reply", "wait-reply"),
)
PROGRESS_MS = 100
IGNORE_HELP = ("Fields left out of the comparison, separated by commas: a name (ts) matches that "
               "key at any depth, a dotted path (data.ts, items.*.id) matches from the top.")


def parse_ignore(text: str) -> tuple[str, ...]:
    return tuple(f for f in re.split(r"[,\s]+", text) if f)


def summary_text(result: ReplayResult) -> str:
    """One line: how the replies compared, and what was sent (and not)."""
    counts = summarize(result.diffs)
    text = ", ".join(f"{n} {status}" for status, n in counts.items())
    plural = "s" if result.connections != 1 else ""
    text += f" · {result.sent} sent on {result.connections} connection{plural}"
    if result.unsent:
        text += f" · {result.unsent} not sent (the server closed first)"
    if result.dropped_replies:
        text += f" · {result.dropped_replies} replies over the memory bound, not compared"
    return text


class ReplayDialog(QDialog):
    """Non-modal: `show()` it; `start()` runs a replay and returns its task."""

    replay_done = Signal(object)  # the ReplayResult, or None when the replay failed

    def __init__(self, parent: QWidget | None, source_path: str | Path, default_url: str = "",
                 config: ConnectionConfig | None = None) -> None:
        """`config` (a profile's headers, token, TLS) applies with the URL typed here."""
        super().__init__(parent)
        self.source_path = Path(source_path)
        self.setWindowTitle(f"Replay {self.source_path.name}")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one dialog per replay asked for
        self.resize(1000, 620)
        self._config = config
        self._core: LoopThread | None = None
        self._total = 0  # outbound messages to send, known once the sources are read
        self.task: asyncio.Task[None] | None = None
        self.result: ReplayResult | None = None
        self.error = ""
        self._rules = IgnoreRules()  # of the last replay started, to grey those fields
        self._closed = False
        self._progress = QTimer(self)
        self._progress.setInterval(PROGRESS_MS)
        self._progress.timeout.connect(self._show_progress)
        self.model = ReplayDiffModel(self)
        self.panes = DiffPanes()
        layout = QVBoxLayout(self)
        layout.addLayout(self._form(default_url))
        layout.addLayout(self._status_row())
        layout.addWidget(self._results(), 1)
        self._set_running(False)

    def _form(self, default_url: str) -> QFormLayout:
        source = ElidedLabel(str(self.source_path), min_chars=20)
        self.url_edit = QLineEdit(default_url)
        self.url_edit.setPlaceholderText("ws://host:port/path")
        self.timing_combo = QComboBox()
        for label, timing in TIMING_CHOICES:
            self.timing_combo.addItem(label, timing)
        self.ignore_edit = QLineEdit()
        self.ignore_edit.setPlaceholderText("e.g. ts, data.time, items.*.id")
        self.ignore_edit.setToolTip(IGNORE_HELP)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(0.2, 120.0)
        self.timeout_spin.setValue(DEFAULT_REPLY_TIMEOUT)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setToolTip("How long to wait for the replies that were recorded")
        timing_row = QHBoxLayout()
        timing_row.addWidget(self.timing_combo, 1)
        timing_row.addWidget(QLabel("Reply timeout"))
        timing_row.addWidget(self.timeout_spin)
        form = QFormLayout()
        form.addRow("Source", source)
        form.addRow("Server URL", self.url_edit)
        form.addRow("Timing", timing_row)
        form.addRow("Ignore fields", self.ignore_edit)
        return form

    def _status_row(self) -> QVBoxLayout:
        self.start_button = QPushButton("Replay")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        for button in (self.start_button, self.stop_button, close):
            buttons.addWidget(button)
        self.status = QLabel("Sends the source's outbound messages to the server, then compares "
                             "its replies with the recorded ones.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        column = QVBoxLayout()
        column.addLayout(buttons)
        column.addWidget(self.status)
        column.addWidget(self.summary)
        return column

    def _results(self) -> QSplitter:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((70, 45, 70, 290, 290, 180)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(COL_PATHS, QHeaderView.ResizeMode.Stretch)
        for column in (COL_RECORDED, COL_REPLAYED):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.panes.show_diff(self.model.diff_at(current.row()),
                                                            self._rules))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.panes)
        splitter.setSizes([220, 260])
        return splitter

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> asyncio.Task[None] | None:
        """Replay with the settings shown; None (and the reason shown) when they are not valid."""
        if self.running:
            return self.task
        url = self.url_edit.text().strip()
        if not url.lower().startswith(("ws://", "wss://")):
            self._fail("The server URL must start with ws:// or wss://.")
            return None
        options = ReplayOptions(timing=self.timing_combo.currentData(),
                                ignore=parse_ignore(self.ignore_edit.text()),
                                reply_timeout=self.timeout_spin.value())
        # on-open messages were recorded as outbound messages: the replay sends them once
        config = (ConnectionConfig(url) if self._config is None
                  else dataclasses.replace(self._config, url=url, on_open=[]))
        self.result, self.error, self._total = ReplayResult(), "", 0
        self._rules = IgnoreRules(options.ignore)
        self.model.set_diffs([])
        self.panes.show_diff(None)
        self.summary.clear()
        self.status.setStyleSheet("")
        self.status.setText(f"Reading {self.source_path.name}…")
        if self._core is None:
            self._core = LoopThread(name="socketscope-replay")
        self.task = asyncio.get_event_loop().create_task(self._run(config, options, self.result))
        self._set_running(True)
        return self.task

    def stop(self) -> None:
        """Stop a running replay; the replies so far are not compared."""
        if not self.running:
            return
        assert self.task is not None
        self.task.cancel()
        self._set_running(False)
        self.status.setText("Stopped. Replay again to compare the replies.")

    async def _run(self, config: ConnectionConfig, options: ReplayOptions,
                   result: ReplayResult) -> None:
        assert self._core is not None
        try:
            await hop(self._core.loop, self._work(config, options, result))
        except (ReplayError, HarError, OSError) as exc:
            error = str(exc)
        except asyncio.CancelledError:
            raise  # stop() or closing: they update the window themselves
        except Exception as exc:  # a bug must still end in words, not a silent log line
            error = f"The replay failed ({type(exc).__name__}): {exc}"
        else:
            error = ""
        if not self._closed:  # the window may be gone already
            self._finish(None if error else result, error)

    async def _work(self, config: ConnectionConfig, options: ReplayOptions,
                    result: ReplayResult) -> None:
        """On the replay's own loop thread."""
        sources = load_sources(self.source_path)
        self._total = sum(len(source.outbound) for source in sources)
        await replay(sources, config, options, result)

    def _show_progress(self) -> None:
        result = self.result
        if result is None or not self._total:
            self.progress.setRange(0, 0)  # busy until the sources are read
            return
        done = result.sent + result.unsent
        self.progress.setRange(0, self._total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {self._total} messages sent")
        self.status.setText(f"Replaying to {self.url_edit.text().strip()}: connection "
                            f"{result.connections + 1}, waiting for replies…")

    def _finish(self, result: ReplayResult | None, error: str) -> None:
        self._set_running(False)
        if result is None:
            self._fail(error)
            self.replay_done.emit(None)
            return
        self.progress.setRange(0, max(1, self._total))
        self.progress.setValue(max(1, self._total))
        self.progress.setFormat(f"{result.sent} of {self._total} messages sent")
        self.model.set_diffs(result.diffs)
        self.status.setText(f"Done: {len(result.diffs)} replies compared. Select one to see "
                            "both sides.")
        self.summary.setText(summary_text(result))
        self.summary.setStyleSheet(theme.style("replay_same" if result.all_same
                                               else "replay_changed"))
        first = next((i for i, d in enumerate(result.diffs) if d.status != "same"), 0)
        if result.diffs:
            self.table.selectionModel().setCurrentIndex(
                self.model.index(first, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        self.replay_done.emit(result)

    def _fail(self, error: str) -> None:
        self.error = error
        self.status.setText(error)
        self.status.setStyleSheet(theme.style("replay_error"))
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for widget in (self.url_edit, self.timing_combo, self.ignore_edit, self.timeout_spin):
            widget.setEnabled(not running)
        if running:
            self._progress.start()
            self._show_progress()
        else:
            self._progress.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing stops the replay and its thread (its connection closes cleanly first)."""
        self._closed = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self._progress.stop()
        if self._core is not None:
            self._core.stop()
            self._core = None
        super().closeEvent(event)


def replay_file_dialog(parent: QWidget, default_url: str = "",
                       config: ConnectionConfig | None = None) -> ReplayDialog | None:
    """File > Replay…: pick a recording or a HAR, then the replay window for it (shown)."""
    path, _ = QFileDialog.getOpenFileName(
        parent, "Replay a recording or HAR", "",
        "Recordings and HAR (*.sqlite *.har *.json);;All files (*)")
    if not path:
        return None
    dialog = ReplayDialog(parent, path, default_url, config)
    dialog.show()
    return dialog
