"""One process or two (issue 14): what a core child process would cost in memory and start-up.

core child  a Python process with the core alone, no Qt: the embedded demo server (as the app
            starts it), the demo connection joined to #lobby and #dev, the recorder on the hub,
            and every event streamed to the parent over a pipe (stdout) as bounded batches, one
            JSON line per 50 ms (at most 1,000 events and 256 KiB a batch; the rest counted as
            dropped). It prints marks: `imported`, `server` (listening) and `open`.
bare        a bare PySide6 QMainWindow (bench/bench_startup.py's bare role): the GUI process of a
            split app, which would import no network code, is approximated by it.
app         today's app, one process (`python main.py`, bench/bench_startup.py's app role).
gui         today's window with every panel but no session (no server, connection, recorder):
            a closer stand-in for the GUI process of a split app (it still imports the core's
            modules that today's panels import).
Figures (medians of --runs):
  (a) idle RSS after --idle s: app (one process) vs bare window + core child and vs gui + core
      child (two processes); an empty interpreter's RSS for scale;
  (b) start-up: the bare window shown alone, and shown with the core child spawned just before
      it (the worst case; a split app that spawns its child after the first paint leaves the
      window alone); the child's first event at the parent (from spawn to the first batch with a
      frame read off the pipe), beside today's app's time to its demo connection open.
Decision rule: two processes only if the window shown with the child starting is <= 1.5x the bare
window alone and the idle RSS of both processes together (gui + core child) is <= 160 MB.

    python bench/bench_process_split.py [--smoke] [--runs N] [--idle S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATIO_TARGET, RSS_TARGET_MB = 1.5, 160.0
BATCH_SECONDS, BATCH_EVENTS, BATCH_BYTES, PREVIEW = 0.05, 1000, 256 * 1024, 256


# ----- the core child ---------------------------------------------------------------------------


def mark(word: str) -> None:
    print(f"{word} {time.monotonic():.6f}", flush=True)


def encode(event: Any) -> list[Any] | None:
    from core.events import FrameEvent

    if type(event) is FrameEvent:
        preview = event.payload[:PREVIEW].decode("latin-1")
        return ["frame", event.conn_id, event.time, event.direction.value, int(event.opcode),
                event.size, preview]
    return [type(event).__name__, getattr(event, "conn_id", None)]


async def core_child(record: Path) -> None:
    """The session of the default app without Qt; ends when stdin closes."""
    import secrets
    from collections import deque

    from core.manager import ConnectionManager
    from core.recorder import Recorder
    from core.server import EmbeddedServer, ServerConfig
    from core.states import ConnState
    from ui.app_options import DEMO_BOTS, DEMO_RATE
    from ui.demo_connection import DEMO_ROOMS, embedded_connection_config

    mark("imported")
    server = EmbeddedServer(ServerConfig(  # as ui.app.demo_server_config()
        port=0, auth=True, secret=secrets.token_urlsafe(32), demo_bots=DEMO_BOTS,
        demo_rate=DEMO_RATE, ping_interval=5.0))
    server.start()
    mark("server")
    manager = ConnectionManager()
    pending: deque[Any] = deque(maxlen=100_000)  # bounded: the pipe may be slower than the core
    manager.hub.subscribe(pending.append)
    recorder = Recorder(record, manager.hub)
    conn = manager.add(embedded_connection_config(server), connect=True)
    for room in DEMO_ROOMS:
        await conn.send(json.dumps({"type": "join_room", "room": room}))
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    opened = False
    for _ in range(10_000_000):  # one batch per 50 ms until the parent closes stdin
        if stdin_closed.done():
            break
        await asyncio.sleep(BATCH_SECONDS)
        if not opened and conn.state is ConnState.OPEN:
            opened = True
            mark("open")
        batch, size, dropped = [], 0, 0
        for _ in range(len(pending)):
            item = encode(pending.popleft())
            if item is None or len(batch) >= BATCH_EVENTS or size >= BATCH_BYTES:
                dropped += 1
                continue
            batch.append(item)
            size += len(item[-1]) if item[0] == "frame" else 16
        if batch or dropped:
            sys.stdout.write("BATCH " + json.dumps({"events": batch, "dropped": dropped}) + "\n")
            sys.stdout.flush()
    print(f"qt {int(any(m.split('.')[0] == 'PySide6' for m in sys.modules))}", flush=True)
    await manager.close_all()
    recorder.close()
    server.stop()


# ----- the parent -------------------------------------------------------------------------------


class ChildReader:
    """The core child, its stdout read on a thread (so its pipe never fills while the parent
    waits on a window), with the parent's clock at each line."""

    def __init__(self, record: Path) -> None:
        from bench.common import Child

        self.t0 = time.monotonic()
        self.child = Child([sys.executable, str(Path(__file__)), "--role", "core-child",
                            "--record", str(record)], name="core-child", stdin=True)
        self.marks: dict[str, float] = {}
        self.first_event: float | None = None
        self.events = self.dropped = 0
        self.qt_loaded: bool | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        out = self.child.proc.stdout
        assert out is not None
        for line in out:
            now = time.monotonic()
            word, _, rest = line.strip().partition(" ")
            if word == "BATCH":
                batch = json.loads(rest)
                frames = sum(1 for e in batch["events"] if e[0] == "frame")
                if frames and self.first_event is None:
                    self.first_event = now - self.t0
                self.events += len(batch["events"])
                self.dropped += batch["dropped"]
            elif word in ("imported", "server", "open"):
                self.marks[word] = float(rest) - self.t0
            elif word == "qt":  # the core child must not have loaded Qt
                self.qt_loaded = rest == "1"

    def stop(self) -> None:
        self.child.stop(timeout=15)
        self.thread.join(5)


