"""Live charts: round-trip time, messages/s and bytes/s per connection, over a sliding window.

Data come from the UI's own series (ui.series, fed at the bridge's tick from LatencySample and
MetricsSnapshot events; windowed views, no copies), never from the core's buffers. The panel
redraws every few bridge ticks while visible (200 ms-1 s by window, 500 ms at least during a
flood); each curve gets only the window's rows (RTT samples peak-decimated to about a pair per
pixel) and clips to the view, and the x range is set to the window explicitly (x auto-range
stays off so clipping works). Open/close moments from StateChanged events are drawn as vertical
lines: green when a connection opened, red when it closed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

# pyqtgraph must bind to PySide6 (the app's binding), whatever else is installed.
import pyqtgraph as pg
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.events import MetricsSnapshot, StateChanged
from core.states import ConnState
from ui import theme
from ui.bridge import FLOOD_FRAMES, CoreBridge, TickBatch
from ui.chart_items import (
    ChartView,
    CompactAxis,
    ConnCurves,
    GridTicks,
    bytes_text,
    headroom,
    label_style,
    legend_name,
    make_curves,
    make_plot,
)
from ui.chart_series import MarkerLog, decimate, grid_pairs, peak, with_gaps
from ui.connection_text import display_name
from ui.elided_label import ElidedLabel
from ui.series import T_BYTES_IN, T_BYTES_OUT, T_MSGS_IN, T_MSGS_OUT, T_SEC

__all__ = [  # with the names the tests import from here
    "FLOOD_FRAMES", "FLOOD_REDRAW_TICKS", "REDRAW_TICKS", "ChartsPanel", "CompactAxis",
]

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

        self._build_controls()
        self._build_plots()
        self._build_overlays()
        self._build_layout()
        bridge.tick.connect(self._on_tick)
        self._update_summary([])

    def _build_controls(self) -> None:
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

    def _build_plots(self) -> None:
        self.graphics = ChartView(self.bridge.redrawn)
        self.graphics.setBackground(theme.color("chart_background"))
        self.graphics.ci.setContentsMargins(2, 2, 6, 2)
        self.graphics.ci.setSpacing(6)  # a plot's top tick label clears the plot above
        # Short axis titles with their units: a rotated title must fit a plot ~70 px tall.
        self.rtt_plot = make_plot(self.graphics, 0, "RTT ms")
        self.msgs_plot = make_plot(self.graphics, 1, "msg/s")
        self.bytes_plot = make_plot(self.graphics, 2, "B/s")
        self.rtt_plot.getAxis("left").setScale(1000.0)  # samples are seconds; ticks read in ms
        self.bytes_unit = "B/s"  # follows the range: B/s, kB/s or MB/s (set_bytes_unit)
        for plot in (self.rtt_plot, self.msgs_plot):  # the bottom plot's time axis serves all
            plot.hideAxis("bottom")  # each time axis costs ~3 ms a repaint (its tick layout)
        self.plots = (self.rtt_plot, self.msgs_plot, self.bytes_plot)

    def _build_overlays(self) -> None:
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

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.scope_box)
        top.addWidget(self.window_box)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)

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

    def shown_connections(self) -> list[int]:
        ids = self.bridge.commands.ids()
        if self.scope != "all":
            known = set(ids)
            ids = [conn_id for conn_id in self.selected if conn_id in known]
        return ids[:MAX_CURVE_CONNECTIONS]

    def refresh(self, only: int | None = None) -> None:
        """Redraw the curves from the series (the windowed rows only): every plot, or only
        plot `only` (0 RTT, 1 messages, 2 bytes), whose repaint then covers its own area."""
        started = time.perf_counter()
        now = time.time()
        t0 = now - self.window_s
        conns = self.shown_connections()
        self._sync_curves(conns)
        data = []
        tops = [0.001, 1.0, 100.0]  # least y range: 1 ms, 1 msgs/s, 100 B/s
        bins = max(100, int(self.rtt_plot.vb.width()))
        for conn_id in conns:
            series = self.bridge.series.get(conn_id)
            if series is None:
                continue
            ping = decimate(series.rtt.since(t0), bins)
            app = decimate(series.app_rtt.since(t0), bins)
            rows = series.throughput.since(t0 - 1)  # silent seconds come as zeros
            x = rows[:, T_SEC]
            breaks = self.markers.closes(conn_id, t0)  # no RTT line across an outage
            data.append((self._curves[conn_id], (
                with_gaps(ping[:, 0], ping[:, 1], breaks), with_gaps(app[:, 0], app[:, 1], breaks),
                (x, rows[:, T_MSGS_IN]), (x, rows[:, T_MSGS_OUT]),
                (x, rows[:, T_BYTES_IN]), (x, rows[:, T_BYTES_OUT]),
            )))  # fmt: skip
            tops[0] = max(tops[0], peak(ping[:, 1], app[:, 1]))
            tops[1] = max(tops[1], peak(rows[:, T_MSGS_IN], rows[:, T_MSGS_OUT]))
            tops[2] = max(tops[2], peak(rows[:, T_BYTES_IN], rows[:, T_BYTES_OUT]))
        # Ranges first, so each setData below clips and downsamples against the final view.
        ids = conns
        which = range(len(self.plots)) if only is None else (only,)
        if 2 in which:
            self._set_bytes_unit(tops[2])
        x_ticks = self._x_ticks.ticks(t0, now)
        for i in which:
            plot = self.plots[i]
            y1 = tops[i] * headroom(plot)
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

    def _set_bytes_unit(self, top: float) -> None:
        """Scale the bytes axis to B/s, kB/s or MB/s by the largest value shown."""
        scale, unit = next(
            ((s, u) for s, u in ((1e-6, "MB/s"), (1e-3, "kB/s")) if top * s >= 1.0), (1.0, "B/s")
        )
        if unit != self.bytes_unit:
            self.bytes_unit = unit
            axis = self.bytes_plot.getAxis("left")
            axis.setScale(scale)
            axis.setLabel(unit, **label_style())

    def _marker_legend(self) -> None:
        legend = self.rtt_plot.legend
        legend.addItem(self.open_lines[0], "opened")
        legend.addItem(self.close_lines[0], "closed")

    def _sync_curves(self, conns: list[int]) -> None:
        wanted = set(conns)
        for conn_id in [c for c in self._curves if c not in wanted]:
            self._drop_curves(conn_id)
        for conn_id in conns:
            curves = self._curves.get(conn_id)
            label = legend_name(self.bridge.commands.config(conn_id))
            if curves is not None and curves.label != label:  # renamed
                self._drop_curves(conn_id)
                curves = None
            if curves is None:
                self._curves[conn_id] = make_curves(conn_id, label, *self.plots)

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

    def _update_summary(self, conns: list[int]) -> None:
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
        snap = self.bridge.series.latest(conns[0])
        if snap is None:
            self.summary.setText("No figures yet.")
            self._summary_ids = []  # the next redraw looks again
            return
        self._summarize(snap)

    def _summarize(self, snap: MetricsSnapshot) -> None:
        msgs_in, bytes_in, msgs_out, bytes_out = snap.rates
        rtt = snap.rtt
        rtt_text = f"RTT {rtt * 1000:.1f} ms" if rtt is not None else "RTT –"
        self.summary.setText(
            f"{rtt_text} · in {msgs_in:.1f}/s {bytes_text(bytes_in)}/s · "
            f"out {msgs_out:.1f}/s {bytes_text(bytes_out)}/s · {snap.state.value}"
        )
        self.summary.setToolTip(
            f"{display_name(self.bridge.commands.config(snap.conn_id))}\n"
            f"last protocol-ping RTT: {rtt_text[4:]}\n"
            f"in: {msgs_in:.1f} messages/s, {bytes_text(bytes_in)}/s (5 s mean)\n"
            f"out: {msgs_out:.1f} messages/s, {bytes_text(bytes_out)}/s (5 s mean)"
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
