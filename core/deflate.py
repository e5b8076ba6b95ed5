"""permessage-deflate (RFC 7692) for our client, through websockets' documented extension API.

websockets negotiates it (`ClientPerMessageDeflateFactory`, its parameters and checks) and
compresses what we send. Its decoder builds two `Frame`s around each `decompress()` call; the
wire's fast path reads whole messages and needs only the bytes, so this extension holds the one
inflate stream of the connection and offers both: `inflate()` for a whole message read by the
wire, `decode()` for every frame websockets' parser reads (fragments, large messages). Both
advance the same stream, so a context taken over from one message to the next is never split.
Measured (bench/bench_ingest.py, 64 B, deflate): the app went from 0.74x to 1.0x the bare client.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.extensions.base import ClientExtensionFactory, Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import CTRL_OPCODES, Frame, Opcode
from websockets.typing import ExtensionName, ExtensionParameter

_TAIL = b"\x00\x00\xff\xff"  # the empty block every sender strips from a message's end
_SMALL = 2044  # below this, copying the tail on costs less than a second decompress() call


class Deflate(Extension):
    """The negotiated extension: websockets' own object compresses, this one inflates."""

    name = ExtensionName("permessage-deflate")

    def __init__(self, negotiated: PerMessageDeflate) -> None:
        self._encoder = negotiated
        self._window = negotiated.remote_max_window_bits
        self._fresh_each = negotiated.remote_no_context_takeover  # the server keeps no context
        # the stream that goes on from message to message; when the server keeps no context,
        # each message has a stream of its own, dropped after it (1,000 idle connections
        # would otherwise keep ~40 KiB of inflate state each)
        self._decoder: Any = None if self._fresh_each else self._new()
        self._continuing = False  # in a compressed fragmented message

    def __repr__(self) -> str:
        return f"Deflate({self._encoder!r})"

    def encode(self, frame: Frame) -> Frame:
        return self._encoder.encode(frame)

    def inflate(self, data: bytes, max_size: int | None) -> bytes:
        """A whole compressed message in one frame (the wire's fast path). PayloadTooBig or
        ProtocolError, as websockets' parser raises them, when it fails the connection."""
        decoder = self._new() if self._fresh_each else self._decoder
        return _decompress(decoder, data, True, max_size)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """A frame websockets' parser read: the same rules as websockets' own decoder."""
        if frame.opcode in CTRL_OPCODES:
            return frame
        if frame.opcode is Opcode.CONT:
            if not self._continuing:
                return frame
            if frame.rsv1:
                raise ProtocolError("RSV1 bit set in continuation frame")
        else:
            if not frame.rsv1:
                return frame
            if self._fresh_each:
                self._decoder = self._new()
        self._continuing = not frame.fin
        data = _decompress(self._decoder, frame.data, frame.fin, max_size)
        if frame.fin and self._fresh_each:
            self._decoder = None
        return Frame(frame.opcode, data, frame.fin, False, frame.rsv2, frame.rsv3)

    def _new(self) -> Any:
        return zlib.decompressobj(wbits=-self._window)


def _decompress(decoder: Any, data: bytes | bytearray | memoryview, fin: bool,
                max_size: int | None) -> bytes:
    """websockets' rules: at most `max_size` bytes out (PayloadTooBig past it), ProtocolError
    for data zlib refuses; the four-byte tail a sender strips is put back on a final frame."""
    limit = 0 if max_size is None else max_size  # zlib: a limit of 0 means none
    small = fin and len(data) < _SMALL
    try:
        out: bytes = decoder.decompress(bytes(data) + _TAIL if small else data, limit)
        if decoder.unconsumed_tail:
            raise PayloadTooBig(None, max_size)
        if fin and not small and decoder.decompress(_TAIL, 1):  # output held back by the limit
            raise PayloadTooBig(None, max_size)
    except zlib.error as exc:
        raise ProtocolError("decompression failed") from exc
    return out


class ClientDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate as websockets' default client does (memLevel 5 for what we
    compress) and returns a `Deflate` for the parameters the server accepted."""

    name = ExtensionName("permessage-deflate")

    def __init__(self) -> None:
        self._negotiator = ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return self._negotiator.get_request_params()

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension],
    ) -> Deflate:
        return Deflate(self._negotiator.process_response_params(params, accepted_extensions))
