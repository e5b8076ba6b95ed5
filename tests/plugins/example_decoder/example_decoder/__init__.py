"""An example decoder plug-in for a line protocol: "SUB news", "PUB news hello", "MSG news hi".

It shows the whole interface; nothing here is SocketScope-internal except the api module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.decoders.api import (
    EXACT_SUBPROTOCOL,
    FIRST_FRAMES,
    NOT_MINE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.events import Opcode

VERBS = {"SUB": Kind.SUBSCRIBE, "UNSUB": Kind.UNSUBSCRIBE, "PUB": Kind.EVENT, "MSG": Kind.EVENT,
         "PING": Kind.HEARTBEAT, "PONG": Kind.HEARTBEAT}


class LinesSession:
    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode is not Opcode.TEXT:
            return ()
        verb, _, rest = frame.payload.decode("utf-8", errors="replace").partition(" ")
        if verb not in VERBS:
            return (Message("lines", Kind.ERROR, f"unknown verb {verb[:20]!r}", frame.direction),)
        topic, _, body = rest.partition(" ")
        return (Message("lines", VERBS[verb], f"{verb} {topic}".strip(), frame.direction,
                        name=verb, topic=topic or None, heartbeat=verb in ("PING", "PONG"),
                        payload=body),)

    def on_open(self) -> Sequence[Outgoing]:
        return ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return (Outgoing(b"PONG", text=True),) if message.name == "PING" else ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return ()


class LinesDecoder:
    name = "lines"
    title = "Line protocol (example plug-in)"
    subprotocols = ("lines.v1",)

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if handshake.subprotocol in self.subprotocols:
            return EXACT_SUBPROTOCOL
        if first and all(f.payload.split(b" ", 1)[0].decode(errors="replace") in VERBS
                         for f in first):
            return FIRST_FRAMES
        return NOT_MINE

    def session(self, handshake: Handshake) -> LinesSession:
        return LinesSession()

    def templates(self) -> Mapping[str, str]:
        return {"publish": "PUB {{topic}} {{text}}"}

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        if template != "publish" or not values.get("topic"):
            raise ValueError("publish needs a topic")
        return (Outgoing(f"PUB {values['topic']} {values.get('text', '')}".encode(), text=True),)


decoder = LinesDecoder()
