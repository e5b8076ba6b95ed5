"""One client WebSocket on the wire: websockets' sans-I/O `ClientProtocol` under our own protocol.

websockets' asyncio client queues data frames for `recv()` and keeps control frames out of
sight; an inspector needs every frame (ping, pong, close included) as it is parsed, and one
queue plus a task wake-up per message costs more than the message itself. So this asyncio
protocol owns the reads and writes and asks websockets' documented sans-I/O interface
(`receive_data`, `events_received`, `data_to_send`, `send_*`, `fail`) for the protocol.

Because it owns the bytes, it always knows where the next frame starts. The common frame
(complete, final, unmasked text or binary of at most FAST_MAX bytes, outside a fragmented
message) is read here from its header alone, and a compressed one (permessage-deflate, on by
default) is inflated by `core.deflate.Deflate`, the negotiated extension whose `decode()`
websockets' parser calls for the other frames, so the connection's inflate stream stays one.
Any other extension, and websockets reads every frame. Every other frame
(control, fragment, reserved bits, masked, oversized) is handed to websockets byte for byte,
which checks and answers it; and once the connection is closing, everything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, PayloadTooBig, ProtocolError
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING, OPEN

from core.backpressure import Backpressure
from core.deflate import Deflate
from core.events import Opcode as MessageKind
from core.priority import Priority

FrameSink = Callable[[Frame], None]
DataSink = Callable[[MessageKind, bytes], None]  # (TEXT or BINARY, payload) of a whole message

# At most this much is read at a time (asyncio's own default): fewer, larger reads cost less per
# frame (64 KiB reads held 1 KiB floods to ~0.8x the bare client, 256 KiB to ~1.0x), and the scan
# steps aside for a GUI claim every YIELD_BYTES whatever the size.
READ_CHUNK = 256 * 1024
FAST_MAX = 16 * 1024  # larger frames are few per second: websockets' parser costs them nothing
YIELD_BYTES = 8 * 1024  # the reader steps aside for a GUI claim this often (~1 ms of 64 B)
MAX_HEAD = 64 * 1024  # a handshake response header block larger than this is websockets' to refuse
_TEXT, _BINARY = MessageKind.TEXT, MessageKind.BINARY
_WS_TEXT, _WS_BINARY = Opcode.TEXT, Opcode.BINARY
_FAST_PLAIN = {0x81: _TEXT, 0x82: _BINARY}  # FIN + opcode, no reserved bit
_FAST_DEFLATED = {0xC1: _TEXT, 0xC2: _BINARY}  # FIN + RSV1 (compressed) + opcode
_thread = threading.local()


def _nothing() -> None:
    pass


def _read_buffer() -> memoryview:
    """The read buffer of this thread's loop, shared by its wires: asyncio fills it and calls
    `buffer_updated()` at once, which copies the bytes out, so one connection's read is over
    before another's begins (1,000 connections need 256 KiB, not 1,000 times that)."""
    buffer: memoryview | None = getattr(_thread, "buffer", None)
    if buffer is None:
        buffer = _thread.buffer = memoryview(bytearray(READ_CHUNK))
    return buffer


