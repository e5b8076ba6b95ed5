"""Session recording: complete, explicit about gaps, and intact after kill -9."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction, ErrorEvent, FrameEvent, Opcode
from core.hub import EventHub
from core.manager import ConnectionManager
from core.recorder import Recorder
from core.recording import Recording, list_recordings
from core.states import ConnState

ROOT = Path(__file__).resolve().parents[2]


async def test_every_frame_and_state_change_is_recorded(tmp_path: Path) -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    manager = ConnectionManager()
    recorder = Recorder(tmp_path / "s.sqlite", manager.hub)
    async with serve(echo, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        conn = manager.add(ConnectionConfig(url, name="echo",
                                            heartbeat=HeartbeatConfig(interval=0.05)),
                           connect=True)
        await conn.wait_for_state(ConnState.OPEN, 5)
        for i in range(300):
            await conn.send(f"text-{i}" if i % 2 else bytes([i % 256]) * 3)
        while conn.metrics.msgs_in < 300 or not len(conn.metrics.rtt):
            await asyncio.sleep(0.01)
        await manager.close_all()
    recorder.close()
    with Recording(tmp_path / "s.sqlite") as rec:
        frames = list(rec.frames())
        data_in = [f for f in frames if f.direction is Direction.IN and f.is_data]
        assert len(data_in) == 300
        assert data_in[1].opcode is Opcode.TEXT and data_in[1].payload == b"text-1"
        assert data_in[0].opcode is Opcode.BINARY and data_in[0].payload == b"\0\0\0"
        assert [c.name for c in rec.connections()] == ["echo"]
        states = [s.new for s in rec.states()]
        assert states == [ConnState.CONNECTING, ConnState.OPEN, ConnState.CLOSING,
                          ConnState.CLOSED]
        assert any(f.opcode is Opcode.PING for f in frames)
        assert rec.info().gaps == 0
        out = io.StringIO()
        lines = rec.export_ndjson(out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == lines and records[0]["event"] == "connection"
    assert sum(1 for r in records if r["event"] == "frame") == len(frames)
    assert [r["time"] for r in records[1:]] == sorted(r["time"] for r in records[1:])
    assert list_recordings(tmp_path)[0].frames == len(frames)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    rtts = [json.loads(d) for (d,) in db.execute("SELECT detail FROM notes WHERE kind = 'rtt'")]
    db.close()
    assert len(rtts) == len(conn.metrics.rtt) > 0
    assert [r["rtt"] for r in rtts] == conn.metrics.rtt.view()[:, 1].tolist()
    assert {r["kind"] for r in rtts} == {"ping"}


def test_frames_keep_arrival_order_around_close_frames(tmp_path: Path) -> None:
    """Close frames with a code get their own statement between the data frames' batches."""
    hub = EventHub()
    recorder = Recorder(tmp_path / "c.sqlite", hub, batch_rows=10_000, batch_seconds=30)
    sent: list[tuple[str, int, bytes]] = []

    def frame(direction: Direction, opcode: Opcode, payload: bytes) -> None:
        hub.publish(FrameEvent(1, float(len(sent)), direction, opcode, payload))
        sent.append((direction.value, int(opcode), payload))

    for i in range(300):  # more than one 256-row statement before the first close
        frame(Direction.IN, Opcode.TEXT, b"m%d" % i)
    frame(Direction.OUT, Opcode.CLOSE, (1000).to_bytes(2, "big") + "bye é".encode())
    frame(Direction.IN, Opcode.CLOSE, b"")  # no code: an ordinary row
    frame(Direction.IN, Opcode.BINARY, b"\0\1")
    frame(Direction.IN, Opcode.CLOSE, (4001).to_bytes(2, "big"))
    frame(Direction.OUT, Opcode.PING, b"")
    recorder.close()
    db = sqlite3.connect(tmp_path / "c.sqlite")
    rows = db.execute("SELECT time, direction, opcode, size, payload, close_code, close_reason"
                      " FROM frames ORDER BY id").fetchall()
    assert [(d, op, bytes(p)) for _, d, op, _, p, _, _ in rows] == sent
    assert [t for t, *_ in rows] == [float(i) for i in range(len(sent))]
    assert all(size == len(p) for _, _, _, size, p, _, _ in rows)
    assert [(c, r) for *_, c, r in rows if c is not None] == [(1000, "bye é"), (4001, "")]
    with Recording(tmp_path / "c.sqlite") as rec:  # in arrival order without a time index
        since = [f.payload for f in rec.frames(since=298.0, limit=3)]
        assert since == [b"m298", b"m299", sent[300][2]]
        assert rec.payload_of(1, 302.0, Direction.IN, 2) == b"\0\1"


