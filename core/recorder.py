"""Session recording: every frame and state change, appended to SQLite by one writer thread.

The inspector's view is bounded and may drop rows; the recording may not. Events are queued in
O(1) on the network thread and written in batched transactions (WAL), so a kill -9 loses at most
the batch being written and never corrupts the file. If the queue ever overflows, an explicit gap
row with the count is written: a drop is never silent.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

from core.backpressure import Backpressure
from core.events import (
    ConnectionAdded,
    Direction,
    ErrorEvent,
    Event,
    FrameEvent,
    HandshakeInfo,
    LatencySample,
    MessagesDecoded,
    Opcode,
    PairsMatched,
    ProtocolDetected,
    QueueDropped,
    QueueFlushed,
    RequestFinished,
    StateChanged,
)
from core.handshake import handshake_to_json
from core.hub import EventHub
from core.priority import Priority

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connections (
    conn_id INTEGER PRIMARY KEY, url TEXT NOT NULL, name TEXT NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, conn_id INTEGER NOT NULL,
    direction TEXT NOT NULL, opcode INTEGER NOT NULL, size INTEGER NOT NULL,
    payload BLOB NOT NULL, close_code INTEGER, close_reason TEXT);
CREATE TABLE IF NOT EXISTS states (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, conn_id INTEGER NOT NULL, old TEXT NOT NULL,
    new TEXT NOT NULL, attempt INTEGER NOT NULL, retry_in REAL, close_code INTEGER,
    close_reason TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, conn_id INTEGER, kind TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (id INTEGER PRIMARY KEY, time REAL NOT NULL,
    dropped INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS frames_conn ON frames(conn_id, time);
"""
# No index on frames(time) alone: frames are read in id order, which is arrival order, and
# keeping one cost the writer ~8% of its time in floods.


@dataclass(frozen=True, slots=True)
class RecorderStats:
    written: int  # rows committed
    queued: int  # rows waiting for the writer
    dropped: int  # rows lost to queue overflow (each loss is also a gap row in the file)
    batches: int
    holds: int  # times the connections' reads were held until the writer caught up
    holding: bool  # held right now


