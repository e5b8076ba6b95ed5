"""One connection of the embedded server: websockets' sans-I/O `ServerProtocol` under an asyncio
Protocol of our own, so that reads, writes, control frames and flow control are ours, through
documented interfaces only.

The defences this buys:
- Every received ping and pong spends the rate limit, like a message does (`Meter`); a flooder
  of any of them is failed with 1008 and not read from again.
- Bounded work per turn of the loop: a read is fed to the parser SLICE bytes at a time, and past
  TURN_EVENTS events or TURN_BYTES bytes the connection stops reading and carries on at the back
  of the loop's queue (`call_soon`), so one flooder cannot hold the loop from the others.
- Everything one turn makes us send (the pongs of a read, the replies, the broadcasts queued to
  this connection) leaves in one write, not one syscall per frame.
- A client's close frame is answered with its code only, not its reason echoed back.
- A frame that fails to parse does not keep the parser's frames (and the data in them, up to
  max_size after inflating) alive until a garbage collection.
- A peer whose unsent replies exceed `max_write_buffer` plus one message is aborted.
- Health pings of our own: no pong within ping_timeout aborts the connection, and is logged.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from .assembly import Assembler, TooManyFragments
from .events import WARNING
from .guard import ABUSED, OK, Limits, Meter

__all__ = ["Handler", "Wire"]

SLICE = 1024  # Bytes parsed at a time: at most ~170 empty frames, 2 ms or so.
TURN_BYTES = 64 * 1024  # Then the connection yields the loop ...
TURN_EVENTS = 16  # ... or after this many frames (and the slice that made them).
FEED, DISCARD, STOP = "feed", "discard", "stop"  # What becomes of bytes read.


class Handler(Protocol):
    """What the server does with a connection; every call runs on the server's loop."""

    def handshake(self, wire: Wire, request: Request) -> Response: ...

    def opened(self, wire: Wire) -> None: ...

    def received(self, wire: Wire, message: str | bytes) -> None: ...

    def refused(self, wire: Wire) -> None: ...  # A message over the rate limit, dropped.

    def closed(self, wire: Wire) -> None: ...  # The TCP connection ended (opened or not).


