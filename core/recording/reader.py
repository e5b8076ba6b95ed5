"""Reading a recording back: listing, browsing frames with filters, exporting NDJSON."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.events import (
    ConnectionAdded,
    Direction,
    FrameEvent,
    HandshakeInfo,
    Opcode,
    StateChanged,
)
from core.handshake import handshake_from_json
from core.ndjson import event_to_json
from core.paths import recordings_dir
from core.states import ConnState


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: Path
    started: float
    frames: int
    connections: int
    gaps: int  # rows lost to overflow, written explicitly


def list_recordings(directory: Path | None = None) -> list[RecordingInfo]:
    """Newest first; files that are not readable recordings are skipped."""
    infos = []
    for path in sorted((directory or recordings_dir()).glob("*.sqlite"), reverse=True):
        try:
            with Recording(path) as rec:
                infos.append(rec.info())
        except sqlite3.DatabaseError:
            continue
    return infos


class Recording:
    """Read-only view of one recording file (safe while the writer is still appending)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no recording at {self.path}")
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def info(self) -> RecordingInfo:
        db = self._db
        started = db.execute("SELECT value FROM meta WHERE key='started'").fetchone()
        return RecordingInfo(
            self.path,
            float(started[0]) if started else 0.0,
            db.execute("SELECT count(*) FROM frames").fetchone()[0],
            db.execute("SELECT count(*) FROM connections").fetchone()[0],
            db.execute("SELECT coalesce(sum(dropped), 0) FROM gaps").fetchone()[0],
        )

    def connections(self) -> list[ConnectionAdded]:
        rows = self._db.execute("SELECT conn_id, added, url, name FROM connections ORDER BY 1")
        return [ConnectionAdded(c, t, u, n) for c, t, u, n in rows]

    def frames(
        self,
        conn_id: int | None = None,
        direction: Direction | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> Iterator[FrameEvent]:
        where: list[str] = []
        args: list[object] = []
        if conn_id is not None:
            where.append("conn_id = ?")
            args.append(conn_id)
        if direction is not None:
            where.append("direction = ?")
            args.append(direction.value)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        sql = "SELECT conn_id, time, direction, opcode, payload FROM frames"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for conn, when, direction_, opcode, payload in self._db.execute(sql, args):
            yield FrameEvent(conn, when, Direction(direction_), Opcode(opcode), bytes(payload))

    def payload_of(
        self, conn_id: int, time: float, direction: Direction, size: int, prefix: bytes = b""
    ) -> bytes | None:
        """The payload of one frame, found by what a view still knows of it (the inspector keeps
        only a preview of large frames), through the index frames_conn(conn_id, time); None
        when it is not (or not yet: the writer works in batches) in the file. `prefix`, the
        payload's first bytes, tells apart frames of the same size stamped at the same time."""
        sql = (
            "SELECT payload FROM frames WHERE conn_id = ? AND time = ? AND direction = ?"
            " AND size = ?"
        )
        args: list[object] = [conn_id, time, direction.value, size]
        if prefix:
            sql += " AND substr(payload, 1, ?) = ?"
            args += [len(prefix), prefix]
        row = self._db.execute(sql + " ORDER BY id LIMIT 1", args).fetchone()
        return bytes(row[0]) if row is not None else None

    def states(self) -> Iterator[StateChanged]:
        rows = self._db.execute(
            "SELECT conn_id, time, old, new, attempt, retry_in, close_code, close_reason, error"
            " FROM states ORDER BY id"
        )
        for conn, when, old, new, attempt, retry_in, code, reason, error in rows:
            yield StateChanged(conn, when, ConnState(old), ConnState(new), attempt, retry_in,
                               code, reason or "", error)

    def handshakes(self) -> Iterator[HandshakeInfo]:
        """The opening handshakes (secrets masked when recorded), rejected ones included."""
        rows = self._db.execute(
            "SELECT conn_id, time, detail FROM notes WHERE kind = 'handshake' ORDER BY id"
        )
        for conn, when, detail in rows:
            yield handshake_from_json(conn, when, detail)

    def export_ndjson(self, out: IO[str]) -> int:
        """Connections, then handshakes, state changes and frames in time order, then gaps;
        returns lines."""
        lines = 0
        for conn in self.connections():
            out.write(json.dumps(event_to_json(conn), ensure_ascii=False) + "\n")
            lines += 1
        events: Iterator[HandshakeInfo | StateChanged | FrameEvent] = heapq.merge(
            self.handshakes(), self.states(), self.frames(), key=lambda e: e.time)
        for event in events:
            out.write(json.dumps(event_to_json(event), ensure_ascii=False) + "\n")
            lines += 1
        for when, dropped in self._db.execute("SELECT time, dropped FROM gaps ORDER BY id"):
            out.write(json.dumps({"event": "gap", "time": when, "dropped": dropped}) + "\n")
            lines += 1
        return lines
