"""Exactly-once delivery across reconnects: the message ids already handled, per client name.

Bounded twice: an id is forgotten after `window` seconds, and each name keeps at most `max_ids`
(the oldest go first), so a client cannot grow server memory by inventing ids.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from .ratelimit import Clock


@dataclass
class SeenIds:
    """Remembers (name, id) pairs for a while."""

    window: float = 600.0
    max_ids: int = 10_000
    clock: Clock = time.monotonic
    on_remember: Callable[[str, Hashable], None] | None = None  # A cluster shares ids here.
    _seen: dict[str, OrderedDict[Hashable, float]] = field(default_factory=dict, init=False)

    def seen(self, name: str, msg_id: Hashable) -> bool:
        """Whether `msg_id` was handled for `name` within the window."""
        ids = self._seen.get(name)
        if ids is None:
            return False
        self._expire(name, ids)
        return msg_id in ids

    def remember(self, name: str, msg_id: Hashable, notify: bool = True) -> None:
        if notify and self.on_remember is not None:
            self.on_remember(name, msg_id)
        ids = self._seen.setdefault(name, OrderedDict())
        ids[msg_id] = self.clock()
        ids.move_to_end(msg_id)
        while len(ids) > self.max_ids:
            ids.popitem(last=False)

    def forget(self, name: str) -> None:
        """Drop everything about `name` (used when the name can never come back)."""
        self._seen.pop(name, None)

    def sweep(self) -> None:
        """Expire old ids of every name (called now and then so idle names go away too)."""
        for name, ids in list(self._seen.items()):
            self._expire(name, ids)

    def _expire(self, name: str, ids: OrderedDict[Hashable, float]) -> None:
        limit = self.clock() - self.window
        while ids:
            oldest = next(iter(ids.values()))
            if oldest > limit:
                break
            ids.popitem(last=False)
        if not ids:
            del self._seen[name]

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._seen.values())
