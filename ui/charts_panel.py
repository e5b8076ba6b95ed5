"""Live charts: round-trip time, messages/s and bytes/s per connection, over a sliding window.

Data come straight from each connection's metrics ring buffers (windowed views, no copies). The
panel redraws every few bridge ticks while visible (200 ms-1 s by window, 500 ms at least during a
flood); each curve gets only the window's rows, clips to the view and peak-downsamples, and the x
range is set to the window explicitly (x auto-range stays off so clipping works). Open/close
moments from StateChanged events are drawn as vertical lines: green when a connection opened, red
when it closed.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

# pyqtgraph must bind to PySide6 (the app's binding), whatever else is installed.
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.connection import Connection
from core.events import StateChanged
from core.metrics import T_BYTES_IN, T_BYTES_OUT, T_MSGS_IN, T_MSGS_OUT, T_SEC
from core.states import ConnState
from ui import theme
from ui.bridge import FLOOD_FRAMES, CoreBridge, TickBatch
from ui.chart_series import MarkerLog, grid_pairs, peak, since, with_gaps
from ui.connection_text import display_name
from ui.elided_label import ElidedLabel
from ui.numbers import compact

# Bridge ticks (50 ms) per redraw, by window: a redraw per ~4 px of scroll at 1280 px. A redraw
# and its paint cost ~10 ms of the GUI thread (the date axes most): at 20 Hz that was a fifth of
# a core, taken from everything else on the GUI thread and, through the GIL, from the network.
REDRAW_TICKS = {60: 4, 300: 10, 900: 20}
# During a flood (ui.bridge.FLOOD_FRAMES): each plot redrawn about every FLOOD_REDRAW_TICKS
# (500 ms), one plot at a time.
FLOOD_REDRAW_TICKS = 10
SUMMARY_EVERY = 10  # redraws per update of the text summary
WINDOWS = ((60, "Last 1 min"), (300, "Last 5 min"), (900, "Last 15 min"))
MAX_CURVE_CONNECTIONS = 12
HEADROOM = 1.15  # least y range over the largest value; more when a legend needs its band
LEGEND_OFFSET = (2, 1)
AXIS_WIDTH = 50
DOWNSAMPLE_PER_PIXEL = 1.0  # "All connections" draws at most this many

# Colours: the theme's chart_* (resources/palette.toml): a dark plot area; the series'
# colours readable on it and distinct from the red/green markers.


def _label_style() -> dict[str, str]:
    return {"color": theme.current().css("chart_text"), "font-size": "8pt"}


def _pen(colour: QColor, dashed: bool) -> pg.QtGui.QPen:
    if not dashed:
        return pg.mkPen(colour, width=1.5)
    pen = pg.mkPen(colour, width=1)  # a wide dashed pen is orders of magnitude slower in Qt
    pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class GridTicks:
    """The major tick values of an axis, for grid lines that match its labels.

    Asking the axis costs ~0.4 ms; the spacing only changes with the span, the axis length or
    its scale, so between such changes the cached spacing and phase are slid along the window."""

    def __init__(self, axis: pg.AxisItem) -> None:
        self.axis = axis
        self._key: tuple[float, float, float] | None = None
        self._spacing = 0.0
        self._phase = 0.0

    def ticks(self, low: float, high: float) -> list[float]:
        rect = self.axis.geometry()
        horizontal = self.axis.orientation in ("top", "bottom")
        length = max(rect.width() if horizontal else rect.height(), 50.0)
        key = (round(high - low, 9), length, self.axis.scale)
        if key != self._key:
            try:
                levels = self.axis.tickValues(low, high, length)
            except AttributeError:  # a DateAxisItem knows its font only after its first paint
                return []
            # The first level with two ticks or more is the major one. (A DateAxisItem
            # reports a placeholder spacing, so the spacing is read off the values.)
            values = next((sorted(v) for _s, v in levels if len(v) >= 2), None)
            if values is None:
                return []
            spacing = min(b - a for a, b in itertools.pairwise(values))
            if spacing <= 0:
                return []
            self._key = key
            self._spacing = float(spacing)
            self._phase = float(values[0]) % self._spacing
        first = math.ceil((low - self._phase) / self._spacing) * self._spacing + self._phase
        count = int((high - first) / self._spacing) + 1
        return [first + k * self._spacing for k in range(max(count, 0))]


@dataclass
class ConnCurves:
    """The six curves of one connection; `named` tracks which are in their plot's legend."""

    label: str
    ping: pg.PlotDataItem
    app: pg.PlotDataItem
    msgs_in: pg.PlotCurveItem
    msgs_out: pg.PlotCurveItem
    bytes_in: pg.PlotCurveItem
    bytes_out: pg.PlotCurveItem
    named: set[int] = field(default_factory=set)  # indexes into items() with a legend entry

    def items(self) -> list[tuple[pg.GraphicsObject, str]]:
        return [
            (self.ping, "ping"), (self.app, "heartbeat"),
            (self.msgs_in, "in"), (self.msgs_out, "out"),
            (self.bytes_in, "in"), (self.bytes_out, "out"),
        ]  # fmt: skip


