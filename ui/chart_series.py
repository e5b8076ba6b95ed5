"""Windowed slices of the metrics ring buffers for the charts, without copying (no Qt here).

A `RingBuffer.view()` is oldest-to-newest and contiguous. The slice of rows newer than the window
start is found by bisection (O(log n), no copy) and stays valid while the charts hold it, except
when the ring is full and the slice reaches its oldest rows: the core thread's next appends
overwrite those, so that slice alone is copied, as a `snapshot()`.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from core.ringbuffer import RingBuffer

OVERWRITE_MARGIN = 1024  # appends that may land between two redraws, with room to spare
EMPTY = np.zeros((0, 5))


def since(ring: RingBuffer, t0: float) -> np.ndarray:
    """Rows whose time (column 0) is >= t0; a view into the ring unless it must be a copy."""
    view = ring.view()
    if not len(view):
        return view
    start = bisect.bisect_left(view[:, 0], t0) if view[0, 0] < t0 else 0
    if len(view) == ring.capacity and start < OVERWRITE_MARGIN:
        return ring.snapshot(start)  # its first rows are the next to be overwritten
    return view[start:]


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
