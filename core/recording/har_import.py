"""Reading HAR files with WebSocket messages: into a new recording, or into a profile.

Chrome DevTools, Firefox, HTTP Toolkit and mitmproxy all write `_webSocketMessages` items of
`{type, time, opcode, data}`; an entry is a WebSocket when it has them, says
`_resourceType: "websocket"`, has a ws:// or wss:// URL, or got a 101 response. Liberal in what
it accepts (a missing time is the previous one, missing data is empty, other entries are
skipped), strict in what it trusts: a value of the wrong type is one `HarError` naming where it
is (`log.entries[3]._webSocketMessages[10].opcode: expected 1 or 2`), and nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.config import ConnectionConfig
from core.events import Direction, FrameEvent, HandshakeInfo, Opcode
from core.handshake import handshake_to_json
from core.recorder import SCHEMA, SCHEMA_VERSION

MAX_HAR_BYTES = 512 * 2**20  # parsed whole: a bigger file would need several GB of memory
_OPCODE_NAMES = {0: "continuation", 8: "close", 9: "ping", 10: "pong"}
# Request headers a profile does not keep: the handshake's own, and browser noise.
_HANDSHAKE_HEADERS = {
    "host", "upgrade", "connection", "origin", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "content-length", "pragma",
    "cache-control", "accept-encoding", "transfer-encoding",
}
_SECRET_WORDS = ("authorization", "cookie", "token", "key", "secret", "password", "session")


class HarError(ValueError):
    """The file is not a HAR we can read; the message says what is wrong and where."""


@dataclass(frozen=True, slots=True)
class HarConnection:
    """One WebSocket entry, validated; `frames` are data frames with conn_id = `conn_id`."""

    conn_id: int  # 1, 2, ... in the order of the WebSocket entries
    entry: int  # its index in log.entries
    url: str
    name: str
    started: float
    request_headers: tuple[tuple[str, str], ...]
    status: int | None
    response_headers: tuple[tuple[str, str], ...]
    frames: list[FrameEvent]
    close_code: int | None = None
    close_reason: str = ""
    closed: float | None = None


@dataclass(frozen=True, slots=True)
class HarLog:
    connections: list[HarConnection]
    skipped_by_type: dict[str, int] = field(default_factory=dict)  # messages not imported
    skipped_entries: int = 0  # plain HTTP entries


@dataclass(frozen=True, slots=True)
class ImportResult:
    connections: int
    frames: int
    skipped_by_type: dict[str, int]
    skipped_entries: int = 0


def read_har(path: str | Path) -> HarLog:
    """Parse and validate a HAR file; raises HarError (or OSError when it cannot be read)."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_HAR_BYTES:
        raise HarError(f"{path.name}: {size / 2**20:.0f} MB is more than the "
                       f"{MAX_HAR_BYTES // 2**20} MB a HAR may have here")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except UnicodeDecodeError as exc:
        raise HarError(f"{path.name}: not UTF-8 text ({exc.reason}): not a HAR file") from None
    except json.JSONDecodeError as exc:
        raise HarError(f"{path.name}: not valid JSON at line {exc.lineno}, column {exc.colno}:"
                       f" {exc.msg}") from None
    try:
        return _parse_log(data)
    except HarError as exc:
        raise HarError(f"{path.name}: {exc}") from None


def _parse_log(data: Any) -> HarLog:
    log = _get(data, "log", dict, "")
    entries = _get(log, "entries", list, "log")
    connections: list[HarConnection] = []
    skipped: Counter[str] = Counter()
    others = 0
    for index, entry in enumerate(entries):
        where = f"log.entries[{index}]"
        if not isinstance(entry, dict):
            raise HarError(f"{where}: expected an object, got {_kind(entry)}")
        if not _is_websocket(entry, where):
            others += 1
            continue
        connections.append(_parse_entry(entry, where, index, len(connections) + 1, skipped))
    return HarLog(connections, dict(skipped), others)


def _is_websocket(entry: dict[str, Any], where: str) -> bool:
    if "_webSocketMessages" in entry or entry.get("_resourceType") == "websocket":
        return True
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    if isinstance(url, str) and url.lower().startswith(("ws://", "wss://")):
        return True
    response = entry.get("response")
    return isinstance(response, dict) and response.get("status") == 101


