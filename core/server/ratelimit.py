"""Per-connection rate limiting: a token bucket, and a meter that tells abuse from a burst.

A client over its bucket gets an error per dropped message; one that keeps going past
`abuse_limit` excess messages within `abuse_window` seconds is closed with 1008.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """Allows `rate` messages per second on average and `burst` at once."""

    rate: float
    burst: int
    clock: Clock = time.monotonic
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (the message should be dropped)."""
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class AbuseMeter:
    """Counts excess messages in a sliding window; `hit()` is True once the limit is reached."""

    limit: int
    window: float
    clock: Clock = time.monotonic
    _hits: deque[float] = field(default_factory=deque, init=False)

    def hit(self) -> bool:
        now = self.clock()
        hits = self._hits
        hits.append(now)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) > self.limit:  # Never grows past limit + 1.
            hits.popleft()
        return len(hits) >= self.limit

    @property
    def count(self) -> int:
        return len(self._hits)
