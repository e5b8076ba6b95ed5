"""Per-connection figures: RTT samples and per-second throughput, in bounded ring buffers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.ringbuffer import RingBuffer

# Throughput columns: second (epoch), msgs in, bytes in, msgs out, bytes out.
T_SEC, T_MSGS_IN, T_BYTES_IN, T_MSGS_OUT, T_BYTES_OUT = range(5)


@dataclass(frozen=True, slots=True)
class Totals:
    msgs_in: int
    bytes_in: int
    msgs_out: int
    bytes_out: int


class ConnectionMetrics:
    """Hot-path counters are plain ints; a finished second is pushed to the ring once."""

    def __init__(self, rtt_capacity: int = 20_000, seconds_capacity: int = 4 * 3600) -> None:
        self.rtt = RingBuffer(rtt_capacity, 2)  # (time, rtt seconds), protocol ping
        self.app_rtt = RingBuffer(rtt_capacity, 2)  # application-level heartbeat
        self.throughput = RingBuffer(seconds_capacity, 5)
        self.msgs_in = self.bytes_in = self.msgs_out = self.bytes_out = 0
        self._sec = 0
        self._cur = [0, 0, 0, 0]

    def record_in(self, size: int, now: float) -> None:
        if int(now) != self._sec:
            self.roll(now)
        self.msgs_in += 1
        self.bytes_in += size
        cur = self._cur
        cur[0] += 1
        cur[1] += size

    def record_out(self, size: int, now: float) -> None:
        if int(now) != self._sec:
            self.roll(now)
        self.msgs_out += 1
        self.bytes_out += size
        cur = self._cur
        cur[2] += 1
        cur[3] += size

    def record_rtt(self, rtt: float, now: float, kind: str = "ping") -> None:
        (self.app_rtt if kind == "app" else self.rtt).append((now, rtt))

    def roll(self, now: float) -> None:
        """Close the current second (and any silent seconds since) so charts show zeros too."""
        sec = int(now)
        if sec <= self._sec:
            return
        if self._sec:
            self.throughput.append((self._sec, *self._cur))
            gap = min(sec - self._sec - 1, self.throughput.capacity)
            for empty in range(sec - gap, sec):
                self.throughput.append((empty, 0, 0, 0, 0))
        self._sec = sec
        self._cur = [0, 0, 0, 0]

    def totals(self) -> Totals:
        return Totals(self.msgs_in, self.bytes_in, self.msgs_out, self.bytes_out)

    def last_rtt(self, kind: str = "ping") -> float | None:
        ring = self.app_rtt if kind == "app" else self.rtt
        return float(ring.view()[-1, 1]) if len(ring) else None

    def mean_rtt(self, kind: str = "ping", last: int = 100) -> float | None:
        ring = self.app_rtt if kind == "app" else self.rtt
        if not len(ring):
            return None
        value = float(np.mean(ring.view()[-last:, 1]))
        return value if math.isfinite(value) else None

    def rate(self, now: float, window: int = 5) -> tuple[float, float, float, float]:
        """Mean msgs/s in, bytes/s in, msgs/s out, bytes/s out over the last full seconds."""
        self.roll(now)
        rows = self.throughput.view()[-window:]
        if not len(rows):
            return (0.0, 0.0, 0.0, 0.0)
        means = rows[:, 1:].sum(axis=0) / len(rows)
        return tuple(float(x) for x in means)  # type: ignore[return-value]
