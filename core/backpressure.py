"""Lets a consumer of the hub that must not drop (the recorder) hold back the socket reads.

A flood of 1 KiB frames arrives faster than SQLite writes them on a small machine. Without this
the recorder's queue grows by ~50 MB a second; with it the connections stop reading for a moment
(`transport.pause_reading()`), TCP's flow control slows the sender, and memory stays bounded
while every frame is still recorded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class Backpressure:
    """`engage()` and `release()` may be called from any thread; readers check `engaged`."""

    def __init__(self) -> None:
        self.engaged = False
        self.holds = 0  # times engaged, for the status bar and the benchmarks
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    def engage(self) -> None:
        with self._lock:
            if not self.engaged:
                self.engaged = True
                self.holds += 1

    def release(self) -> None:
        with self._lock:
            self.engaged = False
            waiters, self._waiters = self._waiters, []
        for loop, resume in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(resume)

    def held_since(self, holds: int) -> bool:
        """Whether the reads are held now, or were at any moment since `holds` was read."""
        return self.engaged or self.holds != holds

    def when_released(self, loop: asyncio.AbstractEventLoop, resume: Callable[[], None]) -> None:
        """Call `resume` on `loop` once released: at once (soon) if it already is."""
        with self._lock:
            if self.engaged:
                self._waiters.append((loop, resume))
                return
        loop.call_soon_threadsafe(resume)
