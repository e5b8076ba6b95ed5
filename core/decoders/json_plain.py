"""The fallback decoder: JSON objects with a type/event/action/op field and an id/requestId/
correlationId. Always on: it answers GENERIC for any JSON object, so a more specific decoder wins
whenever one recognises the connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.decoders.api import (
    GENERIC,
    NOT_MINE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.decoders.jsonbits import (
    NOT_JSON,
    Recent,
    StatelessSession,
    first_objects,
    parse,
    short,
    text_frame,
    value_of,
)
from core.events import Direction

NAME = "json"
TYPE_KEYS = ("type", "event", "action", "op")
ID_KEYS = ("requestId", "correlationId", "id")
TOPIC_KEYS = ("room", "topic", "channel", "stream", "destination")
HEARTBEATS = frozenset({"ping", "pong", "heartbeat", "hb", "keepalive", "keep-alive", "keep_alive"})
MAX_REMEMBERED = 4096  # outgoing ids remembered to tell a reply from an event


def first_str(obj: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def first_id(obj: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def name_kind(name: str | None) -> Kind | None:
    """The kind a type name alone says (subscribe, leave, error, ping), or None."""
    if name is None:
        return None
    low = name.lower()
    if low in HEARTBEATS:
        return Kind.HEARTBEAT
    if "error" in low or low in ("nack", "reject", "rejected"):
        return Kind.ERROR
    if "unsubscribe" in low or low.startswith("leave"):
        return Kind.UNSUBSCRIBE
    if "subscribe" in low or low.startswith("join"):
        return Kind.SUBSCRIBE
    return None


class PlainJsonSession(StatelessSession):
    """Remembers the ids it saw go out, so an incoming message with one of them is a reply."""

    def __init__(self) -> None:
        super().__init__(self._decode_frame)
        self.sent = Recent(MAX_REMEMBERED)

    def _decode_frame(self, frame: Frame) -> Sequence[Message]:
        value = parse(frame)
        if value is NOT_JSON or not isinstance(value, dict):
            return ()
        return (self.decode(value, frame.direction),)

    def decode(self, obj: dict[str, Any], direction: Direction) -> Message:
        name = first_str(obj, TYPE_KEYS)
        ident = first_id(obj, ID_KEYS)
        kind = name_kind(name)
        if direction is Direction.OUT and ident is not None:
            self.sent.put(ident, None)
            kind = kind if kind in (Kind.SUBSCRIBE, Kind.UNSUBSCRIBE) else Kind.REQUEST
        elif ident is not None and ident in self.sent:
            kind = Kind.ERROR if kind is Kind.ERROR or "error" in obj else Kind.RESPONSE
        kind = kind or Kind.EVENT
        topic = first_str(obj, TOPIC_KEYS)
        correlation = f"id:{ident}" if ident is not None else None
        heartbeat = name is not None and name.lower() in HEARTBEATS
        parts = [name or "(no type)"]
        if topic:
            parts.append(topic)
        parts.append(short(obj))
        return Message(NAME, kind, " ".join(parts), direction, name, topic, correlation,
                       heartbeat, obj)


class PlainJsonDecoder:
    name = NAME
    lazy = True  # one frame decodes alone: decoded where shown, not fed per frame (layer.py)
    title = "JSON messages (type/event + id)"
    subprotocols: tuple[str, ...] = ()

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if not first:
            return GENERIC / 2  # nothing seen yet: the fallback until something better speaks
        return GENERIC if first_objects(first) else NOT_MINE

    def session(self, handshake: Handshake) -> PlainJsonSession:
        return PlainJsonSession()

    def templates(self) -> Mapping[str, str]:
        return {"message": '{"type": "{{type}}", "id": "{{id}}", "data": {{data}}}'}

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        if template != "message":
            raise ValueError(f"no template {template!r} for {NAME}")
        obj: dict[str, Any] = {"type": value_of(values, "type")}
        ident = value_of(values, "id", None)
        if ident is not None:
            obj["id"] = ident
        data = value_of(values, "data", None, as_json=True)
        if data is not None:
            obj["data"] = data
        return (text_frame(obj),)


decoder = PlainJsonDecoder()
