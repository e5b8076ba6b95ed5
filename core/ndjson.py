"""Events as one JSON object per line: the CLI's output and the recording export format."""

from __future__ import annotations

import base64
from typing import Any

from core.events import (
    ConnectionAdded,
    ErrorEvent,
    Event,
    FrameEvent,
    HandshakeInfo,
    LatencySample,
    Opcode,
    ProtocolDetected,
    QueueDropped,
    QueueFlushed,
    RequestFinished,
    StateChanged,
)


def event_to_json(event: Event) -> dict[str, Any]:
    """One NDJSON record; text payloads in full, binary ones as base64."""
    base: dict[str, Any] = {"time": round(event.time, 6), "conn": event.conn_id}
    if isinstance(event, FrameEvent):
        record = {"event": "frame", **base, "dir": event.direction.value,
                  "type": event.opcode.label, "size": event.size}
        if event.opcode is Opcode.TEXT:
            record["text"] = event.payload.decode("utf-8", errors="replace")
        elif event.opcode is Opcode.CLOSE and len(event.payload) >= 2:
            record["code"] = int.from_bytes(event.payload[:2], "big")
            record["reason"] = event.payload[2:].decode("utf-8", errors="replace")
        elif event.payload:
            record["base64"] = base64.b64encode(event.payload).decode()
        return record
    if isinstance(event, StateChanged):
        return {"event": "state", **base, "from": event.old.value, "to": event.new.value,
                "attempt": event.attempt, "retry_in": event.retry_in,
                "close_code": event.close_code, "close_reason": event.close_reason,
                "error": event.error}
    if isinstance(event, LatencySample):
        return {"event": "rtt", **base, "kind": event.kind, "rtt_ms": round(event.rtt * 1e3, 3)}
    if isinstance(event, ErrorEvent):
        return {"event": "error", **base, "kind": event.kind, "message": event.message}
    if isinstance(event, QueueDropped):
        return {"event": "queue_dropped", **base, "dropped_total": event.dropped_total}
    if isinstance(event, QueueFlushed):
        return {"event": "queue_flushed", **base, "count": event.count}
    if isinstance(event, ConnectionAdded):
        return {"event": "connection", **base, "url": event.url, "name": event.name}
    if isinstance(event, RequestFinished):
        rtt = None if event.rtt is None else round(event.rtt * 1e3, 3)
        return {"event": "request", **base, "request_id": event.request_id, "rtt_ms": rtt,
                "error": event.error}
    if isinstance(event, HandshakeInfo):
        return {"event": "handshake", **base, "url": event.url, "status": event.status,
                "request_headers": [list(pair) for pair in event.request_headers],
                "response_headers": [list(pair) for pair in event.response_headers],
                "subprotocol": event.subprotocol, "extensions": list(event.extensions),
                "tls_version": event.tls_version, "peer_certificate": event.peer_certificate}
    if isinstance(event, ProtocolDetected):
        return {"event": "protocol", **base, "protocol": event.protocol, "title": event.title,
                "score": event.score, "client": event.client, "overridden": event.overridden,
                "note": event.note}
    return {"event": type(event).__name__, **base}
