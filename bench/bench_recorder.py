"""The recorder alone: what each recorded frame costs it, in CPU and in bytes written and read.

recorder  core.recorder.Recorder as the app runs it, fed N frames of SIZE bytes from this thread
          in reads of 64 frames (EventHub.publish_frames, as the wire publishes them), waiting
          while the recorder holds the reads.
baseline  the same frames through a plain sqlite3 writer thread, fed the same way and held at the
          same 16 MiB: the same schema in WAL mode with SQLite's defaults otherwise, one
          executemany() and one transaction per 1,024 rows (a first recorder's way).
The two take turns --rounds times; each figure is the median of its side. Bytes are what the
process handed to write()/pwrite() and got from read()/pread() (/proc/self/io), per byte of
payload recorded, from the first frame to the file closed; CPU is the process' minus the feeding
thread's (and the busy thread's), so the writers' threads and SQLite's, whatever thread did it.
With --busy a Python thread spins beside them, as the network thread does in the app: the GIL is
then shared, and what the writer does while holding it costs throughput. The GIL's turns are
the app's (ui.app.SWITCH_INTERVAL).

    python bench/bench_recorder.py [--smoke] [--count N] [--size B] [--rounds R] [--busy]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import result, rnd, say, table, thread_cpu_seconds
from core.events import Direction, FrameEvent, Opcode
from core.hub import EventHub
from core.recorder import SCHEMA, Recorder
from ui.app import SWITCH_INTERVAL  # no Qt: ui.app imports PySide6 only when it runs

READ_FRAMES = 64  # frames a read publishes at once
# the recorder's default hold; the baseline is held at the same
HOLD_ROWS, HOLD_BYTES = 50_000, 16 * 2**20
BASELINE_ROWS = 1024


def io_counters() -> dict[str, int]:
    text = Path("/proc/self/io").read_text()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


class Busy:
    """A Python thread that only spins: the GIL's other user, as the network thread is."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._spin, name="busy", daemon=True)
        self.cpu = 0.0  # its CPU seconds, once stopped

    def _spin(self) -> None:
        x = 0
        while not self._stop.is_set():
            for i in range(1000):
                x += i

    def __enter__(self) -> Busy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = thread_cpu_seconds().get("busy", 0.0)
        self._stop.set()
        self.thread.join()


