"""Benchmark 1, ingest: a flood of N JSON messages into a bare websockets client and into the app.

Per message size (64 B and 1 KiB), each without and with permessage-deflate, in the same run,
against the same pre-framed raw sender (bench/peers.py, another process, one blob written as fast
as the socket takes it). With deflate the sender compresses each message on its own and answers
the client's offer with `permessage-deflate; server_no_context_takeover` (what a server that
keeps no compression state per connection sends; websockets' own default server keeps context);
without it the sender accepts no extension. Every client connects with its default settings,
which offer permessage-deflate (websockets' `compression="deflate"`, the app's
`ConnectionConfig.compression = True`), so bare, app and core negotiate the same extension:
  sink  a raw socket that discards the bytes: the sender's ceiling (it must not be the bottleneck)
  bare  `websockets.asyncio.client.connect` + `async for m in ws: n += 1`
  app   the real app offscreen (MainWindow, every panel, bridge ticking, Recorder on the hub)
  core  (for information) Connection + hub + Recorder on plain asyncio, no Qt
Bare and app take turns three times (--rounds) on each flood, the floods in turn in each round,
and each side's best run is its msgs/s; the app's other bars are taken over all its runs (tick
gaps pooled, median RSS growth, every run's counts).
Figures: msgs/s of each and app/bare; the UI tick gap (10 ms precise QTimer) p50/p99/max while the
flood is ingested and shown; RSS after warm-up (half the flood: 400,000 messages of 64 B and
200,000 of 1 KiB in the full run, see flood_count; by then the inspector is at its 100k-row
bound, the recorder's queue at its hold bound and the allocators settled) and at the end; the
inspector's counters (received = shown + dropped) and the recording (rows in SQLite == frame
events on the hub, data rows == N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Child,
    cpu_seconds,
    percentile,
    python,
    ratio,
    result,
    rnd,
    rss_mb,
    say,
    thread_cpu_seconds,
)

TARGET = 0.8
GAP_TARGET_MS = 50.0
FLAT_MIB = 10.0  # RSS moves by a few MiB with the allocator alone


# ----- bare client ------------------------------------------------------------------------------


async def bare(port: int, count: int, timeout: float) -> dict[str, object]:
    from websockets.asyncio.client import connect

    n = 0
    first = last = 0.0
    cpu0 = 0.0
    async with asyncio.timeout(timeout), connect(f"ws://127.0.0.1:{port}/blob") as ws:
        async for _message in ws:
            n += 1
            if n == 1:
                first = time.monotonic()
                cpu0 = cpu_seconds()
            if n >= count:
                break
        last = time.monotonic()
    wall = last - first
    return {
        "received": n,
        "seconds": wall,
        "msgs_per_s": (n - 1) / wall if wall > 0 else None,
        "cpu_util": (cpu_seconds() - cpu0) / wall if wall > 0 else None,
        "rss_mb": rss_mb(),
    }


# ----- the core without Qt (for information) ----------------------------------------------------


async def core(port: int, count: int, timeout: float) -> dict[str, object]:
    """Connection + hub + Recorder on plain asyncio; a deque subscriber drained every 50 ms
    stands in for the bridge. Shows what the engine costs apart from the widgets."""
    import tempfile
    from collections import deque

    from core.config import ConnectionConfig
    from core.manager import ConnectionManager
    from core.recorder import Recorder

    manager = ConnectionManager()
    buf: deque[object] = deque(maxlen=200_000)
    manager.hub.subscribe(buf.append)
    path = Path(tempfile.mkdtemp(prefix="socketscope-bench-")) / "core.sqlite"
    recorder = Recorder(path, manager.hub)
    st = {"first": 0.0, "last": 0.0}

    async def drain() -> None:
        for _ in range(1_000_000):
            await asyncio.sleep(0.05)
            buf.clear()

    drainer = asyncio.create_task(drain())
    conn = manager.add(ConnectionConfig(url=f"ws://127.0.0.1:{port}/blob", name="flood"),
                       connect=True)
    deadline = time.monotonic() + timeout
    while conn.metrics.msgs_in < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    await manager.close_all()
    drainer.cancel()
    await asyncio.get_running_loop().run_in_executor(None, recorder.flush, 120.0)
    recorder.close()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n, st["first"], st["last"] = db.execute(
        "SELECT count(*), min(time), max(time) FROM frames WHERE direction='in' AND opcode=1"
    ).fetchone()
    db.close()
    shutil.rmtree(path.parent, ignore_errors=True)
    wall = st["last"] - st["first"]
    return {"received": n, "seconds": wall,
            "msgs_per_s": (n - 1) / wall if wall > 0 and n == count else None}


# ----- the app ----------------------------------------------------------------------------------


async def app(port: int, count: int, timeout: float) -> dict[str, object]:
    from bench.apphost import TickProbe, open_app, until
    from core.config import ConnectionConfig

    session = open_app([])
    model = session.inspector_model
    bridge = session.bridge
    # No extra hub subscriber on the hot path: progress is polled by the 10 ms probe, and the
    # exact first/last arrival times are read from the recording afterwards.
    st: dict[str, float] = {"n": 0, "first": 0.0, "last": 0.0}
    conns: list[object] = []
    samples: list[tuple[int, float]] = []  # (data frames in so far, RSS MiB), every 100 ms
    ticks = [0]
    threads_cpu: list[dict[str, float]] = [{}, {}]  # per thread, when the flood starts and ends

    def sample(now: float) -> None:
        ticks[0] += 1
        if not conns:
            return
        n = conns[0].metrics.msgs_in  # type: ignore[attr-defined]
        if n and not st["first"]:
            st["first"], st["cpu0"] = time.monotonic(), cpu_seconds()
            threads_cpu[0] = thread_cpu_seconds()
        if n >= count and not st["last"]:
            st["last"], st["cpu1"] = time.monotonic(), cpu_seconds()
            threads_cpu[1] = thread_cpu_seconds()
        st["n"] = n
        if ticks[0] % 10 == 0:
            samples.append((n, rss_mb()))

    probe = TickProbe(on_tick=sample)
    await asyncio.sleep(0.8)  # the window is laid out and painted once before the flood
    rss_start = rss_mb()
    probe.start()
    conn_id = session.window.connections.add_connection(
        ConnectionConfig(url=f"ws://127.0.0.1:{port}/blob", name="flood")
    )
    conns.append(session.manager.get(conn_id))
    ok = await until(lambda: st["last"], timeout)
    ingest_done = time.monotonic()
    # The UI has caught up once every frame event on the hub reached the inspector (or was
    # dropped by the bridge buffer, which it counts).
    shown_all = await until(
        lambda: model.received + bridge.dropped_total >= session.frame_events[0], 30
    )
    ui_done = time.monotonic()
    probe.stop()
    rss_end = rss_mb()
    rec_stats = session.recorder.stats() if session.recorder else None
    queued_end = rec_stats.queued if rec_stats else 0
    received, shown, dropped = model.received, model.frames_shown, model.dropped
    bridge_dropped = bridge.dropped_total
    # Stop the traffic, then the recording must hold every frame event the hub carried.
    async with asyncio.timeout(15):
        await session.manager.close_all()
    await asyncio.sleep(0.2)
    frame_events = session.frame_events[0]
    rows = data_rows = -1
    flush_s = 0.0
    wall = st["last"] - st["first"] if ok else 0.0  # 10 ms resolution unless recorded
    if session.recorder is not None:
        t = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, session.recorder.flush, 120.0)
        flush_s = time.monotonic() - t
        db = sqlite3.connect(f"file:{session.record_path}?mode=ro", uri=True)
        rows = db.execute("SELECT count(*) FROM frames").fetchone()[0]
        data_rows, first, last = db.execute(
            "SELECT count(*), min(time), max(time) FROM frames WHERE direction='in' AND opcode=1"
        ).fetchone()
        db.close()
        if ok and data_rows == count:  # arrival times as Connection stamped them
            wall = last - first
    gaps = probe.gaps
    warm = next((rss for n, rss in samples if n >= count // 2), None)
    figures = {
        "completed": bool(ok),
        "received": int(st["n"]),
        "seconds": wall,
        "msgs_per_s": (count - 1) / wall if wall > 0 else None,
        "cpu_util": (st.get("cpu1", 0) - st.get("cpu0", 0)) / wall if wall > 0 else None,
        # CPU seconds of each thread during the flood (10 ms resolution): who competes for the GIL
        "thread_cpu_s": {name: round(end - threads_cpu[0].get(name, 0.0), 2)
                         for name, end in threads_cpu[1].items()},
        "ui_lag_s": ui_done - ingest_done if shown_all else None,
        "tick_gap_ms": {"p50": percentile(gaps, 50), "p99": percentile(gaps, 99),
                        "max": max(gaps) if gaps else None, "n": len(gaps)},
        "tick_gaps_ms": [round(gap, 2) for gap in gaps],  # pooled over the runs by run_size()
        "rss_mb": {"start": rss_start, "warm": warm, "end": rss_end,
                   "growth_after_warmup": (rss_end - warm) if warm is not None else None},
        "recorder_queued_at_end": queued_end,
        "recorder_holds": rec_stats.holds if rec_stats else 0,  # reads held until it caught up
        "recorder_batches": rec_stats.batches if rec_stats else 0,  # transactions
        # the GUI's redraws claimed priority: the core threads stepped aside this long
        "core_stepped_aside_s": session.manager.hub.priority.waited,
        "priority_claims": session.manager.hub.priority.claims,
        "inspector": {"received": received, "shown": shown, "dropped": dropped,
                      "bridge_dropped": bridge_dropped,
                      "identity": received == shown + dropped},
        "recording": {"frame_events": frame_events, "rows": rows, "data_rows": data_rows,
                      "complete": rows == frame_events and data_rows == count,
                      "flush_s": flush_s},
    }
    probe.close()
    await session.close()
    return figures


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# ----- orchestration ----------------------------------------------------------------------------


def sent(server: Child) -> dict[str, object]:
    """The sender's note that the whole blob went out (for its CPU time); {} if it did not."""
    try:
        return json.loads(server.expect("SENT ", 5))
    except RuntimeError:
        return {}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda fig: fig.get("msgs_per_s") or 0.0)