class Wire(asyncio.Protocol):
    """Made per accepted socket by `loop.create_server()`."""

    def __init__(self, handler: Handler, limits: Limits, protocol: ServerProtocol) -> None:
        self.handler = handler
        self.limits = limits
        self.protocol = protocol
        self.meter = Meter(limits)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote_address: Any = None
        self.request: Request | None = None
        self.label = "(handshake)"  # "id (name)" once opened; for the log.
        self.session: Any = None  # The handler's own record of this connection.
        self.opened = False
        self.metered = True  # Messages spend the rate limit (pings and pongs always do).
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.pending = 0  # Bytes of messages accepted and not yet handed to the transport.
        self._mode = FEED
        self._inbox = bytearray()
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._paused = False
        self._pump_handle: asyncio.Handle | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._we_closed = False
        self._peer_closed = False
        self._echo: tuple[bytes, bytes] | None = None  # (echo of the peer's close, code only)
        self._assembler = Assembler()
        self._ping: bytes | None = None
        self._eof = False  # The peer ended its stream; parse what is left, then close.

    # -- sending (for the handler) --------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    def send(self, message: str | bytes) -> None:
        """Queue a message (text for str): what one turn queues leaves in one write. Skipped
        unless OPEN, like websockets' `broadcast()`."""
        if isinstance(message, str):
            self.queue(message.encode(), True)
        else:
            self.queue(message, False)

    def queue(self, data: bytes, text: bool) -> None:
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            return
        if text:
            protocol.send_text(data)
        else:
            protocol.send_binary(data)
        self.pending += len(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def unsent(self) -> int:
        """Bytes accepted for this peer and not yet sent: queued plus the transport's buffer."""
        transport = self.transport
        return self.pending + (transport.get_write_buffer_size() if transport else 0)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (or drop a connection still in its opening one)."""
        if self.protocol.state is State.OPEN:
            self._we_closed = True
            self.protocol.send_close(code, reason)
            self._flush()
        elif self.protocol.state is State.CONNECTING and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def fail_abuse(self) -> None:
        """Close frame 1008 and end of stream, then not one more byte read from the flooder
        (even discarding what it keeps sending costs as much as the flood); aborted after
        close_timeout. (Closing the socket at once would reset it, and a reset can destroy the
        close frame before the peer reads it.)"""
        if self._mode == STOP or self.protocol.state is not State.OPEN:
            return
        limits = self.limits
        limits.log.add(
            WARNING,
            "limit",
            f"closed client {self.label} with 1008: "
            f"{limits.abuse_limit} messages or pings over the rate limit",
        )
        self._we_closed = True
        self.protocol.fail(1008, "rate limit exceeded repeatedly")
        self._stop_reading(STOP)
        self._flush()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.remote_address = transport.get_extra_info("peername")
        self._timer("open", self.limits.open_timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._mode != FEED:
            return
        self._inbox += data
        if self._pump_handle is None:
            self._pump()

    def eof_received(self) -> bool | None:
        if self._mode != FEED:
            return None  # asyncio closes the transport (after what is buffered is written).
        self._eof = True
        if self._pump_handle is None:
            self._pump()
        return True  # `_pump()` closes it once what was read before the end is parsed.

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in (self._pump_handle, self._flush_handle, *self._timers.values()):
            if handle is not None:
                handle.cancel()
        self._timers.clear()
        self._inbox.clear()
        self._mode = STOP
        if self.protocol.state is not State.CLOSED:
            self.protocol.receive_eof()
            self.protocol.data_to_send()  # Nowhere to send it now.
        self._drop_parser_frames()
        try:
            self.handler.closed(self)
        finally:
            if not self.done.done():
                self.done.set_result(None)

    # -- reading --------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Parse what was read, a slice at a time, until the turn's budget is spent."""
        self._pump_handle = None
        protocol, inbox = self.protocol, self._inbox
        spent = events = 0
        while inbox and self._mode == FEED:
            chunk = bytes(inbox[:SLICE])
            del inbox[:SLICE]
            protocol.receive_data(chunk)
            received = protocol.events_received()
            if received:
                events += len(received)
                self._process(received)
            self._gather()
            if self._after_parse() or self._too_many_replies():
                return
            spent += len(chunk)
            if events >= TURN_EVENTS or spent >= TURN_BYTES:
                break
        self._flush()
        transport = self.transport
        if transport is None or transport.is_closing() or self._mode != FEED:
            return
        if inbox:
            if not self._paused:
                self._paused = True
                transport.pause_reading()
            self._pump_handle = self.loop.call_soon(self._pump)
        elif self._eof:
            protocol.receive_eof()
            self._drop_parser_frames()
            self._stop_reading(DISCARD)
            self._flush()
            transport.close()
        elif self._paused:
            self._paused = False
            transport.resume_reading()

    def _process(self, events: list[Any]) -> None:
        for event in events:
            if self._mode != FEED:
                return
            if isinstance(event, Request):
                self._handshake(event)
                continue
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                self._fragment(event)
            elif opcode is Opcode.PING:
                self._spend_control()
            elif opcode is Opcode.PONG:
                if self._ping is not None and event.data == self._ping:
                    self._ping = None
                    self._cancel("pong")
                    self._timer("ping", self.limits.ping_interval, self._send_ping)
                self._spend_control()
            elif opcode is Opcode.CLOSE:
                self._peer_closed = True
                if not self._we_closed and len(event.data) > 2:
                    # websockets echoes the close frame whole: up to 123 bytes of client text,
                    # raw (terminal escapes and all). Send back the code only.
                    data = bytes(event.data)
                    self._echo = (
                        Frame(Opcode.CLOSE, data).serialize(mask=False),
                        Frame(Opcode.CLOSE, data[:2]).serialize(mask=False),
                    )

    def _fragment(self, frame: Frame) -> None:
        """Hand a complete message on if the rate allows; text that is not UTF-8 fails the
        connection with 1007, a message in too many pieces with 1009."""
        try:
            message = self._assembler.add(frame)
        except TooManyFragments:
            self._fail(1009, "too many fragments")
            return
        except UnicodeDecodeError as exc:
            self._fail(1007, f"{exc.reason} at position {exc.start}")
            return
        if message is None:
            return
        verdict = self.meter.spend(self.label) if self.metered else OK
        if verdict == OK:
            self.handler.received(self, message)
        elif verdict == ABUSED:
            self.fail_abuse()
        else:
            self.handler.refused(self)

    def _fail(self, code: int, reason: str) -> None:
        """A message we refuse to assemble: fail the connection, then discard what follows."""
        self._we_closed = True
        self.protocol.fail(code, reason)
        self._stop_reading(DISCARD)
        self._flush()

    def _spend_control(self) -> None:
        if self.meter.spend(self.label) == ABUSED:
            self.fail_abuse()

    def _handshake(self, request: Request) -> None:
        self.request = request
        response = self.handler.handshake(self, request)
        self.protocol.send_response(response)
        self._cancel("open")
        if self.protocol.state is State.OPEN:
            self.opened = True
            self.handler.opened(self)
            if self.limits.ping_interval > 0:
                self._timer("ping", self.limits.ping_interval, self._send_ping)

    def _after_parse(self) -> bool:
        """After a failed handshake or a frame that failed to parse (the protocol has sent its
        response or close frame, and the end of the stream): discard what the peer still sends
        until it closes. True when reading is over."""
        state = self.protocol.state
        if state is State.OPEN or self._mode != FEED:
            return self._mode != FEED
        if state is State.CONNECTING and not self.protocol.close_expected():
            return False  # Still reading the request.
        if state is State.CLOSING and (self._we_closed or self._peer_closed):
            return False  # A closing handshake: the peer's end of stream comes next.
        self.protocol.receive_eof()  # Nothing more to parse: the protocol is CLOSED now.
        self._drop_parser_frames()
        self._stop_reading(DISCARD)
        self._flush()
        return True

    def _drop_parser_frames(self) -> None:
        """A parse failure's traceback holds the parser's frames (a decompression bomb's max_size
        of inflated bytes among them) in a cycle only the garbage collector would break."""
        if self.protocol.state is State.CLOSED:
            cause = self.protocol.close_exc.__cause__
            if cause is not None:
                cause.__traceback__ = None

    def _stop_reading(self, mode: str) -> None:
        """DISCARD or STOP what the peer still sends; it has close_timeout to end the
        connection, then it is aborted."""
        self._mode = mode
        self._inbox.clear()
        self._assembler.clear()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        if mode == STOP and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        elif mode == DISCARD and self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        if self.transport is not None and "close" not in self._timers:
            self._timer("close", self.limits.close_timeout, self.transport.abort)

    # -- writing --------------------------------------------------------------------------------

    def _gather(self) -> None:
        chunks = self.protocol.data_to_send()
        if chunks:
            self._out += chunks
            self._out_bytes += sum(map(len, chunks))

    def _too_many_replies(self) -> bool:
        """Pongs are written whether or not the peer reads them: abort a peer that lets more than
        max_write_buffer + max_size pile up."""
        transport = self.transport
        limit = self.limits.max_write_buffer + self.limits.max_size
        if transport is None or transport.get_write_buffer_size() + self._out_bytes <= limit:
            return False
        self.limits.log.add(
            WARNING,
            "limit",
            f"dropped client {self.label}: more than {limit} bytes of replies unread",
        )
        self._stop_reading(STOP)
        transport.abort()
        return True

    def _flush(self) -> None:
        """Everything waiting to go out, in one write."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._gather()
        out, self._out, self._out_bytes, self.pending = self._out, [], 0, 0
        transport = self.transport
        if not out or transport is None or transport.is_closing():
            return
        eof = out[-1] == b""  # websockets' SEND_EOF: the end of our stream, always last.
        data = b"".join(out)
        if self._echo is not None:
            echo, code_only = self._echo
            if data.endswith(echo):
                data = data[: -len(echo)] + code_only
                self._echo = None
        if data:
            transport.write(data)
        if eof:
            if transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()  # TLS: no half-close.
        if self.protocol.close_expected() and "close" not in self._timers:
            self._timer("close", self.limits.close_timeout, transport.abort)

    # -- timers ---------------------------------------------------------------------------------

    def _timer(self, name: str, delay: float, callback: Any) -> None:
        self._cancel(name)
        self._timers[name] = self.loop.call_later(delay, callback)

    def _cancel(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _send_ping(self) -> None:
        if self.protocol.state is not State.OPEN:
            return
        self._ping = os.urandom(4)
        self.protocol.send_ping(self._ping)
        self._flush()
        if self.limits.ping_timeout > 0:
            self._timer("pong", self.limits.ping_timeout, self._no_pong)

    def _no_pong(self) -> None:
        self.limits.log.add(
            WARNING,
            "terminated",
            f"terminated client {self.label}: no pong within {self.limits.ping_timeout:g} s",
        )
        self.abort()
