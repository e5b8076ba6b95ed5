"""Decoded messages for the inspector's rows, worked out only where they are needed. Plain
Python, no Qt.

Which protocol a connection speaks comes from `ProtocolDetected` (kept per connection, with the
time it took effect, so frames keep the decoder they arrived under). Decoders that are fed in
core (Socket.IO, GraphQL, STOMP, MQTT, ...) publish their messages as `MessagesDecoded`: they are
kept here in a map bounded in entries and bytes, keyed by (conn_id, frame time, direction). A
lazy decoder (plain JSON, the embedded room protocol: one frame decodes alone) is never run at
tick time: a row's frame is decoded when the row is painted or a filter looks at it, and the
result is cached (bounded too).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from core.decoders.api import Message
from core.events import FrameEvent, MessagesDecoded, ProtocolDetected
from core.facade import Registry, decode_frame, default_registry, is_lazy
from ui.payload_store import is_preview

FED_ENTRIES = 100_000  # frames whose fed messages are kept (the inspector keeps 100k rows)
FED_BYTES = 32 * 2**20  # ... and their estimated size
CACHE_ENTRIES = 4_096  # rows whose lazily decoded messages are kept
CACHE_BYTES = 16 * 2**20
DECODE_LIMIT = 2 * 2**20  # larger payloads are not decoded in the window
SUMMARY_CHARS = 300  # the Message column's text is cut here (Qt elides the rest)
HISTORY = 8  # protocol changes remembered per connection
WAITING_LIMIT = 4_096
_NONE: tuple[Message, ...] = ()
Key = tuple[int, float, Any]


def approx_size(message: Message) -> int:
    """A cheap estimate of the memory one message holds (its payload's shallow length)."""
    payload = message.payload
    if isinstance(payload, str | bytes | bytearray):
        body = len(payload)
    elif isinstance(payload, dict | list | tuple):
        body = 64 * len(payload)
    else:
        body = 0
    return 240 + len(message.summary) + body + 64 * len(message.fields)


def summary_of(messages: Iterable[Message]) -> str:
    """The Message column's one line: each message's summary, joined."""
    text = "  ·  ".join(m.summary for m in messages)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def decode_one(name: str, event: FrameEvent, registry: Registry) -> tuple[Message, ...]:
    """One frame through a fresh (guarded) session of a lazy decoder: never raises. Previews
    of large frames (their start only) are not decoded."""
    payload = event.payload
    if not event.is_data or not payload or len(payload) > DECODE_LIMIT or is_preview(event):
        return _NONE
    return tuple(decode_frame(name, event.opcode, payload, event.direction, event.time, registry))


class _Bounded:
    """An insertion-ordered map bounded in entries and estimated bytes (the oldest go first)."""

    def __init__(self, entries: int, size: int) -> None:
        self.entries, self.size = entries, size
        self.items: OrderedDict[Any, tuple[tuple[Message, ...], int]] = OrderedDict()
        self.bytes = 0
        self.dropped = 0

    def get(self, key: Any) -> tuple[Message, ...] | None:
        found = self.items.get(key)
        return None if found is None else found[0]

    def put(self, key: Any, messages: tuple[Message, ...]) -> None:
        size = sum(map(approx_size, messages))
        old = self.items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self.items[key] = (messages, size)
        self.bytes += size
        while self.items and (len(self.items) > self.entries or self.bytes > self.size):
            _, (_, gone) = self.items.popitem(last=False)
            self.bytes -= gone
            self.dropped += 1

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


class DecodedIndex:
    """What each inspector row decodes to: `messages(seq, event)`."""

    def __init__(self, registry: Registry | None = None, fed_entries: int = FED_ENTRIES,
                 fed_bytes: int = FED_BYTES, cache_entries: int = CACHE_ENTRIES,
                 cache_bytes: int = CACHE_BYTES) -> None:
        self.registry = registry or default_registry()
        self._protocols: dict[int, list[tuple[float, str | None]]] = {}
        self._fed = _Bounded(fed_entries, fed_bytes)
        self._cache = _Bounded(cache_entries, cache_bytes)  # by row sequence number
        self.waiting: set[int] = set()  # rows shown before their fed messages arrived

    # ----- events ---------------------------------------------------------------------------

    def protocol_detected(self, event: ProtocolDetected) -> None:
        """A connection's decoder from now on; the cached rows are worked out again."""
        history = self._protocols.setdefault(event.conn_id, [])
        history.append((event.time, event.protocol))
        history.sort(key=lambda item: item[0])
        del history[:-HISTORY]
        self._cache.clear()

    def messages_decoded(self, event: MessagesDecoded) -> None:
        grouped: dict[Key, list[Message]] = {}
        for when, message in event.items:
            key = (event.conn_id, when, message.direction)
            grouped.setdefault(key, []).append(message)
        put, get = self._fed.put, self._fed.get
        for key, messages in grouped.items():
            old = get(key)  # a frame's messages may come in two batches
            put(key, (*old, *messages) if old else tuple(messages))

    def take_waiting(self) -> set[int]:
        waiting, self.waiting = self.waiting, set()
        return waiting

    def forget(self) -> None:
        """Forget the lazily decoded rows (after the table was cleared)."""
        self._cache.clear()
        self.waiting.clear()

    # ----- lookups --------------------------------------------------------------------------

    def protocol_at(self, conn_id: int, when: float) -> str | None:
        """The decoder a frame of this connection arrived under (None: raw)."""
        history = self._protocols.get(conn_id)
        if not history:
            return None
        found = history[0][1]  # frames before the first detection (it waits for some)
        for start, name in history:
            if start > when:
                break
            found = name
        return found

    def messages(self, seq: int, event: FrameEvent) -> tuple[Message, ...]:
        if event.opcode is None:  # a connection event row
            return _NONE
        name = self.protocol_at(event.conn_id, event.time)
        decoder = self.registry.get(name) if name else None
        if decoder is None:
            return _NONE
        if not is_lazy(decoder):
            found = self._fed.get((event.conn_id, event.time, event.direction))
            if found is None:
                if event.is_data and len(self.waiting) < WAITING_LIMIT:
                    self.waiting.add(seq)
                return _NONE
            return found
        cached = self._cache.get(seq)
        if cached is None:
            cached = decode_one(decoder.name, event, self.registry)
            self._cache.put(seq, cached)
        return cached

    @property
    def cached(self) -> int:
        """Rows whose lazily decoded messages are kept."""
        return len(self._cache.items)

    def summary(self, seq: int, event: FrameEvent) -> str:
        return summary_of(self.messages(seq, event))

    def title(self, name: str | None) -> str:
        decoder = self.registry.get(name) if name else None
        return decoder.title if decoder is not None else (name or "raw")