class Recorder:
    def __init__(
        self,
        path: str | Path,
        hub: EventHub | None = None,
        max_queue: int = 1_000_000,
        batch_rows: int = 1024,  # one statement of _FRAME_STEPS[0] rows
        batch_seconds: float = 0.1,
        hold_rows: int = 50_000,
        hold_bytes: int = 16 * 2**20,
    ) -> None:
        """Past `hold_rows` queued events or `hold_bytes` of queued payload the hub's
        backpressure holds the socket reads until half of it is written; `max_queue` is the
        last resort for events published regardless (past it they are dropped and counted)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: deque[Event] = deque()
        self._max_queue = max_queue
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._overflow = 0
        self._overflow_lock = threading.Lock()
        self._hold_rows, self._hold_bytes = hold_rows, hold_bytes
        self._batch_bytes = hold_bytes // 4  # queued payload that wakes the writer
        self._pushed_bytes = self._written_bytes = 0  # each written by one thread only
        # bytes (about) written to the WAL: in all, when the checkpointer was last asked for a
        # copy, and when the writer last copied the rest itself
        self._wal_bytes = self._asked = self._copied = 0
        self._checkpoint_due = threading.Event()
        self._checkpointing = threading.Lock()  # one copy at a time
        self._backpressure = hub.backpressure if hub is not None else Backpressure()
        self._priority = hub.priority if hub is not None else Priority()
        self._wakeup = threading.Event()
        self._closing = False
        self.written = self.dropped = self.batches = 0
        self._pushed = 0
        self._db = self._open()
        self._thread = threading.Thread(target=self._writer, name="recorder", daemon=True)
        self._thread.start()
        self._checkpoints = threading.Thread(target=self._checkpointer,
                                             name="recorder-checkpoint", daemon=True)
        self._checkpoints.start()
        self._unsubscribe = (hub.subscribe(self.push, self.push_frames) if hub is not None
                             else None)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # Large pages for a new file: a B-tree page of 4 KiB holds three 1 KiB frames and splits
        # every few rows; 64 KiB pages write 1 KiB frames 1.4-1.8x faster (an existing file
        # keeps its size).
        db.execute("PRAGMA page_size=65536")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash in WAL mode
        # A thread of its own checkpoints (_checkpointer): SQLite's own checkpoints, every 1,000
        # pages, copied the WAL into the file on the writer's thread in the middle of floods
        # (1 KiB frames: 140k -> 210k rows/s without them).
        db.execute("PRAGMA wal_autocheckpoint=0")
        # A multi-row INSERT inside a transaction keeps a statement journal of the pages it
        # changes, in a temporary file past 64 KiB (one page here), and a transaction larger than
        # the 2 MiB page cache spilled pages into the WAL and read them back: a 1 KiB flood wrote
        # 3.6 bytes and read 2 for each byte recorded. With statement journals in memory (one
        # statement's pages) and a cache that holds a whole transaction (_rows_within bounds it
        # by `hold_bytes`), the WAL gets each page once: 2.1 bytes written and 1 read, and ~15%
        # less CPU on this thread.
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute(f"PRAGMA cache_size=-{self._hold_bytes * 5 // 4 // 1024}")  # KiB
        db.executescript(SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        db.execute("INSERT OR IGNORE INTO meta VALUES ('started', ?)", (repr(time.time()),))
        return db

    def push(self, event: Event) -> None:
        """O(1) on the network thread; overflow is counted, never silent."""
        if len(self._queue) >= self._max_queue:
            with self._overflow_lock:
                self._overflow += 1
            return
        self._queue.append(event)
        self._pushed += 1
        if type(event) is FrameEvent:
            self._pushed_bytes += len(event.payload)
        self._pushed_some()

    def push_frames(self, frames: list[FrameEvent]) -> None:
        """One read's data frames (EventHub.publish_frames) in one step; near the queue's
        bound each goes through push(), which counts what does not fit."""
        queue = self._queue
        if len(queue) + len(frames) > self._max_queue:
            for frame in frames:
                self.push(frame)
            return
        queue.extend(frames)
        self._pushed += len(frames)
        self._pushed_bytes += sum(map(len, map(_PAYLOAD, frames)))
        self._pushed_some()

    def _pushed_some(self) -> None:
        # a batch's worth of rows, or of bytes: 1,024 frames of 1 MiB queued before the hold
        # below was even looked at took the process past 3 GB
        queue = self._queue
        if (
            len(queue) >= self._batch_rows
            or self._pushed_bytes - self._written_bytes >= self._batch_bytes
        ):
            if not self._wakeup.is_set():
                self._wakeup.set()  # once per batch, not once per event (set() takes a lock)
            if not self._backpressure.engaged and (
                len(queue) >= self._hold_rows
                or self._pushed_bytes - self._written_bytes >= self._hold_bytes
            ):
                self._backpressure.engage()

    def stats(self) -> RecorderStats:
        bp = self._backpressure
        return RecorderStats(self.written, len(self._queue), self.dropped, self.batches,
                             bp.holds, bp.engaged)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        target = self._pushed
        deadline = time.monotonic() + timeout
        while (self.written < target or self._overflow) and time.monotonic() < deadline:
            self._wakeup.set()
            time.sleep(0.005)

    def close(self) -> None:
        """Unsubscribe, write everything queued, and close the file (clean exit loses nothing)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._backpressure.release()  # nothing holds the connections back any more
        self._closing = True
        self._wakeup.set()
        self._thread.join()
        self._checkpoint_due.set()
        self._checkpoints.join()
        self._db.close()  # the last connection to close checkpoints all that is left

    # ----- the writer thread ----------------------------------------------------------------

    def _writer(self) -> None:
        try:
            while True:
                self._wakeup.wait(self._batch_seconds)
                self._wakeup.clear()
                closing = self._closing
                while self._queue or self._overflow:
                    self._write_batch()
                    self._ask_checkpoint()
                    if not closing and len(self._queue) < self._batch_rows:
                        break
                if closing and not self._queue:
                    return
        finally:  # a writer that stopped (closed, or failed) must never hold the network
            self._hold_rows = self._hold_bytes = 1 << 62
            self._backpressure.release()

    def _ask_checkpoint(self) -> None:
        """Every CHECKPOINT_EVERY bytes the checkpointer copies the WAL into the file, beside
        the writer. During a flood its copies never catch up (the writer appends meanwhile),
        and SQLite starts a WAL over only once all of it is copied: so every COPY_REST_EVERY
        bytes the writer copies the rest itself, between two transactions. The WAL then stays
        that size and the next writes land on pages the kernel already has; before, it grew by
        the whole flood (400 MB of 1 KiB frames took ~0.8 s more kernel time). Should the
        checkpointer be slow or gone, these copies still bound the WAL."""
        wal = self._wal_bytes
        if wal - self._copied >= COPY_REST_EVERY:
            self._copied = self._asked = wal  # the checkpointer's next copy counts from here
            with self._checkpointing:  # after a copy under way, which leaves less to copy
                self._checkpoint(self._db)
        elif wal - self._asked >= CHECKPOINT_EVERY:
            self._asked = wal
            self._checkpoint_due.set()

    def _write_batch(self) -> None:
        """One transaction of at most ten batches. Frames go in as multi-row statements of 1,024
        rows, their values gathered by C iterators (map, zip, chain): the writer holds the GIL
        for ~0.3 us a frame instead of ~1.5 us with a Python loop, time the network and the GUI
        threads need during a flood."""
        queue = self._queue
        count = min(len(queue), self._batch_rows * 10, self._rows_within(self._hold_bytes))
        with self._overflow_lock:
            overflow, self._overflow = self._overflow, 0
        popleft = queue.popleft
        events = [popleft() for _ in range(count)]
        frames = [event for event in events if type(event) is FrameEvent]
        db = self._db
        db.execute("BEGIN")
        try:
            self._insert_frames(frames)
            if len(frames) < count:
                self._insert_others([event for event in events if type(event) is not FrameEvent])
            if overflow:
                db.execute("INSERT INTO gaps (time, dropped) VALUES (?, ?)",
                           (time.time(), overflow))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.written += count
        payload = sum(map(len, map(_PAYLOAD, frames)))
        self._written_bytes += payload
        self._wal_bytes += payload + count * ROW_OVERHEAD
        self.dropped += overflow
        self.batches += 1
        if self._backpressure.engaged and (
            len(queue) <= self._hold_rows // 2
            and self._pushed_bytes - self._written_bytes <= self._hold_bytes // 2
        ):
            self._backpressure.release()

    def _rows_within(self, limit: int) -> int:
        """About how many queued events hold `limit` payload bytes (by their mean size, in O(1)):
        a transaction binds each large payload as a copy, so its bytes are bounded too."""
        queued = len(self._queue)
        payload = self._pushed_bytes - self._written_bytes
        if payload <= limit or not queued:
            return queued
        return max(1, limit * queued // payload)

    def _insert_chunked(
        self, sqls: dict[int, str], rows: list[Any], values_of: Callable[[list[Any]], list[Any]],
    ) -> None:
        """Insert `rows` as few multi-row statements as the steps allow. `values_of(part)` lays
        a part's column values out one after the other, per statement: C iterators do not let
        go of the GIL, and one over a whole batch of 1 KiB frames held it for ~5 ms. Before each
        statement the writer steps aside for a GUI redraw, unless it holds the reads: then it
        is the bottleneck, and the network is not competing anyway."""
        db, bp, step_aside = self._db, self._backpressure, self._priority.step_aside
        done = 0
        for step in _FRAME_STEPS:
            sql = sqls[step]
            while len(rows) - done >= step:
                if not bp.engaged:
                    step_aside()
                db.execute(sql, values_of(rows[done : done + step]))
                done += step

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> None:
        """As much as no reader still needs; SQLite starts the WAL over once it is all copied."""
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    # ----- the checkpointer thread ----------------------------------------------------------

    def _checkpointer(self) -> None:
        """Copies the WAL into the file beside the writer, on a connection of its own (SQLite
        lets a checkpoint run while a writer appends): a flood's writes never wait for it."""
        db = None
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                if self._closing:
                    return
                with self._checkpointing:
                    self._checkpoint(db)
        except sqlite3.Error:  # the writer's own copies still bound the WAL
            log.exception("recording: no checkpoints beside the writer any more")
        finally:
            if db is not None:
                db.close()

    def _insert_frames(self, frames: list[FrameEvent]) -> None:
        """In arrival order; a close frame's code and reason get columns of their own."""
        opcodes = list(map(_OPCODE, frames))
        start = at = 0  # the rows before `start` are in; the next close is searched after `at`
        for _ in range(opcodes.count(Opcode.CLOSE)):
            at = opcodes.index(Opcode.CLOSE, at) + 1
            close = frames[at - 1]
            if len(close.payload) < 2:  # no code: an ordinary row
                continue
            self._insert_chunked(_FRAME_SQL, frames[start : at - 1], _frame_values)
            payload = close.payload
            self._db.execute(_CLOSE_SQL, (
                close.time, close.conn_id, _DIRECTION[close.direction], int(close.opcode),
                len(payload), payload, int.from_bytes(payload[:2], "big"),
                payload[2:].decode("utf-8", errors="replace"),
            ))  # fmt: skip
            start = at
        self._insert_chunked(_FRAME_SQL, frames[start:], _frame_values)

    def _insert_others(self, events: list[Event]) -> None:
        states, conns = [], []
        notes: list[tuple[Any, ...]] = []
        for event in events:
            if type(event) is StateChanged:
                states.append((event.time, event.conn_id, event.old.value, event.new.value,
                               event.attempt, event.retry_in, event.close_code,
                               event.close_reason, event.error))
            elif type(event) is ConnectionAdded:
                conns.append((event.conn_id, event.url, event.name, event.time))
            elif type(event) is LatencySample:  # one a second per connection: the cheap way
                notes.append((event.time, event.conn_id, "rtt",
                              f'{{"kind": "{event.kind}", "rtt": {event.rtt!r}}}'))
            elif type(event) is MessagesDecoded or type(event) is PairsMatched:
                continue  # decoded again from the recorded frames when read
            else:
                notes.append(_note(event))
        db = self._db
        db.executemany("INSERT OR REPLACE INTO connections VALUES (?,?,?,?)", conns)
        db.executemany("INSERT INTO states (time, conn_id, old, new, attempt, retry_in,"
                       " close_code, close_reason, error) VALUES (?,?,?,?,?,?,?,?,?)", states)
        self._insert_chunked(_NOTE_SQL, notes, _flatten)


# WAL bytes after which the checkpointer thread copies the WAL into the file. On the writer's
# thread the copies took a third of its time in a 1 KiB flood: 1.4-2.6 s in 6 s.
CHECKPOINT_EVERY = 16 * 2**20
COPY_REST_EVERY = 64 * 2**20  # WAL bytes after which the writer copies the rest itself
ROW_OVERHEAD = 64  # bytes of a frame row besides its payload, roughly (for the two above)
_DIRECTION = {d: d.value for d in Direction}
# A frame's direction and opcode in one bound value, which SQL takes apart (see _FRAME_SQL)
_KIND = {(d, op): (16 if d is Direction.OUT else 0) + int(op) for d in Direction for op in Opcode}
_TIME, _CONN, _OPCODE, _PAYLOAD = (
    attrgetter(name) for name in ("time", "conn_id", "opcode", "payload"))
_DIR_OP = attrgetter("direction", "opcode")
# Frames go in as multi-row INSERTs of 1,024 rows (the rest in smaller steps), because of how
# sqlite3 binds and steps on the writer thread while the network thread is busy:
# - it lets go of the GIL once per statement step: executemany() does it once per row, and each
#   time the writer then waits for the GIL again (up to the switch interval), which held the
#   recorder to a few thousand rows/s during a flood and slowed the network thread too. Against
#   a busy Python thread, 1,024-row statements write 250k rows/s of 64 B, 256-row ones 140k
#   (alone both ~380k); binding 4,096 values holds the GIL for ~0.3 ms;
# - binding None (or anything but int, float, str) takes a slow path of ~0.5 us a value: the
#   two close columns are NULL literals in the statement instead (3.2 -> 1.2 us a row).
# 1,024 rows x 4 bound values stays below SQLite's limit of 32,766 variables (close_code and
# close_reason are NULL but for close frames, which get _CLOSE_SQL).
_FRAME_STEPS = (1024, 64, 8, 1)
_INSERT_FRAME = ("INSERT INTO frames (time, conn_id, direction, opcode, size, payload, close_code,"
                 " close_reason) VALUES ")
# Binding, per value, holds the GIL: an int ~45 ns, a str ~160 ns, a bytes ~1,000 ns (sqlite3
# looks for an adapter for every type but int, float, str and bytearray), a bytearray ~190 ns
# plus ~160 ns to make it. So payloads go in as bytearrays (stored as the same BLOB), and a row
# binds four values: time, connection, direction and opcode as one int (out: 16 + opcode), and
# the payload, whose numbered parameter gives the size too. The writer held the GIL for ~1.3 us
# a 1 KiB frame with six values a row (as much as the network thread spent reading it), ~25%
# less in gathering them with four.
_FRAME_SQL = {n: _INSERT_FRAME + ",".join(
    f"(?{a},?{a + 1},iif(?{a + 2}>=16,'out','in'),?{a + 2}%16,length(?{a + 3}),?{a + 3},NULL,NULL)"
    for a in range(1, 4 * n, 4)) for n in _FRAME_STEPS}
_CLOSE_SQL = _INSERT_FRAME + "(?,?,?,?,?,?,?,?)"
# RTT samples are notes too: a thousand connections write 1,000 a second.
_NOTE_SQL = {n: "INSERT INTO notes (time, conn_id, kind, detail) VALUES "
             + ",".join(["(?,?,?,?)"] * n) for n in _FRAME_STEPS}


def _frame_values(frames: list[FrameEvent]) -> list[Any]:
    """The frames' four bound values one after the other, gathered without a Python loop."""
    return list(chain.from_iterable(zip(
        map(_TIME, frames), map(_CONN, frames), map(_KIND.__getitem__, map(_DIR_OP, frames)),
        map(bytearray, map(_PAYLOAD, frames)), strict=True,
    )))  # fmt: skip


def _flatten(rows: list[tuple[Any, ...]]) -> list[Any]:
    return list(chain.from_iterable(rows))


def _note(event: Event) -> tuple[float, int | None, str, str]:
    detail: dict[str, Any]
    if isinstance(event, ErrorEvent):
        kind, detail = "error", {"kind": event.kind, "message": event.message}
    elif isinstance(event, QueueDropped):
        kind, detail = "queue_dropped", {"dropped_total": event.dropped_total}
    elif isinstance(event, QueueFlushed):
        kind, detail = "queue_flushed", {"count": event.count}
    elif isinstance(event, RequestFinished):
        kind, detail = "request", {"request_id": event.request_id, "rtt": event.rtt,
                                   "error": event.error}
    elif isinstance(event, HandshakeInfo):
        return (event.time, event.conn_id, "handshake", handshake_to_json(event))
    elif isinstance(event, ProtocolDetected):
        kind, detail = "protocol", {"protocol": event.protocol, "title": event.title,
                                    "client": event.client, "overridden": event.overridden,
                                    "note": event.note}
    else:
        kind, detail = type(event).__name__, {}
    return (event.time, getattr(event, "conn_id", None), kind, json.dumps(detail))
