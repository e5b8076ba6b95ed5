"""MQTT 3.1.1 and 5.0 packets on the wire: parse one packet's body, encode the client's packets.

The fixed header (type, flags, remaining length as a varint of at most 4 bytes) is read by the
stream in mqtt_stream.py; here a packet's variable header, MQTT 5 properties and payload become a
`Packet` with named fields. Every read is bounds-checked and raises MqttError in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
TYPES = {name: number for number, name in NAMES.items()}
FIXED_FLAGS = {6: 2, 8: 2, 10: 2}  # PUBREL, SUBSCRIBE, UNSUBSCRIBE; others 0 but PUBLISH
MAX_REMAINING = 268_435_455  # the largest 4-byte varint

# MQTT 5 property id -> (name, type); "pair" is a UTF-8 string pair (user property).
PROPERTIES: dict[int, tuple[str, str]] = {
    1: ("payload_format_indicator", "byte"), 2: ("message_expiry_interval", "int4"),
    3: ("content_type", "str"), 8: ("response_topic", "str"), 9: ("correlation_data", "bin"),
    11: ("subscription_identifier", "varint"), 17: ("session_expiry_interval", "int4"),
    18: ("assigned_client_identifier", "str"), 19: ("server_keep_alive", "int2"),
    21: ("authentication_method", "str"), 22: ("authentication_data", "bin"),
    23: ("request_problem_information", "byte"), 24: ("will_delay_interval", "int4"),
    25: ("request_response_information", "byte"), 26: ("response_information", "str"),
    28: ("server_reference", "str"), 31: ("reason_string", "str"),
    33: ("receive_maximum", "int2"), 34: ("topic_alias_maximum", "int2"),
    35: ("topic_alias", "int2"), 36: ("maximum_qos", "byte"), 37: ("retain_available", "byte"),
    38: ("user_property", "pair"), 39: ("maximum_packet_size", "int4"),
    40: ("wildcard_subscription_available", "byte"),
    41: ("subscription_identifier_available", "byte"),
    42: ("shared_subscription_available", "byte"),
}
PROPERTY_IDS = {name: number for number, (name, _) in PROPERTIES.items()}
# MQTT 5 reason codes >= 0x80 (and a few below) in words; 3.1.1 CONNACK codes in mqtt.py.
REASONS = {
    0x04: "disconnect with will", 0x10: "no matching subscribers",
    0x11: "no subscription existed", 0x18: "continue authentication", 0x19: "re-authenticate",
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8C: "bad authentication method",
    0x8D: "keep alive timeout", 0x8E: "session taken over", 0x8F: "topic filter invalid",
    0x90: "topic name invalid", 0x91: "packet identifier in use",
    0x92: "packet identifier not found", 0x93: "receive maximum exceeded",
    0x94: "topic alias invalid", 0x95: "packet too large", 0x96: "message rate too high",
    0x97: "quota exceeded", 0x98: "administrative action", 0x99: "payload format invalid",
    0x9A: "retain not supported", 0x9B: "QoS not supported", 0x9C: "use another server",
    0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}
REPEATABLE = frozenset({"user_property", "subscription_identifier"})  # values are lists


class MqttError(ValueError):
    """A packet that breaks the MQTT grammar, in words for the user."""


@dataclass(frozen=True, slots=True)
class Packet:
    type: int
    flags: int
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES.get(self.type, f"type {self.type}")


class Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise MqttError(f"{self.what}: truncated (needs {n} more bytes, has {self.left()})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def varint(self) -> int:
        value = 0
        for i in range(4):
            byte = self.uint(1)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise MqttError(f"{self.what}: a variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.uint(2))

    def text(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MqttError(f"{self.what}: a string that is not UTF-8") from exc

    def rest(self) -> bytes:
        return self.take(self.left())

    def properties(self) -> dict[str, Any]:
        length = self.varint()
        sub = Reader(self.take(length), f"{self.what} properties")
        props: dict[str, Any] = {}
        while sub.left():
            pid = sub.varint()
            if pid not in PROPERTIES:
                raise MqttError(f"{self.what}: unknown property id {pid}")
            name, kind = PROPERTIES[pid]
            value = sub.read_value(kind)
            if name in REPEATABLE:
                props.setdefault(name, []).append(value)
            elif name in props:
                raise MqttError(f"{self.what}: property {name} given twice")
            else:
                props[name] = value
        return props

    def read_value(self, kind: str) -> Any:
        if kind == "byte":
            return self.uint(1)
        if kind in ("int2", "int4"):
            return self.uint(int(kind[-1]))
        if kind == "varint":
            return self.varint()
        if kind == "bin":
            return self.binary()
        if kind == "pair":
            return (self.text(), self.text())
        return self.text()


def parse(ptype: int, flags: int, body: bytes, version: int) -> Packet:
    """One packet's fields; `version` (4 or 5, 3 for 3.1) decides properties and reason codes."""
    name = NAMES.get(ptype)
    if name is None:
        raise MqttError("packet type 0 is reserved")
    if ptype != 3 and flags != FIXED_FLAGS.get(ptype, 0):
        raise MqttError(f"{name}: fixed-header flags {flags:#06b} are not allowed")
    r = Reader(body, name)
    f: dict[str, Any] = {}
    if ptype == 1:
        f = _connect(r)
    elif ptype == 2:
        f["session_present"] = bool(r.uint(1) & 1)
        f["reason_code"] = r.uint(1)
        if version == 5:
            f["properties"] = r.properties()
    elif ptype == 3:
        f = _publish(r, flags, version)
    elif ptype in (4, 5, 6, 7):
        f["packet_id"] = r.uint(2)
        if version == 5 and r.left():
            f["reason_code"] = r.uint(1)
            if r.left():
                f["properties"] = r.properties()
    elif ptype in (8, 10):
        f = _subscribe(r, ptype, version)
    elif ptype in (9, 11):
        f["packet_id"] = r.uint(2)
        if version == 5:
            f["properties"] = r.properties()
        f["reason_codes"] = list(r.rest())
    elif ptype in (14, 15) and r.left():
        f["reason_code"] = r.uint(1)
        if r.left():
            f["properties"] = r.properties()
    if r.left():
        raise MqttError(f"{name}: {r.left()} unexpected bytes at the end")
    return Packet(ptype, flags, f)


