"""The MQTT 3.1.1 / 5.0 over WebSocket decoder.

The protocol version is read from CONNECT and kept for the session (it decides whether packets
carry properties). Packet ids pair as "mqtt:<id>": PUBLISH QoS 1 with PUBACK, QoS 2 with PUBREC
(then PUBREL with PUBCOMP), SUBSCRIBE with SUBACK, UNSUBSCRIBE with UNSUBACK. Each end numbers
the flows it starts on its own, so the broker's flows pair as "mqtt-srv:<id>". A PUBLISH that
expects an acknowledgement is a REQUEST, so that pairing opens on it. As a protocol client the
session sends CONNECT on open, PINGREQ at the keep-alive, and the acknowledgements QoS 1 and 2
deliveries call for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.decoders import mqtt_wire as wire
from core.decoders.api import (
    EXACT_SUBPROTOCOL,
    FIRST_FRAMES,
    NOT_MINE,
    URL_SIGNATURE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
    due,
)
from core.decoders.client_options import settings_from
from core.decoders.mqtt_stream import MAX_PACKET, Bad, Dropped, MqttStream
from core.events import Direction, Opcode

SUBPROTOCOLS = ("mqtt", "mqttv3.1")
SUMMARY_CHARS = 80
MAX_ALIASES = 1000
MASK = "•••"
_STARTS_FLOW = frozenset({3, 6, 8, 10})  # PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE: asks
_KINDS = {1: Kind.CONNECT, 2: Kind.CONNECT, 3: Kind.EVENT, 4: Kind.RESPONSE, 5: Kind.RESPONSE,
          6: Kind.REQUEST, 7: Kind.RESPONSE, 8: Kind.SUBSCRIBE, 9: Kind.RESPONSE,
          10: Kind.UNSUBSCRIBE, 11: Kind.RESPONSE, 12: Kind.HEARTBEAT, 13: Kind.HEARTBEAT,
          14: Kind.CONTROL, 15: Kind.CONTROL}
CONNACK_3 = {0: "accepted", 1: "unacceptable protocol version", 2: "identifier rejected",
             3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The protocol client's CONNECT."""

    client_id: str = ""  # empty: "socketscope-" and a counter
    keep_alive: int = 60  # seconds; 0 turns PINGREQ off
    clean: bool = True  # clean session (3.1.1) / clean start (5)
    version: int = 4  # 4: MQTT 3.1.1, 5: MQTT 5.0
    username: str | None = None
    password: str | None = None
    max_packet: int = MAX_PACKET

    def __post_init__(self) -> None:
        if self.version not in (3, 4, 5):
            raise ValueError(f"MQTT version must be 3, 4 or 5 (5: MQTT 5.0), not {self.version}")
        if not 0 <= self.keep_alive <= 0xFFFF:
            raise ValueError("MQTT keep-alive must be 0 to 65535 seconds")
        if self.max_packet < 1024:
            raise ValueError("MQTT max-packet must be at least 1024 bytes")


_client_ids = itertools.count(1)


