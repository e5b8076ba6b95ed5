"""The server's connection class: websockets' ServerConnection with three defences added.

- Every received ping and pong spends the connection's rate limit, like a message does (a
  flooder is failed with 1008). websockets parses all the frames of one read before any handler
  runs (about 10 us a frame) and answers every ping, so pings were a free way to hold the loop.
- A read is at most READ_CHUNK bytes (asyncio's default is 256 KiB, ~40,000 empty frames, about
  half a second of parsing in one go); so one connection cannot hold the loop for long.
- A peer whose unsent replies (pongs, which websockets writes whether or not the peer reads)
  exceed `max_write_buffer` plus one message is aborted, like a slow consumer of broadcasts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from .events import WARNING, ServerLog
from .ratelimit import AbuseMeter, TokenBucket

__all__ = ["ABUSED", "DROP", "OK", "GuardedConnection", "Limits"]

READ_CHUNK = 16 * 1024  # ~2,700 empty frames: a few ms of parsing per read.
OK, DROP, ABUSED = "ok", "drop", "abused"


@dataclass(frozen=True)
class Limits:
    rate: float
    burst: int
    abuse_limit: int
    abuse_window: float
    max_write_buffer: int  # Bytes of unsent data, beyond one message, before an abort.
    max_size: int
    log: ServerLog


class GuardedConnection(ServerConnection):
    """Made by `serve(create_connection=...)` through a partial that supplies `limits`."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.label = "(handshake)"  # "id (name)" once the handler runs; for the log.
        self.bucket = TokenBucket(limits.rate, limits.burst)
        self.abuse = AbuseMeter(limits.abuse_limit, limits.abuse_window)
        self._failing: asyncio.Task[None] | None = None

    def spend(self) -> str:
        """Spend one token for a message or control frame: OK, DROP (over the limit) or ABUSED
        (sustained: the caller stops; `fail_abuse()` has been started)."""
        if self.bucket.take():
            return OK
        if self.abuse.hit():
            self.fail_abuse()
            return ABUSED
        if self.abuse.count == 1:
            self.limits.log.add(WARNING, "limit", f"client {self.label} is over the rate limit")
        return DROP

    def fail_abuse(self) -> None:
        if self._failing is None:
            self.limits.log.add(
                WARNING,
                "limit",
                f"closed client {self.label} with 1008: "
                f"{self.limits.abuse_limit} messages over the rate limit",
            )
            self._failing = self.loop.create_task(
                self._fail(1008, "rate limit exceeded repeatedly")
            )

    async def wait_failed(self) -> None:
        """Returns once `fail_abuse()`'s close frame is out (or the connection is gone)."""
        if self._failing is not None:
            await asyncio.shield(self._failing)

    async def _fail(self, code: int, reason: str) -> None:
        """Close frame, then stop reading at once (no closing handshake with a flooder)."""
        try:
            async with asyncio.timeout(self.close_timeout):
                with contextlib.suppress(ConnectionClosed):
                    async with self.send_context():
                        self.protocol.fail(code, reason)
        except TimeoutError:
            self.transport.abort()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(getattr(transport, "max_size", None), int):  # asyncio's socket transport
            transport.max_size = READ_CHUNK  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        transport = self.transport
        limit = self.limits.max_write_buffer + self.limits.max_size
        if not transport.is_closing() and transport.get_write_buffer_size() > limit:
            self.limits.log.add(
                WARNING,
                "limit",
                f"dropped client {self.label}: more than {limit} bytes of replies unread",
            )
            transport.abort()

    def process_event(self, event: Any) -> None:
        super().process_event(event)
        if (
            isinstance(event, Frame)
            and event.opcode in (Opcode.PING, Opcode.PONG)
            and self._failing is None
        ):
            self.spend()
