"""Reconnect delays: exponential, capped, jittered."""

from __future__ import annotations

import random
from collections.abc import Iterator

from core.config import ReconnectPolicy


def backoff(policy: ReconnectPolicy, rng: random.Random | None = None) -> Iterator[float]:
    """Yield successive delays; a fresh generator starts again from `initial`."""
    rng = rng or random.Random()
    base = policy.initial
    while True:
        spread = base * policy.jitter
        yield max(0.0, min(policy.max_delay, base + rng.uniform(-spread, spread)))
        base = min(policy.max_delay, base * policy.factor)
