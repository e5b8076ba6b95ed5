"""The UI's own copy of what the charts, the connections table and the status bar show, fed by
the bridge at its tick from LatencySample, MetricsSnapshot and StateChanged events (no Qt here).

Only the GUI thread writes and reads these, so nothing is shared with the core thread: the core
keeps its figures, the UI keeps what it was told of them.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable

import numpy as np

from core.events import (
    ConnectionAdded,
    ConnectionRemoved,
    Event,
    HandshakeInfo,
    LatencySample,
    MetricsSnapshot,
    ProtocolDetected,
    StateChanged,
)
from core.states import ConnState

# What the charts can show: the longest window (15 min) and a minute, of RTT samples at up to 10
# a second and of seconds. A Series holds at most 2x its limit of rows, and only as many as came
# within HORIZON_S: at most 2 x (2 x 10,000 x 2 + 1,024 x 5) x 8 B = 0.7 MB a connection,
# ~60 kB at one ping a second.
HORIZON_S = 960.0
RTT_LIMIT = 10_000  # RTT samples kept per connection and kind
SECONDS_LIMIT = 1_024  # seconds of throughput kept
START_ROWS = 64
# Throughput columns: second (epoch), msgs in, bytes in, msgs out, bytes out.
T_SEC, T_MSGS_IN, T_BYTES_IN, T_MSGS_OUT, T_BYTES_OUT = range(5)


class Series:
    """Rows of floats, oldest first (by column 0, a time), the newest `limit` of them within
    `horizon` of the newest kept: at most `2 * limit` rows of memory. `view()` is contiguous;
    an array handed out is never written again (when the space runs out the kept rows move to
    a new array), so a curve may hold on to it."""

    __slots__ = ("_data", "_end", "_start", "horizon", "limit")

    def __init__(self, limit: int, columns: int, horizon: float = HORIZON_S) -> None:
        self.limit = limit
        self.horizon = horizon
        self._data = np.zeros((min(START_ROWS, limit), columns))
        self._start = self._end = 0

    def extend(self, rows: np.ndarray | list[tuple[float, ...]]) -> None:
        rows = np.asarray(rows, dtype=float).reshape(-1, self._data.shape[1])[-self.limit:]
        n = len(rows)
        if not n:
            return
        if self._end + n > len(self._data):
            kept = self.view()[max(0, len(self) + n - self.limit):]
            size = min(max(2 * (len(kept) + n), START_ROWS), 2 * self.limit)
            data = np.zeros((size, self._data.shape[1]))
            data[: len(kept)] = kept
            self._data, self._start, self._end = data, 0, len(kept)
        self._data[self._end : self._end + n] = rows
        self._end += n
        if len(self) > self.limit:
            self._start = self._end - self.limit
        view = self.view()
        oldest = view[-1, 0] - self.horizon
        if view[0, 0] < oldest:
            self._start += bisect.bisect_left(view[:, 0], oldest)

    def view(self) -> np.ndarray:
        return self._data[self._start : self._end]

    def since(self, t0: float) -> np.ndarray:
        """The rows whose first column is >= t0 (a view)."""
        view = self.view()
        if not len(view) or view[0, 0] >= t0:
            return view
        return view[bisect.bisect_left(view[:, 0], t0) :]

    def __len__(self) -> int:
        return self._end - self._start


class ConnSeries:
    """One connection: its RTT samples, its seconds of throughput and its latest figures."""

    __slots__ = ("app_rtt", "handshake", "latest", "protocol", "rtt", "throughput")

    def __init__(self) -> None:
        self.handshake: HandshakeInfo | None = None  # of the last open
        self.protocol: ProtocolDetected | None = None  # the decoder last detected or chosen
        self.rtt = Series(RTT_LIMIT, 2)  # (time, seconds)
        self.app_rtt = Series(RTT_LIMIT, 2)
        self.throughput = Series(SECONDS_LIMIT, 5)
        self.latest: MetricsSnapshot | None = None


class SeriesStore:
    """Every connection's series, by id; a connection's are forgotten when it is removed."""

    def __init__(self) -> None:
        self._conns: dict[int, ConnSeries] = {}
        self.updated: set[int] = set()  # connections whose figures the last feed changed

    def get(self, conn_id: int) -> ConnSeries | None:
        return self._conns.get(conn_id)

    def latest(self, conn_id: int) -> MetricsSnapshot | None:
        entry = self._conns.get(conn_id)
        return None if entry is None else entry.latest

    def latest_all(self) -> list[MetricsSnapshot]:
        return [e.latest for e in self._conns.values() if e.latest is not None]

    def _entry(self, conn_id: int) -> ConnSeries:
        entry = self._conns.get(conn_id)
        if entry is None:
            entry = self._conns[conn_id] = ConnSeries()
        return entry

    def feed(self, latencies: Iterable[LatencySample], states: Iterable[StateChanged],
             snapshots: Iterable[MetricsSnapshot], others: Iterable[Event],
             handshakes: Iterable[HandshakeInfo] = (),
             protocols: Iterable[ProtocolDetected] = ()) -> None:
        """One tick's events, in the order they were published within each kind."""
        self.updated = updated = set()
        for info in handshakes:
            if info.status in (None, 101):
                self._entry(info.conn_id).handshake = info
        for detected in protocols:
            self._entry(detected.conn_id).protocol = detected
        rtt: dict[int, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        for sample in latencies:
            pings, apps = rtt.setdefault(sample.conn_id, ([], []))
            (apps if sample.kind == "app" else pings).append((sample.time, sample.rtt))
        for conn_id, (pings, apps) in rtt.items():
            entry = self._entry(conn_id)
            entry.rtt.extend(pings)
            entry.app_rtt.extend(apps)
        for event in others:
            if type(event) is ConnectionRemoved:
                self._conns.pop(event.conn_id, None)
            elif type(event) is ConnectionAdded:
                entry = self._entry(event.conn_id)
                if entry.latest is None:
                    entry.latest = placeholder(event)
                    updated.add(event.conn_id)
        for snap in snapshots:
            entry = self._entry(snap.conn_id)
            entry.latest = snap
            if snap.seconds:
                entry.throughput.extend(list(snap.seconds))
            updated.add(snap.conn_id)
        for change in states:  # newer than the snapshot before it: it shows at once
            entry = self._entry(change.conn_id)
            if entry.latest is not None:
                entry.latest = with_state(entry.latest, change)
                updated.add(change.conn_id)


def placeholder(added: ConnectionAdded) -> MetricsSnapshot:
    """A new connection's figures until its first snapshot: closed, nothing counted."""
    name = "" if added.name == added.url else added.name
    return MetricsSnapshot(added.conn_id, added.time, ConnState.CLOSED, 0, name, added.url, None,
                           None, None, None, "", None, 0, 0, 0, 0, (0.0, 0.0, 0.0, 0.0), None,
                           None, None, None, 0)


def with_state(snap: MetricsSnapshot, change: StateChanged) -> MetricsSnapshot:
    """The snapshot as the state change leaves it (unless the snapshot is the newer)."""
    if change.time < snap.time:
        return snap
    opened = change.new is ConnState.OPEN
    return dataclasses.replace(
        snap,
        state=change.new,
        attempt=change.attempt,
        retry_at=None if change.retry_in is None else change.time + change.retry_in,
        opened_at=change.time if opened else snap.opened_at,
        close_code=change.close_code if change.close_code is not None else snap.close_code,
        close_reason=change.close_reason or snap.close_reason,
        last_error=change.error if change.error is not None else snap.last_error,
    )
