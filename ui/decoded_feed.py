"""What the protocol panels (Topics, Pairs) read from a tick: each connection's decoder and the
application messages decoded from its frames, paired by correlation.

Decoders the core feeds publish `MessagesDecoded`; lazy ones (json, embedded) publish nothing per
frame, so the panels decode the tick's frames of those connections here, within a budget per tick
(frames and time; what is skipped is counted), with one session per connection (a lazy decoder's
session is stateless: the same as `core.decoders.layer.decode_frame`, without a new session per
frame).

Every message, wherever it was decoded, goes through one Pairer, so pairs and the unanswered
requests come out the same for all protocols. The panels of one bridge share one feed
(`shared_feed`): a tick is decoded once, whichever panel asks first.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from core.decoders.api import Decoder, Frame, Handshake, Message
from core.events import (
    ConnectionRemoved,
    FrameEvent,
    HandshakeInfo,
    MessagesDecoded,
    ProtocolDetected,
)
from core.facade import (
    GuardedSession,
    Pair,
    Pairer,
    Registry,
    default_registry,
    is_lazy,
    open_session,
)
from ui.bridge import FLOOD_FRAMES

BUDGET_FRAMES = 2_000  # frames a panel decodes itself per tick, at most
BUDGET_S = 0.004  # and for about this long
# In a flood (ui.bridge.FLOOD_FRAMES in a tick) the GUI thread's time is the network's too (one
# GIL): a sample this small keeps the topics' names and rates alive and ingest at its pace (4 ms
# a tick took ingest from ~0.9x to ~0.75x the bare client at 64 B); the rest is counted.
FLOOD_BUDGET_FRAMES = 200
FLOOD_BUDGET_S = 0.001
KNOWN_FIELDS = frozenset({"time", "frames", "states", "latencies", "handshakes", "snapshots",
                          "dropped"})


def registry() -> Registry:
    """The decoders of this process (entry points), the same the connections use."""
    return default_registry()


def decoder_named(name: str | None) -> Decoder | None:
    return registry().get(name) if name else None


def other_events(batch: Any) -> Iterator[Any]:
    """The tick's events besides frames, states, latencies and handshakes: `batch.others`, and
    any list field a later TickBatch adds for them."""
    for item in dataclasses.fields(batch):
        if item.name not in KNOWN_FIELDS:
            value = getattr(batch, item.name)
            if isinstance(value, list):
                yield from value


@dataclass(slots=True)
class _Conn:
    """One connection as a panel sees it."""

    handshake: Handshake | None = None
    protocol: str | None = None  # the decoder's name; None: raw (or not yet known)
    session: GuardedSession | None = None  # for a lazy decoder: decoded here


@dataclass(slots=True)
class FeedTick:
    """What one tick brought: messages by connection (frame time, message), completed pairs."""

    messages: dict[int, list[tuple[float, Message]]] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    skipped: int = 0  # frames not decoded here this tick (over the budget)


class DecodedFeed:
    """Turns ticks into decoded messages and pairs for every connection."""

    def __init__(self, budget_frames: int = BUDGET_FRAMES, budget_s: float = BUDGET_S) -> None:
        self.budget_frames = budget_frames
        self.budget_s = budget_s
        self.pairer = Pairer(max_pending=5_000, max_bytes=4 * 2**20)
        self.skipped_total = 0
        self._watchers: weakref.WeakSet[Any] = weakref.WeakSet()  # the panels shown from it
        self._conns: dict[int, _Conn] = {}
        self._last: tuple[Any, FeedTick] | None = None  # the batch decoded last, and what it gave

    def seed(self, known: Iterable[tuple[int, HandshakeInfo | None, str | None]]) -> None:
        """What the connections already detected before this feed existed (panels built after
        the first connections opened saw no ProtocolDetected): (id, handshake, decoder name)
        as the bridge's series recorded them."""
        for conn_id, handshake, protocol in known:
            if conn_id in self._conns:
                continue
            self._conns[conn_id] = _Conn()
            if handshake is not None:
                self._opened(handshake)
            self._use(conn_id, protocol)

    def watch(self, panel: Any) -> None:
        """A panel (a QWidget) that shows this feed: while none is visible, a flood's frames
        are not decoded here at all (counted as skipped)."""
        self._watchers.add(panel)

    def protocol(self, conn_id: int | None) -> str | None:
        conn = self._conns.get(conn_id) if conn_id is not None else None
        return conn.protocol if conn else None

    def update(self, batch: Any) -> FeedTick:
        """What the tick's batch brought; the same answer when asked again for the same batch."""
        if self._last is not None and self._last[0] is batch:
            return self._last[1]
        out = FeedTick()
        for info in batch.handshakes:
            self._opened(info)
        for event in other_events(batch):
            if type(event) is ProtocolDetected:
                self._detected(event)
            elif type(event) is MessagesDecoded:
                out.messages.setdefault(event.conn_id, []).extend(event.items)
            elif type(event) is ConnectionRemoved:
                self._conns.pop(event.conn_id, None)
                self.pairer.forget(event.conn_id)
        self._decode(batch.frames, out)
        for conn_id, items in out.messages.items():
            for when, message in items:
                pair = self.pairer.add(conn_id, message, when)
                if pair is not None:
                    out.pairs.append(pair)
        self.skipped_total += out.skipped
        self._last = (batch, out)
        return out

    def _opened(self, info: HandshakeInfo) -> None:
        if info.status in (None, 101):  # its ProtocolDetected follows
            conn = self._conns.setdefault(info.conn_id, _Conn())
            conn.handshake = Handshake(info.url, info.subprotocol, info.request_headers,
                                       info.response_headers)

    def _detected(self, event: ProtocolDetected) -> None:
        self._conns.setdefault(event.conn_id, _Conn())
        self._use(event.conn_id, event.protocol)

    def _use(self, conn_id: int, protocol: str | None) -> None:
        conn = self._conns[conn_id]
        decoder = decoder_named(protocol)
        conn.protocol = protocol
        conn.session = open_session(decoder, conn.handshake or Handshake("")) \
            if decoder is not None and is_lazy(decoder) else None

    def _decode(self, frames: list[FrameEvent], out: FeedTick) -> None:
        """The frames of connections with a lazy decoder, within the budget."""
        sessions = {conn_id: conn.session for conn_id, conn in self._conns.items()
                    if conn.session is not None}
        if not sessions:
            return
        flood = len(frames) >= FLOOD_FRAMES
        budget_frames = min(self.budget_frames, FLOOD_BUDGET_FRAMES) if flood \
            else self.budget_frames
        if flood and self._watchers and not any(w.isVisible() for w in self._watchers):
            budget_frames = 0
        deadline = time.perf_counter() + (min(self.budget_s, FLOOD_BUDGET_S) if flood
                                          else self.budget_s)
        done = 0
        for index, event in enumerate(frames):
            session = sessions.get(event.conn_id)
            if session is None:
                continue
            if done >= budget_frames or (done % 64 == 0 and time.perf_counter() > deadline):
                rest = map(attrgetter("conn_id"), frames[index:])
                out.skipped += sum(map(sessions.__contains__, rest))
                return
            done += 1
            frame = Frame(event.direction, event.opcode, event.payload, event.time)
            out.messages.setdefault(event.conn_id, []).extend(
                (event.time, message) for message in session.feed(frame))


_shared: weakref.WeakKeyDictionary[Any, DecodedFeed] = weakref.WeakKeyDictionary()


def shared_feed(bridge: Any) -> DecodedFeed:
    """The one feed of a bridge's panels (made with the first panel, which loads the decoders
    then rather than in the first tick with a handshake)."""
    feed = _shared.get(bridge)
    if feed is None:
        registry()
        feed = _shared[bridge] = DecodedFeed()
        series = bridge.series
        feed.seed((conn_id, entry.handshake, entry.protocol.protocol)
                  for conn_id in bridge.commands.ids()
                  if (entry := series.get(conn_id)) is not None and entry.protocol is not None)
    return feed
