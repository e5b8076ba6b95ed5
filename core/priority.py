"""Lets the GUI thread run alone for a moment while the core threads read and record a flood.

The GUI, the network and the recorder threads share one GIL. During a flood a chart's or the
inspector's redraw costs ~5 ms of CPU but took 20-60 ms of wall time: every call between Qt and
Python takes the GIL anew and waits its turn behind two busy threads, and the window froze for
that long. So a redraw claims priority: the core threads step aside at their next yield point
(a few KiB of frames read, one SQLite statement written) until the redraw has painted, or the
claim runs out. The reads wait in the socket meanwhile (TCP flow control), nothing is dropped.
"""

from __future__ import annotations

import threading
import time


class Priority:
    """`claim()` and `release()` from the thread that wants to run alone; `step_aside()` at the
    yield points of the others. `claims` counts claims, so that a measurement can tell whether
    one fell on it (a ping whose pong waited on our side is not the server's latency)."""

    def __init__(self) -> None:
        self.claims = 0
        self.wakes = 0  # times the GUI thread woke up to work (see gui_awake)
        self._awake = False
        self.waited = 0.0  # seconds the core threads stepped aside, for the benchmarks
        self._until = 0.0
        self._free = threading.Event()  # clear from claim() to release(), even past `_until`
        self._free.set()

    def claim(self, seconds: float) -> None:
        """Until `release()`, or for `seconds` at most: a claimant that never releases holds
        no one for long."""
        self._until = time.monotonic() + seconds
        self.claims += 1
        self._free.clear()

    def release(self) -> None:
        self._free.set()

    @property
    def claimed(self) -> bool:
        return not self._free.is_set() and time.monotonic() < self._until

    def step_aside(self) -> None:
        """Wait (without the GIL) while a claim holds, at most until it runs out."""
        if self._free.is_set():
            return
        start = time.monotonic()
        left = self._until - start
        if left > 0:
            self._free.wait(left)
            self.waited += time.monotonic() - start

    def claimed_since(self, claims: int) -> bool:
        """Whether a claim holds now, or was made at any moment since `claims` was read."""
        return self.claimed or self.claims != claims

    def gui_awake(self) -> None:
        """The GUI thread woke up to work (its event dispatcher's `awake`). Much of its work
        runs inside Qt's C++ with the GIL held, where no switch interval takes it back: a pong
        the network thread reads meanwhile waits for it, for milliseconds. Nothing steps aside
        for this; it only tells an RTT measurement that the wait may have been ours."""
        self._awake = True
        self.wakes += 1

    def gui_idle(self) -> None:
        """The GUI thread is about to wait for events again (`aboutToBlock`)."""
        self._awake = False

    def gui_awake_since(self, wakes: int) -> bool:
        """Whether the GUI thread is at work now, or woke at any moment since `wakes` was read."""
        return self._awake or self.wakes != wakes
