"""A numpy ring whose newest `n` rows are always one contiguous, copy-free view.

One thread appends (the connection's loop); others may read at any time: the array and the
indices of the readable rows are published together as one tuple, after the row is written, so
a reader never sees a half-written row or a view cut from a stale array. Once the ring is full,
each append overwrites the oldest row of the views taken before it: `snapshot()` copies and
leaves out the rows that may have been overwritten meanwhile.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Each row is written twice (at i and i+capacity), so reading never wraps."""

    def __init__(self, capacity: int, columns: int, dtype: type = np.float64) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        # data, next, count
        self._state: tuple[np.ndarray, int, int] = (
            np.zeros((2 * capacity, columns), dtype=dtype), 0, 0)
        self.total = 0

    @property
    def capacity(self) -> int:
        return len(self._state[0]) // 2

    @property
    def count(self) -> int:
        return self._state[2]

    def append(self, row: tuple[float, ...]) -> None:
        data, i, count = self._state
        capacity = len(data) // 2
        self.total += 1  # before the write: a snapshot taken meanwhile knows it may be torn
        data[i] = row
        data[i + capacity] = row
        self._state = (data, (i + 1) % capacity, min(count + 1, capacity))

    def view(self) -> np.ndarray:
        """Oldest to newest; a view into the buffer (its oldest rows are the next overwritten)."""
        data, i, count = self._state
        end = i + len(data) // 2
        return data[end - count : end]

    def snapshot(self, start: int = 0) -> np.ndarray:
        """A copy of `view()[start:]` that any thread may take while another appends."""
        total = self.total
        view = self.view()
        rows = view[start:].copy()
        if len(view) == self.capacity:  # full: appends overwrite the oldest rows, in order
            torn = self.total - total + 1 - start  # +1: an append may have been under way
            if torn > 0:
                rows = rows[torn:]
        return rows

    def __len__(self) -> int:
        return self._state[2]