def test_the_wal_is_checkpointed_beside_the_writer(tmp_path: Path, monkeypatch) -> None:
    """SQLite's automatic checkpoints are off; the checkpointer thread copies the WAL into the
    file every CHECKPOINT_EVERY bytes, and the writer what is left every COPY_REST_EVERY."""
    import core.recorder

    def record(name: str, wait: float) -> int:
        hub = EventHub()
        recorder = Recorder(tmp_path / name, hub)
        for i in range(2_000):
            hub.publish(FrameEvent(1, float(i), Direction.IN, Opcode.BINARY, b"x" * 1024))
        recorder.flush()
        deadline = time.monotonic() + wait
        while (tmp_path / name).stat().st_size < 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        size = (tmp_path / name).stat().st_size  # the database file, without its WAL
        recorder.close()
        return size

    assert record("default.sqlite", 0.3) < 1_000_000  # 2 MB of frames, all still in the WAL
    monkeypatch.setattr(core.recorder, "CHECKPOINT_EVERY", 64 * 1024)
    assert record("small.sqlite", 5.0) >= 2_000_000  # checkpointed into the file
    monkeypatch.setattr(core.recorder, "CHECKPOINT_EVERY", 2**40)
    monkeypatch.setattr(core.recorder, "COPY_REST_EVERY", 64 * 1024)
    monkeypatch.setattr(core.recorder.Recorder, "_checkpointer", lambda self: None)  # stuck
    assert record("late.sqlite", 5.0) >= 2_000_000  # the writer copied it itself


def test_the_wal_starts_over_during_a_flood(tmp_path: Path, monkeypatch) -> None:
    """The checkpointer never copies all of a WAL the writer keeps appending to, and SQLite
    starts a WAL over only once all of it is copied: every COPY_REST_EVERY bytes the writer
    copies the rest itself, so the WAL stays about that size instead of growing by the flood."""
    import core.recorder

    monkeypatch.setattr(core.recorder, "CHECKPOINT_EVERY", 256 * 1024)
    monkeypatch.setattr(core.recorder, "COPY_REST_EVERY", 2 * 2**20)
    path = tmp_path / "flood.sqlite"
    wal = tmp_path / "flood.sqlite-wal"
    hub = EventHub()
    recorder = Recorder(path, hub, batch_rows=64, hold_bytes=2**40, hold_rows=2**40)
    largest = 0
    for i in range(24_000):  # 24 MiB, faster than the writer: it is never idle
        hub.publish(FrameEvent(1, float(i), Direction.IN, Opcode.BINARY, b"x" * 1024))
        if i % 500 == 0 and wal.exists():
            largest = max(largest, wal.stat().st_size)
    recorder.flush(60)
    largest = max(largest, wal.stat().st_size)
    recorder.close()
    assert largest < 10 * 2**20  # 5.4 MB; 43 MB when the writer did not copy the rest
    with Recording(path) as rec:
        assert rec.info().frames == 24_000