def _parse_entry(
    entry: dict[str, Any], where: str, index: int, conn_id: int, skipped: Counter[str]
) -> HarConnection:
    request = _get(entry, "request", dict, where)
    url = _get(request, "url", str, f"{where}.request")
    response = entry.get("response") or {}
    if not isinstance(response, dict):
        raise HarError(f"{where}.response: expected an object, got {_kind(response)}")
    status = response.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise HarError(f"{where}.response.status: expected a number, got {_kind(status)}")
    messages = entry.get("_webSocketMessages") or []
    if not isinstance(messages, list):
        raise HarError(f"{where}._webSocketMessages: expected a list, got {_kind(messages)}")
    started = _started(entry.get("startedDateTime"), messages)
    frames = _parse_messages(messages, f"{where}._webSocketMessages", conn_id, started, skipped)
    close = entry.get("_webSocketClose")
    code, reason, closed = _parse_close(close, f"{where}._webSocketClose")
    comment = entry.get("comment")
    name = comment if isinstance(comment, str) else ""
    return HarConnection(
        conn_id, index, url, name, started,
        _parse_headers(request.get("headers"), f"{where}.request.headers"),
        status if status else None,
        _parse_headers(response.get("headers"), f"{where}.response.headers"),
        frames, code, reason, closed,
    )  # fmt: skip


def _parse_messages(
    messages: list[Any], where: str, conn_id: int, started: float, skipped: Counter[str]
) -> list[FrameEvent]:
    frames = []
    when = started
    for i, message in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(message, dict):
            raise HarError(f"{at}: expected an object, got {_kind(message)}")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise HarError(f'{at}.type: expected "send" or "receive", got {_kind(kind)}')
        raw_time = message.get("time")
        raw_time = when if raw_time is None else raw_time
        if not _is_number(raw_time):
            raise HarError(f"{at}.time: expected a number (epoch seconds), got {_kind(raw_time)}")
        when = float(raw_time)
        opcode = message.get("opcode")
        opcode = 1 if opcode is None else opcode
        if not _is_number(opcode) or opcode != int(opcode):
            raise HarError(f"{at}.opcode: expected 1 or 2, got {_kind(opcode)}")
        opcode = int(opcode)
        if kind not in ("send", "receive"):
            skipped[f"type {kind}"] += 1
            continue
        if opcode not in (1, 2):
            skipped[f"opcode {opcode} ({_OPCODE_NAMES.get(opcode, 'unknown')})"] += 1
            continue
        direction = Direction.OUT if kind == "send" else Direction.IN
        frames.append(FrameEvent(conn_id, when, direction, Opcode(opcode),
                                 _payload(message.get("data"), opcode, at)))
    return frames


def _payload(data: Any, opcode: int, at: str) -> bytes:
    if data is None:
        return b""
    if not isinstance(data, str):
        raise HarError(f"{at}.data: expected a string, got {_kind(data)}")
    if opcode == 1:
        return data.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except binascii.Error:
        raise HarError(f"{at}.data: a binary message (opcode 2) must be base64") from None


def _parse_close(close: Any, where: str) -> tuple[int | None, str, float | None]:
    if close is None:
        return None, "", None
    if not isinstance(close, dict):
        raise HarError(f"{where}: expected an object, got {_kind(close)}")
    code, reason, when = close.get("code"), close.get("reason") or "", close.get("time")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise HarError(f"{where}.code: expected a number, got {_kind(code)}")
    if not isinstance(reason, str):
        raise HarError(f"{where}.reason: expected a string, got {_kind(reason)}")
    return code, reason, float(when) if _is_number(when) else None


def _parse_headers(headers: Any, where: str) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if not isinstance(headers, list):
        raise HarError(f"{where}: expected a list, got {_kind(headers)}")
    pairs = []
    for i, header in enumerate(headers):
        if not isinstance(header, dict):
            raise HarError(f"{where}[{i}]: expected an object, got {_kind(header)}")
        name, value = header.get("name"), header.get("value", "")
        if not isinstance(name, str) or not isinstance(value, str):
            raise HarError(f"{where}[{i}]: expected a name and a value that are strings")
        pairs.append((name, value))
    return tuple(pairs)


def _started(stamp: Any, messages: list[Any]) -> float:
    """startedDateTime as epoch seconds; failing that, the first message's time."""
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    return float(first["time"]) if _is_number(first.get("time")) else 0.0


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    at = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise HarError(f"{where or 'top level'}: expected an object, got {_kind(obj)}"
                       + ("" if where else ": not a HAR file"))
    if key not in obj:
        raise HarError(f"{at}: missing" + ("" if where else ": not a HAR file"))
    value = obj[key]
    if not isinstance(value, kind):
        raise HarError(f"{at}: expected {_KIND_NAMES[kind]}, got {_kind(value)}")
    return value


_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return _KIND_NAMES.get(type(value), type(value).__name__)  # str was answered above


# ----- into a recording ----------------------------------------------------------------------