def _connect(r: Reader) -> dict[str, Any]:
    f: dict[str, Any] = {"protocol_name": r.text(), "protocol_level": r.uint(1)}
    flags = r.uint(1)
    if f["protocol_level"] not in (3, 4, 5):
        raise MqttError(f"CONNECT: unknown protocol level {f['protocol_level']}")
    v5 = f["protocol_level"] == 5
    f.update(clean_start=bool(flags & 2), will=bool(flags & 4), will_qos=(flags >> 3) & 3,
             will_retain=bool(flags & 32), keep_alive=r.uint(2))
    if v5:
        f["properties"] = r.properties()
    f["client_id"] = r.text()
    if f["will"]:
        if v5:
            f["will_properties"] = r.properties()
        f["will_topic"], f["will_payload"] = r.text(), r.binary()
    if flags & 0x80:
        f["username"] = r.text()
    if flags & 0x40:
        f["password"] = r.binary()
    return f


def _publish(r: Reader, flags: int, version: int) -> dict[str, Any]:
    qos = (flags >> 1) & 3
    if qos == 3:
        raise MqttError("PUBLISH: QoS 3 is not a QoS")
    f: dict[str, Any] = {"dup": bool(flags & 8), "qos": qos, "retain": bool(flags & 1),
                         "topic": r.text()}
    if qos:
        f["packet_id"] = r.uint(2)
    if version == 5:
        f["properties"] = r.properties()
    f["payload"] = r.rest()
    return f


