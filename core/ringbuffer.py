"""A fixed-size numpy ring whose newest `n` rows are always one contiguous, copy-free view."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Each row is written twice (at i and i+capacity), so reading never wraps."""

    def __init__(self, capacity: int, columns: int, dtype: type = np.float64) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = np.zeros((2 * capacity, columns), dtype=dtype)
        self._next = 0
        self.count = 0
        self.total = 0

    def append(self, row: tuple[float, ...]) -> None:
        i = self._next
        self._data[i] = row
        self._data[i + self.capacity] = row
        self._next = (i + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)
        self.total += 1

    def view(self) -> np.ndarray:
        """Oldest to newest; a view into the buffer, valid until the next append."""
        end = self._next + self.capacity
        return self._data[end - self.count : end]

    def __len__(self) -> int:
        return self.count
