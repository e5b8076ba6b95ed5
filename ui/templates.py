"""Ready-to-edit messages: one per client message of the room protocol (PROTOCOL.md); and the
helpers for every decoder's templates (`Decoder.templates()`, text with {{placeholders}} that
`Decoder.encode()` fills)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    name: str  # the message type
    title: str  # menu text
    message: dict[str, Any]
    hint: str = ""  # what the server answers

    @property
    def text(self) -> str:
        return json.dumps(self.message, indent=2, ensure_ascii=False)


TEMPLATES: tuple[Template, ...] = (
    Template("ping", "ping: application-level ping", {"type": "ping"}, "replies pong"),
    Template(
        "join_room",
        "join_room: join (or create) a room",
        {"type": "join_room", "room": "lobby"},
        "others in the room get presence join",
    ),
    Template(
        "leave_room",
        "leave_room: leave a room",
        {"type": "leave_room", "room": "lobby"},
        "others in the room get presence leave",
    ),
    Template(
        "broadcast",
        "broadcast: message every other member of a room",
        {"type": "broadcast", "room": "lobby", "data": {"text": "hello, room"}},
        "the sender must be a member of the room",
    ),
    Template(
        "private_message",
        "private_message: message one client",
        {"type": "private_message", "targetId": "CLIENT_ID", "data": {"text": "hi"}},
        "targetId: a clientId from list_clients or a connected message",
    ),
    Template(
        "list_rooms", "list_rooms: rooms and their members", {"type": "list_rooms"}, "replies rooms"
    ),
    Template(
        "list_clients",
        "list_clients: connected clients",
        {"type": "list_clients"},
        "replies clients",
    ),
)


def template(name: str) -> Template:
    for t in TEMPLATES:
        if t.name == name:
            return t
    raise KeyError(name)


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")
# What a placeholder's field starts with (empty: the decoder's own default, or required).
DEFAULTS = {
    "qos": "0", "retain": "false", "id": "1", "ack": "1", "namespace": "/", "params": "[]",
    "data": "{}", "variables": "{}", "content-type": "application/json", "topic": "test/topic",
    "filter": "test/#", "destination": "/queue/test", "payload": "hello", "body": "{}",
    "event": "message", "method": "ping", "room": "lobby", "receipt": "r-1",
    "query": "subscription { time }",
}


def placeholders(text: str) -> list[str]:
    """The {{names}} of a template, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))
