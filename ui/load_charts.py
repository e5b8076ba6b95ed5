"""The load panel's three charts, side by side on one time axis (seconds since the run started):
users and rates, reply latency, and the RTT of the app's own monitoring connection to the
target, so a server slowing under load shows beside the load that slows it. Curve names are in
a coloured title above each chart rather than a legend, which would hide half of a small
chart; the title wraps when the dock is narrow."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.facade import LoadStats
from ui import theme

RATE_CURVES = (("users", "users"), ("sends/s", "sends_per_s"), ("replies/s", "replies_per_s"),
               ("errors/s", "errors_per_s"))
LATENCY_CURVES = (("p50", "p50"), ("p95", "p95"), ("p99", "p99"))
RTT_BEFORE_S = 60.0  # of the app's RTT drawn before the run's start (or before now)


class LoadCharts(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        colours = [c.name() for c in theme.current().colors_of("chart_series")]
        # distinct colours across the three charts: their names can be read at a glance
        pick = lambda *indices: [colours[i % len(colours)] for i in indices]  # noqa: E731
        rate_colours, latency_colours, (rtt_colour,) = pick(0, 1, 2, 5), pick(4, 3, 5), pick(7)
        self.rates, self.rates_title, self.rate_curves = self._chart(
            layout, RATE_CURVES, rate_colours, "")
        self.latency, self.latency_title, self.latency_curves = self._chart(
            layout, LATENCY_CURVES, latency_colours, "reply ms")
        self.rtt, self.rtt_title, (self.rtt_curve,) = self._chart(
            layout, (("RTT", "rtt"),), [rtt_colour], "")
        self.rtt_colour = rtt_colour
        self.set_rtt_source(None)

    def follow_run(self) -> None:
        """One time axis for the three charts from the run's start (before it, the RTT chart
        has its own: the last minute, in seconds ago)."""
        self.latency.setXLink(self.rates)
        self.rtt.setXLink(self.rates)

    @staticmethod
    def _chart(layout: QHBoxLayout, fields: tuple[tuple[str, str], ...], colours: list[str],
               unit: str) -> tuple[pg.PlotWidget, QLabel, list[pg.PlotDataItem]]:
        """A chart under a title naming its curves in their colours (it wraps when narrow)."""
        title = QLabel(_names([(label, colours[i]) for i, (label, _) in enumerate(fields)], unit))
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setWordWrap(True)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        palette = theme.current()  # one dark block with its chart
        title.setStyleSheet(f"background: {palette.css('chart_background')}; "
                            f"color: {palette.css('chart_axis')}; padding: 1px")
        plot = pg.PlotWidget(background=theme.color("chart_background"))
        plot.setMenuEnabled(False)
        plot.setMinimumSize(100, 80)
        plot.showGrid(x=True, y=True, alpha=0.2)
        curves = []
        for colour in colours[:len(fields)]:
            curve = plot.plot([], [], pen=pg.mkPen(colour, width=1.5))
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            curves.append(curve)
        column = QVBoxLayout()
        column.setSpacing(0)
        column.addWidget(title)
        column.addWidget(plot, 1)
        layout.addLayout(column, 1)
        return plot, title, curves

    def draw(self, points: Sequence[LoadStats]) -> None:
        """Every curve anew from the run's points (at most the panel's history)."""
        t = np.fromiter((p.t for p in points), float, len(points))
        columns = {name: [getattr(p, name) for p in points]
                   for _, name in RATE_CURVES + LATENCY_CURVES if name != "errors_per_s"}
        failures = np.fromiter((p.failures for p in points), float, len(points))
        errors = np.zeros(len(points))
        if len(points) > 1:
            dt = np.diff(t)
            errors[1:] = np.where(dt > 0, np.diff(failures) / np.where(dt > 0, dt, 1), 0)
        columns["errors_per_s"] = list(errors)
        for curves, fields in ((self.rate_curves, RATE_CURVES),
                               (self.latency_curves, LATENCY_CURVES)):
            for curve, (_, name) in zip(curves, fields, strict=True):
                y = np.array([np.nan if v is None else v for v in columns[name]], float)
                curve.setData(t, y, connect="finite")

    def set_rtt_source(self, label: str | None) -> None:
        name = f"RTT of {label}" if label else "RTT: no open connection of the app"
        self.rtt_title.setText(_names([(name, self.rtt_colour)], "ms" if label else ""))
        self.rtt_title.setToolTip("The app's own monitoring connection to the target (the "
                                  "selected one, else the first open one), beside the load")

    def draw_rtt(self, rows: np.ndarray | None, started: float) -> None:
        """RTT rows (epoch time, seconds) in seconds since `started` (epoch), from a minute
        before it."""
        if rows is None or not len(rows):
            self.rtt_curve.setData([], [])
            return
        rows = rows[rows[:, 0] >= started - RTT_BEFORE_S]
        self.rtt_curve.setData(rows[:, 0] - started, rows[:, 1] * 1000.0)


def _names(names: list[tuple[str, str]], unit: str) -> str:
    parts = [f"<span style='color:{colour}'>{html.escape(name)}</span>" for name, colour in names]
    return " ".join(parts + ([unit] if unit else []))
