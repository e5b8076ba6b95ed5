"""Pairing requests with their replies by the decoder's correlation, per connection.

A REQUEST (or a SUBSCRIBE / UNSUBSCRIBE that carries a correlation) waits for the first RESPONSE
or ERROR with the same correlation on the same connection; a SUBSCRIBE is also answered by its
first EVENT (a GraphQL subscription's first `next`), and a CONTROL message with its correlation
(the subscription ended with no result) ends the wait without a pair. A decoder gives a
correlation only to messages that are answered or that answer.

Waiting requests are bounded in count and bytes: the oldest are evicted and counted. Latencies go
into a bounded reservoir per name, from which p50/p95/p99 are read.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from core.decoders.api import Kind, Message

OPENERS = frozenset({Kind.REQUEST, Kind.SUBSCRIBE, Kind.UNSUBSCRIBE})
CLOSERS = frozenset({Kind.RESPONSE, Kind.ERROR})
OTHER = "(other)"  # the histogram every name past max_names shares


@dataclass(frozen=True, slots=True)
class Pair:
    conn_id: Hashable
    request: Message
    reply: Message
    latency: float  # seconds


@dataclass(frozen=True, slots=True)
class Unanswered:
    conn_id: Hashable
    request: Message
    age: float  # seconds


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    p50: float
    p95: float
    p99: float
    max: float


class Reservoir:
    """A uniform sample of at most `size` latencies (Vitter's algorithm R), plus exact count and
    maximum."""

    def __init__(self, size: int = 1024, rng: random.Random | None = None) -> None:
        self.size = size
        self.count = 0
        self.max = 0.0
        self._samples: list[float] = []
        self._rng = rng or random.Random(0)

    def add(self, value: float) -> None:
        self.count += 1
        self.max = max(self.max, value)
        if len(self._samples) < self.size:
            self._samples.append(value)
        else:
            slot = self._rng.randrange(self.count)
            if slot < self.size:
                self._samples[slot] = value

    def percentiles(self) -> Percentiles:
        if not self._samples:
            return Percentiles(0, 0.0, 0.0, 0.0, 0.0)
        p50, p95, p99 = np.percentile(np.asarray(self._samples), [50, 95, 99])
        return Percentiles(self.count, float(p50), float(p95), float(p99), self.max)

    @property
    def samples(self) -> list[float]:
        return list(self._samples)


@dataclass(slots=True)
class _Waiting:
    request: Message
    time: float
    size: int


def message_size(message: Message) -> int:
    """A cheap estimate of what keeping a message costs (the caller may pass the frame size)."""
    return 200 + len(message.summary) + len(message.correlation or "")


class Pairer:
    def __init__(self, max_pending: int = 10_000, max_bytes: int = 8 * 1024 * 1024,
                 reservoir: int = 1024, max_names: int = 500) -> None:
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.reservoir = reservoir
        self.max_names = max_names
        self.evicted = 0  # waiting requests dropped to stay within the bounds
        self.unmatched = 0  # replies whose request was never seen (or was evicted)
        self.ended = 0  # subscriptions that ended before any result
        self.pending_bytes = 0
        self._pending: OrderedDict[tuple[Hashable, str], _Waiting] = OrderedDict()
        self._latency: dict[str, Reservoir] = {}

    def add(self, conn_id: Hashable, message: Message, time: float,
            size: int | None = None) -> Pair | None:
        """Feeds one decoded message; the Pair it completes, if any."""
        correlation = message.correlation
        if correlation is None:
            return None
        key = (conn_id, correlation)
        if message.kind in OPENERS:
            self._open(key, message, time, size if size is not None else message_size(message))
            return None
        waiting = self._pending.get(key)
        subscribed = waiting is not None and waiting.request.kind is Kind.SUBSCRIBE
        if message.kind is Kind.CONTROL and subscribed:
            self._drop(key)
            self.ended += 1
            return None
        if message.kind not in CLOSERS and not (message.kind is Kind.EVENT and subscribed):
            return None
        if waiting is None:
            self.unmatched += 1
            return None
        self._drop(key)
        pair = Pair(conn_id, waiting.request, message, max(0.0, time - waiting.time))
        self._histogram(label(waiting.request)).add(pair.latency)
        return pair

    def _drop(self, key: tuple[Hashable, str]) -> None:
        self.pending_bytes -= self._pending.pop(key).size

    def _open(self, key: tuple[Hashable, str], message: Message, time: float, size: int) -> None:
        old = self._pending.pop(key, None)
        if old is not None:  # the same id reused before its reply: the newer one waits
            self.pending_bytes -= old.size
        self._pending[key] = _Waiting(message, time, size)
        self.pending_bytes += size
        while self._pending and (len(self._pending) > self.max_pending
                                 or self.pending_bytes > self.max_bytes):
            _, dropped = self._pending.popitem(last=False)
            self.pending_bytes -= dropped.size
            self.evicted += 1

    def _histogram(self, name: str) -> Reservoir:
        found = self._latency.get(name)
        if found is None:
            if len(self._latency) >= self.max_names:
                name = OTHER
                found = self._latency.get(name)
            if found is None:
                found = self._latency[name] = Reservoir(self.reservoir)
        return found

    def unanswered(self, now: float, conn_id: Hashable | None = None) -> list[Unanswered]:
        """The requests still waiting, oldest first, with their age at `now`."""
        return [Unanswered(cid, w.request, max(0.0, now - w.time))
                for (cid, _), w in self._pending.items() if conn_id is None or cid == conn_id]

    def forget(self, conn_id: Hashable) -> int:
        """Drops a closed connection's waiting requests; how many there were."""
        keys = [key for key in self._pending if key[0] == conn_id]
        for key in keys:
            self._drop(key)
        return len(keys)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def names(self) -> list[str]:
        return list(self._latency)

    def percentiles(self, name: str) -> Percentiles:
        found = self._latency.get(name)
        return found.percentiles() if found else Percentiles(0, 0.0, 0.0, 0.0, 0.0)

    def samples(self, name: str) -> list[float]:
        found = self._latency.get(name)
        return found.samples if found else []


def label(request: Message) -> str:
    """The histogram a request's latency goes to: its method/event name, else topic, else kind."""
    return request.name or request.topic or request.kind.value
