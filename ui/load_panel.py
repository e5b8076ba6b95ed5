"""The load panel: runs a scenario (core.load.LoadSession: Locust or the local runner, both in
subprocesses, watched from a thread) and charts its stats live. The session's stats are drained
on one timer tick and drawn in one batch, never per sample; after the run, a summary table."""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.load import ScenarioError, find_scenario, make_plan
from core.load.locust_run import LocustOptions
from core.load.session import LoadSession
from core.load.stats import NAMES, LoadStats
from core.paths import data_dir
from core.workspace import (
    Resolver,
    SecretStore,
    WorkspaceError,
    default_workspace_path,
    load_workspace,
)
from ui import theme

TICK_MS = 500
HISTORY = 3600  # seconds of points kept per curve
RATE_CURVES = (("users", "users"), ("sends/s", "sends_per_s"), ("replies/s", "replies_per_s"))
LATENCY_CURVES = (("p50 ms", "p50"), ("p95 ms", "p95"), ("p99 ms", "p99"))
Spin = TypeVar("Spin", QSpinBox, QDoubleSpinBox)


class LoadPanel(QWidget):
    def __init__(self, workspace_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace_path = workspace_path
        self.session: LoadSession | None = None
        self.points: deque[LoadStats] = deque(maxlen=HISTORY)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._scenario_row())
        layout.addLayout(self._shape_row())
        self.status = QLabel("Pick a scenario file, or a [[scenarios]] name of the workspace.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.rates, self.rate_curves = _plot("per second", RATE_CURVES)
        self.latency, self.latency_curves = _plot("reply latency", LATENCY_CURVES)
        layout.addWidget(self.rates, 1)
        layout.addWidget(self.latency, 1)
        self.summary = QTableWidget(len(NAMES), 2)
        self.summary.setHorizontalHeaderLabels(["samples", "failures"])
        self.summary.setVerticalHeaderLabels(list(NAMES))
        self.summary.setMaximumHeight(110)
        layout.addWidget(self.summary)

    def _scenario_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.scenario = QLineEdit()
        self.scenario.setPlaceholderText("scenario.toml or a workspace scenario's name")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(QLabel("Scenario"))
        row.addWidget(self.scenario, 1)
        row.addWidget(browse)
        return row

    def _shape_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.users = _spin(QSpinBox(), 0, 100_000, "users (0: the scenario's)")
        self.spawn_rate = _spin(QDoubleSpinBox(), 0, 10_000, "clients/s (0: the scenario's)")
        self.duration = _spin(QDoubleSpinBox(), 0, 86_400, "seconds (0: the scenario's)")
        self.workers = _spin(QSpinBox(), 1, 64, "Locust workers on this machine")
        self.workers.setValue(2)
        self.local = QCheckBox("Local")
        self.local.setToolTip("the core's own connections in a child process (up to ~1,000)")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        for label, widget in (("Users", self.users), ("Spawn/s", self.spawn_rate),
                              ("Duration", self.duration), ("Workers", self.workers)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        for widget in (self.local, self.start_button, self.stop_button):
            row.addWidget(widget)
        return row

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load scenario", "", "Scenarios (*.toml)")
        if path:
            self.scenario.setText(path)

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> bool:
        if self.session is not None and self.session.running:
            return False
        try:
            ws = load_workspace(self.workspace_path or default_workspace_path())
            plan = make_plan(
                find_scenario(self.scenario.text().strip(), ws), ws,
                Resolver(ws.environment(), SecretStore()).resolve,
                users=self.users.value() or None, spawn_rate=self.spawn_rate.value() or None,
                duration=self.duration.value() or None)
        except (ScenarioError, WorkspaceError) as exc:
            self.status.setText(f"Cannot start: {exc}")
            return False
        out = data_dir() / "load" / f"{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.session = LoadSession(plan, local=self.local.isChecked(),
                                   options=LocustOptions(workers=self.workers.value(), out_dir=out))
        self.points.clear()
        self.session.start()
        self.timer.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        runner = "local runner" if self.local.isChecked() else f"Locust ({out})"
        self.status.setText(f"Starting {plan.users} clients on the {runner}…")
        return True

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the run and wait for its subprocesses to end (the window calls this on close)."""
        self.timer.stop()
        if self.session is not None:
            self.session.stop()
            self.session.join(timeout)

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
            self._redraw()
            self._show(fresh[-1], session)
        if not session.running:
            self.timer.stop()
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            if session.error:
                self.status.setText(f"The run failed: {session.error}")

    def _redraw(self) -> None:
        t = np.fromiter((p.t for p in self.points), float, len(self.points))
        for curves, fields in ((self.rate_curves, RATE_CURVES),
                               (self.latency_curves, LATENCY_CURVES)):
            for curve, (_, name) in zip(curves, fields, strict=True):
                values = [getattr(p, name) for p in self.points]
                y = np.array([np.nan if v is None else v for v in values], float)
                curve.setData(t, y, connect="finite")

    def _show(self, stats: LoadStats, session: LoadSession) -> None:
        words = (f"{stats.state}: {stats.users} users, {stats.sends_per_s:g} sends/s, "
                 f"{stats.replies_per_s:g} replies/s, {stats.failures} failures")
        if session.remote_worker_command:
            words += f"\nWorkers on other machines: {session.remote_worker_command}"
        if session.final is not None:
            words = "Finished. " + words
        self.status.setText(words)
        for row, name in enumerate(NAMES):
            counts = getattr(stats, name)
            for col, value in enumerate((counts.requests, counts.failures)):
                self.summary.setItem(row, col, QTableWidgetItem(f"{value:,}"))


def _spin(box: Spin, low: int, high: int, tip: str) -> Spin:
    box.setRange(low, high)
    box.setToolTip(tip)
    return box


def _plot(title: str, fields: tuple[tuple[str, str], ...]) -> tuple[pg.PlotWidget,
                                                                   list[pg.PlotDataItem]]:
    plot = pg.PlotWidget(background=theme.color("chart_background"))
    plot.setTitle(title)
    plot.setMenuEnabled(False)
    plot.setMinimumHeight(90)
    plot.addLegend(offset=(4, 4))
    colours = theme.current().colors_of("chart_series")
    curves = []
    for i, (label, _) in enumerate(fields):
        curve = plot.plot([], [], name=label, pen=pg.mkPen(colours[i % len(colours)], width=1.5))
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        curves.append(curve)
    return plot, curves