class ChartView(pg.GraphicsLayoutWidget):
    """The plots' view; `painted` is called after each paint (the end of a redraw's claim)."""

    def __init__(self, painted: Callable[[], None]) -> None:
        super().__init__()
        self._painted = painted

    def paintEvent(self, event: QPaintEvent) -> None:
        try:
            super().paintEvent(event)
        finally:
            self._painted()


class ChartsPanel(QWidget):
    """RTT, messages/s and bytes/s of the selected (or all) connections, live."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.window_s = WINDOWS[0][0]
        self.scope = "selected"
        self.selected: list[int] = []
        self.markers = MarkerLog()
        self._curves: dict[int, ConnCurves] = {}
        self._ticks = 0
        self._redraws = 0
        self._flood_plot = -1  # the plot redrawn last while a flood goes on
        self._summary_ids: list[int] = []
        self.last_refresh_ms = 0.0

        self.scope_box = QComboBox()
        self.scope_box.addItem("Selected connections", "selected")
        self.scope_box.addItem("All connections", "all")
        self.scope_box.setToolTip("Which connections the charts show")
        self.scope_box.currentIndexChanged.connect(
            lambda _i: self.set_scope(self.scope_box.currentData())
        )
        self.window_box = QComboBox()
        for seconds, label in WINDOWS:
            self.window_box.addItem(label, seconds)
        self.window_box.setToolTip("Time window shown")
        self.window_box.currentIndexChanged.connect(
            lambda _i: self.set_window(self.window_box.currentData())
        )
        # cut with "…" where the panel is narrow; its length never resizes the panel
        self.summary = ElidedLabel(min_chars=0)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.graphics = ChartView(bridge.redrawn)
        self.graphics.setBackground(theme.color("chart_background"))
        self.graphics.ci.setContentsMargins(2, 2, 6, 2)
        self.graphics.ci.setSpacing(6)  # a plot's top tick label clears the plot above
        # Short axis titles with their units: a rotated title must fit a plot ~70 px tall.
        self.rtt_plot = self._plot(0, "RTT ms")
        self.msgs_plot = self._plot(1, "msg/s")
        self.bytes_plot = self._plot(2, "B/s")
        self.rtt_plot.getAxis("left").setScale(1000.0)  # samples are seconds; ticks read in ms
        self.bytes_unit = "B/s"  # follows the range: B/s, kB/s or MB/s (set_bytes_unit)
        for plot in (self.rtt_plot, self.msgs_plot):  # the bottom plot's time axis serves all
            plot.hideAxis("bottom")  # each time axis costs ~3 ms a repaint (its tick layout)
        self.plots = (self.rtt_plot, self.msgs_plot, self.bytes_plot)
        # Our own opaque grid: pyqtgraph's translucent grid costs ~5 ms a plot per repaint.
        self.grids: list[pg.PlotCurveItem] = []
        for plot in self.plots:
            grid = pg.PlotCurveItem(pen=pg.mkPen(theme.color("chart_grid")), connect="pairs")
            grid.setZValue(-10)
            plot.addItem(grid, ignoreBounds=True)
            self.grids.append(grid)
        self._x_ticks = GridTicks(self.bytes_plot.getAxis("bottom"))
        self._y_ticks = [GridTicks(plot.getAxis("left")) for plot in self.plots]
        # One pair-connected curve per plot and colour draws every marker line at once.
        self.open_lines: list[pg.PlotCurveItem] = []
        self.close_lines: list[pg.PlotCurveItem] = []
        for plot in self.plots:
            for name, store in (("chart_open", self.open_lines), ("chart_close", self.close_lines)):
                colour = theme.color(name)
                line = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1.4), connect="pairs")
                line.setZValue(-5)
                plot.addItem(line, ignoreBounds=True)
                store.append(line)
        self._marker_legend()

        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.scope_box)
        top.addWidget(self.window_box)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        bridge.tick.connect(self._on_tick)
        self._update_summary([])

    # ----- public --------------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        self.selected = list(conn_ids)
        self.refresh()

    def set_window(self, seconds: int) -> None:
        """Show the last `seconds` (60, 300 or 900)."""
        self.window_s = int(seconds)
        index = self.window_box.findData(self.window_s)
        if index >= 0 and index != self.window_box.currentIndex():
            self.window_box.setCurrentIndex(index)
        self.refresh()

    def set_scope(self, scope: str) -> None:
        """'selected' (the connections panel's selection) or 'all'."""
        self.scope = scope
        index = self.scope_box.findData(scope)
        if index >= 0 and index != self.scope_box.currentIndex():
            self.scope_box.setCurrentIndex(index)
        self.refresh()

    def curves(self, conn_id: int) -> ConnCurves | None:
        return self._curves.get(conn_id)

    def shown_connections(self) -> list[Connection]:
        manager = self.bridge.manager
        if self.scope == "all":
            conns = manager.list()
        else:
            conns = []
            for conn_id in self.selected:
                try:
                    conns.append(manager.get(conn_id))
                except KeyError:
                    continue
        return conns[:MAX_CURVE_CONNECTIONS]

    def refresh(self, only: int | None = None) -> None:
        """Redraw the curves from the metrics rings (the windowed rows only): every plot, or
        only plot `only` (0 RTT, 1 messages, 2 bytes), whose repaint then covers its own area."""
        started = time.perf_counter()
        now = time.time()
        t0 = now - self.window_s
        conns = self.shown_connections()
        self._sync_curves(conns)
        data = []
        tops = [0.001, 1.0, 100.0]  # least y range: 1 ms, 1 msgs/s, 100 B/s
        for conn in conns:
            metrics = conn.metrics
            ping = since(metrics.rtt, t0)
            app = since(metrics.app_rtt, t0)
            rows = metrics.seconds(t0 - 1, now)  # silent seconds as zeros
            x = rows[:, T_SEC]
            breaks = self.markers.closes(conn.id, t0)  # no RTT line across an outage
            data.append((self._curves[conn.id], (
                with_gaps(ping[:, 0], ping[:, 1], breaks), with_gaps(app[:, 0], app[:, 1], breaks),
                (x, rows[:, T_MSGS_IN]), (x, rows[:, T_MSGS_OUT]),
                (x, rows[:, T_BYTES_IN]), (x, rows[:, T_BYTES_OUT]),
            )))  # fmt: skip
            tops[0] = max(tops[0], peak(ping[:, 1], app[:, 1]))
            tops[1] = max(tops[1], peak(rows[:, T_MSGS_IN], rows[:, T_MSGS_OUT]))
            tops[2] = max(tops[2], peak(rows[:, T_BYTES_IN], rows[:, T_BYTES_OUT]))
        # Ranges first, so each setData below clips and downsamples against the final view.
        ids = [conn.id for conn in conns]
        which = range(len(self.plots)) if only is None else (only,)
        if 2 in which:
            self._set_bytes_unit(tops[2])
        x_ticks = self._x_ticks.ticks(t0, now)
        for i in which:
            plot = self.plots[i]
            y1 = tops[i] * self._headroom(plot)
            plot.setRange(xRange=(t0, now), yRange=(0, y1), padding=0)
            # Now, not in the paint: pyqtgraph applies a new range while it paints, and the
            # curves it then re-clips ask for a second paint of the whole chart.
            plot.vb.updateMatrix()
            (ox, oy), (cx, cy) = self.markers.lines(ids, t0, 0.0, y1)
            self.open_lines[i].setData(ox, oy)
            self.close_lines[i].setData(cx, cy)
            y_ticks = self._y_ticks[i].ticks(0.0, y1)
            self.grids[i].setData(*grid_pairs(x_ticks, y_ticks, t0, now, y1))
        for curves, series in data:
            items = curves.items()
            for i in which:
                for k in (2 * i, 2 * i + 1):
                    items[k][0].setData(*series[k])
            self._name_curves(curves)
        if which[-1] == len(self.plots) - 1:  # a whole round of plots is one redraw
            self._redraws += 1
            if self._redraws % SUMMARY_EVERY == 1 or ids != self._summary_ids:
                self._summary_ids = ids
                self._update_summary(conns)
        self.last_refresh_ms = (time.perf_counter() - started) * 1000

    # ----- internals -----------------------------------------------------------------------

    def _plot(self, row: int, title: str) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0, axisItems={
            "bottom": pg.DateAxisItem(orientation="bottom"),
            "left": CompactAxis(orientation="left"),
        })  # fmt: skip
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(theme.color("chart_axis"))
            axis.setTextPen(theme.color("chart_text"))
            # Units are in the titles (no "(x0.001)" added). With the prefix on, every range
            # change re-renders the title's HTML and re-lays the plot out: a second repaint.
            axis.enableAutoSIPrefix(False)
        left = plot.getAxis("left")
        left.setLabel(title, **_label_style())
        left.setWidth(AXIS_WIDTH)
        plot.setMouseEnabled(x=False, y=False)  # the panel drives both ranges every redraw
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.enableAutoRange(x=False, y=False)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        # Top left, in a band the y range leaves free above the data (_headroom), so it hides
        # none of them; translucent, should a curve still pass behind it.
        plot.addLegend(
            offset=LEGEND_OFFSET, labelTextColor=theme.color("chart_text"), labelTextSize="8pt",
            colCount=4, brush=pg.mkBrush(theme.color("chart_legend")), verSpacing=-8, horSpacing=12,
        )  # fmt: skip
        return plot

    @staticmethod
    def _headroom(plot: pg.PlotItem) -> float:
        """The y range over the largest value that keeps the data below the plot's legend."""
        legend = plot.legend
        height = plot.vb.height()
        if legend is None or not legend.items or height <= 0:
            return HEADROOM
        band = legend.boundingRect().height() + LEGEND_OFFSET[1] + 2
        return max(HEADROOM, 1.0 / max(0.4, 1.0 - band / height))

    def _set_bytes_unit(self, top: float) -> None:
        """Scale the bytes axis to B/s, kB/s or MB/s by the largest value shown."""
        scale, unit = next(
            ((s, u) for s, u in ((1e-6, "MB/s"), (1e-3, "kB/s")) if top * s >= 1.0), (1.0, "B/s")
        )
        if unit != self.bytes_unit:
            self.bytes_unit = unit
            axis = self.bytes_plot.getAxis("left")
            axis.setScale(scale)
            axis.setLabel(unit, **_label_style())

    def _marker_legend(self) -> None:
        legend = self.rtt_plot.legend
        legend.addItem(self.open_lines[0], "opened")
        legend.addItem(self.close_lines[0], "closed")

    def _sync_curves(self, conns: list[Connection]) -> None:
        wanted = {conn.id for conn in conns}
        for conn_id in [c for c in self._curves if c not in wanted]:
            self._drop_curves(conn_id)
        for conn in conns:
            curves = self._curves.get(conn.id)
            if curves is not None and curves.label != _legend_name(conn):  # renamed
                self._drop_curves(conn.id)
                curves = None
            if curves is None:
                self._curves[conn.id] = self._make_curves(conn)

    def _make_curves(self, conn: Connection) -> ConnCurves:
        series = theme.current().colors_of("chart_series")
        colour = series[(conn.id - 1) % len(series)]
        label = _legend_name(conn)

        def samples(plot: pg.PlotItem, dashed: bool) -> pg.PlotDataItem:
            """RTT samples: up to 20,000 in the window, clipped and downsampled to the view."""
            # connect="finite": the NaN points with_gaps() puts at outages break the line
            item = pg.PlotDataItem(pen=_pen(colour, dashed), connect="finite")
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            # Peak mode keeps each bin's min and max: one bin per pixel loses nothing visible
            # (the default draws ~5 samples per pixel, 5x the path length for no gain).
            item.opts["autoDownsampleFactor"] = DOWNSAMPLE_PER_PIXEL
            plot.addItem(item)
            return item

        def seconds(plot: pg.PlotItem, dashed: bool) -> pg.PlotCurveItem:
            """One point a second, at most 900: a bare curve. A PlotDataItem adds two items
            (its own and a scatter) that Qt calls into Python for on every repaint, and takes
            ~6 ms to build."""
            item = pg.PlotCurveItem(pen=_pen(colour, dashed), skipFiniteCheck=True)
            plot.addItem(item)
            return item

        return ConnCurves(
            label,
            ping=samples(self.rtt_plot, False),
            app=samples(self.rtt_plot, True),
            msgs_in=seconds(self.msgs_plot, False),
            msgs_out=seconds(self.msgs_plot, True),
            bytes_in=seconds(self.bytes_plot, False),
            bytes_out=seconds(self.bytes_plot, True),
        )

    def _name_curves(self, curves: ConnCurves) -> None:
        """Legend entries appear once a curve has data (no 'heartbeat' line nobody measures)."""
        for i, (item, what) in enumerate(curves.items()):
            if i not in curves.named and item.xData is not None and len(item.xData):
                curves.named.add(i)
                plot = self._plot_of(item)
                if plot.legend is not None:
                    plot.legend.addItem(item, f"{curves.label} {what}")

    def _plot_of(self, item: pg.GraphicsObject) -> pg.PlotItem:
        for plot in self.plots:
            if item in plot.items:
                return plot
        raise LookupError("curve not in any plot")

    def _drop_curves(self, conn_id: int) -> None:
        curves = self._curves.pop(conn_id)
        for item, _what in curves.items():
            plot = self._plot_of(item)
            if plot.legend is not None:
                plot.legend.removeItem(item)
            plot.removeItem(item)

    def mark_states(self, states: Iterable[StateChanged]) -> None:
        """Open (green) and close (red) lines for these state changes."""
        for event in states:
            if event.new is ConnState.OPEN:
                self.markers.add(event.conn_id, event.time, True)
            elif event.old is ConnState.OPEN:
                self.markers.add(event.conn_id, event.time, False)

    def _on_tick(self, batch: TickBatch) -> None:
        self.mark_states(batch.states)
        self._ticks += 1
        if not self.isVisible():
            return
        if len(batch.frames) > FLOOD_FRAMES:
            # A flood: every tick spent here is taken from it, and the GUI thread shares the
            # GIL with the network. One plot per tick, in turn, so that no tick does (and
            # repaints) all three: a third of the pause each time.
            due = self._ticks >= FLOOD_REDRAW_TICKS // len(self.plots)
            if due and not self.bridge.take_turn():  # else the next tick tries again
                self._ticks = 0
                self._flood_plot = (self._flood_plot + 1) % len(self.plots)
                self.refresh(only=self._flood_plot)
        elif self._ticks >= REDRAW_TICKS.get(self.window_s, 4):
            self._ticks = 0
            self.refresh()

    def _update_summary(self, conns: list[Connection]) -> None:
        if not conns:
            hint = (
                "No connections yet." if self.scope == "all"
                else "No connection selected: select one, or show all connections."
            )  # fmt: skip
            self.summary.setText(hint)
            return
        if len(conns) > 1:
            self.summary.setText(
                f"{len(conns)} connections · solid: ping / in · dashed: heartbeat / out"
            )
            return
        conn = conns[0]
        m = conn.metrics
        msgs_in, bytes_in, msgs_out, bytes_out = m.rate(time.time())
        rtt = m.last_rtt("ping")
        rtt_text = f"RTT {rtt * 1000:.1f} ms" if rtt is not None else "RTT –"
        self.summary.setText(
            f"{rtt_text} · in {msgs_in:.1f}/s {_bytes(bytes_in)}/s · "
            f"out {msgs_out:.1f}/s {_bytes(bytes_out)}/s · {conn.state.value}"
        )
        self.summary.setToolTip(
            f"{display_name(conn.config)}\nlast protocol-ping RTT: {rtt_text[4:]}\n"
            f"in: {msgs_in:.1f} messages/s, {_bytes(bytes_in)}/s (5 s mean)\n"
            f"out: {msgs_out:.1f} messages/s, {_bytes(bytes_out)}/s (5 s mean)"
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()


class CompactAxis(pg.AxisItem):
    """Tick labels from 10,000 up read 20k, 1.5M: six digits did not fit beside the title."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().tickStrings(values, scale, spacing)
        return [
            compact(v * scale) if abs(v * scale) >= 10_000 else text
            for v, text in zip(values, strings, strict=True)
        ]


def _legend_name(conn: Connection) -> str:
    """The connections table's name for it, cut to 20 characters."""
    label = display_name(conn.config)
    return label if len(label) <= 20 else label[:20] + "…"


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