def import_har(har_path: str | Path, recording_path: str | Path) -> ImportResult:
    """Write the HAR's WebSocket connections as a NEW recording file (temp file, then rename):
    a bad HAR raises HarError and leaves nothing behind; an existing file is never replaced."""
    target = Path(recording_path)
    if target.exists():
        raise FileExistsError(f"{target} already exists: choose a new file for the import")
    har = read_har(har_path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        _write_recording(Path(temp), har)
        os.replace(temp, target)
    except BaseException:
        for leftover in (temp, temp + "-wal", temp + "-shm", temp + "-journal"):
            Path(leftover).unlink(missing_ok=True)
        raise
    frames = sum(len(c.frames) for c in har.connections)
    return ImportResult(len(har.connections), frames, har.skipped_by_type, har.skipped_entries)


def _write_recording(path: Path, har: HarLog) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(SCHEMA)  # rollback journal (not WAL): one self-contained file
        db.execute("BEGIN")
        started = min((c.started for c in har.connections), default=0.0)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)), ("started", repr(started)),
            ("imported_from", "har")])  # fmt: skip
        for conn in har.connections:
            _write_connection(db, conn)
        db.execute("COMMIT")
    finally:
        db.close()
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _write_connection(db: sqlite3.Connection, conn: HarConnection) -> None:
    cid = conn.conn_id
    db.execute("INSERT INTO connections VALUES (?,?,?,?)", (cid, conn.url, conn.name,
                                                             conn.started))
    db.executemany(
        "INSERT INTO frames (time, conn_id, direction, opcode, size, payload) VALUES (?,?,?,?,?,?)",
        ((f.time, cid, f.direction.value, int(f.opcode), len(f.payload), f.payload)
         for f in conn.frames),
    )
    last = max((f.time for f in conn.frames), default=conn.started)
    closed = conn.closed if conn.closed is not None else last
    db.executemany(
        "INSERT INTO states (time, conn_id, old, new, attempt, close_code, close_reason)"
        " VALUES (?,?,?,?,?,?,?)",
        [(conn.started, cid, "connecting", "open", 1, None, ""),
         (max(closed, conn.started), cid, "open", "closed", 1, conn.close_code,
          conn.close_reason)],
    )
    shake = HandshakeInfo(cid, conn.started, conn.url, conn.status or 101, conn.request_headers,
                          conn.response_headers, _header(conn.response_headers,
                                                         "sec-websocket-protocol"),
                          _extensions(conn.response_headers))
    db.execute("INSERT INTO notes (time, conn_id, kind, detail) VALUES (?,?,?,?)",
               (conn.started, cid, "handshake", handshake_to_json(shake)))


def _header(pairs: tuple[tuple[str, str], ...], name: str) -> str | None:
    return next((v for k, v in pairs if k.lower() == name), None)


def _extensions(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    value = _header(pairs, "sec-websocket-extensions") or ""
    return tuple(e.split(";")[0].strip() for e in value.split(",") if e.strip())


# ----- into a profile ------------------------------------------------------------------------


def profile_from_har(har_path: str | Path, index: int = 0) -> ConnectionConfig:
    """The `index`-th WebSocket connection of the HAR as connection settings: URL,
    subprotocols, Origin and the headers a user set, without the handshake's own headers and
    without secrets (Authorization, cookies, tokens: the file is not where they should live)."""
    har = read_har(har_path)
    if not 0 <= index < len(har.connections):
        raise HarError(f"{Path(har_path).name}: no WebSocket connection #{index} "
                       f"(it has {len(har.connections)})")
    return profile_of(har.connections[index])


def profile_of(conn: HarConnection) -> ConnectionConfig:
    headers = conn.request_headers
    protocols = _header(headers, "sec-websocket-protocol") or ""
    extensions = _header(headers, "sec-websocket-extensions")
    kept = [(k, v) for k, v in headers
            if k.lower() not in _HANDSHAKE_HEADERS and not k.startswith(":")
            and not _is_secret(k)]
    return ConnectionConfig(
        url=_without_secrets(conn.url),
        name=conn.name,
        headers=kept,
        subprotocols=[p.strip() for p in protocols.split(",") if p.strip()],
        origin=_header(headers, "origin"),
        compression=extensions is None or "permessage-deflate" in extensions,
    )


def _is_secret(name: str) -> bool:
    lower = name.lower()
    return any(word in lower for word in _SECRET_WORDS)


def _without_secrets(url: str) -> str:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not _is_secret(k)]
    if len(query) == len(pairs):
        return url  # as it was, encoding and all
    return urlunsplit(parts._replace(query=urlencode(query)))
