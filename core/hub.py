"""Fan-out of engine events to observers without letting any of them slow the network."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from core.backpressure import Backpressure
from core.events import Event, FrameEvent
from core.priority import Priority

log = logging.getLogger(__name__)

Callback = Callable[[Event], None]
BatchCallback = Callable[[list[FrameEvent]], None]


class EventStream:
    """A bounded queue of events for a slow, async consumer; the oldest are dropped and counted."""

    def __init__(self, hub: EventHub, maxlen: int) -> None:
        self._hub = hub
        self._items: deque[Event] = deque(maxlen=maxlen)
        self._wakeup = asyncio.Event()
        self.dropped = 0

    def push(self, event: Event) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self._hub.unsubscribe(self.push)

    def drain(self) -> list[Event]:
        items = list(self._items)
        self._items.clear()
        self._wakeup.clear()
        return items

    async def get(self) -> Event:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventHub:
    """Synchronous callbacks must be O(1) (append to a deque); anything slower uses stream().
    An observer that must see every event and may fall behind (the recorder) engages
    `backpressure`, which the publishers' socket reads obey; the GUI claims `priority` for a
    redraw during a flood, and the publishers and the recorder step aside for it."""

    def __init__(self) -> None:
        self._callbacks: tuple[tuple[Callback, BatchCallback | None], ...] = ()
        self.backpressure = Backpressure()
        self.priority = Priority()

    def subscribe(
        self, callback: Callback, batch: BatchCallback | None = None
    ) -> Callable[[], None]:
        """`batch`, if given, takes the incoming data frames of one read at once (see
        `publish_frames`); without it `callback` gets them one by one."""
        self._callbacks = (*self._callbacks, (callback, batch))
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callback) -> None:
        self._callbacks = tuple(c for c in self._callbacks if c[0] != callback)

    def stream(self, maxlen: int = 10_000) -> EventStream:
        stream = EventStream(self, maxlen)
        self.subscribe(stream.push)
        return stream

    def publish(self, event: Event) -> None:
        for callback, _ in self._callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("event observer failed; the event was skipped for it")

    def publish_frames(self, frames: list[FrameEvent]) -> None:
        """The data frames one read brought, in order: an observer with a batch callback takes
        them in one call (a flood of 1 KiB frames: ~250 a read, and ~0.5 us of GIL a frame
        saved per observer), the others one by one."""
        for callback, batch in self._callbacks:
            if batch is not None:
                try:
                    batch(frames)
                except Exception:
                    log.exception("event observer failed; the frames were skipped for it")
                continue
            for frame in frames:
                try:
                    callback(frame)
                except Exception:
                    log.exception("event observer failed; the event was skipped for it")
