"""GraphQL over WebSocket: graphql-transport-ws (the graphql-ws library's current protocol) and
the legacy subscriptions-transport-ws protocol (subprotocol "graphql-ws"). The operation id is
the correlation; the 44xx close codes are said in words.

As a protocol client it sends connection_init on open (payload from the options) and answers the
new protocol's ping with pong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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
)
from core.decoders.jsonbits import (
    NOT_JSON,
    Recent,
    error,
    first_objects,
    parse,
    short,
    text_frame,
    value_of,
)
from core.events import Direction, Opcode

NAME = "graphql"
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
CLOSE_CODES = {
    4400: "bad request",
    4401: "unauthorized",
    4403: "forbidden",
    4406: "subprotocol not acceptable",
    4408: "connection initialisation timeout",
    4409: "subscriber already exists",
    4429: "too many initialisation requests",
    4499: "terminated",
    4500: "internal server error",
}
# type -> kind, for both dialects (the directions decide complete's meaning below)
KINDS = {
    "connection_init": Kind.CONNECT,
    "connection_ack": Kind.CONNECT,
    "connection_error": Kind.ERROR,
    "connection_terminate": Kind.CONTROL,
    "ping": Kind.HEARTBEAT,
    "pong": Kind.HEARTBEAT,
    "ka": Kind.HEARTBEAT,
    "subscribe": Kind.SUBSCRIBE,
    "start": Kind.SUBSCRIBE,
    "next": Kind.EVENT,
    "data": Kind.EVENT,
    "error": Kind.ERROR,
    "complete": Kind.CONTROL,
    "stop": Kind.UNSUBSCRIBE,
}
LEGACY_ONLY = frozenset({"ka", "start", "data", "stop", "connection_terminate",
                         "connection_error"})
MODERN_ONLY = frozenset({"ping", "pong", "subscribe", "next"})
ENDS = frozenset({"complete", "stop", "error"})  # an operation's last message


def close_code_text(code: int) -> str:
    """A GraphQL close code in words ("4408 connection initialisation timeout")."""
    return f"{code} {CLOSE_CODES[code]}" if code in CLOSE_CODES else str(code)


def operation_name(payload: Any) -> str | None:
    """operationName, else the first words of the query ("subscription OnMessage")."""
    if not isinstance(payload, dict):
        return None
    name = payload.get("operationName")
    if isinstance(name, str) and name:
        return name
    query = payload.get("query")
    if isinstance(query, str):
        match = _OPERATION.match(query)
        if match:
            return " ".join(part for part in match.groups() if part)
        return "query" if query.lstrip().startswith("{") else None  # the shorthand form
    return None


# "mutation Add($a: Int)" -> ("mutation", "Add"); "subscription {" -> ("subscription", None)
_OPERATION = re.compile(r"\s*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?")


class GraphQLSession:
    def __init__(self, dialect: str, init_payload: Any = None) -> None:
        self.dialect = dialect
        self.init_payload = init_payload
        self.operations = Recent()  # operation id -> name, until the operation ends

    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode is Opcode.CLOSE:
            return (self._close(frame),)
        value = parse(frame)
        if value is NOT_JSON or not isinstance(value, dict):
            if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
                return ()
            return (error(NAME, "not a JSON object", frame, dialect=self.dialect),)
        kind_name = value.get("type")
        if not isinstance(kind_name, str) or kind_name not in KINDS:
            return (error(NAME, f"unknown message type {short(kind_name, 40)}", frame,
                          dialect=self.dialect),)
        if kind_name in LEGACY_ONLY:
            self.dialect = LEGACY_WS
        elif kind_name in MODERN_ONLY:
            self.dialect = TRANSPORT_WS
        return (self._message(frame, kind_name, value),)

    def _message(self, frame: Frame, kind_name: str, value: dict[str, Any]) -> Message:
        ident = value.get("id")
        op = str(ident) if isinstance(ident, (str, int)) and not isinstance(ident, bool) else None
        payload = value.get("payload")
        kind = KINDS[kind_name]
        if kind_name == "complete" and frame.direction is Direction.OUT:
            kind = Kind.UNSUBSCRIBE  # the client ends a subscription
        name = None
        if kind is Kind.SUBSCRIBE:
            name = operation_name(payload)
            if op is not None:
                self.operations.put(op, name)
        elif op is not None:
            # The server's last message ends the operation; after the client's complete/stop,
            # results already in flight (and the legacy server's complete) keep the name.
            ends = kind_name in ENDS and frame.direction is Direction.IN
            name = (self.operations.pop if ends else self.operations.get)(op)
        parts = [kind_name]
        if op is not None:
            parts.append(op)
        if name:
            parts.append(name)
        if payload is not None and kind is not Kind.SUBSCRIBE:
            parts.append(short(payload))
        # The client's complete/stop gets no reply: no correlation, so nothing waits for one.
        corr = None if op is None or kind is Kind.UNSUBSCRIBE else f"op:{op}"
        return Message(NAME, kind, " ".join(parts), frame.direction, name or kind_name,
                       name or op, corr, kind is Kind.HEARTBEAT, payload,
                       {"dialect": self.dialect, "type": kind_name, "id": op})

    def _close(self, frame: Frame) -> Message:
        data = frame.payload
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        reason = data[2:].decode("utf-8", errors="replace")
        words = close_code_text(code) if code is not None else "no code"
        summary = f"close {words}" + (f": {reason}" if reason else "")
        kind = Kind.ERROR if code is not None and code >= 4400 else Kind.CONTROL
        return Message(NAME, kind, summary, frame.direction, "close", payload=reason,
                       fields={"dialect": self.dialect, "code": code,
                               "meaning": CLOSE_CODES.get(code or 0)})

    def on_open(self) -> Sequence[Outgoing]:
        init: dict[str, Any] = {"type": "connection_init"}
        if self.init_payload is not None:
            init["payload"] = self.init_payload
        return (text_frame(init),)

    def ready(self, message: Message) -> bool | None:
        """`connection_ack` (both dialects) completes the handshake; `connection_error` or a
        close with a 44xx code (4401 unauthorized, 4403 forbidden) refuses it."""
        if message.direction is not Direction.IN or message.protocol != NAME:
            return None
        kind_name = message.fields.get("type")
        if kind_name == "connection_ack":
            return True
        if kind_name == "connection_error" or (message.kind is Kind.ERROR
                                               and message.name == "close"):
            return False
        return None

    def answer(self, message: Message) -> Sequence[Outgoing]:
        if (message.protocol == NAME and message.direction is Direction.IN
                and message.fields.get("type") == "ping"):
            pong: dict[str, Any] = {"type": "pong"}
            if message.payload is not None:
                pong["payload"] = message.payload
            return (text_frame(pong),)
        return ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return ()


class GraphQLDecoder:
    name = NAME
    title = "GraphQL over WebSocket (graphql-transport-ws, graphql-ws)"
    subprotocols: tuple[str, ...] = (TRANSPORT_WS, LEGACY_WS)

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if handshake.subprotocol in self.subprotocols:
            return EXACT_SUBPROTOCOL
        objects = first_objects(first)
        shaped = bool(objects) and all(obj.get("type") in KINDS for obj in objects)
        path = urlsplit(handshake.url).path if "://" in handshake.url else handshake.url
        if path.rstrip("/").endswith(("/graphql", "/subscriptions")):
            return URL_SIGNATURE + (5 if shaped else 0)
        return FIRST_FRAMES + 5 if shaped else NOT_MINE

    def session(self, handshake: Handshake,
                options: Mapping[str, Any] | None = None) -> GraphQLSession:
        """`options`: "init_payload", the connection_init payload (a JSON value, or its JSON
        text as a profile stores it); ValueError in words when that text is not JSON."""
        dialect = LEGACY_WS if handshake.subprotocol == LEGACY_WS else TRANSPORT_WS
        payload = (options or {}).get("init_payload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError as exc:
                raise ValueError(f"init_payload is not JSON: {exc}") from None
        return GraphQLSession(dialect, payload)

    def templates(self) -> Mapping[str, str]:
        sub = ('{"id": "{{id}}", "type": "%s", "payload": {"query": "{{query}}", '
               '"variables": {{variables}}}}')
        return {
            "subscribe": sub % "subscribe",
            "complete": '{"id": "{{id}}", "type": "complete"}',
            "start (legacy graphql-ws)": sub % "start",
            "stop (legacy graphql-ws)": '{"id": "{{id}}", "type": "stop"}',
        }

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        kind = template.split(" ", 1)[0]
        if template not in self.templates():
            raise ValueError(f"no template {template!r} for {NAME}")
        ident = str(value_of(values, "id", "1"))
        if kind in ("complete", "stop"):
            return (text_frame({"id": ident, "type": kind}),)
        payload: dict[str, Any] = {"query": value_of(values, "query")}
        variables = value_of(values, "variables", None, as_json=True)
        if variables is not None:
            if not isinstance(variables, dict):
                raise ValueError("variables must be a JSON object")
            payload["variables"] = variables
        name = value_of(values, "operationName", None)
        if name:
            payload["operationName"] = name
        return (text_frame({"id": ident, "type": kind, "payload": payload}),)


decoder = GraphQLDecoder()
