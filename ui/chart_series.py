"""The charts' arithmetic on the UI's own series (ui.series): peaks, decimation, gaps at
outages, open/close markers and grid lines (no Qt here)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


def decimate(rows: np.ndarray, bins: int) -> np.ndarray:
    """At most about 2 * `bins` of the (time, value) rows: each run of rows becomes its
    smallest and largest value, in time order (peak decimation: no spike is lost)."""
    n = len(rows)
    if bins <= 0 or n <= 2 * bins:
        return rows
    per = -(-n // bins)
    whole = n // per * per
    runs = rows[:whole].reshape(-1, per, rows.shape[1])
    values = runs[:, :, 1]
    low, high = values.argmin(axis=1), values.argmax(axis=1)
    at = np.arange(len(runs))
    first = runs[at, np.minimum(low, high)]
    second = runs[at, np.maximum(low, high)]
    out = np.empty((2 * len(runs), rows.shape[1]))
    out[0::2], out[1::2] = first, second
    return np.concatenate((out, rows[whole:]))


def peak(*columns: np.ndarray) -> float:
    """The largest finite value among the columns (0 when all are empty)."""
    best = 0.0
    for column in columns:
        if len(column):
            value = float(np.max(column))
            if math.isfinite(value) and value > best:
                best = value
    return best


@dataclass(frozen=True, slots=True)
class Marker:
    time: float
    opened: bool  # True: the connection opened (green); False: it left OPEN (red)


class MarkerLog:
    """Open/close moments per connection, bounded."""

    def __init__(self, limit: int = 500) -> None:
        self._limit = limit
        self._marks: dict[int, deque[Marker]] = {}

    def add(self, conn_id: int, time: float, opened: bool) -> None:
        marks = self._marks.get(conn_id)
        if marks is None:
            marks = self._marks[conn_id] = deque(maxlen=self._limit)
        marks.append(Marker(time, opened))

    def get(self, conn_id: int) -> list[Marker]:
        return list(self._marks.get(conn_id, ()))

    def closes(self, conn_id: int, t0: float) -> list[float]:
        """When the connection left OPEN, since t0: where its RTT line must break."""
        return [m.time for m in self._marks.get(conn_id, ()) if not m.opened and m.time >= t0]

    def forget(self, conn_id: int) -> None:
        self._marks.pop(conn_id, None)

    def lines(
        self, conn_ids: list[int], t0: float, y0: float, y1: float
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(x, y) pairs for vertical lines from y0 to y1 at every mark since t0: (opens, closes).

        The arrays are meant for a curve drawn with connect="pairs"."""
        opens: list[float] = []
        closes: list[float] = []
        for conn_id in conn_ids:
            for mark in self._marks.get(conn_id, ()):
                if mark.time >= t0:
                    (opens if mark.opened else closes).append(mark.time)
        return _pairs(opens, y0, y1), _pairs(closes, y0, y1)


def with_gaps(
    x: np.ndarray, y: np.ndarray, breaks: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The series with a NaN point at each break inside it: a curve drawn with connect="finite"
    then leaves a gap there, instead of a straight line across an outage. Copies only when a
    break falls inside."""
    if not breaks or len(x) < 2:
        return x, y
    times = np.asarray(breaks, dtype=float)
    times = times[(times > x[0]) & (times < x[-1])]
    if not len(times):
        return x, y
    at = np.searchsorted(x, times)
    return np.insert(x, at, times), np.insert(y, at, np.nan)


def _pairs(times: list[float], y0: float, y1: float) -> tuple[np.ndarray, np.ndarray]:
    times.sort()
    x = np.repeat(np.asarray(times, dtype=float), 2)
    y = np.tile(np.array([y0, y1], dtype=float), len(times))
    return x, y


def grid_pairs(
    x_ticks: list[float], y_ticks: list[float], x0: float, x1: float, y1: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vertical lines at x_ticks (0 to y1) and horizontal ones at y_ticks (x0 to x1), as pairs."""
    xs = [v for x in x_ticks for v in (x, x)] + [v for _y in y_ticks for v in (x0, x1)]
    ys = [v for _x in x_ticks for v in (0.0, y1)] + [v for y in y_ticks for v in (y, y)]
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
