"""What the inspector shows: a frame filter (connection, direction, text or regex, JSON type,
and the decoded message's kind, name or topic, with heartbeats hidden or not).

Plain Python, no Qt: the model runs `FrameFilter.predicate()` over the incoming batch on every
tick and over all rows only when the filter itself changes (a QSortFilterProxyModel would call
back into Python for every row on every change, which is far slower on 100k rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.codecs import message_type
from core.decoders.api import Message
from core.events import Direction, FrameEvent, Opcode
from ui.conn_rows import ConnectionRow

SEARCH_BYTES = 64 * 1024  # free text is searched in the first 64 KiB of a payload
_MSGPACK_MAP = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])  # fixmap, map16, map32 markers


class InvalidFilter(ValueError):
    """The filter cannot be applied (an invalid regular expression); the text says why."""


def frame_type(event: FrameEvent) -> str | None:
    """The JSON (or MessagePack) `type` field, with cheap byte checks before any parsing."""
    op = event.opcode
    payload = event.payload
    if op is Opcode.TEXT:
        if b'"type"' not in payload:
            return None
    elif op is Opcode.BINARY:
        if not payload or payload[0] not in _MSGPACK_MAP or b"type" not in payload:
            return None
    else:
        return None
    return message_type(op, payload)


def haystack(event: FrameEvent) -> str:
    """The text that free-text search looks at: the text, or hex plus Latin-1 of binary data."""
    head = event.payload[:SEARCH_BYTES]
    if event.opcode is Opcode.BINARY:
        return head.hex(" ") + "\n" + head.decode("latin-1")
    return head.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class FrameFilter:
    """Everything set to its empty value shows all frames."""

    conn_ids: frozenset[int] | None = None  # None: every connection
    direction: Direction | None = None
    text: str = ""
    regex: bool = False
    case_sensitive: bool = False
    json_type: str | None = None
    conn_events: bool = True  # show connection events (opens, closes, retries, errors)
    kind: str | None = None  # a decoded message of this core.decoders.api.Kind
    name: str = ""  # in a decoded message's event/method name or topic (any case)
    hide_heartbeats: bool = False  # protocol pings and pongs, WebSocket ones too

    @property
    def is_empty(self) -> bool:
        return (
            self.conn_ids is None
            and self.direction is None
            and not self.text
            and self.json_type is None
            and self.conn_events
            and not self.needs_decoding
        )

    @property
    def needs_decoding(self) -> bool:
        """Whether rows must be decoded to be judged (the model then scans in turns)."""
        return self.kind is not None or bool(self.name) or self.hide_heartbeats

    def compile_text(self) -> Callable[[str], bool] | None:
        """A matcher for the free text, or None when there is none; InvalidFilter on bad regex."""
        if not self.text:
            return None
        if self.regex:
            try:
                pattern = re.compile(self.text, 0 if self.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                where = f" at position {exc.pos}" if exc.pos is not None else ""
                raise InvalidFilter(f"invalid regular expression: {exc.msg}{where}") from None
            return lambda s: pattern.search(s) is not None
        if self.case_sensitive:
            needle = self.text
            return lambda s: needle in s
        folded = self.text.casefold()
        return lambda s: folded in s.casefold()

    def predicate(
        self,
        type_of: Callable[[int], str | None],
        messages_of: Callable[[int, FrameEvent], Sequence[Message]] | None = None,
    ) -> Callable[[int, FrameEvent], bool]:
        """`accept(seq, event)`; `type_of(seq)` gives the (cached) JSON type of a stored row,
        `messages_of(seq, event)` what it decodes to (needed when `needs_decoding`)."""
        text = self.compile_text()
        decoded = self._decoded_test(messages_of) if self.needs_decoding else None
        conn_ids = self.conn_ids
        direction = self.direction
        json_type = self.json_type
        # A frame whose raw bytes do not contain the type string cannot have that type unless
        # JSON escapes spell it differently: such rows are rejected without parsing.
        type_json = json.dumps(json_type, ensure_ascii=False).encode() if json_type else b""
        type_raw = json_type.encode() if json_type else b""
        # they have no JSON type and decode to nothing
        conn_events = self.conn_events and json_type is None and self.kind is None and not self.name

        def accept(seq: int, event: FrameEvent) -> bool:
            if conn_ids is not None and event.conn_id not in conn_ids:
                return False
            if type(event) is ConnectionRow:  # shown whatever the direction
                return conn_events and (text is None or text(event.summary))
            if direction is not None and event.direction is not direction:
                return False
            if json_type is not None:
                payload = event.payload
                if event.opcode is Opcode.BINARY:
                    if type_raw not in payload:
                        return False
                elif type_json not in payload and b"\\" not in payload:
                    return False
                if type_of(seq) != json_type:
                    return False
            if decoded is not None and not decoded(seq, event):
                return False
            return text is None or text(haystack(event))

        return accept

    def _decoded_test(
        self, messages_of: Callable[[int, FrameEvent], Sequence[Message]] | None
    ) -> Callable[[int, FrameEvent], bool]:
        if messages_of is None:
            raise ValueError("a filter on decoded messages needs messages_of")
        kind, hide = self.kind, self.hide_heartbeats
        name = self.name.casefold()
        heartbeat_ops = (Opcode.PING, Opcode.PONG)

        def matches(m: Message) -> bool:
            if kind is not None and m.kind != kind:
                return False
            if name and name not in (m.name or "").casefold() and name not in (
                m.topic or ""
            ).casefold():
                return False
            return not (hide and m.heartbeat)

        def accept(seq: int, event: FrameEvent) -> bool:
            if hide and event.opcode in heartbeat_ops:
                return False
            messages = messages_of(seq, event)
            if not messages:  # raw frames: only the heartbeat toggle has nothing to say
                return kind is None and not name
            return any(map(matches, messages))

        return accept
