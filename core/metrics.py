"""Per-connection figures: RTT samples and per-second throughput, in bounded ring buffers."""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass

import numpy as np

from core.ringbuffer import RingBuffer

# Throughput columns: second (epoch), msgs in, bytes in, msgs out, bytes out.
T_SEC, T_MSGS_IN, T_BYTES_IN, T_MSGS_OUT, T_BYTES_OUT = range(5)


class GrowingRing(RingBuffer):
    """A RingBuffer that starts at `start` rows and doubles when full, up to `limit` rows.

    Full-size rings cost 2.4 MB a connection (two RTT series of 20,000 samples and four hours
    of seconds, each row stored twice); zeroed lazily by the kernel only while numpy's memory
    comes straight from mmap, which it no longer does once glibc has raised its mmap threshold
    (any large array freed, e.g. by the charts): then every ring is memset and resident. A
    connection holds what it has recorded, at most the full size."""

    def __init__(self, limit: int, columns: int, start: int = 256) -> None:
        super().__init__(min(start, limit), columns)
        self.limit = limit

    def append(self, row: tuple[float, ...]) -> None:
        if self.count == self.capacity and self.capacity < self.limit:
            self._grow()
        super().append(row)

    def _grow(self) -> None:
        old = self._state[0]
        rows = self.view().copy()
        n = len(rows)
        capacity = min(self.capacity * 2, self.limit)
        data = np.zeros((2 * capacity, old.shape[1]), dtype=old.dtype)
        data[:n] = rows  # each row lives at i and i + capacity (see RingBuffer)
        data[capacity:capacity + n] = rows
        self._state = (data, n % capacity, n)


@dataclass(frozen=True, slots=True)
class Totals:
    msgs_in: int
    bytes_in: int
    msgs_out: int
    bytes_out: int


class ConnectionMetrics:
    """Hot-path counters are plain ints; a finished second is pushed to the ring once.

    `record_in`/`record_out` run once per frame (100,000+ a second in a flood): they compare one
    float and add to the current second's row; the running totals are the closed seconds plus
    the current one, worked out when read.

    The connection's thread writes; any thread may read. Closing a second (`roll`, once a
    second at most) and the readers that combine closed and current counts share a lock; the
    per-frame path takes none."""

    __slots__ = ("_cache", "_cur", "_done", "_last", "_lock", "_sec", "_sec_end", "app_rtt",
                 "rtt", "throughput")

    def __init__(self, rtt_capacity: int = 20_000, seconds_capacity: int = 4 * 3600) -> None:
        self.rtt = GrowingRing(rtt_capacity, 2)  # (time, rtt seconds), protocol ping
        self.app_rtt = GrowingRing(rtt_capacity, 2)  # application-level heartbeat
        self.throughput = GrowingRing(seconds_capacity, 5)
        self._sec = 0  # the second being counted (epoch seconds)
        self._sec_end = 0.0  # ... and when it ends: `now >= _sec_end` starts the next one
        self._cur = [0, 0, 0, 0]  # msgs in, bytes in, msgs out, bytes out of that second
        self._done = [0, 0, 0, 0]  # the same, summed over every closed second
        self._last: dict[str, float] = {}  # newest RTT sample by kind
        # Derived figures by what they were computed from: the connections table asks for them
        # for every connection on every 50 ms tick, and they change once a second at most.
        self._cache: dict[tuple[object, ...], object] = {}
        self._lock = threading.Lock()

    @property
    def msgs_in(self) -> int:
        return self._total(0)

    @property
    def bytes_in(self) -> int:
        return self._total(1)

    @property
    def msgs_out(self) -> int:
        return self._total(2)

    @property
    def bytes_out(self) -> int:
        return self._total(3)

    def _total(self, column: int) -> int:
        with self._lock:
            return self._done[column] + self._cur[column]

    def record_in(self, size: int, now: float) -> None:
        if now >= self._sec_end:
            self.roll(now)
        cur = self._cur
        cur[0] += 1
        cur[1] += size

    def record_out(self, size: int, now: float) -> None:
        if now >= self._sec_end:
            self.roll(now)
        cur = self._cur
        cur[2] += 1
        cur[3] += size

    def record_rtt(self, rtt: float, now: float, kind: str = "ping") -> None:
        (self.app_rtt if kind == "app" else self.rtt).append((now, rtt))
        self._last["app" if kind == "app" else "ping"] = rtt

    def roll(self, now: float) -> None:
        """Close the current second (and any silent seconds since) so charts show zeros too.
        A clock that went back keeps counting into the current second."""
        sec = int(now)
        if sec <= self._sec:
            return
        with self._lock:
            cur, done = self._cur, self._done
            if self._sec:
                self.throughput.append((self._sec, *cur))
                gap = min(sec - self._sec - 1, self.throughput.limit)
                for empty in range(sec - gap, sec):
                    self.throughput.append((empty, 0, 0, 0, 0))
            for i in range(4):
                done[i] += cur[i]
            self._sec = sec
            self._sec_end = float(sec + 1)
            self._cur = [0, 0, 0, 0]

    def totals(self) -> Totals:
        with self._lock:
            done, cur = self._done, self._cur
            return Totals(done[0] + cur[0], done[1] + cur[1], done[2] + cur[2], done[3] + cur[3])

    def seconds(self, since: float, now: float) -> np.ndarray:
        """Throughput rows of the finished seconds >= `since`, as a copy; read-only, so any
        thread may call it. A second that has ended is included (with zero rows for silent
        seconds after it) even when no frame has arrived since to close it."""
        with self._lock:
            rows = self.throughput.view()
            start = bisect.bisect_left(rows[:, T_SEC], since) if len(rows) else 0
            rows = rows[start:]
            sec, cur = self._sec, tuple(self._cur)
        last = int(now)  # the second now running is not finished
        if not sec or sec >= last:
            return rows.copy()
        first = max(sec + 1, math.ceil(since), last - self.throughput.limit)
        extra = np.zeros((1 + max(0, last - first), 5))
        extra[0] = (sec, *cur)
        extra[1:, T_SEC] = np.arange(first, last)
        if sec < since:
            extra = extra[1:]
        return np.concatenate((rows, extra))

    def last_rtt(self, kind: str = "ping") -> float | None:
        return self._last.get("app" if kind == "app" else "ping")

    def mean_rtt(self, kind: str = "ping", last: int = 100) -> float | None:
        ring = self.app_rtt if kind == "app" else self.rtt
        if not len(ring):
            return None
        key = ("mean", ring is self.app_rtt, last, ring.total)
        cached = self._cache.get(key, self)
        if cached is not self:
            return cached  # type: ignore[return-value]
        value: float | None = float(np.mean(ring.view()[-last:, 1]))
        if not math.isfinite(value):  # type: ignore[arg-type]
            value = None
        self._store(key, value)
        return value

    def rate(self, now: float, window: int = 5) -> tuple[float, float, float, float]:
        """Mean msgs/s in, bytes/s in, msgs/s out, bytes/s out over the last full seconds."""
        key = ("rate", window, int(now), self.throughput.total)
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        rows = self.seconds(int(now) - window, now)[-window:]
        if not len(rows):
            value = (0.0, 0.0, 0.0, 0.0)
        else:
            means = rows[:, 1:].sum(axis=0) / len(rows)
            value = tuple(float(x) for x in means)  # type: ignore[assignment]
        self._store(key, value)
        return value

    def _store(self, key: tuple[object, ...], value: object) -> None:
        cache = self._cache
        if len(cache) > 16:  # stale keys (older totals) pile up otherwise
            cache.clear()
        cache[key] = value
