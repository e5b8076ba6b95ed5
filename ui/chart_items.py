"""The pieces of the charts panel: its plots and their axes, a connection's curves, and the grid
ticks that match the axis labels."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

# pyqtgraph must bind to PySide6 (the app's binding), whatever else is installed.
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPaintEvent

from core.config import ConnectionConfig
from ui import theme
from ui.connection_text import display_name
from ui.numbers import compact

HEADROOM = 1.15  # least y range over the largest value; more when a legend needs its band
LEGEND_OFFSET = (2, 1)
AXIS_WIDTH = 50

# Colours: the theme's chart_* (resources/palette.toml): a dark plot area; the series'
# colours readable on it and distinct from the red/green markers.


def label_style() -> dict[str, str]:
    return {"color": theme.current().css("chart_text"), "font-size": "8pt"}


def curve_pen(colour: QColor, dashed: bool) -> pg.QtGui.QPen:
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


def make_plot(graphics: pg.GraphicsLayoutWidget, row: int, title: str) -> pg.PlotItem:
    """One of the panel's plots, in row `row`: themed axes, fixed ranges, a legend."""
    plot = graphics.addPlot(row=row, col=0, axisItems={
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
    left.setLabel(title, **label_style())
    left.setWidth(AXIS_WIDTH)
    plot.setMouseEnabled(x=False, y=False)  # the panel drives both ranges every redraw
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.enableAutoRange(x=False, y=False)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    # Top left, in a band the y range leaves free above the data (headroom()), so it hides
    # none of them; translucent, should a curve still pass behind it.
    plot.addLegend(
        offset=LEGEND_OFFSET, labelTextColor=theme.color("chart_text"), labelTextSize="8pt",
        colCount=4, brush=pg.mkBrush(theme.color("chart_legend")), verSpacing=-8, horSpacing=12,
    )  # fmt: skip
    return plot


def headroom(plot: pg.PlotItem) -> float:
    """The y range over the largest value that keeps the data below the plot's legend."""
    legend = plot.legend
    height = plot.vb.height()
    if legend is None or not legend.items or height <= 0:
        return HEADROOM
    band = legend.boundingRect().height() + LEGEND_OFFSET[1] + 2
    return max(HEADROOM, 1.0 / max(0.4, 1.0 - band / height))


def make_curves(
    conn_id: int, label: str, rtt_plot: pg.PlotItem, msgs_plot: pg.PlotItem,
    bytes_plot: pg.PlotItem,
) -> ConnCurves:
    """A connection's six curves, added to the three plots."""
    series = theme.current().colors_of("chart_series")
    colour = series[(conn_id - 1) % len(series)]

    def samples(plot: pg.PlotItem, dashed: bool) -> pg.PlotDataItem:
        """RTT samples: up to 20,000 in the window, clipped to the view; the panel decimates
        them to about one min/max pair per pixel (ui.chart_series.decimate) before setData."""
        # connect="finite": the NaN points with_gaps() puts at outages break the line
        item = pg.PlotDataItem(pen=curve_pen(colour, dashed), connect="finite")
        item.setClipToView(True)
        plot.addItem(item)
        return item

    def seconds(plot: pg.PlotItem, dashed: bool) -> pg.PlotCurveItem:
        """One point a second, at most 900: a bare curve. A PlotDataItem adds two items
        (its own and a scatter) that Qt calls into Python for on every repaint, and takes
        ~6 ms to build."""
        item = pg.PlotCurveItem(pen=curve_pen(colour, dashed), skipFiniteCheck=True)
        plot.addItem(item)
        return item

    return ConnCurves(
        label,
        ping=samples(rtt_plot, False),
        app=samples(rtt_plot, True),
        msgs_in=seconds(msgs_plot, False),
        msgs_out=seconds(msgs_plot, True),
        bytes_in=seconds(bytes_plot, False),
        bytes_out=seconds(bytes_plot, True),
    )


class CompactAxis(pg.AxisItem):
    """Tick labels from 10,000 up read 20k, 1.5M: six digits did not fit beside the title."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().tickStrings(values, scale, spacing)
        return [
            compact(v * scale) if abs(v * scale) >= 10_000 else text
            for v, text in zip(values, strings, strict=True)
        ]


def legend_name(config: ConnectionConfig) -> str:
    """The connections table's name for it, cut to 20 characters."""
    label = display_name(config)
    return label if len(label) <= 20 else label[:20] + "…"


def bytes_text(value: float) -> str:
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
