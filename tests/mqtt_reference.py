"""References for the MQTT decoder's differential tests.

`PahoCapture` records the bytes a real paho-mqtt client sends to a loopback TCP listener (paho
encodes every client packet, MQTT 5 properties included). Paho has no server-side encoder, so
`spec_*` builds CONNACK/SUBACK/UNSUBACK/acks/DISCONNECT/AUTH from the MQTT 5.0 and 3.1.1 specs,
independently of core.decoders.mqtt_wire, with MQTT 5 properties packed by paho's Properties.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.decoders.mqtt_wire import PROPERTIES

TIMEOUT = 20.0
_TEXT = "abcxyzABC019/_-. éüß中文😀"


def rand_text(rng: random.Random, low: int = 0, high: int = 12) -> str:
    return "".join(rng.choice(_TEXT) for _ in range(rng.randint(low, high)))


def random_properties(rng: random.Random, packet_type: int) -> tuple[Properties, dict[str, Any]]:
    """Paho Properties for `packet_type` with a random subset set, and what they should decode to
    (our names, from the property ids paho packs)."""
    props = Properties(packet_type)
    expected: dict[str, Any] = {}
    for name, pid in props.names.items():
        kind, allowed = props.properties[pid]
        if packet_type not in allowed or rng.random() < 0.5:
            continue
        if kind == 0:
            value: Any = rng.randint(0, 1)
        elif kind == 1:
            value = rng.randint(1, 0xFFFF)
        elif kind == 2:
            value = rng.randint(1, 268_435_455)  # paho caps some four-byte values
        elif kind == 3:
            value = rng.randint(1, 268_435_455)
        elif kind == 4:
            value = rng.randbytes(rng.randint(0, 20))
        elif kind == 5:
            value = rand_text(rng)
        else:
            value = [(rand_text(rng), rand_text(rng)) for _ in range(rng.randint(1, 3))]
        setattr(props, name.replace(" ", ""), value)
        ours = PROPERTIES[pid][0]
        expected[ours] = [value] if ours == "subscription_identifier" else value
    return props, expected


class PahoCapture:
    """A loopback listener that accepts one paho client, answers its CONNECT and records bytes."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.data = bytearray()
        self._conn: socket.socket | None = None
        self._reader: threading.Thread | None = None

    def connect(self, client: paho.Client, connack: bytes | None, **kwargs: Any) -> None:
        """Connects `client`; reads its CONNECT; sends `connack` (None: leave it unanswered)."""
        self.server.settimeout(TIMEOUT)
        client.connect("127.0.0.1", self.port, **kwargs)
        self._conn, _ = self.server.accept()
        self._conn.settimeout(TIMEOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if connack is not None:
            self._conn.sendall(connack)

    def send(self, data: bytes) -> None:
        assert self._conn is not None
        self._conn.sendall(data)

    def _read(self) -> None:
        assert self._conn is not None
        try:
            while chunk := self._conn.recv(65536):
                self.data += chunk
        except OSError:
            pass

    def wait_closed(self) -> bytes:
        """All bytes once the client has closed its side (bounded by TIMEOUT)."""
        if self._reader is not None:
            self._reader.join(TIMEOUT)
            assert not self._reader.is_alive(), "paho did not close its connection"
        return bytes(self.data)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)  # wakes the reader
            self._conn.close()
        self.server.close()
        if self._reader is not None:
            self._reader.join(TIMEOUT)


def wait_until(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- an independent encoder of server packets, from the specs ----------------------------------

def spec_varint(n: int) -> bytes:
    out = b""
    while True:
        n, digit = divmod(n, 128)
        out += bytes([digit | (128 if n else 0)])
        if not n:
            return out


def spec_packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + spec_varint(len(body)) + body


def spec_props(props: Properties | None) -> bytes:
    return props.pack() if props is not None else b"\x00"


def spec_connack(session_present: bool, code: int, props: Properties | None, v5: bool) -> bytes:
    body = bytes([int(session_present), code]) + (spec_props(props) if v5 else b"")
    return spec_packet(0x20, body)


def spec_ack(ptype: int, packet_id: int, code: int | None = None,
             props: Properties | None = None) -> bytes:
    """PUBACK(4) PUBREC(5) PUBREL(6) PUBCOMP(7); code/props only in MQTT 5."""
    body = packet_id.to_bytes(2, "big")
    if code is not None:
        body += bytes([code])
        if props is not None:
            body += spec_props(props)
    return spec_packet(ptype << 4 | (2 if ptype == 6 else 0), body)


def spec_suback(ptype: int, packet_id: int, codes: list[int], props: Properties | None,
                v5: bool) -> bytes:
    """SUBACK(9) or UNSUBACK(11) (UNSUBACK has no codes before MQTT 5)."""
    body = packet_id.to_bytes(2, "big") + (spec_props(props) if v5 else b"") + bytes(codes)
    return spec_packet(ptype << 4, body)


def spec_publish(topic: str, payload: bytes, qos: int, retain: bool, dup: bool, packet_id: int,
                 props: Properties | None, v5: bool) -> bytes:
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + (packet_id.to_bytes(2, "big") if qos else b"")
    body += (spec_props(props) if v5 else b"") + payload
    return spec_packet(0x30 | dup << 3 | qos << 1 | retain, body)


def spec_reason(ptype: int, code: int | None, props: Properties | None) -> bytes:
    """DISCONNECT(14) or AUTH(15)."""
    body = b"" if code is None else bytes([code]) + (spec_props(props) if props else b"")
    return spec_packet(ptype << 4, body)


PUBLISH = PacketTypes.PUBLISH
