"""Cutting one direction's MQTT byte stream into packets, within a bound.

MQTT over WebSocket may split a packet across frames or pack several in one. The stream holds at
most `max_packet` bytes of an unfinished packet; a longer one is skipped (its bytes counted as
they arrive, never held) and a malformed fixed header drops the buffer. Both are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.decoders.mqtt_wire import MqttError, Packet, parse

MAX_PACKET = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str
    dropped: int


@dataclass(frozen=True, slots=True)
class Bad:
    """A packet whose length was sound but whose body was not."""

    ptype: int
    reason: str
    size: int


class MqttStream:
    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self.max_packet = max_packet
        self._buf = bytearray()
        self._skip = 0  # bytes still to discard of an over-long packet

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes, version: int) -> list[Packet | Dropped | Bad]:
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = data[n:]
        self._buf += data
        out: list[Packet | Dropped | Bad] = []
        while self._buf:
            head = self._header()
            if head is None:
                break
            if isinstance(head, Dropped):
                out.append(head)
                break
            byte, start, length = head
            if length > self.max_packet:
                have = len(self._buf) - start
                self._skip = max(0, length - have)
                dropped = min(len(self._buf), start + length)
                del self._buf[:dropped]
                out.append(Dropped(f"dropped: a packet of {length} bytes passes the bound of "
                                   f"{self.max_packet} bytes; skipped", start + length))
                continue
            if len(self._buf) < start + length:
                break
            body = bytes(self._buf[start : start + length])
            del self._buf[: start + length]
            ptype, flags = byte >> 4, byte & 15
            try:
                out.append(parse(ptype, flags, body, version))
            except MqttError as exc:
                out.append(Bad(ptype, str(exc), start + length))
            if out and isinstance(out[-1], Packet) and out[-1].type == 1:
                version = out[-1].fields["protocol_level"]
        return out

    def _header(self) -> tuple[int, int, int] | Dropped | None:
        """(first byte, body offset, remaining length); None until the varint is complete."""
        buf = self._buf
        if buf[0] >> 4 == 0:
            return self._drop("packet type 0 is reserved")
        value = 0
        for i in range(4):
            if 1 + i >= len(buf):
                return None
            byte = buf[1 + i]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return buf[0], 2 + i, value
        return self._drop("a remaining length longer than 4 bytes")

    def _drop(self, reason: str) -> Dropped:
        dropped = len(self._buf)
        self._buf.clear()
        return Dropped(f"malformed: {reason}; dropped the buffer", dropped)