class Baseline:
    """A plain writer thread: executemany() of 1,024 rows a transaction, SQLite's defaults."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._queue: deque[list[FrameEvent]] = deque()
        self._wakeup = threading.Event()
        self._closing = False
        self.pushed_bytes = self.written_bytes = 0
        self.pushed = self.written = 0
        self._thread = threading.Thread(target=self._writer, name="baseline", daemon=True)
        self._thread.start()

    def push_frames(self, frames: list[FrameEvent]) -> None:
        self._queue.append(frames)
        self.pushed += len(frames)
        self.pushed_bytes += sum(len(f.payload) for f in frames)
        self._wakeup.set()

    @property
    def holding(self) -> bool:
        return (self.pushed - self.written > HOLD_ROWS
                or self.pushed_bytes - self.written_bytes > HOLD_BYTES)

    def _writer(self) -> None:
        sql = "INSERT INTO frames (time, conn_id, direction, opcode, size, payload) VALUES" \
              " (?,?,?,?,?,?)"
        while True:
            self._wakeup.wait(0.1)
            self._wakeup.clear()
            while self._queue:
                rows: list[FrameEvent] = []
                while self._queue and len(rows) < BASELINE_ROWS:
                    rows += self._queue.popleft()
                self._db.execute("BEGIN")
                self._db.executemany(sql, [
                    (f.time, f.conn_id, f.direction.value, int(f.opcode), len(f.payload),
                     f.payload) for f in rows])
                self._db.execute("COMMIT")
                self.written += len(rows)
                self.written_bytes += sum(len(f.payload) for f in rows)
            if self._closing and not self._queue:
                return

    def flush(self, deadline: float) -> None:
        while self.written < self.pushed and time.monotonic() < deadline:
            time.sleep(0.001)

    def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._thread.join()
        self._db.close()


def feed(push: Callable[[list[FrameEvent]], None], holding: Callable[[], bool], count: int,
         size: int, deadline: float) -> None:
    payloads = [bytes([65 + i % 26]) * size for i in range(READ_FRAMES)]
    sent = 0
    while sent < count and time.monotonic() < deadline:
        while holding() and time.monotonic() < deadline:
            time.sleep(0.0005)
        now = time.time()
        n = min(READ_FRAMES, count - sent)
        push([FrameEvent(1, now, Direction.IN, Opcode.TEXT, payloads[i]) for i in range(n)])
        sent += n


def run_side(side: str, count: int, size: int, busy: bool, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        path = Path(tmp) / f"{side}.sqlite"
        writer: Recorder | Baseline
        io0, cpu0, main0 = io_counters(), time.process_time(), time.thread_time()
        spinner = Busy()
        with spinner if busy else contextlib.nullcontext():
            t0 = time.perf_counter()
            deadline = time.monotonic() + timeout
            if side == "recorder":
                hub = EventHub()
                writer = Recorder(path, hub)
                feed(hub.publish_frames, lambda: hub.backpressure.engaged, count, size, deadline)
                writer.flush(max(1.0, deadline - time.monotonic()))
            else:
                writer = baseline = Baseline(path)
                feed(baseline.push_frames, lambda: baseline.holding, count, size, deadline)
                baseline.flush(deadline)
            seconds = time.perf_counter() - t0
        writer.close()
        written = writer.written
        main = time.thread_time() - main0
        cpu = time.process_time() - cpu0 - main - spinner.cpu
        io1 = io_counters()
        recorded = written * size
        with contextlib.closing(sqlite3.connect(path)) as db:
            (rows_in_file,) = db.execute("SELECT count(*) FROM frames").fetchone()
    return {
        "rows": written, "rows_in_file": rows_in_file, "seconds": seconds,
        "rows_per_s": written / seconds, "writer_cpu_s": cpu,
        "writer_cpu_us_per_row": cpu / max(1, written) * 1e6,
        "written_per_byte": (io1["wchar"] - io0["wchar"]) / max(1, recorded),
        "read_per_byte": (io1["rchar"] - io0["rchar"]) / max(1, recorded),
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--count", type=int, default=0, help="frames per run (400,000; 20,000 smoke)")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=0, help="runs of each side (3; 1 smoke)")
    p.add_argument("--busy", action="store_true", help="a spinning Python thread beside them")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a run may feed")
    args = p.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL)  # the GIL's turns as in the app (ui.app)
    count = args.count or (20_000 if args.smoke else 400_000)
    rounds = args.rounds or (1 if args.smoke else 3)
    say(f"--- {count:,} frames of {args.size} B, {rounds} turns each"
        + (", a busy Python thread beside them" if args.busy else ""))
    runs: dict[str, list[dict[str, Any]]] = {"recorder": [], "baseline": []}
    for _ in range(rounds):
        for side in runs:
            runs[side].append(run_side(side, count, args.size, args.busy, args.timeout))
    rec, base = median_of(runs["recorder"]), median_of(runs["baseline"])
    rows = [
        ("rows/s", f"{rec['rows_per_s']:,.0f}", f"{base['rows_per_s']:,.0f}",
         f"{rec['rows_per_s'] / base['rows_per_s']:.2f}x"),
        ("writer CPU µs a row", f"{rec['writer_cpu_us_per_row']:.2f}",
         f"{base['writer_cpu_us_per_row']:.2f}",
         f"{rec['writer_cpu_us_per_row'] / base['writer_cpu_us_per_row']:.2f}x"),
        ("bytes written per byte recorded", f"{rec['written_per_byte']:.2f}",
         f"{base['written_per_byte']:.2f}", ""),
        ("bytes read per byte recorded", f"{rec['read_per_byte']:.2f}",
         f"{base['read_per_byte']:.2f}", ""),
        ("rows in the file", f"{rec['rows_in_file']:,}", f"{base['rows_in_file']:,}", ""),
    ]
    say(table(rows, ("figure (median)", "recorder", "baseline", "ratio")))
    result("recorder", {
        "count": count, "size": args.size, "rounds": rounds, "busy": args.busy,
        "recorder": {k: rnd(v) for k, v in rec.items()},
        "baseline": {k: rnd(v) for k, v in base.items()},
        "recorder_runs": runs["recorder"], "baseline_runs": runs["baseline"],
        "complete": rec["rows_in_file"] == count and base["rows_in_file"] == count,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
