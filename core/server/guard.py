"""The server's connection class: websockets' ServerConnection with defences and batching added.

- Every received ping and pong spends the connection's rate limit, like a message does; a
  flooder of either is failed with 1008 and not read from again. websockets parses all the
  frames of one read before any handler runs (about 10 us a frame) and answers every ping, so
  pings were a free way to hold the loop.
- A read is at most READ_CHUNK bytes (asyncio's default is 256 KiB, ~40,000 empty frames, about
  half a second of parsing in one go), so one connection cannot hold the loop for long.
- The frames one read makes websockets send (pongs) leave in one write, not one write each; so
  do the broadcasts queued to one connection in one turn of the loop (`queue()`).
- A client's close frame is answered with its code only, not its reason echoed back.
- A frame that fails to parse does not keep the parser's frames (and the data in them, up to
  max_size after inflating) alive until a garbage collection.
- A peer whose unsent replies (pongs, which websockets writes whether or not the peer reads)
  exceed `max_write_buffer` plus one message is aborted, like a slow consumer of broadcasts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from .events import WARNING, ServerLog
from .ratelimit import AbuseMeter, TokenBucket

__all__ = ["ABUSED", "DROP", "OK", "GuardedConnection", "Limits"]

READ_CHUNK = 1024  # At most ~170 empty frames: 2 ms or so of parsing per read.
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
        self._failed = False
        self._echo_close = self.protocol.send_frame
        self.protocol.send_frame = self._send_frame  # type: ignore[method-assign]
        self.pending = 0  # Bytes queued by `queue()` and not yet handed to the transport.
        self._flush_scheduled = False

    def spend(self) -> str:
        """Spend one token for a message or control frame: OK, DROP (over the limit) or ABUSED
        (sustained: the connection has been failed with 1008; the caller stops)."""
        if self.bucket.take():
            return OK
        if self.abuse.hit():
            self.fail_abuse()
            return ABUSED
        if self.abuse.count == 1:
            self.limits.log.add(WARNING, "limit", f"client {self.label} is over the rate limit")
        return DROP

    def fail_abuse(self) -> None:
        """Close frame 1008 and end of stream, then not one more byte read from the flooder
        (even discarding what it keeps sending costs as much as the flood); the connection is
        aborted after close_timeout. (Closing the socket at once would reset it, and a reset can
        destroy the close frame before the peer reads it.)"""
        if self._failed or self.protocol.state is not State.OPEN:
            return
        self._failed = True
        self.limits.log.add(
            WARNING,
            "limit",
            f"closed client {self.label} with 1008: "
            f"{self.limits.abuse_limit} messages or pings over the rate limit",
        )
        self.protocol.fail(1008, "rate limit exceeded repeatedly")
        self.send_data()
        self.transport.pause_reading()
        self.loop.call_later(self.close_timeout or 0, self.transport.abort)

    def _resume_reading(self) -> None:
        """The frame queue's flow control, except after `fail_abuse()`."""
        if not self._failed:
            self.transport.resume_reading()

    def _send_frame(self, frame: Frame) -> None:
        """websockets answers a client's close frame by echoing it whole: up to 123 bytes of
        client text, raw (terminal escapes and all). Echo the code, not the reason."""
        protocol = self.protocol
        if (
            frame.opcode is Opcode.CLOSE
            and len(frame.data) > 2
            and protocol.close_rcvd is not None
            and protocol.close_sent is None
        ):
            frame = Frame(Opcode.CLOSE, frame.data[:2])
        self._echo_close(frame)

    def queue(self, data: bytes, text: bool) -> None:
        """Send one message without writing it yet: all that is queued to this connection in one
        turn of the loop leaves in one write. (The fan-out uses this; one syscall per message
        and receiver held a busy room to ~35,000 messages/s.) Skipped unless OPEN, like
        websockets' `broadcast()` does."""
        if self.protocol.state is not State.OPEN or self.send_in_progress is not None:
            return
        if text:
            self.protocol.send_text(data)
        else:
            self.protocol.send_binary(data)
        self.pending += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def unsent(self) -> int:
        """Bytes accepted for this peer and not yet sent: queued plus the transport's buffer."""
        return self.pending + self.transport.get_write_buffer_size()

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            self.send_data()
        except Exception as exc:  # As websockets' data_received() treats a failed write.
            self.set_connection_exc(exc)

    def send_data(self) -> None:
        """Frames waiting to go out leave in one write: after a read full of pings, one syscall
        instead of one per pong (a loopback send costs ~0.1 ms, so 700 pongs held the loop)."""
        self.pending = 0
        writes = self.protocol.writes
        if len(writes) > 1 and all(writes):  # An empty item would mean end of stream.
            self.protocol.writes = [b"".join(writes)]
        super().send_data()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages.resume = self._resume_reading
        if isinstance(getattr(transport, "max_size", None), int):  # asyncio's socket transport
            transport.max_size = READ_CHUNK  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        failure = self.protocol.parser_exc
        if failure is not None and failure.__traceback__ is not None:
            # Its traceback holds the parser's frames, e.g. a decompression bomb's max_size of
            # inflated bytes, in a cycle only the garbage collector would break.
            failure.__traceback__ = None
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
            and not self._failed
        ):
            self.spend()