def child_alone(idle: float) -> dict[str, Any]:
    """The core child started alone: its first event at the parent, and its RSS `idle` s later."""
    from bench.common import rss_mb

    with tempfile.TemporaryDirectory(prefix="socketscope-split-") as tmp:
        reader = ChildReader(Path(tmp) / "session.sqlite")
        try:
            deadline = time.monotonic() + 60
            while reader.first_event is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if reader.first_event is None:
                raise RuntimeError(f"core child sent no event:\n{reader.child.stderr_tail()}")
            time.sleep(max(0.0, reader.t0 + reader.first_event + idle - time.monotonic()))
            rss = rss_mb(reader.child.pid)
        finally:
            reader.stop()
    return {"first_event_s": reader.first_event, "marks": reader.marks, "rss_mb": rss,
            "events": reader.events, "dropped": reader.dropped, "loaded_qt": reader.qt_loaded}


def split_run(idle: float) -> dict[str, Any]:
    """The core child spawned first, the bare window right after (the worst case: a split app
    that spawns its child after the first paint leaves the window's time alone)."""
    from bench.bench_startup import launch

    with tempfile.TemporaryDirectory(prefix="socketscope-split-") as tmp:
        reader = ChildReader(Path(tmp) / "session.sqlite")
        try:
            with ThreadPoolExecutor(1) as pool:
                window = pool.submit(launch, "bare", idle).result(120)
        finally:
            reader.stop()
    return {"window_shown_s": window["shown_s"], "first_event_s": reader.first_event}


async def gui_window(idle: float) -> None:
    """Today's window with every panel and no session (no server, connection or recorder)."""
    from bench.apphost import open_app
    from bench.common import rss_mb

    session = open_app([], record=False)
    await asyncio.sleep(idle)
    print(f"RSS {rss_mb():.3f}", flush=True)
    await session.close()


def rss_of(args: list[str], idle: float, name: str, reports: bool = False) -> float:
    """RSS (MiB) of a child process: the one it `reports` itself, or `idle` s after READY."""
    from bench.common import Child, rss_mb

    with Child(args, name=name, stdin=True) as child:
        if reports:
            return float(child.expect("RSS ", idle + 60))
        child.expect("READY", 30)
        time.sleep(idle)
        return rss_mb(child.pid)


