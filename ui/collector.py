"""Python's cyclic GC for the desktop app: on the GUI thread only, and never across a flood.

Left automatic, a collection may run on the core or the embedded server's thread and destroy Qt
objects there, which Qt does not allow (their timers cannot be stopped: a later crash). So the
automatic collector is off and `Collector.step()` runs on a GUI timer.

A collection costs a walk over every object of the generations it collects. During a flood that
is the frames themselves: 100,000+ events a second, alive in the inspector and the recorder's
queue, which hold no cycles and are freed by reference counting anyway. Collecting them as young
objects (10 ms), then again as middle-aged ones (50 ms) froze the window for nothing. So when the
young generation is that large, it is frozen instead (O(1)): frozen objects are still freed
when their last reference goes, the cyclic collector just stops walking them. A full collection
(unfreeze, collect everything, freeze the survivors) then reclaims any cycle among them once a
minute when traffic allows it, and at the latest every ten minutes.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

FLOOD_YOUNG = 20_000  # young objects above which they are frozen, not walked (~2 ms of walk)


@dataclass
class Collector:
    full_every: float = 60.0
    full_at_latest: float = 600.0  # even while floods go on
    next_full: float = 0.0  # the first step collects everything start-up left and freezes it
    last_full: float = field(default_factory=time.monotonic)

    def step(self, now: float | None = None) -> str:
        """One look at the collector's counts; returns what it did (for tests and probes)."""
        now = time.monotonic() if now is None else now
        young, middle, _ = gc.get_count()
        limit0, limit1, _ = gc.get_threshold()
        flood = young > FLOOD_YOUNG
        if now >= self.next_full and (not flood or now >= self.last_full + self.full_at_latest):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.last_full = now
            self.next_full = now + self.full_every
            return "full"
        if flood:
            gc.freeze()
            return "freeze"
        if young > limit0:
            gc.collect(1 if middle > limit1 else 0)
            return "young"
        return "none"
