"""One stats shape for both runners, streamed as NDJSON once a second: Locust's figures (its
web API's /stats/requests) and the local runner's are turned into the same LoadStats.

Every simulated client reports three kinds of sample, named as in Locust (method "WS"):
`connect` (the opening handshake), `send` (one message written) and `reply` (the expectation:
the reply or matching message, or a failure when none came within the plan's `within`)."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

METHOD = "WS"
NAMES = ("connect", "send", "reply")


@dataclass
class Counts:
    requests: int = 0
    failures: int = 0


@dataclass
class LoadStats:
    t: float  # seconds since the run was started
    state: str  # "starting", "spawning", "running", "stopping", "stopped"
    users: int
    connect: Counts
    send: Counts
    reply: Counts
    p50: float | None = None  # reply latency, ms (all replies so far)
    p95: float | None = None
    p99: float | None = None
    sends_per_s: float = 0.0  # over the last interval
    replies_per_s: float = 0.0

    @property
    def failures(self) -> int:
        return self.connect.failures + self.send.failures + self.reply.failures

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["failures"] = self.failures
        return doc


class RateMeter:
    """Turns cumulative counts into per-second rates, the same way for both runners."""

    def __init__(self) -> None:
        self._last: tuple[float, int, int] | None = None

    def update(self, stats: LoadStats, now: float | None = None) -> LoadStats:
        now = time.monotonic() if now is None else now
        sends, replies = stats.send.requests, stats.reply.requests
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            stats.sends_per_s = round((sends - self._last[1]) / dt, 1)
            stats.replies_per_s = round((replies - self._last[2]) / dt, 1)
        self._last = (now, sends, replies)
        return stats


def from_locust(report: dict[str, Any], t: float) -> LoadStats:
    """A /stats/requests answer (or the entries of its --json-file) as LoadStats."""
    entries = {e.get("name"): e for e in report.get("stats", []) if e.get("method") == METHOD}

    def counts(name: str) -> Counts:
        entry = entries.get(name, {})
        return Counts(int(entry.get("num_requests", 0)), int(entry.get("num_failures", 0)))

    reply = entries.get("reply", {})
    has = bool(reply.get("num_requests"))
    return LoadStats(
        t=round(t, 2), state=str(report.get("state", "")), users=int(report.get("user_count", 0)),
        connect=counts("connect"), send=counts("send"), reply=counts("reply"),
        p50=_ms(reply.get("median_response_time")) if has else None,
        p95=_ms(reply.get("response_time_percentile_0.95")) if has else None,
        p99=_ms(reply.get("response_time_percentile_0.99")) if has else None,
    )


def _ms(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def bucket(ms: float) -> int:
    """Locust's rounding (about two significant digits), so the histogram stays ~300 keys."""
    if ms < 100:
        return round(ms)
    digits = 10 ** (int(math.log10(ms)) - 1)
    return int(round(ms / digits) * digits)


class Histogram:
    """Reply latencies, bounded by rounding, with Locust's percentile rule."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def add(self, ms: float) -> None:
        key = bucket(ms)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1

    def percentile(self, fraction: float) -> float | None:
        if not self.total:
            return None
        wanted = int(self.total * fraction)
        seen = 0
        for key in sorted(self.counts, reverse=True):
            seen += self.counts[key]
            if self.total - seen <= wanted:
                return float(key)
        return float(min(self.counts))


def stats_from_json(doc: dict[str, Any]) -> LoadStats:
    """The inverse of LoadStats.to_json (the local runner's child writes NDJSON lines)."""
    fields = {f.name for f in dataclasses.fields(LoadStats)}
    values = {k: v for k, v in doc.items() if k in fields}
    for name in NAMES:
        values[name] = Counts(**values[name])
    return LoadStats(**values)