def med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def measure(runs: int, idle: float) -> dict[str, Any]:
    from bench.bench_startup import launch

    bare, app, alone, split, gui, python_rss = [], [], [], [], [], []
    empty = [sys.executable, "-c", "import sys; print('READY', flush=True); sys.stdin.read()"]
    for _ in range(runs):
        bare.append(launch("bare", idle))
        app.append(launch("app", idle))
        alone.append(child_alone(idle))
        split.append(split_run(idle))
        gui.append({"rss_mb": rss_of([sys.executable, str(Path(__file__)), "--role", "gui",
                                      "--idle", str(idle)], idle, "gui", reports=True)})
        python_rss.append({"rss_mb": rss_of(empty, 0.5, "python")})
    return {
        "bare_shown_s": med(bare, "shown_s"), "bare_rss_mb": med(bare, "rss_mb"),
        "app_shown_s": med(app, "shown_s"), "app_open_s": med(app, "open_s"),
        "app_rss_mb": med(app, "rss_mb"), "child_first_event_s": med(alone, "first_event_s"),
        "child_rss_mb": med(alone, "rss_mb"), "child_loaded_qt": any(a["loaded_qt"] for a in alone),
        "split_window_shown_s": med(split, "window_shown_s"),
        "split_first_event_s": med(split, "first_event_s"),
        "gui_no_session_rss_mb": med(gui, "rss_mb"), "python_rss_mb": med(python_rss, "rss_mb"),
        "runs_detail": {"bare": bare, "app": app, "child": alone, "split": split, "gui": gui,
                        "python": python_rss},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["core-child", "gui"])
    p.add_argument("--record", type=Path)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--runs", type=int)
    p.add_argument("--idle", type=float)
    args = p.parse_args()
    if args.role == "core-child":
        asyncio.run(core_child(args.record))
        return
    if args.role == "gui":
        from bench.apphost import run_qt

        run_qt(lambda: gui_window(args.idle))
        return

    from bench.bench_startup import compile_project, launch
    from bench.common import ratio, result, rnd, say

    runs = args.runs or (1 if args.smoke else 3)
    idle = args.idle or (1.0 if args.smoke else 5.0)
    compile_project()
    launch("bare", 0.2)  # warm the page cache
    f = measure(runs, idle)
    both = f["bare_rss_mb"] + f["child_rss_mb"]
    both_gui = f["gui_no_session_rss_mb"] + f["child_rss_mb"]
    shown_ratio = ratio(f["split_window_shown_s"], f["bare_shown_s"])
    first_after_paint = f["app_shown_s"] + f["child_first_event_s"]
    rss_ok = both_gui <= RSS_TARGET_MB
    ok = bool(shown_ratio is not None and shown_ratio <= RATIO_TARGET and rss_ok)
    say(f"(a) idle RSS after {idle:g} s, MiB: app (one process) {f['app_rss_mb']:.0f}; "
        f"bare window {f['bare_rss_mb']:.0f} + core child {f['child_rss_mb']:.0f} = {both:.0f}; "
        f"today's window with every panel and no session {f['gui_no_session_rss_mb']:.0f} + core "
        f"child = {both_gui:.0f} (target <= {RSS_TARGET_MB:.0f} MB); an empty interpreter "
        f"{f['python_rss_mb']:.0f}; the core child loaded Qt: {f['child_loaded_qt']}")
    say(f"(b) bare window shown {f['bare_shown_s']:.3f} s alone, {f['split_window_shown_s']:.3f} s "
        f"with the core child spawned just before it ({shown_ratio:.2f}x, target <= "
        f"{RATIO_TARGET}x); the child alone: first event at the parent "
        f"{f['child_first_event_s']:.3f} s after spawn; today's app: shown "
        f"{f['app_shown_s']:.3f} s, demo connection open {f['app_open_s']:.3f} s; a split app "
        f"that spawns after its first paint: first event at ~{first_after_paint:.3f} s")
    say(f"decision: {'two processes' if ok else 'one process'} (medians of {runs} runs)")
    result("process_split", {
        "runs": runs, "idle_s": idle, **f, "both_rss_mb": both, "both_gui_rss_mb": both_gui,
        "shown_ratio": shown_ratio, "first_event_after_paint_s": first_after_paint,
        "two_processes": ok,
        "summary": [
            ["idle RSS MiB: bare window + core child vs app", rnd(both, 0),
             rnd(f["app_rss_mb"], 0), rnd(ratio(both, f["app_rss_mb"]), 2), None, None],
            ["idle RSS MiB: window with every panel, no session + core child vs app",
             rnd(both_gui, 0), rnd(f["app_rss_mb"], 0), rnd(ratio(both_gui, f["app_rss_mb"]), 2),
             f"<= {RSS_TARGET_MB:.0f} MB", rss_ok],
            ["window shown s, core child spawned first vs bare alone",
             rnd(f["split_window_shown_s"]), rnd(f["bare_shown_s"]), rnd(shown_ratio, 2),
             f"<= {RATIO_TARGET}x", bool(shown_ratio is not None and shown_ratio <= RATIO_TARGET)],
            ["first event s: core child alone vs app's demo connection open (info)",
             rnd(f["child_first_event_s"]), rnd(f["app_open_s"]),
             rnd(ratio(f["child_first_event_s"], f["app_open_s"]), 2), None, None],
        ],
    })


if __name__ == "__main__":
    main()
