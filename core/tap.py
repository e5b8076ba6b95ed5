"""A websockets client connection that hands every frame straight to the engine.

The stock connection queues data frames for `recv()` and drops control frames from view; an
inspector needs every frame (ping, pong, close included) with its opcode, and handling each one
as it is parsed costs less than a queue plus a task wake-up per message.

In a flood, parsing is most of the cost: websockets parses each frame through a chain of
generators (~3 us for 64 B). Once the connection is open, `TapConnection` therefore reads the
common frame itself: complete, unmasked, final, uncompressed text or binary frames of at most
`FAST_MAX` bytes, which need nothing but their header read. Every other frame (control frames,
fragments, compressed, masked, reserved bits, oversized, unknown opcodes), and everything once
the connection is closing, goes to websockets byte for byte, which checks and answers it as
usual. The split only ever happens at a frame boundary that both sides agree on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN, Event
from websockets.streams import StreamReader

from core.backpressure import Backpressure
from core.events import Opcode as MessageKind
from core.priority import Priority
from core.rxstamp import StampedSocket, lag, stamp

FrameSink = Callable[[Frame], None]
DataSink = Callable[[MessageKind, bytes], None]  # (TEXT or BINARY, payload) of a whole message

# At most this much is read from the socket at a time, from the handshake on (asyncio's default
# is 256 KiB, ~4,000 small frames, tens of ms of parsing in one callback during which the GUI
# cannot run, and what arrives before the engine attaches is not held back).
READ_CHUNK = 64 * 1024
FAST_MAX = 16 * 1024  # larger frames are few per second: websockets' parser costs them nothing
YIELD_BYTES = 8 * 1024  # the fast path steps aside for a GUI claim this often (~1 ms of 64 B)
_AT_FRAME_START = StreamReader.at_eof.__code__  # where websockets' parser waits between frames
_READ_EXACT = StreamReader.read_exact.__code__
_TEXT_FIN, _BINARY_FIN = 0x81, 0x82
_TEXT, _BINARY = MessageKind.TEXT, MessageKind.BINARY


class TapConnection(ClientConnection):
    """Frames that arrive before the engine attaches (right behind the handshake response)
    are held and replayed, so no frame is seen before the connection is reported open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink: FrameSink | None = None
        self._data_sink: DataSink | None = None
        self._early: list[Frame] = []
        self._partial = b""  # the start of a frame this class reads itself
        self._synced = False  # websockets' parser is known to wait at a frame boundary
        self._fast_limit = 0  # the largest payload read here; 0: none (websockets reads all)
        # never engaged nor claimed until attach() gives the hub's
        self._backpressure = Backpressure()
        self._priority = Priority()
        self._stamped: StampedSocket | None = None
        # (ping payload, s): how long its pong had been in the kernel when websockets timed it
        self.pong_lag: tuple[bytes, float] = (b"", 0.0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._stamped = stamp(transport)
        if isinstance(getattr(transport, "max_size", None), int):  # asyncio's socket transport
            transport.max_size = READ_CHUNK  # type: ignore[attr-defined]

    def attach(
        self, sink: FrameSink, data_sink: DataSink | None = None,
        backpressure: Backpressure | None = None, priority: Priority | None = None,
    ) -> None:
        """`data_sink`, if given, takes the frames read by the fast path; while `backpressure`
        is engaged the socket is not read (after the data in hand); a claim on `priority`
        pauses the reading where it is."""
        self._sink = sink
        self._data_sink = data_sink
        if backpressure is not None:
            self._backpressure = backpressure
        if priority is not None:
            self._priority = priority
        max_size = self.protocol.max_message_size
        if self.protocol.max_fragment_size is not None:
            max_size = min(max_size or FAST_MAX, self.protocol.max_fragment_size)
        self._fast_limit = min(FAST_MAX, max_size or FAST_MAX) if data_sink else 0
        early, self._early = self._early, []
        for frame in early:
            sink(frame)

    def process_event(self, event: Event) -> None:
        if self.response is None:  # the handshake response comes first
            super().process_event(event)
            return
        assert isinstance(event, Frame)
        if event.opcode is Opcode.PONG:
            data = bytes(event.data)
            if data in self.pending_pings:
                self.pong_lag = (data, self.read_lag())
            self.acknowledge_pings(data)
        if self._sink is None:
            self._early.append(event)
        else:
            self._sink(event)

    def read_lag(self) -> float:
        """How long the data being handled now had been in the kernel (0 if not stamped)."""
        return lag(self._stamped)

    def fail(self, code: int, reason: str) -> None:
        """Close with an error code from inside the receive path (no await possible there)."""
        self.protocol.fail(code, reason)
        self.send_data()

    # ----- the fast path -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._priority.step_aside()
        self._receive(data)
        if self._backpressure.engaged:
            self.transport.pause_reading()
            self._backpressure.when_released(self.loop, self._resume_reading)

    def _resume_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def _receive(self, data: bytes) -> None:
        if not self._fast_limit or self.protocol.state is not OPEN:
            self._to_websockets(data)
            return
        if not self._synced:
            start = self._sync(data)
            if start is None:
                return
            data = data[start:]
        if self._partial:
            data = self._partial + data
            self._partial = b""
        self._scan(data)

    def eof_received(self) -> None:
        if self._partial:  # a frame cut short: websockets names the error
            partial, self._partial = self._partial, b""
            super().data_received(partial)
        super().eof_received()

    def _to_websockets(self, data: bytes) -> None:
        if self._partial:
            data, self._partial = self._partial + data, b""
        super().data_received(data)

    def _sync(self, data: bytes) -> int | None:
        """Feed websockets the rest of the frame it is in the middle of (after the handshake or
        a frame it read): returns where the next frame starts in `data`, None if not in it."""
        pos = 0
        for _ in range(8):  # a frame is at most four reads: header, length, mask, payload
            reader = self.protocol.reader
            # Typed as a plain Generator, which does not declare CPython's gi_* attributes.
            inner: Any = self.protocol.parser
            while inner.gi_yieldfrom is not None:
                inner = inner.gi_yieldfrom
            code = inner.gi_code
            if code is _AT_FRAME_START and not reader.buffer:
                self._synced = self.protocol.state is OPEN and self.protocol.current_size is None
                if self._synced:
                    return pos
                break
            if code is not _READ_EXACT:  # closing, or a websockets we do not know: leave it be
                break
            need = inner.gi_frame.f_locals["n"] - len(reader.buffer)
            if pos + need > len(data):
                break
            super().data_received(data[pos : pos + need])
            pos += need
        self._rest_to_websockets(data, pos)
        return None

    def _rest_to_websockets(self, data: bytes, pos: int) -> None:
        if pos < len(data):
            super().data_received(data[pos:])

    def _scan(self, data: bytes) -> None:
        """Read whole simple frames from `data`, which starts at a frame boundary."""
        deliver = self._data_sink
        assert deliver is not None
        limit = self._fast_limit
        protocol = self.protocol
        priority = self._priority
        n = len(data)
        pos = 0
        yield_at = YIELD_BYTES
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
            if length <= limit and b1 < 0x80 and b0 in (_TEXT_FIN, _BINARY_FIN):
                if end > n:
                    break
                deliver(_TEXT if b0 == _TEXT_FIN else _BINARY, data[pos + head : end])
            elif end <= n and length <= limit:
                # A whole frame of another kind: websockets reads, checks and answers it.
                super().data_received(data[pos:end])
                if protocol.current_size is not None:  # a fragmented message began
                    self._synced = False
            else:  # a large frame websockets reads as it arrives, and judges by its header
                self._synced = False
                super().data_received(data[pos:])
                return
            pos = end
            if protocol.state is not OPEN or not self._synced:  # closing, failed, fragments
                self._synced = False
                self._rest_to_websockets(data, pos)
                return
        self._partial = data[pos:]
