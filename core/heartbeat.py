"""A connection's heartbeats: protocol pings and the optional app-level ping message.

Ours rather than websockets' keepalive so that every ping is a frame the user sees and every
answer an RTT sample (an event and a metric). A sample is dropped when our own reads paused
while it was in flight (held for the recorder, or stepped aside for a GUI redraw): the reply may
have waited on our side, which is not the server's latency.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from core.codecs import parse_object
from core.events import Direction, ErrorEvent, LatencySample, Opcode

if TYPE_CHECKING:
    from core.connection import Connection
    from core.wire import Wire

_BINARY = Opcode.BINARY


class Heartbeat:
    """One per connection; `start()` on every open, `on_message()` for each message read."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.app_ping_at: float | None = None  # monotonic, while an app-level ping is unanswered
        self._app_mark = (0, 0, 0)
        self._app_marker = b""

    def start(self, wire: Wire) -> list[asyncio.Task[None]]:
        conn = self._conn
        hb = conn.config.heartbeat
        self.app_ping_at = None
        self._app_marker = hb.app_reply_type.encode()  # the config may have been edited
        tasks = [asyncio.create_task(self._pings(wire), name=f"heartbeat-{conn.id}")]
        if hb.app_template:
            tasks.append(asyncio.create_task(self._app_pings(), name=f"app-hb-{conn.id}"))
        return tasks

    # ----- protocol pings ---------------------------------------------------------------------

    async def _pings(self, wire: Wire) -> None:
        conn = self._conn
        hb = conn.config.heartbeat
        if hb.interval <= 0:
            return
        while True:
            await asyncio.sleep(hb.interval)
            data = os.urandom(4)
            try:
                waiter = wire.ping(data)
            except ConnectionClosed:
                return
            conn.publish_frame(Direction.OUT, Opcode.PING, data)
            try:
                rtt = await self._pong(waiter, hb.timeout)
            except TimeoutError:
                conn.abort(f"No pong within {hb.timeout:g} s: the server stopped answering pings")
                return
            except ConnectionClosed:
                return
            if rtt is not None:
                self._sample(rtt, time.time(), "ping")

    async def _pong(self, waiter: Awaitable[float], timeout: float) -> float | None:
        """The RTT of a pong; None when our reads paused meanwhile. TimeoutError: no pong for
        `timeout` while we were reading (a step aside for the GUI is too short to matter to
        that verdict)."""
        mark = self._mark()
        try:
            async with asyncio.timeout(timeout):
                rtt = await waiter
        except TimeoutError:
            if not self._conn.hub.backpressure.held_since(mark[0]):
                raise
            return None
        return None if self._paused_since(mark) else rtt

    # ----- app-level pings --------------------------------------------------------------------

    async def _app_pings(self) -> None:
        conn = self._conn
        hb = conn.config.heartbeat
        interval = hb.interval if hb.interval > 0 else 5.0
        wait = min(hb.timeout, interval)
        while True:
            await asyncio.sleep(interval)
            self.app_ping_at = time.monotonic()
            self._app_mark = self._mark()
            await conn.send(hb.app_template or "", text=True)
            await asyncio.sleep(wait)
            if self.app_ping_at is None:
                continue
            self.app_ping_at = None
            if conn.hub.backpressure.held_since(self._app_mark[0]):
                continue  # no verdict: we did not read all the while
            conn.publish(ErrorEvent(
                conn.id, time.time(),
                f"No {hb.app_reply_type!r} reply to the app-level heartbeat within {wait:g} s",
                "heartbeat"))

    def on_message(self, op: Opcode, data: bytes, now: float, read_at: float) -> None:
        """A message read at `read_at` (monotonic): the app-level reply, if it is one."""
        sent = self.app_ping_at
        if sent is None or (op is not _BINARY and self._app_marker not in data):
            return
        obj = parse_object(op, data)
        if obj is None or obj.get("type") != self._conn.config.heartbeat.app_reply_type:
            return
        self.app_ping_at = None
        if not self._paused_since(self._app_mark):
            self._sample(read_at - sent, now, "app")

    # ----- samples ----------------------------------------------------------------------------

    def _sample(self, rtt: float, now: float, kind: str) -> None:
        conn = self._conn
        conn.metrics.record_rtt(rtt, now, kind)
        conn.publish(LatencySample(conn.id, now, rtt, kind))

    def _mark(self) -> tuple[int, int, int]:
        hub = self._conn.hub
        return hub.backpressure.holds, hub.priority.claims, hub.priority.wakes

    def _paused_since(self, mark: tuple[int, int, int]) -> bool:
        """Whether the reads were held for the recorder, stepped aside for the GUI, or may have
        waited for the GUI thread's GIL, at any moment since `mark` was taken: such a round
        trip is partly ours, not the server's, and is not taken as a sample."""
        hub = self._conn.hub
        priority = hub.priority
        return (hub.backpressure.held_since(mark[0]) or priority.claimed_since(mark[1])
                or priority.gui_awake_since(mark[2]))
