"""Socket.IO v5 over Engine.IO v4 on the websocket transport (Engine.IO v3, `EIO=3`, is
recognised from the URL and named). One Engine.IO packet per frame; a binary event's
attachments arrive as the following binary frames and are buffered (bounded) until complete.

As a protocol client it answers Engine.IO pings ("2" -> "3"), connects the default namespace and
any others named in the options once the server's open packet arrives (the official client waits
for it too), and on v3, where the client pings, sends "2" at the server's ping interval.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from core.decoders.api import (
    FIRST_FRAMES,
    NOT_MINE,
    URL_SIGNATURE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.decoders.jsonbits import Recent, by_server, short, value_of
from core.decoders.socketio_packet import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    ENGINE_TYPES,
    Packet,
    encode_event,
    parse_packet,
    reconstruct,
)
from core.events import Direction, Opcode

NAME = "socketio"
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024  # buffered per direction while a binary event completes
MAX_ATTACHMENTS = 1000


def eio_version(url: str) -> int | None:
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    value = (query.get("EIO") or [""])[0]
    return int(value) if value in ("2", "3", "4") else None


@dataclass(slots=True)
class _Pending:
    packet: Packet
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


class SocketIOSession:
    def __init__(self, handshake: Handshake, namespaces: Sequence[str] = (),
                 max_attachment_bytes: int = MAX_ATTACHMENT_BYTES) -> None:
        self.eio = eio_version(handshake.url) or 4
        self.namespaces = [ns for ns in namespaces if ns and ns != "/"]
        self.max_attachment_bytes = max_attachment_bytes
        self.ping_interval: float | None = None
        self._next_ping: float | None = None
        self._pending: dict[Direction, _Pending] = {}
        self._acks = Recent()  # ack correlation -> event name, to name the ack

    @property
    def buffered_bytes(self) -> int:
        return sum(p.size for p in self._pending.values())

    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode is Opcode.BINARY:
            return self._binary(frame, frame.payload)
        if frame.opcode is not Opcode.TEXT:
            return ()
        out: list[Message] = []
        if frame.direction in self._pending:
            got = self._pending.pop(frame.direction)
            out.append(self._error(frame, f"binary {got.packet.type_name.lower()} incomplete: "
                                   f"{len(got.parts)} of {got.packet.attachments} attachments"))
        try:
            text = frame.payload.decode("utf-8")
        except UnicodeDecodeError:
            return [*out, self._error(frame, "text frame is not UTF-8")]
        out.extend(self._engine(frame, text))
        return out

    def _error(self, frame: Frame, why: str) -> Message:
        return Message(NAME, Kind.ERROR, f"malformed: {why}", frame.direction,
                       fields={"eio": self.eio})

    def _engine(self, frame: Frame, text: str) -> Sequence[Message]:
        if not text:
            return (self._error(frame, "empty Engine.IO packet"),)
        if text[0] == "b":  # base64 binary message (polling style, seen after upgrades)
            try:
                return self._binary(frame, base64.b64decode(text[1:], validate=True))
            except (binascii.Error, ValueError):
                return (self._error(frame, "bad base64 binary message"),)
        if text[0] not in "0123456":
            return (self._error(frame, f"unknown Engine.IO packet type {text[0]!r}"),)
        kind = ENGINE_TYPES[int(text[0])]
        body = text[1:]
        if kind == "message":
            return self._socketio(frame, body)
        fields = {"eio": self.eio, "engineio": kind}
        if kind == "open":
            return (self._open(frame, body, fields),)
        if kind in ("ping", "pong"):
            return (Message(NAME, Kind.HEARTBEAT, f"{kind} {body}".strip(), frame.direction,
                            kind, heartbeat=True, payload=body, fields=fields),)
        return (Message(NAME, Kind.CONTROL, f"engine.io {kind}", frame.direction, kind,
                        payload=body, fields=fields),)

    def _open(self, frame: Frame, body: str, fields: dict[str, Any]) -> Message:
        try:
            info = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            info = body
        if isinstance(info, dict) and isinstance(info.get("pingInterval"), (int, float)):
            self.ping_interval = info["pingInterval"] / 1000.0
        sid = info.get("sid") if isinstance(info, dict) else None
        version = f"Engine.IO v{self.eio}" + (" (Socket.IO v2)" if self.eio == 3 else "")
        return Message(NAME, Kind.CONNECT, f"open {version} sid {sid}", frame.direction, "open",
                       payload=info, fields=fields)

    def _socketio(self, frame: Frame, body: str) -> Sequence[Message]:
        try:
            packet = parse_packet(body)
        except ValueError as exc:
            return (self._error(frame, str(exc)),)
        if packet.type in (BINARY_EVENT, BINARY_ACK) and packet.attachments:
            if packet.attachments > MAX_ATTACHMENTS:
                return (self._error(frame, f"{packet.attachments} attachments (at most "
                                    f"{MAX_ATTACHMENTS} are followed)"),)
            self._pending[frame.direction] = _Pending(packet)
            return ()
        return (self._message(frame, packet),)

    def _binary(self, frame: Frame, data: bytes) -> Sequence[Message]:
        if self.eio == 3 and data[:1] == b"\x04":
            data = data[1:]  # v3 prefixes binary frames with the message type
        pending = self._pending.get(frame.direction)
        if pending is None:
            return (Message(NAME, Kind.EVENT, f"binary message {len(data)} bytes", frame.direction,
                            payload=data, fields={"eio": self.eio, "engineio": "message"}),)
        pending.parts.append(data)
        pending.size += len(data)
        if pending.size > self.max_attachment_bytes:
            del self._pending[frame.direction]
            return (self._error(frame, f"binary {pending.packet.type_name.lower()} attachments "
                                f"over {self.max_attachment_bytes} bytes: dropped"),)
        if len(pending.parts) < pending.packet.attachments:
            return ()
        del self._pending[frame.direction]
        try:
            pending.packet.data = reconstruct(pending.packet.data, pending.parts)
        except ValueError as exc:
            return (self._error(frame, str(exc)),)
        return (self._message(frame, pending.packet),)

    def _message(self, frame: Frame, p: Packet) -> Message:
        ns = p.namespace
        where = "" if ns == "/" else f"{ns} "
        fields = {"eio": self.eio, "engineio": "message", "type": p.type_name, "namespace": ns,
                  "id": p.id, "attachments": p.attachments}
        is_ack = p.type in (ACK, BINARY_ACK)
        corr = None
        if p.id is not None:  # "ack-srv:" when the server asked for the ack
            corr = f"{'ack-srv' if by_server(not is_ack, frame.direction) else 'ack'}:{ns}:{p.id}"
        if p.type == CONNECT:
            detail = "" if p.data is None else short(p.data)
            return Message(NAME, Kind.CONNECT, f"connect {where}{detail}".rstrip(),
                           frame.direction, "connect", ns, None, False, p.data, fields)
        if p.type == DISCONNECT:
            return Message(NAME, Kind.CONTROL, f"disconnect {ns}", frame.direction, "disconnect",
                           ns, None, False, p.data, fields)
        if p.type == CONNECT_ERROR:
            return Message(NAME, Kind.ERROR, f"connect error {where}{short(p.data)}",
                           frame.direction, "connect_error", ns, None, False, p.data, fields)
        if is_ack:
            event = self._acks.pop(corr)
            about = f"{event} " if event else ""
            return Message(NAME, Kind.RESPONSE, f"ack {where}{about}{p.id} {short(p.data)}",
                           frame.direction, event, ns, corr, False, p.data, fields)
        event = p.data[0] if isinstance(p.data, list) and p.data else None
        if not isinstance(event, str):
            return Message(NAME, Kind.ERROR, f"malformed: event without a name {short(p.data)}",
                           frame.direction, None, ns, corr, False, p.data, fields)
        summary = f"emit {where}{event} {short(p.data[1:])}"
        if p.id is not None:
            summary += f" ack {p.id}"
            self._acks.put(corr, event)
        return Message(NAME, Kind.REQUEST if p.id is not None else Kind.EVENT, summary,
                       frame.direction, event, ns, corr, False, p.data, fields)

    def on_open(self) -> Sequence[Outgoing]:
        return ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        if message.protocol != NAME or message.direction is not Direction.IN:
            return ()
        what = message.fields.get("engineio")
        if what == "ping":
            return (Outgoing(b"3" + str(message.payload or "").encode(), text=True),)
        if what == "open":
            spaces = self.namespaces if self.eio == 3 else ["/", *self.namespaces]
            return tuple(Outgoing(b"40" if ns == "/" else f"40{ns},".encode(), text=True)
                         for ns in spaces)
        return ()

    def ready(self, message: Message) -> bool | None:
        """The namespace the user's messages most likely go to is connected (the first one
        named, else "/"); its connect error refuses the handshake."""
        if message.direction is not Direction.IN or message.protocol != NAME:
            return None
        target = self.namespaces[0] if self.namespaces else "/"
        if message.topic != target or message.fields.get("engineio") != "message":
            return None
        if message.name == "connect":
            return True
        return False if message.name == "connect_error" else None

    def tick(self, now: float) -> Sequence[Outgoing]:
        if self.eio != 3 or self.ping_interval is None:
            return ()
        if self._next_ping is None:
            self._next_ping = now + self.ping_interval
        if now < self._next_ping:
            return ()
        self._next_ping = now + self.ping_interval
        return (Outgoing(b"2", text=True),)


class SocketIODecoder:
    name = NAME
    title = "Socket.IO v5 / Engine.IO v4"
    subprotocols: tuple[str, ...] = ()

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        path = urlsplit(handshake.url).path if "://" in handshake.url else handshake.url
        version = eio_version(handshake.url)
        if "/socket.io" in path and version is not None:
            return URL_SIGNATURE + 5
        if "/socket.io" in path or version is not None:
            return URL_SIGNATURE
        for frame in first[:4]:
            if frame.opcode is Opcode.TEXT and frame.payload.startswith(b'0{"sid"'):
                return FIRST_FRAMES + 5
        return NOT_MINE

    def session(self, handshake: Handshake,
                options: Mapping[str, Any] | None = None) -> SocketIOSession:
        """`options`: "namespaces", the namespaces besides "/" the protocol client connects
        (a list, or text separated by commas as a profile stores it: "/chat,/admin")."""
        namespaces = (options or {}).get("namespaces", ())
        if isinstance(namespaces, str):
            namespaces = [part.strip() for part in namespaces.split(",")]
        return SocketIOSession(handshake, tuple(namespaces))

    def templates(self) -> Mapping[str, str]:
        return {
            "emit": '42{{namespace}},["{{event}}",{{data}}]',
            "emit with ack": '42{{namespace}},{{ack}}["{{event}}",{{data}}]',
        }

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        if template not in ("emit", "emit with ack"):
            raise ValueError(f"no template {template!r} for {NAME}")
        event = value_of(values, "event")
        if not isinstance(event, str):
            raise ValueError("event must be text")
        namespace = value_of(values, "namespace", "/")
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise ValueError('namespace must start with "/"')
        data = value_of(values, "data", None, as_json=True)
        ack = None
        if template == "emit with ack":
            ack = value_of(values, "ack", 1, as_json=True)
            if not isinstance(ack, int) or isinstance(ack, bool) or ack < 0:
                raise ValueError("ack must be a whole number")
        args = [] if data is None else [data]
        return (Outgoing(encode_event(namespace, event, args, ack).encode("utf-8"), text=True),)


decoder = SocketIODecoder()
