"""The load panel: runs a scenario (core.load.LoadSession: Locust or the local runner, both in
subprocesses, watched from a thread) and charts its stats live beside the RTT of the app's own
connection to the target. The session's stats are drained on one timer tick and drawn in one
batch, never per sample. A few samples of the run can be mirrored into the inspector as ordinary
connections. After the run: a summary table and the results folder, kept beside the session's
recording when there is one."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.facade import (
    LOAD_FIGURES,
    LoadPlan,
    LoadSession,
    LoadStats,
    LocustOptions,
    Resolver,
    ScenarioError,
    SecretStore,
    WorkspaceError,
    data_dir,
    default_workspace_path,
    find_scenario,
    load_summary,
    load_workspace,
    make_plan,
)
from core.states import ConnState
from ui.bridge import CoreBridge, TickBatch
from ui.elided_label import ElidedLabel
from ui.load_charts import LoadCharts
from ui.load_mirror import MAX_MIRRORS, Mirrors

if TYPE_CHECKING:
    from ui.workspace_session import WorkspaceSession

TICK_MS = 500
HISTORY = 3600  # seconds of points kept per curve
STOP_TIMEOUT = 30.0  # s for a run's subprocesses to end at shutdown
Spin = TypeVar("Spin", QSpinBox, QDoubleSpinBox)


class LoadPanel(QWidget):
    def __init__(self, bridge: CoreBridge, window: QWidget | None = None) -> None:
        super().__init__(window)
        self.setObjectName("LoadPanel")
        self.bridge = bridge
        self.main_window = window
        self.workspace: WorkspaceSession | None = None  # the window's (wire_panel)
        self.workspace_path: Path | None = None  # without one: this file, else the default
        self.session: LoadSession | None = None
        self.plan: LoadPlan | None = None
        self.results: Path | None = None
        self.started = time.time()  # epoch of the run's t = 0 (the RTT chart's too)
        self.selected: list[int] = []  # the connections panel's selection
        self.mirrors = Mirrors(bridge)
        self.points: deque[LoadStats] = deque(maxlen=HISTORY)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._next_rtt = 0.0
        self._build()
        bridge.tick.connect(self._on_bridge_tick)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(self._scenario_row())
        layout.addLayout(self._shape_row())
        self.status = _label("Pick a scenario file, or a [[scenarios]] name of the workspace.")
        layout.addWidget(self.status)
        layout.addLayout(self._results_row())
        self._charts_row = QHBoxLayout()
        self._charts: LoadCharts | None = None
        self._charts_row.addWidget(self._summary_table(), 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(self._charts_row, 1)

    @property
    def charts(self) -> LoadCharts:
        """Made at the first tick the panel is seen, or when a run starts: its three plots cost
        memory that a session which never opens this tab need not hold."""
        if self._charts is None:
            self._charts = LoadCharts()
            self._charts_row.insertWidget(0, self._charts, 1)
        return self._charts

    def _summary_table(self) -> QTableWidget:
        self.summary = QTableWidget(len(LOAD_FIGURES), 2)
        self.summary.setHorizontalHeaderLabels(["samples", "failed"])
        self.summary.setVerticalHeaderLabels(list(LOAD_FIGURES))
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary.verticalHeader().setDefaultSectionSize(22)
        self.summary.setFixedWidth(170)
        self.summary.setFixedHeight(self.summary.horizontalHeader().sizeHint().height()
                                    + 22 * len(LOAD_FIGURES) + 4)
        self.summary.setToolTip("Totals of the run: connects, messages sent, replies expected")
        return self.summary

    def _scenario_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.scenario = QLineEdit()
        self.scenario.setPlaceholderText("scenario.toml or a workspace scenario's name")
        self.scenario.setMinimumWidth(80)
        browse = QPushButton("…")
        browse.setToolTip("Pick a scenario file")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._browse)
        self.local = QCheckBox("Local")
        self.local.setToolTip("the core's own connections in a child process (up to ~1,000); "
                              "unchecked: Locust, a master and its workers")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        for widget, stretch in ((QLabel("Scenario"), 0), (self.scenario, 1), (browse, 0),
                                (self.local, 0), (self.start_button, 0), (self.stop_button, 0)):
            row.addWidget(widget, stretch)
        return row

    def _shape_row(self) -> QHBoxLayout:
        """The run's shape, each box saying what it holds (0: the scenario's own)."""
        row = QHBoxLayout()
        self.users = _spin(QSpinBox(), 0, 100_000, " users", "scenario's users")
        self.spawn_rate = _spin(QDoubleSpinBox(), 0, 10_000, " new/s", "scenario's rate")
        self.spawn_rate.setDecimals(1)
        self.duration = _spin(QDoubleSpinBox(), 0, 86_400, " s", "scenario's time")
        self.duration.setDecimals(0)
        self.workers = _spin(QSpinBox(), 1, 64, " workers", "")
        self.workers.setValue(2)
        self.workers.setToolTip("Locust workers on this machine")
        self.mirror = _spin(QSpinBox(), 0, MAX_MIRRORS, " mirrored", "no samples")
        self.mirror.setToolTip("Connections of the app that open as the run's clients do, so "
                               "their frames show in the inspector; closed when the run ends")
        self.local.toggled.connect(lambda local: self.workers.setEnabled(not local))
        for widget in (self.users, self.spawn_rate, self.duration, self.workers, self.mirror):
            row.addWidget(widget, 1)
        return row

    def _results_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.results_label = ElidedLabel(min_chars=12)
        self.results_label.setText("Results are kept beside the session's recording (else in "
                                   "the app's data folder)")
        self.open_results = QPushButton("Open folder")
        self.open_results.setToolTip("Open the run's results (Locust's CSV/JSON, summary.json)")
        self.open_results.clicked.connect(self.open_results_folder)
        self.open_results.setEnabled(False)
        self.open_results.setMinimumWidth(self.open_results.sizeHint().width())
        row.addWidget(self.results_label, 1)
        row.addWidget(self.open_results)
        return row

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load scenario", "", "Scenarios (*.toml)")
        if path:
            self.scenario.setText(path)

    def set_workspace(self, session: WorkspaceSession) -> None:
        """The window's workspace: its scenarios, profiles, collections and secrets, as they are
        in the app (saved or not)."""
        self.workspace = session

    def set_connections(self, ids: list[int]) -> None:
        """The connections panel's selection: the first open one is the RTT shown."""
        self.selected = list(ids)
        self._next_rtt = 0.0

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> bool:
        if self.session is not None and self.session.running:
            return False
        try:
            if self.workspace is not None:
                ws, secrets = self.workspace.workspace, self.workspace.secrets
            else:
                ws = load_workspace(self.workspace_path or default_workspace_path())
                secrets = SecretStore()
            plan = make_plan(
                find_scenario(self.scenario.text().strip(), ws), ws,
                Resolver(ws.environment(), secrets).resolve,
                users=self.users.value() or None, spawn_rate=self.spawn_rate.value() or None,
                duration=self.duration.value() or None)
        except (ScenarioError, WorkspaceError) as exc:
            self.status.setText(f"Cannot start: {exc}")
            return False
        self.plan, self.results = plan, self.results_dir(plan)
        local = self.local.isChecked()
        self.session = LoadSession(plan, local=local, options=LocustOptions(
            workers=self.workers.value(), out_dir=self.results))
        self.points.clear()
        self.started = time.time()
        self.charts.follow_run()
        self.session.start()
        self.mirrors.open(plan, self.mirror.value())
        self.timer.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.open_results.setEnabled(False)
        self.results_label.setText(f"Results will be in {self.results}")
        runner = "the local runner" if local else f"Locust ({self.workers.value()} workers)"
        self.status.setText(f"Starting {plan.users} clients on {runner}…")
        return True

    def results_dir(self, plan: LoadPlan) -> Path:
        """Beside the session's recording when there is one, else in the app's data folder."""
        name = f"{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        recorder = getattr(self.main_window, "recorder", None)
        path = getattr(recorder, "path", None)
        if isinstance(path, Path):
            return path.parent / f"{path.stem}.load-{name}"
        return data_dir() / "load" / name

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def shutdown(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the run and wait for its subprocesses to end (blocks: tests, closeEvent)."""
        self.timer.stop()
        if self.session is not None:
            self.session.stop()
            self.session.join(timeout)

    async def stop_run(self, timeout: float = STOP_TIMEOUT) -> None:
        """The same without blocking the GUI thread (the window's shutdown)."""
        self.timer.stop()
        session = self.session
        if session is not None and session.running:
            session.stop()
            await asyncio.to_thread(session.join, timeout)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def _tick(self) -> None:
        session = self.session
        if session is None:
            return
        fresh = session.drain()
        if fresh:
            self.points.extend(fresh)
            self.charts.draw(self.points)
            self._show(fresh[-1], session)
        if not session.running:
            self.timer.stop()
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.mirrors.close()
            if session.error:
                self.status.setText(f"The run failed: {session.error}")
            elif session.final is not None:  # its last figures may have come before `final`
                self._show(session.final, session)
            self._keep_results(session)

    def _show(self, stats: LoadStats, session: LoadSession) -> None:
        words = (f"{stats.state}: {stats.users} users, {stats.sends_per_s:g} sends/s, "
                 f"{stats.replies_per_s:g} replies/s, {stats.failures} failures")
        if stats.p50 is not None:
            words += f", reply p50/p95/p99 {stats.p50:g}/{stats.p95:g}/{stats.p99:g} ms"
        if session.remote_worker_command:
            words += f"\nWorkers on other machines: {session.remote_worker_command}"
        if session.final is not None:
            words = "Finished. " + words
        self.status.setText(words)
        for row, name in enumerate(LOAD_FIGURES):
            counts = getattr(stats, name)
            for col, value in enumerate((counts.requests, counts.failures)):
                item = QTableWidgetItem(f"{value:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.summary.setItem(row, col, item)

    def _keep_results(self, session: LoadSession) -> None:
        """The live stats and the summary beside Locust's own files (the local runner has
        only these); the folder is named in the panel and the status bar."""
        folder, plan = self.results, self.plan
        if folder is None or plan is None or (session.final is None and not self.points):
            return  # it failed before any figure: its error is the panel's line
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lines = "".join(json.dumps(p.to_json()) + "\n" for p in self.points)
            (folder / "stats.ndjson").write_text(lines, encoding="utf-8")
            if session.final is not None:
                local = session.local
                doc = load_summary(plan, session.final, None if local else folder)
                (folder / "summary.json").write_text(json.dumps(doc, indent=1) + "\n",
                                                     encoding="utf-8")
        except OSError as exc:
            self.results_label.setText(f"Cannot keep the results in {folder}: {exc}")
            return
        self.results_label.setText(f"Results: {folder}")
        self.open_results.setEnabled(True)
        self.bridge.message.emit(f"Load run {plan.name}: results in {folder}")

    def open_results_folder(self) -> bool:
        if self.results is None or not self.results.is_dir():
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.results)))

    # ---- the app's own connection -------------------------------------------------------------

    def _on_bridge_tick(self, batch: TickBatch) -> None:
        if batch.time < self._next_rtt or self.visibleRegion().isEmpty():  # a hidden tab
            return
        self._next_rtt = batch.time + TICK_MS / 1000
        conn_id = self.rtt_connection()
        entry = None if conn_id is None else self.bridge.series.get(conn_id)
        self.charts.set_rtt_source(None if conn_id is None else self.bridge.label_of(conn_id))
        started = self.started if self.session is not None else time.time()  # else: "s ago"
        self.charts.draw_rtt(None if entry is None else entry.rtt.view(), started)

    def rtt_connection(self) -> int | None:
        """The selected connection, else the first open one; never a mirrored sample."""
        samples = set(self.mirrors.ids)
        candidates = [i for i in self.selected if i not in samples] + [
            i for i in self.bridge.commands.ids() if i not in samples]
        for conn_id in candidates:
            if self.bridge.state_of(conn_id) is ConnState.OPEN:
                return conn_id
        return None


def _spin(box: Spin, low: int, high: int, suffix: str, zero: str) -> Spin:
    box.setRange(low, high)
    box.setSuffix(suffix)
    box.setSpecialValueText(zero)  # shown for the lowest value
    box.setToolTip(f"{suffix.strip()} (0: the {zero})" if zero else suffix.strip())
    return box


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label
