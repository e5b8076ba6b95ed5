"""The embedded server's room protocol (docs/protocol.md, PROTOCOL.md): typed JSON objects (or
MessagePack maps with the "msgpack" subprotocol), rooms as topics, `requestId` pairing a request
with its one reply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.codecs import encode_object, parse_object
from core.decoders.api import (
    FIRST_FRAMES,
    GENERIC,
    NOT_MINE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.decoders.jsonbits import StatelessSession, error, short, value_of
from core.events import Direction

NAME = "embedded"
# Words only this protocol uses (ping, ack or error say nothing about the server).
ROOM_WORDS = frozenset({"join_room", "leave_room", "list_rooms", "list_clients", "private_message",
                        "presence"})
KINDS = {
    "connected": Kind.CONNECT,
    "ping": Kind.HEARTBEAT,
    "pong": Kind.HEARTBEAT,
    "join_room": Kind.SUBSCRIBE,
    "leave_room": Kind.UNSUBSCRIBE,
    "ack": Kind.RESPONSE,
    "rooms": Kind.RESPONSE,
    "clients": Kind.RESPONSE,
    "error": Kind.ERROR,
    "list_rooms": Kind.REQUEST,
    "list_clients": Kind.REQUEST,
}


def parse(frame: Frame) -> dict[str, Any] | None:
    try:
        return parse_object(frame.opcode, frame.payload)
    except RecursionError:  # nesting deeper than the parser goes: not a room message
        return None


def kind_of(kind_name: str, direction: Direction, has_request: bool) -> Kind:
    kind = KINDS.get(kind_name, Kind.EVENT)
    if direction is Direction.OUT and has_request and kind not in (Kind.SUBSCRIBE,
                                                                   Kind.UNSUBSCRIBE):
        return Kind.REQUEST  # anything carrying requestId gets exactly one reply
    if direction is Direction.IN and has_request and kind is not Kind.ERROR:
        return Kind.RESPONSE
    return kind


def decode(frame: Frame) -> Sequence[Message]:
    obj = parse(frame)
    if obj is None:
        return (error(NAME, "not a JSON object", frame),) if frame.payload else ()
    kind_name = obj.get("type")
    if not isinstance(kind_name, str):
        return (error(NAME, "no string type", frame),)
    request = obj.get("requestId")
    has_request = isinstance(request, (str, int)) and not isinstance(request, bool)
    kind = kind_of(kind_name, frame.direction, has_request)
    room = obj.get("room") if isinstance(obj.get("room"), str) else None
    name = kind_name
    if kind_name == "presence" and isinstance(obj.get("event"), str):
        name = f"presence {obj['event']}"
    parts = [name]
    if room:
        parts.append(room)
    if kind_name == "error" and "message" in obj:
        parts.append(short(obj["message"], 64))
    elif "data" in obj:
        parts.append(short(obj["data"]))
    if has_request:
        parts.append(f"req {request}")
    fields: dict[str, Any] = {key: obj[key] for key in
                              ("clientId", "from", "targetId", "id", "timestamp") if key in obj}
    return (Message(NAME, kind, " ".join(parts), frame.direction, name, room,
                    f"req:{request}" if has_request else None,
                    kind_name in ("ping", "pong"), obj, fields),)


class EmbeddedDecoder:
    name = NAME
    lazy = True  # one frame decodes alone: decoded where shown, not fed per frame (layer.py)
    title = "SocketScope room protocol"
    subprotocols: tuple[str, ...] = ()

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        for frame in first[:4]:
            obj = parse(frame)
            if obj is None:
                continue
            if (frame.direction is Direction.IN and obj.get("type") == "connected"
                    and "clientId" in obj):
                return FIRST_FRAMES + 5
            if obj.get("type") in ROOM_WORDS:
                return GENERIC + 1  # a room-protocol word: above plain JSON, below the rest
        return NOT_MINE

    def session(self, handshake: Handshake) -> StatelessSession:
        return StatelessSession(decode)

    def templates(self) -> Mapping[str, str]:
        return {
            "join room": '{"type": "join_room", "room": "{{room}}", "requestId": "{{requestId}}"}',
            "leave room": '{"type": "leave_room", "room": "{{room}}"}',
            "broadcast": '{"type": "broadcast", "room": "{{room}}", "data": {{data}}}',
            "private message": '{"type": "private_message", "targetId": "{{targetId}}", '
                               '"data": {{data}}}',
            "list rooms": '{"type": "list_rooms"}',
        }

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        wanted = {
            "join room": ("join_room", ("room",)),
            "leave room": ("leave_room", ("room",)),
            "broadcast": ("broadcast", ("room", "data")),
            "private message": ("private_message", ("targetId", "data")),
            "list rooms": ("list_rooms", ()),
        }
        if template not in wanted:
            raise ValueError(f"no template {template!r} for {NAME}")
        kind_name, keys = wanted[template]
        obj: dict[str, Any] = {"type": kind_name}
        for key in keys:
            obj[key] = value_of(values, key, as_json=key == "data")
        request = value_of(values, "requestId", None)
        if request is not None:
            obj["requestId"] = request
        binary = bool(values.get("binary"))
        return (Outgoing(encode_object(obj, binary), text=not binary),)


decoder = EmbeddedDecoder()