class Wire(asyncio.BufferedProtocol):
    """Made by `loop.create_connection(lambda: Wire(protocol), ...)`; then `handshake()`, then
    `attach()` the sinks: frames read before that are held (reading pauses meanwhile)."""

    def __init__(self, protocol: ClientProtocol, close_timeout: float = 10.0) -> None:
        self.protocol = protocol
        self.close_timeout = close_timeout
        self.request: Request | None = None
        self.response: Response | None = None
        self.transport: asyncio.Transport | None = None
        self.fast_frames = 0  # data frames read here, for the benchmarks and the status
        self.slow_frames = 0  # data frames websockets read
        self.read_at = 0.0  # time.monotonic() of the read being handled: pongs are timed by it
        self._loop = asyncio.get_running_loop()
        self._buffer = _read_buffer()
        self._head = b""  # the handshake response, until its header block is complete
        self._head_fed = False  # websockets has the header block: the rest is its to read
        self._handshaken: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._sink: FrameSink | None = None
        self._data_sink: DataSink | None = None
        self._read_done: Callable[[], None] = _nothing
        self._backpressure = Backpressure()  # never engaged until attach() gives the hub's
        self._priority = Priority()
        self._held = b""  # bytes read after the handshake and before attach()
        self._partial = b""  # the start of a frame not complete yet
        self._route = 0  # bytes left of a frame websockets is reading
        self._fragmented = False  # websockets is in the middle of a fragmented message
        self._fast: dict[int, MessageKind] = {}
        self._deflate: Deflate | None = None
        self._fast_limit = FAST_MAX
        self._pings: dict[bytes, tuple[float, asyncio.Future[float]]] = {}
        self._drain: asyncio.Future[None] | None = None
        self._abort_timer: asyncio.TimerHandle | None = None

    # ----- the opening handshake --------------------------------------------------------------

    async def handshake(self, headers: Iterable[tuple[str, str]], user_agent: str) -> None:
        """Send the upgrade request and wait for the response; raises websockets' own
        exception (InvalidStatus, InvalidMessage ...) when it fails."""
        self.request = request = self.protocol.connect()
        for name, value in headers:
            request.headers[name] = value
        request.headers.setdefault("User-Agent", user_agent)
        self.protocol.send_request(request)
        self._flush()
        await asyncio.shield(self._handshaken)
        exc = self.protocol.handshake_exc
        if exc is not None:
            raise exc
        self._prepare_fast_path()

    def _prepare_fast_path(self) -> None:
        protocol = self.protocol
        limit = protocol.max_message_size
        if protocol.max_fragment_size is not None:
            limit = min(limit or FAST_MAX, protocol.max_fragment_size)
        self._fast_limit = min(FAST_MAX, limit or FAST_MAX)
        extensions = protocol.extensions
        if not extensions:
            self._fast = dict(_FAST_PLAIN)
        elif len(extensions) == 1 and isinstance(extensions[0], Deflate):
            self._deflate = extensions[0]  # RSV1 means compressed, and nothing else
            self._fast = {**_FAST_PLAIN, **_FAST_DEFLATED}
        # Any other extension: websockets reads every frame.

    def _receive_head(self, data: bytes) -> None:
        """Hand websockets the response's header block alone, so that its parser is known to
        wait at a frame boundary once the connection is open; a rejection's body follows."""
        if self._head_fed:
            self._handshake_data(data)
            return
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0 and len(head) <= MAX_HEAD:
            self._head = head
            return
        cut = len(head) if end < 0 else end + 4
        self._head = b""
        self._head_fed = True
        self._handshake_data(head[:cut])
        if self.protocol.state is OPEN:
            self._held = head[cut:]
            self._transport().pause_reading()  # until attach()
        elif cut < len(head):
            self._handshake_data(head[cut:])

    def _handshake_data(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                self.response = event
        self._flush()
        if protocol.state is OPEN or protocol.handshake_exc is not None:
            self._handshake_done()

    def _handshake_done(self) -> None:
        if not self._handshaken.done():
            self._handshaken.set_result(None)

    # ----- frames in --------------------------------------------------------------------------

    def attach(
        self, sink: FrameSink, data_sink: DataSink,
        backpressure: Backpressure | None = None, priority: Priority | None = None,
        read_done: Callable[[], None] | None = None,
    ) -> None:
        """`sink` takes every frame websockets read; `data_sink` each whole message read here;
        `read_done` is called when the frames of one read are all delivered (so that they can
        be published as one batch). While `backpressure` is engaged the socket is not read
        (after the data in hand); a claim on `priority` pauses the reading where it is."""
        self._sink = sink
        self._data_sink = data_sink
        if read_done is not None:
            self._read_done = read_done
        if backpressure is not None:
            self._backpressure = backpressure
        if priority is not None:
            self._priority = priority
        held, self._held = self._held, b""
        transport = self._transport()
        if not transport.is_closing():
            transport.resume_reading()
        if held:
            self._receive(held)
            self._read_done()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.read_at = time.monotonic()
        data = self._buffer[:nbytes].tobytes()
        if self.protocol.state is CONNECTING:
            self._receive_head(data)
            return
        if self._sink is None:
            self._held += data
            return
        self._priority.step_aside()
        self._receive(data)
        self._read_done()  # before the hold is looked at: publishing may engage it
        if self._backpressure.engaged:
            self._transport().pause_reading()
            self._backpressure.when_released(self._loop, self._resume_reading)

    def _resume_reading(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing() and self._sink is not None:
            transport.resume_reading()

    def _receive(self, data: bytes) -> None:
        pos = 0
        route = self._route
        if route:  # the rest of a frame websockets is reading
            if route >= len(data):
                self._route = route - len(data)
                self._to_websockets(data)
                return
            self._route = 0
            self._to_websockets(data[:route])
            pos = route
        if self._partial:
            data, pos = self._complete(data, pos)
        if pos >= len(data):
            return
        if self.protocol.state is not OPEN:
            self._to_websockets(data[pos:])
            return
        self._scan(data, pos)

    def _complete(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """Read the frame begun in the last read with just the bytes of `data` it needs (not a
        copy of the whole read joined to it); returns where to go on from."""
        partial, self._partial = self._partial, b""
        end = _frame_end(partial + data[pos : pos + 14])
        need = -1 if end is None else end - len(partial)
        if need < 0 or need > len(data) - pos or self.protocol.state is not OPEN:
            return partial + data[pos:], 0  # a header still cut short, a large frame, closing
        self._scan(partial + data[pos : pos + need], 0)  # that one whole frame
        return data, pos + need

    def _scan(self, data: bytes, pos: int) -> None:
        """Read the frames of `data` from `pos`, a frame boundary."""
        deliver = self._data_sink
        assert deliver is not None
        protocol = self.protocol
        fast = self._fast
        limit = self._fast_limit
        priority = self._priority
        n = len(data)
        yield_at = pos + YIELD_BYTES
        while n - pos >= 2:
            if pos >= yield_at:
                priority.step_aside()
                yield_at = pos + YIELD_BYTES
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            if b1 & 0x80:
                head += 4  # masked: a protocol error websockets will name
            end = pos + head + length
            kind = fast.get(b0)
            if kind is not None and length <= limit and b1 < 0x80 and not self._fragmented:
                if end > n:
                    break
                self.fast_frames += 1
                if b0 & 0x40:
                    inflated = self._inflate(data[pos + head : end])
                    if inflated is None:
                        return  # the connection failed: nothing more is read
                    deliver(kind, inflated)
                else:
                    deliver(kind, data[pos + head : end])
            else:
                self._frame_to_websockets(b0, data, pos, end)
            pos = end
            if pos > n:  # the rest of that frame goes to websockets as it arrives
                return
            if protocol.state is not OPEN:  # closing, failed: websockets reads the rest
                self._to_websockets(data[pos:])
                return
        self._partial = data[pos:]

    def _frame_to_websockets(self, b0: int, data: bytes, pos: int, end: int) -> None:
        opcode = b0 & 0x0F
        if opcode in (1, 2) and not b0 & 0x80:
            self._fragmented = True
        elif opcode == 0 and b0 & 0x80:
            self._fragmented = False
        if end > len(data):
            self._route = end - len(data)
        self._to_websockets(data[pos:end])

    def _inflate(self, payload: bytes) -> bytes | None:
        """A compressed message through the connection's one inflate stream, which websockets'
        parser shares; None when that fails the connection (1002 bad data, 1009 too big)."""
        assert self._deflate is not None
        try:
            return self._deflate.inflate(payload, self.protocol.max_message_size)
        except PayloadTooBig as exc:
            self.fail(1009, str(exc))
        except ProtocolError as exc:
            self.fail(1002, str(exc))
        return None

    def _to_websockets(self, data: bytes) -> None:
        if not data:
            return
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._flush()
        sink = self._sink
        for event in events:
            if isinstance(event, Frame):
                if event.opcode is _WS_TEXT or event.opcode is _WS_BINARY:
                    self.slow_frames += 1
                elif event.opcode is Opcode.PONG:
                    self._pong(bytes(event.data))
                if sink is not None:
                    sink(event)
        self._expect_close()

    def eof_received(self) -> None:
        if self.protocol.state is CONNECTING:
            head, self._head = self._head, b""
            if head:
                self._handshake_data(head)
        elif self._partial:  # a frame cut short: websockets names the error
            partial, self._partial = self._partial, b""
            self._to_websockets(partial)
        self._read_done()
        self.protocol.receive_eof()
        self._flush()
        self._handshake_done()

    # ----- frames out -------------------------------------------------------------------------

    async def send(self, payload: bytes, text: bool) -> None:
        """Write one message; waits while the transport's buffer is full. ConnectionClosed
        when the connection is not open."""
        protocol = self.protocol
        if protocol.state is not OPEN:
            raise self._closed_error()
        if text:
            protocol.send_text(payload)
        else:
            protocol.send_binary(payload)
        self._flush()
        if self._drain is not None:
            await asyncio.shield(self._drain)

    def ping(self, data: bytes) -> asyncio.Future[float]:
        """Send a ping; the future gives the round trip in seconds once its pong is read."""
        if self.protocol.state is not OPEN:
            raise self._closed_error()
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[data] = (time.monotonic(), waiter)
        self.protocol.send_ping(data)
        self._flush()
        return waiter

    def _pong(self, data: bytes) -> None:
        """A pong acknowledges its ping and every earlier one (RFC 6455 allows skipping)."""
        if data not in self._pings:
            return
        for key in list(self._pings):
            sent, waiter = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(self.read_at - sent)
            if key == data:
                break

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """The closing handshake, at most `close_timeout`; then the TCP connection is closed."""
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self._flush()
            self._expect_close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout):
                await asyncio.shield(self._closed)
        self.abort()

    def fail(self, code: int, reason: str) -> None:
        """Close with an error code from inside the receive path (no await possible there)."""
        self.protocol.fail(code, reason)
        self._flush()
        self._expect_close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.protocol.close_reason or ""

    @property
    def close_sent(self) -> Close | None:
        return self.protocol.close_sent

    def _closed_error(self) -> ConnectionClosed:
        protocol = self.protocol
        return ConnectionClosed(
            protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent
        )

    def _flush(self) -> None:
        chunks = self.protocol.data_to_send()
        if not chunks:
            return
        transport = self._transport()
        data = b"".join(chunks)
        if data:
            transport.write(data)
        if chunks[-1] == b"" and transport.can_write_eof():  # websockets' end of stream
            transport.write_eof()

    def _expect_close(self) -> None:
        """websockets expects the server to close TCP soon: abort if it does not."""
        if self._abort_timer is None and self.protocol.close_expected():
            self._abort_timer = self._loop.call_later(self.close_timeout, self.abort)

    def _transport(self) -> asyncio.Transport:
        assert self.transport is not None, "not connected"
        return self.transport

    # ----- asyncio.BufferedProtocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; makes the state CLOSED
        self._handshake_done()
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        for _, waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(self._closed_error())
                waiter.exception()  # retrieved: a heartbeat may already have given up
        self._pings.clear()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None


def _frame_end(head: bytes) -> int | None:
    """The size of the frame whose first bytes are `head`; None while its header is cut short."""
    if len(head) < 2:
        return None
    b1 = head[1]
    length = b1 & 0x7F
    size = 2
    if length == 126:
        if len(head) < 4:
            return None
        length, size = int.from_bytes(head[2:4], "big"), 4
    elif length == 127:
        if len(head) < 10:
            return None
        length, size = int.from_bytes(head[2:10], "big"), 10
    return size + (4 if b1 & 0x80 else 0) + length
