"""HAR 1.2 export in Chrome DevTools' WebSocket format, written as it is read.

Chrome's format: one entry per connection with `_resourceType: "websocket"` and
`_webSocketMessages`, a list of `{type: "send"|"receive", time: epoch seconds, opcode: 1|2,
data}` (binary data in base64). Control frames are not messages there: pings and pongs are left
out, and the close goes to `_webSocketClose: {code, reason, time}` (our addition; Chrome has
none, and readers that do not know it ignore it). The connection's name goes to the entry's
`comment`, a HAR 1.2 field.

A recording can hold gigabytes: the file is written entry by entry and message by message, and
a recording's frames are read per connection from SQLite, never all held at once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from core.events import (
    ConnectionAdded,
    Direction,
    FrameEvent,
    HandshakeInfo,
    Opcode,
    StateChanged,
)
from core.recording.reader import Recording
from core.states import ConnState

CREATOR = {"name": "SocketScope", "version": "1"}


@dataclass(frozen=True, slots=True)
class _Close:
    code: int | None
    reason: str
    time: float


def export_recording_har(
    recording: Recording, out: IO[str], conn_ids: Iterable[int] | None = None
) -> int:
    """Write `recording` (or only the connections `conn_ids`) as HAR; returns the entries."""
    wanted = None if conn_ids is None else set(conn_ids)
    conns = [c for c in recording.connections() if wanted is None or c.conn_id in wanted]
    handshakes = {h.conn_id: h for h in recording.handshakes()}
    states: dict[int, list[StateChanged]] = {}
    for state in recording.states():
        states.setdefault(state.conn_id, []).append(state)
    entries = (
        (conn, handshakes.get(conn.conn_id), states.get(conn.conn_id, []),
         recording.frames(conn_id=conn.conn_id))
        for conn in conns
    )  # fmt: skip
    return _write_log(out, entries)


def export_events_har(
    out: IO[str],
    connections: Iterable[ConnectionAdded],
    frames: Iterable[FrameEvent],
    states: Iterable[StateChanged] = (),
    handshakes: Iterable[HandshakeInfo] = (),
) -> int:
    """Write events already in memory (the live view, a selection) as HAR; returns the entries.

    Frames are grouped per connection (references only, in the order given); a frame whose
    connection is not among `connections` still gets an entry, named by its id."""
    conns = {c.conn_id: c for c in connections}
    by_conn: dict[int, list[FrameEvent]] = {c: [] for c in conns}
    for frame in frames:
        by_conn.setdefault(frame.conn_id, []).append(frame)
    shakes = {h.conn_id: h for h in handshakes}
    by_state: dict[int, list[StateChanged]] = {}
    for state in states:
        by_state.setdefault(state.conn_id, []).append(state)
    entries = []
    for conn_id, conn_frames in by_conn.items():
        conn = conns.get(conn_id)
        if conn is None:
            first = conn_frames[0].time if conn_frames else 0.0
            url = shakes[conn_id].url if conn_id in shakes else ""
            conn = ConnectionAdded(conn_id, first, url, f"#{conn_id}")
        entries.append((conn, shakes.get(conn_id), by_state.get(conn_id, []), conn_frames))
    return _write_log(out, entries)


def _write_log(
    out: IO[str],
    entries: Iterable[
        tuple[ConnectionAdded, HandshakeInfo | None, list[StateChanged], Iterable[FrameEvent]]
    ],
) -> int:
    out.write('{"log": {"version": "1.2", "creator": ' + json.dumps(CREATOR)
              + ', "pages": [], "entries": [')
    count = 0
    for conn, handshake, states, frames in entries:
        out.write(",\n" if count else "\n")
        _write_entry(out, conn, handshake, states, frames)
        count += 1
    out.write("\n]}}\n")
    return count


def _write_entry(
    out: IO[str],
    conn: ConnectionAdded,
    handshake: HandshakeInfo | None,
    states: list[StateChanged],
    frames: Iterable[FrameEvent],
) -> None:
    head = json.dumps(_entry_head(conn, handshake, states), ensure_ascii=False)
    out.write(head[:-1] + ', "_webSocketMessages": [')
    close: _Close | None = None
    written = 0
    for frame in frames:
        if frame.opcode is Opcode.CLOSE:
            payload = frame.payload
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            close = _Close(code, payload[2:].decode("utf-8", errors="replace"), frame.time)
            continue
        if not frame.is_data:
            continue
        out.write(",\n" if written else "\n")
        out.write(json.dumps(message_of(frame), ensure_ascii=False))
        written += 1
    close = _close_of(states) or close
    out.write("]")
    if close is not None:
        out.write(', "_webSocketClose": ' + json.dumps(
            {"code": close.code, "reason": close.reason, "time": close.time},
            ensure_ascii=False))
    out.write("}")


def message_of(frame: FrameEvent) -> dict[str, Any]:
    """One data frame as a Chrome `_webSocketMessages` item."""
    if frame.opcode is Opcode.BINARY:
        data = base64.b64encode(frame.payload).decode("ascii")
    else:
        data = frame.payload.decode("utf-8", errors="replace")
    return {
        "type": "send" if frame.direction is Direction.OUT else "receive",
        "time": frame.time,
        "opcode": int(frame.opcode),
        "data": data,
    }


def _close_of(states: list[StateChanged]) -> _Close | None:
    """The last close with a code, from the state changes (they know both sides' closes)."""
    closed = [s for s in states if s.new in (ConnState.CLOSED, ConnState.WAITING)
              and s.close_code is not None]
    if not closed:
        return None
    last = closed[-1]
    return _Close(last.close_code, last.close_reason, last.time)


def _entry_head(
    conn: ConnectionAdded, handshake: HandshakeInfo | None, states: list[StateChanged]
) -> dict[str, Any]:
    url = handshake.url if handshake is not None and handshake.url else conn.url
    started = handshake.time if handshake is not None else _opened(states, conn.time)
    request_headers = handshake.request_headers if handshake is not None else ()
    response_headers = handshake.response_headers if handshake is not None else ()
    status = handshake.status if handshake is not None and handshake.status else 101
    entry: dict[str, Any] = {
        "startedDateTime": iso_time(started),
        "time": 0,
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(request_headers),
            "queryString": [{"name": k, "value": v}
                            for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": "Switching Protocols" if status == 101 else "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(response_headers),
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": 0,
                    "receive": 0, "ssl": -1},
        "_resourceType": "websocket",
    }
    if conn.name and conn.name != conn.url:
        entry["comment"] = conn.name
    return entry


def _opened(states: list[StateChanged], default: float) -> float:
    return next((s.time for s in states if s.new is ConnState.OPEN), default)


def _headers(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def iso_time(epoch: float) -> str:
    """HAR's startedDateTime: ISO 8601 in UTC with milliseconds, as Chrome writes it."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

