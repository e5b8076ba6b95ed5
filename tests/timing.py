"""One timing factor for slow machines, instead of reruns.

`SOCKETSCOPE_TIMING` (default 1.0) multiplies every latency and time bound that a test asserts:
a slow or crowded machine (CI under load, a debugger, coverage) sets it to 2 or 3 and every bar
grows alike, while the default keeps the bars the issues ask for. It never shortens a bound, and
it does not change how long tests wait for something to happen (those waits are timeouts that
only a failure reaches).
"""

from __future__ import annotations

import os

__all__ = ["FACTOR", "scaled"]


def _factor() -> float:
    raw = os.environ.get("SOCKETSCOPE_TIMING", "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"SOCKETSCOPE_TIMING must be a number such as 2, not {raw!r}") from None
    if not value >= 1.0:  # Also refuses NaN.
        raise ValueError(f"SOCKETSCOPE_TIMING must be 1 or more (a slower machine), not {raw}")
    return value


FACTOR = _factor()


def scaled(seconds: float) -> float:
    """A time bound (any unit) for this machine."""
    return seconds * FACTOR
