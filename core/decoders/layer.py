"""The decoders in a running connection: one `ProtocolLayer` per open.

It detects the protocol (a `Detector` over the handshake and the first frames), opens the chosen
decoder's session behind a fuse (`GuardedSession`), pairs requests with replies (`Pairer`) and
publishes what it found: one `ProtocolDetected` per open (again when the user overrides it or
the decoder is switched off), and the decoded messages and pairs batched as `MessagesDecoded`
and `PairsMatched`. A decoder marked `lazy` (stateless: one frame decodes alone, e.g. plain JSON)
is not fed here at all, so the per-frame cost stays nil; whoever shows a frame decodes it with
`decode_frame()`. With the protocol client on, the session's `on_open()`, `answer()` and `tick()`
frames go into a bounded outbox that the connection's own write path drains, and a session with
`ready()` holds the user's messages (`wait_ready()`) until the protocol's handshake completes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from core.decoders.api import (
    TICK_SECONDS,
    URL_SIGNATURE,
    Decoder,
    Frame,
    Handshake,
    Message,
    Outgoing,
)
from core.decoders.guard import GuardedSession, open_session
from core.decoders.pairing import Pair, Pairer
from core.decoders.registry import AUTO, RAW, Detector, Registry
from core.events import (
    Direction,
    HandshakeInfo,
    MessagesDecoded,
    Opcode,
    PairsMatched,
    ProtocolDetected,
)

log = logging.getLogger(__name__)

BATCH_SECONDS = 0.05  # MessagesDecoded / PairsMatched at most this often...
BATCH_ITEMS = 512  # ...or as soon as this many are waiting
MAX_OUTBOX = 256  # protocol-client frames waiting to be written; more are dropped (logged)

Writer = Callable[[bytes, bool], Awaitable[None]]
Listener = Callable[[float, Message], None]


@functools.cache
def default_registry() -> Registry:
    """The decoders installed in this process (entry points), loaded once."""
    return Registry.from_entry_points()


def is_lazy(decoder: Decoder | None) -> bool:
    """A lazy decoder (`lazy = True`) decodes each frame alone and never speaks as a client."""
    return bool(getattr(decoder, "lazy", False))


def decode_frame(decoder_name: str, opcode: Opcode, payload: bytes,
                 direction: Direction = Direction.IN, time: float = 0.0,
                 registry: Registry | None = None) -> list[Message]:
    """One frame decoded alone by a fresh session of the named decoder (the UI's lazy path);
    [] for "raw", an unknown name, or a decoder that fails (never raises)."""
    decoder = (registry or default_registry()).get(decoder_name)
    if decoder is None:
        return []
    guard = open_session(decoder, Handshake(""))
    return list(guard.feed(Frame(direction, opcode, payload, time)))


def as_handshake(info: HandshakeInfo) -> Handshake:
    return Handshake(info.url, info.subprotocol, info.request_headers, info.response_headers)


class ProtocolLayer:
    """One open connection's protocol: detection, session, pairing, client frames, events.

    Runs on the connection's loop. `fed` says whether the connection must call `feed()` for
    each frame (while detecting, or with a decoder that is not lazy and still on); the
    connection reads it again whenever `on_change` is called."""

    def __init__(
        self,
        conn_id: int,
        handshake: HandshakeInfo,
        publish: Callable[[Any], None],
        *,
        registry: Registry,
        decoder: str = AUTO,
        client: bool | None = None,
        options: Mapping[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.handshake = as_handshake(handshake)
        self.publish = publish
        self.registry = registry
        self.choice = decoder or AUTO
        self.client_setting = client
        self.options = dict(options or {})
        self.on_change = on_change
        self.listener = listener  # sees each message as it is decoded (the CLI's frame lines)
        self.pairer = Pairer()
        self.decoder: Decoder | None = None
        self.score = 0.0
        self.guard: GuardedSession | None = None
        self.client = False
        self.fed = False
        self.closed = False
        self.dropped_out = 0  # protocol-client frames dropped because the outbox was full
        # The user's messages wait while `holding`: until the session's ready() says True
        # (`_released` set), or says False (`refused`: they stay held for this open).
        self.holding = False
        self.refused: str | None = None
        self._released = asyncio.Event()
        self._detector: Detector | None = None
        self._overridden = False
        self._outbox: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._items: list[tuple[float, Message]] = []
        self._pairs: list[Pair] = []
        self._flush_at: asyncio.TimerHandle | None = None

    # ----- choosing the decoder ---------------------------------------------------------------

    def start(self) -> None:
        """Applies `choice`: a name or "raw" at once (chosen by the user); "auto" decides now
        when the handshake is enough (subprotocol, URL), else holds the first frames until it
        is."""
        self._overridden = self.choice != AUTO
        self._detector = None
        if self.choice == RAW:
            self._decide(None, 0.0, (), "raw frames (chosen)")
        elif self.choice != AUTO:
            decoder = self.registry.get(self.choice)
            if decoder is None:
                self._decide(None, 0.0, (), f"raw frames: no decoder named {self.choice!r}")
            else:
                self._decide(decoder, URL_SIGNATURE, ())
        else:
            detector = Detector(self.registry.decoders, self.handshake)
            if detector.start():
                self._decide(detector.decoder, detector.score, ())
            else:
                self._detector = detector
                self._release()  # the user's messages do not wait for detection
                self._set_fed(True)

    def override(self, choice: str) -> None:
        """The user's choice for the rest of this open: the old session's events are flushed,
        the new one starts (its on_open frames are sent when the client is on)."""
        self.flush()
        self.guard = None
        self.choice = choice or AUTO
        self.start()

    def _client_wanted(self, score: float) -> bool:
        if self.client_setting is not None:
            return self.client_setting
        return self._overridden or score >= URL_SIGNATURE

    def _decide(self, decoder: Decoder | None, score: float, held: Sequence[Frame],
                why_raw: str = "raw frames: no decoder recognised the protocol") -> None:
        self._detector = None
        self.decoder, self.score = decoder, score
        self.client = decoder is not None and not is_lazy(decoder) and self._client_wanted(score)
        if decoder is None or is_lazy(decoder):
            self._release()
            self._set_fed(False)
            title = why_raw if decoder is None else decoder.title
            self._announce(title)
            return
        self.guard = open_session(decoder, self.handshake, self.options or None)
        self.holding = self.client and self.guard.has_ready and not self._released.is_set()
        if not self.holding:
            self._release()
        self._set_fed(True)
        self._announce(decoder.title)
        if self.client:
            self._queue(self.guard.on_open())
        if self._check_off():
            return
        for frame in held:
            self._feed_session(frame)

    def _announce(self, title: str, note: str = "") -> None:
        decoder = self.decoder
        self.publish(ProtocolDetected(self.conn_id, time.time(),
                                      decoder.name if decoder is not None else None, title,
                                      self.score, self.client, self._overridden, note))

    def _set_fed(self, fed: bool) -> None:
        if fed != self.fed:
            self.fed = fed
            if self.on_change is not None:
                self.on_change()

    # ----- frames -----------------------------------------------------------------------------

    def feed(self, direction: Direction, opcode: Opcode, payload: bytes, at: float) -> None:
        """One frame of the connection, in order (both directions, close frames too)."""
        frame = Frame(direction, opcode, payload, at)
        detector = self._detector
        if detector is not None:
            data = opcode is Opcode.TEXT or opcode is Opcode.BINARY
            if data and detector.offer(frame):
                self._decide(detector.decoder, detector.score, detector.first)
            return
        if self.guard is not None:
            self._feed_session(frame)

    def _feed_session(self, frame: Frame) -> None:
        guard = self.guard
        assert guard is not None
        messages = guard.feed(frame)
        if messages:
            size = len(frame.payload) + 200
            for message in messages:
                self._take(frame.time, message, size)
                if self.client and message.direction is Direction.IN:
                    self._queue(guard.answer(message))
                    if self.holding:
                        self._check_ready(guard, message)
            self._schedule()
        self._check_off()

    def _take(self, at: float, message: Message, size: int) -> None:
        self._items.append((at, message))
        pair = self.pairer.add(self.conn_id, message, at, size)
        if pair is not None:
            self._pairs.append(pair)
        if self.listener is not None:
            self.listener(at, message)

    def _check_off(self) -> bool:
        """Whether the session is switched off; the first time: announced with its note, the
        note published as a message, and nothing fed or sent any more."""
        guard = self.guard
        if guard is None or not guard.off:
            return False
        if self.fed:
            for note in guard.take_notes():
                self._take(time.time(), note, 0)
            self.client = False
            self._outbox.clear()
            self._release()
            self._set_fed(False)
            self._announce(self.decoder.title if self.decoder else "",
                           f"{guard.name} decoder switched off: {guard.off_reason}")
            self._schedule()
        return True

    # ----- the protocol client ----------------------------------------------------------------

    def _check_ready(self, guard: GuardedSession, message: Message) -> None:
        verdict = guard.ready(message)
        if verdict:
            self._release()
        elif verdict is False:
            self.refused = message.summary
            self._release()  # wakes wait_ready(), which sees the refusal
            self._announce(self.decoder.title if self.decoder else "",
                           f"the server refused the protocol handshake ({message.summary}): "
                           "on-open and queued messages are kept")

    def _release(self) -> None:
        self.holding = False
        self._released.set()

    async def wait_ready(self, timeout: float) -> bool:
        """Waits until the user's messages may go: True once the protocol's handshake is
        complete (or there is nothing to wait for), False when refused or after `timeout`
        seconds (then with a note: the caller sends anyway)."""
        if self.holding:
            try:
                async with asyncio.timeout(timeout):
                    await self._released.wait()
            except TimeoutError:
                if self.holding:  # not refused meanwhile
                    self._release()
                    self._announce(self.decoder.title if self.decoder else "",
                                   f"the protocol did not confirm its handshake within "
                                   f"{timeout:g} s: on-open and queued messages sent anyway")
                return False
        return self.refused is None

    def _queue(self, frames: Sequence[Outgoing]) -> None:
        if not frames or not self.client:
            return
        for frame in frames:
            if len(self._outbox) >= MAX_OUTBOX:
                self.dropped_out += 1
                log.warning("conn %s: protocol-client frame dropped (outbox full)", self.conn_id)
                continue
            self._outbox.append(frame)
        self._wake.set()

    async def write_pending(self, write: Writer) -> None:
        """Writes what the client has to send now, in order (on open: before anything else)."""
        while self._outbox:
            frame = self._outbox.popleft()
            await write(frame.payload, frame.text)

    async def run(self, write: Writer) -> None:
        """The client's task while open: answers as they are queued, tick() about once a
        second. The connection cancels it at close; a write on a closed socket ends it."""
        next_tick = time.monotonic() + TICK_SECONDS
        while not self.closed:
            try:
                async with asyncio.timeout(max(0.0, next_tick - time.monotonic())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_SECONDS
                if self.client and self.guard is not None:
                    self._queue(self.guard.tick(time.time()))
                    self._check_off()
            await self.write_pending(write)

    # ----- events -----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if len(self._items) >= BATCH_ITEMS or len(self._pairs) >= BATCH_ITEMS:
            self.flush()
        elif self._flush_at is None and (self._items or self._pairs):
            self._flush_at = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """Publishes the messages and pairs waiting (at most one event of each)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        now = time.time()
        if self._items:
            items, self._items = tuple(self._items), []
            self.publish(MessagesDecoded(self.conn_id, now, items))
        if self._pairs:
            pairs, self._pairs = tuple(self._pairs), []
            self.publish(PairsMatched(self.conn_id, now, pairs))

    def close(self) -> None:
        """At the end of the open: detection decides with what it saw (one ProtocolDetected per
        open), and the waiting events are published."""
        if self.closed:
            return
        detector = self._detector
        if detector is not None:
            decoder = detector.finish()
            self.client = False
            self.client_setting = False  # nothing can be sent any more
            self._decide(decoder, detector.score, detector.first)
        self.closed = True
        self._outbox.clear()
        self._wake.set()
        self.holding = False
        self._set_fed(False)
        self.flush()

    @property
    def name(self) -> str | None:
        return self.decoder.name if self.decoder is not None else None