def _subscribe(r: Reader, ptype: int, version: int) -> dict[str, Any]:
    f: dict[str, Any] = {"packet_id": r.uint(2)}
    if version == 5:
        f["properties"] = r.properties()
    filters, options = [], []
    while r.left():
        filters.append(r.text())
        if ptype == 8:
            options.append(r.uint(1))
    if not filters:
        raise MqttError(f"{NAMES[ptype]}: no topic filter")
    f["filters"] = filters
    if ptype == 8:
        f["options"] = options
        f["qos"] = [o & 3 for o in options]
    return f


# --- encoding (the protocol client and the composer) -------------------------------------------

def varint(value: int) -> bytes:
    if not 0 <= value <= MAX_REMAINING:
        raise ValueError(f"{value} does not fit an MQTT variable byte integer")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string or binary field holds at most 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def properties(props: Mapping[str, Any] | None) -> bytes:
    out = bytearray()
    for name, value in (props or {}).items():
        if name not in PROPERTY_IDS:
            raise ValueError(f"unknown MQTT 5 property {name!r}")
        pid = PROPERTY_IDS[name]
        kind = PROPERTIES[pid][1]
        for one in value if name in REPEATABLE else [value]:
            out += varint(pid) + _value(kind, one)
    return varint(len(out)) + bytes(out)


def _value(kind: str, value: Any) -> bytes:
    if kind == "byte":
        return int(value).to_bytes(1, "big")
    if kind in ("int2", "int4"):
        return int(value).to_bytes(int(kind[-1]), "big")
    if kind == "varint":
        return varint(int(value))
    if kind == "pair":
        return string(value[0]) + string(value[1])
    return string(value)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def encode_connect(client_id: str, keep_alive: int = 60, clean: bool = True, version: int = 4,
                   username: str | None = None, password: str | bytes | None = None,
                   props: Mapping[str, Any] | None = None) -> bytes:
    flags = (2 if clean else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    body = string("MQTT") + bytes([version, flags]) + keep_alive.to_bytes(2, "big")
    if version == 5:
        body += properties(props)
    body += string(client_id)
    if username is not None:
        body += string(username)
    if password is not None:
        body += string(password)
    return packet(1, 0, body)


def encode_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                   packet_id: int = 0, dup: bool = False, version: int = 4,
                   props: Mapping[str, Any] | None = None) -> bytes:
    if qos not in (0, 1, 2):
        raise ValueError(f"QoS must be 0, 1 or 2, not {qos}")
    if qos and not 1 <= packet_id <= 0xFFFF:
        raise ValueError("a QoS 1 or 2 PUBLISH needs a packet id from 1 to 65535")
    body = string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    if version == 5:
        body += properties(props)
    return packet(3, (8 if dup else 0) | qos << 1 | int(retain), body + payload)


def encode_subscribe(packet_id: int, filters: Sequence[tuple[str, int]], version: int = 4,
                     props: Mapping[str, Any] | None = None) -> bytes:
    """`filters` pairs each topic filter with its options byte (the QoS in MQTT 3.1.1)."""
    body = packet_id.to_bytes(2, "big") + (properties(props) if version == 5 else b"")
    for topic, options in filters:
        body += string(topic) + bytes([options])
    return packet(8, 2, body)


def encode_unsubscribe(packet_id: int, filters: Sequence[str], version: int = 4) -> bytes:
    body = packet_id.to_bytes(2, "big") + (properties(None) if version == 5 else b"")
    return packet(10, 2, body + b"".join(string(t) for t in filters))


def encode_ack(ptype: int, packet_id: int) -> bytes:
    """PUBACK(4), PUBREC(5), PUBREL(6) or PUBCOMP(7) with success (no reason code needed)."""
    return packet(ptype, FIXED_FLAGS.get(ptype, 0), packet_id.to_bytes(2, "big"))


def encode_simple(ptype: int) -> bytes:
    """PINGREQ, PINGRESP or a DISCONNECT with no reason code."""
    return packet(ptype, 0, b"")