def payload_value(data: bytes) -> Any:
    """JSON when it parses, else text, else bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return text


def short(value: Any, limit: int = SUMMARY_CHARS) -> str:
    if isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
        except (ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class MqttSession:
    def __init__(self, handshake: Handshake,
                 options: Mapping[str, Any] | MqttSettings | None = None) -> None:
        self.settings = settings_from(MqttSettings, options, "MQTT")
        self.version = self.settings.version
        self.streams = {d: MqttStream(self.settings.max_packet) for d in Direction}
        self.aliases: dict[Direction, dict[int, str]] = {d: {} for d in Direction}
        self.keep_alive = 0  # seconds, from the CONNECT sent (or CONNACK's server_keep_alive)
        self.connected = False
        self._client = False
        self._last_out: float | None = None  # when we last sent a packet (keep-alive clock)

    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode not in (Opcode.BINARY, Opcode.TEXT):
            return ()
        if frame.direction is Direction.OUT:
            self._last_out = frame.time
        out: list[Message] = []
        for item in self.streams[frame.direction].feed(frame.payload, self.version):
            if isinstance(item, Dropped):
                out.append(Message("mqtt", Kind.ERROR, item.reason, frame.direction,
                                   fields={"dropped_bytes": item.dropped}))
            elif isinstance(item, Bad):
                name = wire.NAMES.get(item.ptype, "packet")
                out.append(Message("mqtt", Kind.ERROR, f"malformed: {item.reason}",
                                   frame.direction, name=name,
                                   fields={"dropped_bytes": item.size}))
            else:
                out.append(self._message(item, frame.direction))
        return out

    def _message(self, packet: wire.Packet, direction: Direction) -> Message:
        f = dict(packet.fields)
        self._track(packet, direction)
        kind = _KINDS[packet.type]
        topic = None
        if packet.type == 3:
            topic = self._topic(f, direction)
            if f["qos"]:
                kind = Kind.REQUEST
            f["payload"] = payload_value(f["payload"])
        elif packet.type in (8, 10):
            topic = ", ".join(f["filters"])
        if packet.type == 2 and f["reason_code"] != 0:
            kind = Kind.ERROR
        if "password" in f:  # shown as present, never as the secret itself
            f["password"] = MASK
        pid = f.get("packet_id")
        ours = (packet.type in _STARTS_FLOW) == (direction is Direction.OUT)
        return Message(
            "mqtt", kind, _summary(packet.name, f, topic, self.version), direction,
            name=packet.name, topic=topic,
            correlation=None if pid is None else f"{'mqtt' if ours else 'mqtt-srv'}:{pid}",
            heartbeat=packet.type in (12, 13), payload=f.pop("payload", None),
            fields=f | {"version": self.version})

    def _track(self, packet: wire.Packet, direction: Direction) -> None:
        if packet.type == 1:
            self.version = packet.fields["protocol_level"]
            if direction is Direction.OUT:
                self.keep_alive = packet.fields["keep_alive"]
        elif packet.type == 2 and direction is Direction.IN:
            self.connected = packet.fields["reason_code"] == 0
            server = packet.fields.get("properties", {}).get("server_keep_alive")
            if server is not None:
                self.keep_alive = server

    def _topic(self, f: dict[str, Any], direction: Direction) -> str:
        """The topic, resolving an MQTT 5 topic alias (bounded per direction)."""
        alias = f.get("properties", {}).get("topic_alias")
        known = self.aliases[direction]
        if alias is not None and f["topic"]:
            if alias in known or len(known) < MAX_ALIASES:
                known[alias] = f["topic"]
        elif alias is not None:
            f["topic"] = known.get(alias, f"<alias {alias}>")
        topic: str = f["topic"]
        return topic

    def on_open(self) -> Sequence[Outgoing]:
        s = self.settings
        self._client, self.connected, self._last_out = True, False, None
        self.version, self.keep_alive = s.version, s.keep_alive
        self.streams = {d: MqttStream(s.max_packet) for d in Direction}
        self.aliases = {d: {} for d in Direction}
        client_id = s.client_id or f"socketscope-{next(_client_ids)}"
        data = wire.encode_connect(client_id, s.keep_alive, s.clean, s.version, s.username,
                                   s.password)
        return (Outgoing(data, text=False),)

    def ready(self, message: Message) -> bool | None:
        """CONNACK completes the handshake when it accepts the connection, else refuses it."""
        if message.direction is not Direction.IN or message.name != "CONNACK":
            return None
        return message.fields.get("reason_code") == 0

    def answer(self, message: Message) -> Sequence[Outgoing]:
        """The QoS handshakes a client owes: PUBACK or PUBREC for a QoS 1/2 PUBLISH received,
        PUBCOMP for a PUBREL, PUBREL for a PUBREC to our own QoS 2 PUBLISH (a broker stops
        delivering once too many go unacknowledged)."""
        if not self._client or message.direction is not Direction.IN:
            return ()
        pid, name = message.fields.get("packet_id"), message.name
        if pid is None or message.kind is Kind.ERROR:
            return ()
        reply = {"PUBREC": 6, "PUBREL": 7}.get(name or "")
        if name == "PUBLISH":
            reply = 4 if message.fields.get("qos") == 1 else 5
        return (Outgoing(wire.encode_ack(reply, pid), text=False),) if reply else ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        """PINGREQ so that no more than keep-alive seconds pass without a packet from us (the
        spec's rule; the broker closes at 1.5 times that)."""
        if not (self._client and self.connected and self.keep_alive):
            return ()
        if self._last_out is None:
            self._last_out = now
        if not due(self._last_out, self.keep_alive, now):
            return ()
        self._last_out = now
        return (Outgoing(wire.encode_simple(12), text=False),)

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        """The decoder's templates, for this session's protocol version."""
        return decoder.encode(template, {"version": self.version, **values})


def _summary(name: str, f: Mapping[str, Any], topic: str | None, version: int) -> str:
    parts = [name]
    if name == "CONNECT":
        parts += [f["client_id"] or '""', f"v{f['protocol_level']}",
                  f"keep-alive {f['keep_alive']}"]
    elif name == "CONNACK":
        code = f["reason_code"]
        parts.append(CONNACK_3.get(code, f"{code:#04x}") if version != 5 or code == 0
                     else _reason(code))
    elif topic is not None:
        parts.append(topic)
    if name == "PUBLISH":
        parts.append(f"qos{f['qos']}")
    elif name == "SUBSCRIBE":
        parts.append("qos" + ",".join(str(q) for q in f["qos"]))
    if "packet_id" in f:
        parts.append(f"id {f['packet_id']}")
    if "reason_codes" in f:
        parts.append(str(f["reason_codes"]))
    elif name not in ("CONNACK",) and f.get("reason_code"):
        parts.append(_reason(f["reason_code"]))
    if f.get("retain"):
        parts.append("retain")
    if f.get("dup"):
        parts.append("dup")
    if name == "PUBLISH":
        parts.append(short(f["payload"]))
    return " ".join(parts)


def _reason(code: int) -> str:
    return f"reason {code:#04x} {wire.REASONS[code]}" if code in wire.REASONS else \
        f"reason {code:#04x}"


TEMPLATES = {
    "PUBLISH": "PUBLISH topic={{topic}} qos={{qos}} retain={{retain}}\n{{payload}}",
    "SUBSCRIBE": "SUBSCRIBE filter={{filter}} qos={{qos}}",
    "UNSUBSCRIBE": "UNSUBSCRIBE filter={{filter}}",
}


class MqttDecoder:
    name = "mqtt"
    title = "MQTT 3.1.1 / 5.0"
    subprotocols = SUBPROTOCOLS

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if handshake.subprotocol in SUBPROTOCOLS:
            return EXACT_SUBPROTOCOL + 5
        for frame in first:
            data = frame.payload
            if data[:1] == b"\x10" and b"\x00\x04MQTT" in data[:12]:
                return FIRST_FRAMES + 8
        if "mqtt" in urlsplit(handshake.url).path.lower():
            return URL_SIGNATURE
        return NOT_MINE

    def session(self, handshake: Handshake,
                options: Mapping[str, Any] | MqttSettings | None = None) -> MqttSession:
        """`options`: MqttSettings or a mapping of its fields ("keep-alive": 30, "version": 5)."""
        return MqttSession(handshake, options)

    def templates(self) -> Mapping[str, str]:
        return dict(TEMPLATES)

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        """Values: topic/filter, qos, retain, payload, packet_id (default: a counter), version."""
        if template not in TEMPLATES:
            raise ValueError(f"no MQTT template named {template!r}")
        version = _number(values, "version", 4, (3, 4, 5))
        qos = _number(values, "qos", 0, (0, 1, 2))
        pid = int(values.get("packet_id") or (next(self._ids) % 0xFFFF + 1))
        if template == "PUBLISH":
            topic = _text(values, "topic")
            if any(c in topic for c in "+#"):
                raise ValueError("a PUBLISH topic cannot hold the wildcards + or #")
            payload = values.get("payload", b"")
            data = payload if isinstance(payload, bytes) else str(payload).encode("utf-8")
            retain = str(values.get("retain", False)).lower() in ("1", "true", "yes", "on")
            out = wire.encode_publish(topic, data, qos, retain, pid, version=version)
        elif template == "SUBSCRIBE":
            out = wire.encode_subscribe(pid, [(_text(values, "filter"), qos)], version)
        else:
            out = wire.encode_unsubscribe(pid, [_text(values, "filter")], version)
        return (Outgoing(out, text=False),)


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if not value:
        raise ValueError(f"{key} is missing")
    if len(str(value).encode("utf-8")) > 0xFFFF:
        raise ValueError(f"{key} is longer than 65535 bytes")
    return str(value)


def _number(values: Mapping[str, Any], key: str, default: int, allowed: tuple[int, ...]) -> int:
    raw = values.get(key, default)
    try:
        number = int(raw if raw not in (None, "") else default)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be one of {allowed}, not {raw!r}") from None
    if number not in allowed:
        raise ValueError(f"{key} must be one of {allowed}, not {number}")
    return number


decoder = MqttDecoder()
