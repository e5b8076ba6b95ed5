"""Replaying a recording's (or a HAR's) outbound messages to a server, then diffing the replies.

Each recorded connection with outbound data messages is replayed on a fresh `Connection` of its
own, one after the other, without reconnects or pings (neither was part of the recording).
Timing: `original` keeps the recorded gaps (each capped at `max_gap`), `fast` sends at once,
`wait-reply` sends the next message only after the replies to this one came (as many as were
recorded) and the line went quiet, or after `reply_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.events import Direction, Event, FrameEvent, Opcode, StateChanged
from core.hub import EventHub
from core.recording.diff import IgnoreRules, Reply, ReplyDiff, diff_replies, message_id, summarize
from core.recording.har_import import read_har
from core.recording.reader import Recording
from core.states import ConnState

Timing = Literal["original", "fast", "wait-reply"]
TIMINGS: tuple[Timing, ...] = ("original", "fast", "wait-reply")
MAX_SOURCE_BYTES = 256 * 2**20  # recorded payloads held for one replay
MAX_REPLY_BYTES = 256 * 2**20  # replayed replies kept; the rest are counted, not kept
DEFAULT_MAX_GAP = 5.0
DEFAULT_REPLY_TIMEOUT = 5.0
DEFAULT_QUIET = 0.3
SETTLE = 0.1  # s of quiet after the expected replies, for extras


class ReplayError(RuntimeError):
    """The replay could not run (unreadable source, no server); the message says why."""


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """One recorded connection: what was sent, and what came back after each message."""

    conn_id: int
    url: str
    subprotocols: list[str]
    opened: float
    outbound: list[FrameEvent]
    replies: list[Reply]


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    timing: Timing = "fast"
    ignore: Sequence[str] = ()
    max_gap: float = DEFAULT_MAX_GAP  # s, the longest recorded gap `original` reproduces
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT  # s to wait for the recorded replies
    quiet: float = DEFAULT_QUIET  # s without a reply after which none is coming
    open_timeout: float = 10.0


@dataclass
class ReplayResult:
    diffs: list[ReplyDiff] = field(default_factory=list)
    sent: int = 0
    unsent: int = 0  # the server closed before these went out
    connections: int = 0
    dropped_replies: int = 0  # beyond MAX_REPLY_BYTES: counted, not compared

    def summary(self) -> dict[str, object]:
        counts = summarize(self.diffs)
        return {"summary": True, **counts, "sent": self.sent, "unsent": self.unsent,
                "connections": self.connections, "dropped_replies": self.dropped_replies}

    @property
    def all_same(self) -> bool:
        return not self.unsent and not self.dropped_replies and all(
            d.status == "same" for d in self.diffs)


def load_sources(path: str | Path, conn_id: int | None = None) -> list[ReplaySource]:
    """The connections of a HAR or a recording that sent anything (only `conn_id` if given:
    a recording's conn id, or a HAR's WebSocket entry counted from 1)."""
    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"no such file: {path}")
    with path.open("rb") as handle:
        is_har = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
    sources = _har_sources(path) if is_har else _recording_sources(path, conn_id)
    if conn_id is not None:
        sources = [s for s in sources if s.conn_id == conn_id]
        if not sources:
            raise ReplayError(f"{path.name}: connection {conn_id} sent nothing (or is not there)")
    sources = [s for s in sources if s.outbound]
    if not sources:
        raise ReplayError(f"{path.name}: no outbound messages to replay")
    return sources


def _har_sources(path: Path) -> list[ReplaySource]:
    sources = []
    for conn in read_har(path).connections:
        protocol = next((v for k, v in conn.response_headers
                         if k.lower() == "sec-websocket-protocol"), None)
        sources.append(_split(conn.conn_id, conn.url, [protocol] if protocol else [],
                              conn.started, conn.frames))
    return sources


def _recording_sources(path: Path, conn_id: int | None) -> list[ReplaySource]:
    try:
        with Recording(path) as rec:
            shakes = {h.conn_id: h for h in rec.handshakes()}
            opened: dict[int, float] = {}
            for state in rec.states():
                if state.new is ConnState.OPEN:
                    opened.setdefault(state.conn_id, state.time)
            sources = []
            for conn in rec.connections():
                if conn_id is not None and conn.conn_id != conn_id:
                    continue
                shake = shakes.get(conn.conn_id)
                protocols = [shake.subprotocol] if shake and shake.subprotocol else []
                frames = (f for f in rec.frames(conn_id=conn.conn_id) if f.is_data)
                sources.append(_split(conn.conn_id, conn.url, protocols,
                                      opened.get(conn.conn_id, conn.time), frames))
            return sources
    except sqlite3.DatabaseError as exc:
        raise ReplayError(f"{path.name}: not a recording or a HAR file ({exc})") from None


def _split(conn_id: int, url: str, protocols: list[str], opened: float,
           frames: Iterable[FrameEvent]) -> ReplaySource:
    outbound: list[FrameEvent] = []
    replies: list[Reply] = []
    held = 0
    for frame in frames:
        held += frame.size
        if held > MAX_SOURCE_BYTES:
            raise ReplayError(f"connection {conn_id} holds more than "
                              f"{MAX_SOURCE_BYTES // 2**20} MB of messages: too big to replay")
        if frame.direction is Direction.OUT:
            outbound.append(frame)
        else:
            replies.append(Reply(frame, len(outbound) - 1))
    return ReplaySource(conn_id, url, protocols, opened, outbound, replies)


async def replay(
    sources: Sequence[ReplaySource],
    config: ConnectionConfig,
    options: ReplayOptions,
    result: ReplayResult | None = None,
) -> ReplayResult:
    """Replay every source against `config.url` (its headers, token, TLS apply) and diff.

    A `result` passed in fills as the replay runs (sent, connections), for a progress view."""
    result = ReplayResult() if result is None else result
    rules = IgnoreRules(options.ignore)
    for source in sources:
        run = _Run(source, config, options, result)
        replayed = await run.play()
        ids = {key for f in source.outbound if (key := message_id(f)) is not None}
        result.diffs.extend(diff_replies(source.conn_id, source.replies, replayed, ids, rules))
        result.connections += 1
    return result


class _Run:
    """One source replayed on one connection; collects the replies as the hub delivers them."""

    def __init__(self, source: ReplaySource, config: ConnectionConfig, options: ReplayOptions,
                 result: ReplayResult) -> None:
        self.source, self.options, self.result = source, options, result
        config = dataclasses.replace(
            config,
            subprotocols=config.subprotocols or list(source.subprotocols),
            open_timeout=options.open_timeout,
            heartbeat=HeartbeatConfig(interval=0),
            reconnect=ReconnectPolicy(enabled=False),
        )
        self.hub = EventHub()
        self.conn = Connection(config, self.hub)
        self.replies: list[Reply] = []
        self.reply_bytes = 0
        self.dropped = 0
        self.sent = 0
        self.last_activity = time.monotonic()
        self.state = asyncio.Event()  # set on every state change

    def _on_event(self, event: Event) -> None:
        if type(event) is StateChanged:
            self.state.set()
        elif type(event) is FrameEvent and event.direction is Direction.IN and event.is_data:
            self.last_activity = time.monotonic()
            if self.reply_bytes + event.size > MAX_REPLY_BYTES:
                self.dropped += 1
                return
            self.reply_bytes += event.size
            self.replies.append(Reply(event, self.sent - 1))

    async def play(self) -> list[Reply]:
        unsubscribe = self.hub.subscribe(self._on_event)
        try:
            await self._open()
            await self._send_all()
            if self.options.timing != "wait-reply":  # that one waited after every message
                await self._settle(len(self.source.replies), 0)
        finally:
            await self.conn.disconnect()
            unsubscribe()
            self.result.dropped_replies += self.dropped
        return self.replies

    async def _open(self) -> None:
        self.conn.connect()
        deadline = time.monotonic() + self.options.open_timeout + 1
        while self.conn.state is not ConnState.OPEN:
            if self.conn.state is ConnState.CLOSED or time.monotonic() > deadline:
                why = self.conn.last_error or "no answer"
                raise ReplayError(f"cannot connect to {self.conn.config.url}: {why}")
            self.state.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.state.wait(), 0.5)
        self.last_activity = time.monotonic()

    async def _send_all(self) -> None:
        source, options = self.source, self.options
        expected = Counter(r.after for r in source.replies)  # replies recorded after each send
        if options.timing == "wait-reply":
            await self._settle(expected[-1], 0)  # what the server says first, unasked
        start = time.monotonic()
        offset = 0.0  # s after `start` the next message is due (original timing)
        previous = source.opened
        for index, frame in enumerate(source.outbound):
            if options.timing == "original":
                offset += min(max(frame.time - previous, 0.0), options.max_gap)
                previous = frame.time
                await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            if self.conn.state is not ConnState.OPEN:
                self.result.unsent += len(source.outbound) - index
                return
            before = self._received()
            self.sent += 1  # before the send: a reply may be delivered before it returns
            self.last_activity = time.monotonic()
            if not await self.conn.send(frame.payload, text=frame.opcode is Opcode.TEXT):
                self.sent -= 1
                self.result.unsent += len(source.outbound) - index
                return
            self.result.sent += 1
            if options.timing == "wait-reply":
                await self._settle(expected[index], before)

    def _received(self) -> int:
        return len(self.replies) + self.dropped

    async def _settle(self, expected: int, since: int) -> None:
        """Wait for `expected` replies more than `since`, then for quiet (longer when none is
        expected: a reply the recording lacks would be an extra); at most `reply_timeout`."""
        options = self.options
        deadline = time.monotonic() + options.reply_timeout
        quiet = options.quiet if expected == 0 else SETTLE
        while time.monotonic() < deadline and self.conn.state is ConnState.OPEN:
            idle = time.monotonic() - self.last_activity
            if self._received() - since >= expected and idle >= quiet:
                return
            await asyncio.sleep(0.01)