def _over_runs(apps: list[dict[str, Any]]) -> dict[str, Any]:
    """The app's figures with a bar of their own, over all its runs: the tick gaps pooled (a
    flood of 400,000 64 B frames lasts ~1.3 s, ~130 gaps: one run's p99 is its second worst
    gap), the median of the runs' RSS growths (a queue's level at the two instants moves it by
    several MiB), and the counts of every run."""
    gaps = [gap for a in apps for gap in a["tick_gaps_ms"]]
    growths = sorted(a["rss_mb"]["growth_after_warmup"] or 0.0 for a in apps)
    return {
        "tick_gap_p99_ms": percentile(gaps, 99) if gaps else None,
        "tick_gaps": len(gaps),
        "rss_growth_after_warmup": growths[len(growths) // 2],
        "rss_growths": growths,
        "identity": all(a["inspector"]["identity"] for a in apps),
        "complete": all(a["recording"]["complete"] for a in apps),
    }


class Flood:
    """One message size, with or without deflate: its sender (another process, idle between
    runs) and the runs made against it so far."""

    def __init__(self, size: int, count: int, timeout: float, deflate: bool) -> None:
        self.size, self.count, self.timeout, self.deflate = size, count, timeout, deflate
        self.flag = ["--deflate"] if deflate else []
        self.server = Child(python("peers.py", "server", "--count", str(count), "--size",
                                   str(size), *self.flag), name=f"sender{size}", stdin=True)
        self.bares: list[dict[str, Any]] = []
        self.apps: list[dict[str, Any]] = []
        self.core: dict[str, Any] = {}
        self.sent: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        """Wait for the sender's blob, then measure its ceiling with a raw sink."""
        self.blob = self.server.json_line("BLOB ", 300)
        self.port = self.server.expect("PORT ", 30)
        sink = Child(python("peers.py", "sink", "--port", self.port, "--count", str(self.count),
                            "--bytes", str(self.blob["bytes"]), "--timeout", str(self.timeout),
                            *self.flag), name="sink")
        with sink:
            self.sink = sink.json_line("SINK ", self.timeout + 10)
        sent(self.server)

    def run(self, role: str, limit: float) -> dict[str, Any]:
        child = Child(python("bench_ingest.py", "--role", role, "--port", self.port,
                             "--count", str(self.count), "--timeout", str(self.timeout)),
                      name=role)
        with child:
            figures = child.json_line(role.upper() + " ", self.timeout + limit)
        self.sent[role] = sent(self.server)
        return figures

    def turn(self) -> None:
        self.bares.append(self.run("bare", 20))
        self.apps.append(self.run("app", 240))

    def finish(self) -> None:
        self.core = self.run("core", 120)
        self.bares.append(self.run("bare", 20))

    def stop(self) -> None:
        self.server.stop()

    def figures(self) -> dict[str, object]:
        # The sender only writes compressed frames to a client that agreed to permessage-deflate
        # (and refuses one that did not offer it), so its notes say what each one negotiated.
        negotiated = {role: self.sent.get(role, {}).get("deflate")
                      for role in ("bare", "app", "core")}
        bares, apps = self.bares, self.apps
        return {"size": self.size, "count": self.count, "deflate": self.deflate,
                "negotiated": negotiated, "wire_bytes_per_msg": self.blob["bytes"] / self.count,
                "sink": self.sink,
                "bare": {**_best(bares), "runs_msgs_per_s": [b["msgs_per_s"] for b in bares]},
                "app": {**_best(apps), "runs_msgs_per_s": [a["msgs_per_s"] for a in apps],
                        "over_runs": _over_runs(apps)},
                "core": self.core,
                "sender_cpu_s": {role: self.sent.get(role, {}).get("cpu_seconds")
                                 for role in ("bare", "app")}}


SMALL = 256  # bytes: floods of smaller messages are twice as long (flood_count)


def flood_count(size: int, count: int) -> int:
    """`count` messages, twice as many below SMALL bytes. The app takes 300-400k msgs/s of 64 B,
    so 400,000 was a ~1 s flood, and its first half ended before the process's allocators had
    settled: RSS rose 8-13 MiB more over the second half, then stayed within 2 MiB from 800,000
    to 1,600,000 messages (Python's traced allocations flat all the while). Half of 800,000 is
    past that slope; 1 KiB floods (~100k msgs/s) already were."""
    return count * 2 if size < SMALL else count


def run_floods(floods: list[Flood], rounds: int) -> None:
    """Bare and app take turns on each flood, `rounds` times, the floods one after the other in
    each round; each side's best run is its figure. This machine's speed drifts by up to 1.6x
    within a minute (a CPU-bound bare run: 120k-240k msgs/s of 1 KiB), and a slow spell would
    otherwise be one flood's ratio: spread this way, each flood's runs are ~30 s apart. The
    app's other bars are taken over all its runs (_over_runs)."""
    try:
        for flood in floods:
            flood.start()
        for _ in range(rounds):
            for flood in floods:
                flood.turn()
        for flood in floods:
            flood.finish()
    finally:
        for flood in floods:
            flood.stop()


def report(fig: dict[str, Any]) -> list[list[object]]:
    """Print one flood's figures; its rows of the summary table."""
    size, count = fig["size"], fig["count"]
    name = f"{size} B" + (" deflate" if fig["deflate"] else "")
    bare_r, app_r = fig["bare"]["msgs_per_s"], fig["app"]["msgs_per_s"]
    sink_r, core_r = fig["sink"]["msgs_per_s"], fig["core"]["msgs_per_s"]
    r = ratio(app_r, bare_r)
    a = fig["app"]
    agreed = "permessage-deflate; server_no_context_takeover" if fig["deflate"] else "none"
    say(f"--- {size} B x {count:,}, extension {agreed} "
        f"({fig['wire_bytes_per_msg']:.1f} B per frame on the wire); "
        f"negotiated by the sender per client: {fig['negotiated']}")
    say(f"sender ceiling (raw sink): {sink_r:,.0f} msgs/s "
        f"({ratio(sink_r, bare_r) or 0:.1f}x the bare client)")
    runs = ", ".join(f"{x or 0:,.0f}" for x in fig["bare"]["runs_msgs_per_s"])
    say(f"bare websockets client:    {bare_r:,.0f} msgs/s (best of {runs}), "
        f"cpu {fig['bare']['cpu_util']:.0%} of a core")
    runs = ", ".join(f"{x or 0:,.0f}" for x in a["runs_msgs_per_s"])
    say(f"app (all panels+recorder): {app_r or 0:,.0f} msgs/s (best of {runs}), "
        f"cpu {a['cpu_util'] or 0:.0%}; ratio {r or 0:.2f}x (target >= {TARGET}x)")
    if a.get("thread_cpu_s"):
        say("  its threads' CPU seconds during the flood: " + ", ".join(
            f"{name} {cpu:.2f}" for name, cpu in sorted(a["thread_cpu_s"].items()) if cpu))
    say(f"core alone (no Qt, recorder on): {core_r or 0:,.0f} msgs/s, "
        f"{ratio(core_r, bare_r) or 0:.2f}x the bare client")
    tg = {k: _ms(v) for k, v in a["tick_gap_ms"].items()}  # none when faster than a probe
    say(f"UI tick gap ms: p50 {tg['p50']}, p99 {tg['p99']}, max {tg['max']}; "
        f"UI caught up {a['ui_lag_s']} s after the last frame")
    rs = a["rss_mb"]
    say(f"RSS MiB: start {rs['start']:.0f}, after warm-up {rs['warm']}, end {rs['end']:.0f}; "
        f"recorder queue at end {a['recorder_queued_at_end']:,}, reads held "
        f"{a['recorder_holds']} times")
    say(f"the core stepped aside for the GUI's redraws: {a['priority_claims']} claims, "
        f"{a['core_stepped_aside_s']:.2f} s of the network's and the recorder's time")
    ins, rec = a["inspector"], a["recording"]
    say(f"inspector: received {ins['received']:,} = shown {ins['shown']:,} + dropped "
        f"{ins['dropped']:,} -> {ins['identity']}; bridge dropped {ins['bridge_dropped']}")
    say(f"recording: {rec['rows']:,} rows for {rec['frame_events']:,} frame events "
        f"({rec['data_rows']:,} data rows of {count:,}) -> complete {rec['complete']}")
    runs = a["over_runs"]
    p99, growth = runs["tick_gap_p99_ms"], runs["rss_growth_after_warmup"]
    growths = ", ".join(f"{g:.1f}" for g in runs["rss_growths"])
    say(f"over the app's runs: tick gap p99 {_ms(p99)} ms ({runs['tick_gaps']} gaps pooled), "
        f"RSS growth median {growth:.1f} MiB (of {growths}), "
        f"counts add up {runs['identity']}, recordings complete {runs['complete']}")
    return [
        [f"ingest {name} msgs/s", rnd(app_r, 0), rnd(bare_r, 0), rnd(r), f">= {TARGET}x",
         bool(r is not None and r >= TARGET)],
        [f"ingest {name} msgs/s, core+recorder without Qt (info)", rnd(core_r, 0),
         rnd(bare_r, 0), rnd(ratio(core_r, bare_r)), None, None],
        [f"ingest {name} tick gap p50/p99/max ms of the best run (p99 of all runs' gaps)",
         f"{tg['p50']}/{tg['p99']}/{tg['max']} ({_ms(p99)})", None, None, "p99 < 50 ms",
         bool(p99 is None or p99 < GAP_TARGET_MS)],
        [f"ingest {name} RSS growth after warm-up MiB (median of the runs)", rnd(growth, 1),
         None, None,
         f"flat (< {FLAT_MIB} MiB)", bool(growth < FLAT_MIB)],
        [f"ingest {name} received=shown+dropped, recording complete (every run)",
         f"{runs['identity']}, {runs['complete']}", None, None, "both true",
         bool(runs["identity"] and runs["complete"])],
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["bare", "app", "core"])
    p.add_argument("--port", type=int)
    p.add_argument("--count", type=int)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--sizes", default="64,1024")
    p.add_argument("--rounds", type=int, help="bare and app runs each (best counts); "
                   "3, or 1 with --smoke")
    p.add_argument("--deflate", choices=["both", "off", "on"], default="both",
                   help="without and with permessage-deflate (both), or one of them")
    args = p.parse_args()
    if args.role == "bare":
        print("BARE " + json.dumps(asyncio.run(bare(args.port, args.count, args.timeout))),
              flush=True)
        return
    if args.role == "core":
        print("CORE " + json.dumps(asyncio.run(core(args.port, args.count, args.timeout))),
              flush=True)
        return
    if args.role == "app":
        from bench.apphost import run_qt

        figures = run_qt(lambda: app(args.port, args.count, args.timeout))
        print("APP " + json.dumps(figures), flush=True)
        return

    count = args.count or (2_000 if args.smoke else 400_000)
    timeout = 30.0 if args.smoke else 180.0
    modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.deflate]
    rounds = args.rounds or (1 if args.smoke else 3)
    out: dict[str, object] = {"count": count, "target": TARGET,
                              "deflate_extension": "permessage-deflate; server_no_context_takeover"}
    floods = [Flood(int(size), flood_count(int(size), count), timeout, deflate)
              for size in args.sizes.split(",") for deflate in modes]
    run_floods(floods, rounds)
    summary = []
    for flood in floods:
        fig = flood.figures()
        out[f"s{flood.size}" + ("_deflate" if flood.deflate else "")] = fig
        summary += report(fig)
    out["summary"] = summary
    result("ingest", out)


if __name__ == "__main__":
    main()