def test_each_recorded_byte_is_written_about_twice(tmp_path: Path) -> None:
    """Once into the WAL and once into the file. Statement journals in temporary files and
    pages spilled from the cache mid-transaction made it 3.4x (and 1.5 bytes read back)."""

    def written() -> int:  # bytes this process handed to write() and pwrite()
        return int(dict(line.split(": ") for line in Path("/proc/self/io").read_text()
                        .splitlines())["wchar"])

    hub = EventHub()
    before = written()
    recorder = Recorder(tmp_path / "twice.sqlite", hub)
    payload = 20_000 * 1024
    for i in range(0, 20_000, 100):
        hub.publish_frames([FrameEvent(1, float(i + j), Direction.IN, Opcode.BINARY, b"x" * 1024)
                            for j in range(100)])
    recorder.close()  # the last copy of the WAL into the file
    assert payload * 1.8 < written() - before < payload * 2.4


def test_overflow_writes_an_explicit_gap(tmp_path: Path) -> None:
    hub = EventHub()
    recorder = Recorder(tmp_path / "g.sqlite", hub, max_queue=10, batch_rows=10_000,
                        batch_seconds=30)
    for i in range(100):
        hub.publish(ErrorEvent(1, float(i), f"e{i}"))
    recorder.close()
    db = sqlite3.connect(tmp_path / "g.sqlite")
    assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 10
    assert db.execute("SELECT sum(dropped) FROM gaps").fetchone()[0] == 90
    assert recorder.stats().dropped == 90


def test_a_read_of_frames_past_the_bound_keeps_what_fits_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """Frames published a read at a time (EventHub.publish_frames) go in whole while they fit,
    and one by one at the bound: the first ones are kept, the rest counted as a gap."""
    hub = EventHub()
    recorder = Recorder(tmp_path / "b.sqlite", hub, max_queue=10, batch_rows=10_000,
                        batch_seconds=30)
    frames = [FrameEvent(1, float(i), Direction.IN, Opcode.TEXT, b"m%d" % i) for i in range(14)]
    hub.publish_frames(frames[:6])  # fits
    hub.publish_frames(frames[6:])  # 8 more into 4 places
    recorder.close()
    db = sqlite3.connect(tmp_path / "b.sqlite")
    kept = [row[0] for row in db.execute("SELECT payload FROM frames ORDER BY id")]
    assert kept == [b"m%d" % i for i in range(10)]
    assert db.execute("SELECT sum(dropped) FROM gaps").fetchone()[0] == 4
    assert recorder.stats().dropped == 4


CHILD = r"""
import sys, time
from core.events import ErrorEvent
from core.hub import EventHub
from core.recorder import Recorder
hub = EventHub()
rec = Recorder(sys.argv[1], hub, batch_rows=200, batch_seconds=0.01)
i = 0
while True:
    for _ in range(500):
        hub.publish(ErrorEvent(1, time.time(), "x" * 50 + str(i)))
        i += 1
    rec.flush()
    print(rec.written, flush=True)
"""


def test_kill_9_never_corrupts_and_keeps_every_committed_row(tmp_path: Path) -> None:
    for round_ in range(5):
        path = tmp_path / f"k{round_}.sqlite"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        committed = 0
        deadline = time.monotonic() + 20
        while committed < 2000 + round_ * 500 and time.monotonic() < deadline:
            committed = int(child.stdout.readline())  # type: ignore[union-attr]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stdout.close()  # type: ignore[union-attr]
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        db.close()
        assert rows >= committed > 0


def test_default_recordings_are_pruned_to_the_newest(tmp_path: Path, monkeypatch) -> None:
    from core import paths

    monkeypatch.setenv("SOCKETSCOPE_DATA_DIR", str(tmp_path))
    for i in range(5):
        path = paths.recordings_dir() / f"session-2026010{i}.sqlite"
        path.write_bytes(b"")
        os.utime(path, (1000 + i, 1000 + i))
    gone = paths.prune_recordings(keep=2)
    assert [p.name for p in gone] == [f"session-2026010{i}.sqlite" for i in range(3)]
    assert sorted(p.name for p in paths.recordings_dir().iterdir()) == [
        "session-20260103.sqlite", "session-20260104.sqlite"]
    assert paths.new_recording_path().parent == paths.recordings_dir()
