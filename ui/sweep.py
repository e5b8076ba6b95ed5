"""A round-robin over n items that visits each once per period of tick time (no Qt here).

With a thousand connections, reading all of them on every 50 ms tick was most of the GUI's work;
reading the next few each tick keeps every one at most a period old for a fraction of the cost.
"""

from __future__ import annotations


class Sweep:
    def __init__(self, period: float) -> None:
        self.period = period
        self._next = 0  # the next item of the round
        self._credit = 0.0  # items due (fractional)
        self._last: float | None = None

    def due(self, n: int, now: float) -> tuple[range | list[int], bool]:
        """The items to visit at `now` (a tick's time), and whether they complete a round."""
        last, self._last = self._last, now
        dt = 0.0 if last is None else min(max(now - last, 0.0), self.period)
        self._credit += n * dt / self.period
        count = min(n, int(self._credit))
        if count <= 0:
            return range(0), False
        self._credit = 0.0 if count == n else self._credit - count
        start = self._next if self._next < n else 0
        stop = start + count
        if stop < n:
            self._next = stop
            return range(start, stop), False
        self._next = stop - n
        return [*range(start, n), *range(0, stop - n)], True

    def restart(self, at: int) -> None:
        """Go on from item `at` (after the items changed under the round)."""
        self._next = at

    def removed(self, first: int, count: int) -> None:
        """Items first .. first + count - 1 are gone: the round goes on where it was."""
        if self._next > first:
            self._next = max(first, self._next - count)
