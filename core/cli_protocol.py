"""The `connect` command's decoded output: each frame's NDJSON line gains the fields of the
messages it carried, and each matched pair gets a line of its own.

A decoder fed by the connection hands every message to `take()` as it is decoded, which happens
synchronously right after the frame's event is published, so by the time the CLI prints that
frame its messages are here (keyed by direction and the frame's time, the same float). A lazy
decoder is not fed: its frames are decoded here, one by one, as they are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.connection import Connection
from core.decoders.api import Message
from core.decoders.layer import decode_frame, is_lazy
from core.decoders.pairing import label
from core.events import Direction, Event, FrameEvent, MessagesDecoded, Opcode, PairsMatched
from core.ndjson import event_to_json

MAX_WAITING = 10_000  # frames whose messages wait to be printed (a slow stdout drops the oldest)
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CLOSE)


def message_fields(message: Message) -> dict[str, Any]:
    return {"protocol": message.protocol, "kind": message.kind.value, "name": message.name,
            "topic": message.topic, "correlation": message.correlation,
            "heartbeat": message.heartbeat, "summary": message.summary}


class DecodedOutput:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._waiting: dict[tuple[Direction, float], list[Message]] = {}
        conn.decoded_listener = self.take

    def take(self, at: float, message: Message) -> None:
        key = (message.direction, at)
        found = self._waiting.get(key)
        if found is None:
            if len(self._waiting) >= MAX_WAITING:
                del self._waiting[next(iter(self._waiting))]
            self._waiting[key] = [message]
        else:
            found.append(message)

    def records(self, event: Event) -> Iterator[dict[str, Any]]:
        """The NDJSON records of one event (none for MessagesDecoded: its messages are on
        their frames' lines)."""
        if isinstance(event, MessagesDecoded):
            return
        if isinstance(event, PairsMatched):
            for pair in event.pairs:
                yield {"event": "pair", "time": round(event.time, 6), "conn": event.conn_id,
                       "name": label(pair.request),
                       "correlation": pair.request.correlation,
                       "latency_ms": round(pair.latency * 1e3, 3)}
            return
        record = event_to_json(event)
        if isinstance(event, FrameEvent) and event.opcode in _DATA:
            decoded = self._messages(event)
            if decoded:
                record.update(message_fields(decoded[0]))
                if len(decoded) > 1:
                    record["messages"] = [message_fields(m) for m in decoded]
        yield record

    def _messages(self, event: FrameEvent) -> list[Message]:
        found = self._waiting.pop((event.direction, event.time), None)
        if found is not None:
            return found
        layer = self.conn.protocol
        decoder = layer.decoder if layer is not None else None
        if decoder is None or not is_lazy(decoder) or event.opcode is Opcode.CLOSE:
            return []
        return decode_frame(decoder.name, event.opcode, event.payload, event.direction,
                            event.time, layer.registry if layer is not None else None)
