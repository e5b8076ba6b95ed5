"""Small pieces the JSON-speaking decoders share: parse a frame once, summarise a value in one
line, read a composer value, and a session for decoders that need no state of their own."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from core.decoders.api import Frame, Kind, Message, Outgoing
from core.events import Direction, Opcode

SUMMARY_CHARS = 80  # a value in a summary line is cut to this many characters


class NotJson:
    """The marker `parse` returns for a frame that is not JSON text (None is valid JSON)."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = NotJson()


def parse(frame: Frame) -> Any:
    """The frame's JSON value, or NOT_JSON (binary frames, bad UTF-8, bad JSON)."""
    if frame.opcode is not Opcode.TEXT:
        return NOT_JSON
    try:
        return json.loads(frame.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON


def short(value: Any, limit: int = SUMMARY_CHARS) -> str:
    """One line for a summary: compact JSON, cut with an ellipsis."""
    if isinstance(value, (bytes, bytearray)):
        text = f"<{len(value)} bytes>"
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_other)
        except (ValueError, RecursionError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _other(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return repr(value)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def text_frame(value: Any) -> Outgoing:
    return Outgoing(dumps(value), text=True)


def error(protocol: str, why: str, frame: Frame, **fields: Any) -> Message:
    """The message a malformed frame decodes to (never an exception)."""
    return Message(protocol, Kind.ERROR, f"malformed: {why}", frame.direction, fields=fields)


def value_of(values: Mapping[str, Any], key: str, default: Any = ..., as_json: bool = False) -> Any:
    """A composer value: strings are parsed as JSON when `as_json`; missing ones raise ValueError
    in words (unless a default is given)."""
    raw = values.get(key, default)
    if raw is ... or (raw == "" and default is ...):
        raise ValueError(f"{key} is required")
    if raw == "" and default is not ...:
        return default
    if as_json and isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{key} is not valid JSON: {exc}") from None
    return raw


def first_objects(first: Sequence[Frame], limit: int = 4) -> list[dict[str, Any]]:
    """The JSON objects among the first few data frames (batches unpacked), for scoring."""
    found: list[dict[str, Any]] = []
    for frame in first[:limit]:
        value = parse(frame)
        items = value if isinstance(value, list) else [value]
        found.extend(item for item in items[:limit] if isinstance(item, dict))
    return found


def by_server(is_request: bool, direction: Direction) -> bool:
    """Whether the server started this exchange: a request it sent, or a reply the client sent.
    Both ends number their requests independently (JSON-RPC in LSP and MCP, Socket.IO acks), so
    correlations carry who asked and a client's id 1 never meets the server's id 1."""
    return (direction is Direction.IN) == is_request


class Recent:
    """A bounded memory of key -> value (the oldest forgotten first), e.g. request id -> method,
    so a reply can be named after its request."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self._items.get(key, default)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        return self._items.pop(key, default)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class StatelessSession:
    """A session that decodes each frame on its own and never speaks as a client."""

    def __init__(self, decode: Callable[[Frame], Sequence[Message]]) -> None:
        self._decode = decode

    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return ()  # a close or ping frame holds no message (its bytes are not "malformed")
        return self._decode(frame)

    def on_open(self) -> Sequence[Outgoing]:
        return ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return ()
