"""What one connection may cost the server: its limits, and the rate-limit verdict per message.

Every message, ping and pong spends a token of the connection's bucket (pings would otherwise be
a free way to keep the server parsing and answering). Over the bucket a message is dropped with
an error reply; `abuse_limit` excess items within `abuse_window` seconds close the connection with
1008 (the wire does that, see `Wire.fail_abuse()`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import WARNING, ServerLog
from .ratelimit import AbuseMeter, TokenBucket

__all__ = ["ABUSED", "DROP", "OK", "Limits", "Meter"]

OK, DROP, ABUSED = "ok", "drop", "abused"


@dataclass(frozen=True)
class Limits:
    rate: float
    burst: int
    abuse_limit: int
    abuse_window: float
    max_write_buffer: int  # Bytes of unsent data, beyond one message, before an abort.
    max_size: int
    close_timeout: float
    open_timeout: float
    ping_interval: float  # 0: no health pings.
    ping_timeout: float  # 0: no deadline for the pong.
    log: ServerLog


class Meter:
    """One connection's token bucket and abuse meter."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bucket = TokenBucket(limits.rate, limits.burst)
        self.abuse = AbuseMeter(limits.abuse_limit, limits.abuse_window)

    def spend(self, label: str) -> str:
        """Spend one token for a message or control frame: OK, DROP (over the limit) or ABUSED
        (sustained: the caller fails the connection with 1008)."""
        if self.bucket.take():
            return OK
        if self.abuse.hit():
            return ABUSED
        if self.abuse.count == 1:
            self.limits.log.add(WARNING, "limit", f"client {label} is over the rate limit")
        return DROP
