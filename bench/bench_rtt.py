"""Benchmark 2, RTT fidelity: the heartbeat RTT the app records vs a bare websockets client.

One raw server process (bench/peers.py: answers every ping at once). At the same time, in two
other processes:
  app   the real app offscreen (all panels, recorder) with one connection whose protocol heartbeat
        runs every 0.05 s; its RTT is read from Connection.metrics.rtt, what the charts plot
  bare  `websockets.asyncio.client.connect`, then `await (await ws.ping())` every 0.05 s
  core  (for information) the same Connection on plain asyncio without Qt, flooded like the app
Phase "idle": no traffic. Phase "flood": the server sends the app's (and core's) connection
20,000 msgs/s of 64 B JSON each (the bare client's connection stays quiet: it measures the server
and the network).
Figures: p50 and p99 of each and app/bare, per phase (targets: p50 <= 1.3x, p99 <= 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Child, percentile, python, ratio, result, rnd, say

INTERVAL = 0.05
FLOOD_RATE = 20_000
P50_TARGET, P99_TARGET = 1.3, 2.0
FLOOD_DELAY = 1.2  # seconds from the end of the idle phase to the flood window


def windows(t0: float, d: float) -> dict[str, tuple[float, float]]:
    return {"idle": (t0, t0 + d), "flood": (t0 + d + FLOOD_DELAY, t0 + 2 * d + FLOOD_DELAY)}


async def sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))


def stats(values: list[float]) -> dict[str, object]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else None}


async def bare(port: int, d: float) -> dict[str, object]:
    from websockets.asyncio.client import connect

    samples: list[tuple[float, float]] = []
    async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        t0 = float(line.split()[1])
        end = t0 + 2 * d + FLOOD_DELAY + 0.2
        for _ in range(1_000_000):
            now = time.monotonic()
            if now > end:
                break
            async with asyncio.timeout(5):
                latency = await (await ws.ping())
            samples.append((now, latency))
            await asyncio.sleep(INTERVAL)
    return {name: stats([rtt for t, rtt in samples if lo <= t < hi])
            for name, (lo, hi) in windows(t0, d).items()}


async def app(port: int, d: float) -> dict[str, object]:
    from bench.apphost import TickProbe, open_app, stdin_line, until
    from core.config import ConnectionConfig, HeartbeatConfig
    from core.states import ConnState

    session = open_app([])
    conn_id = session.window.connections.add_connection(ConnectionConfig(
        url=f"ws://127.0.0.1:{port}/", name="rtt",
        heartbeat=HeartbeatConfig(interval=INTERVAL, timeout=5.0),
    ))
    assert conn_id is not None
    conn = session.manager.get(conn_id)
    if not await until(lambda: conn.state is ConnState.OPEN, 30):
        raise RuntimeError("the app's connection did not open")
    probe = TickProbe()
    print("READY", flush=True)
    t0 = float((await stdin_line()).split()[1])
    win = windows(t0, d)
    gaps: dict[str, list[float]] = {}
    msgs: dict[str, int] = {}
    for name, (lo, hi) in win.items():
        if name == "flood":
            await sleep_until(lo - FLOOD_DELAY + 0.2)
            await conn.send("flood")  # the server starts pacing frames to this connection
        await sleep_until(lo)
        probe.start()
        before = conn.metrics.msgs_in
        await sleep_until(hi)
        msgs[name] = conn.metrics.msgs_in - before
        probe.stop()
        gaps[name] = list(probe.gaps)
    await asyncio.sleep(0.3)
    offset = time.time() - time.monotonic()  # the ring stores wall time
    view = conn.metrics.rtt.view()
    out: dict[str, object] = {}
    for name, (lo, hi) in win.items():
        values = [float(rtt) for t, rtt in view if lo + offset <= t < hi + offset]
        g = gaps[name]
        out[name] = {**stats(values), "msgs_per_s": msgs[name] / (hi - lo),
                     "tick_gap_ms": {"p50": percentile(g, 50), "p99": percentile(g, 99),
                                     "max": max(g) if g else None}}
    probe.close()
    await until(lambda: True, 0)
    await session.close()
    return out


async def core(port: int, d: float) -> dict[str, object]:
    """The same connection on the core alone (plain asyncio, no Qt): a deque subscriber drained
    every 50 ms stands in for the bridge. Tells the GUI loop's share from the core's."""
    from collections import deque

    from core.config import ConnectionConfig, HeartbeatConfig
    from core.manager import ConnectionManager
    from core.states import ConnState

    manager = ConnectionManager()
    buf: deque[object] = deque(maxlen=200_000)
    manager.hub.subscribe(buf.append)
    conn = manager.add(ConnectionConfig(
        url=f"ws://127.0.0.1:{port}/", name="rtt-core",
        heartbeat=HeartbeatConfig(interval=INTERVAL, timeout=5.0),
    ), connect=True)
    await conn.wait_for_state(ConnState.OPEN, 30)

    async def drain() -> None:
        for _ in range(100_000):
            await asyncio.sleep(0.05)
            buf.clear()

    drainer = asyncio.create_task(drain())
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = float(line.split()[1])
    win = windows(t0, d)
    msgs: dict[str, int] = {}
    for name, (lo, hi) in win.items():
        if name == "flood":
            await sleep_until(lo - FLOOD_DELAY + 0.2)
            await conn.send("flood")
        await sleep_until(lo)
        before = conn.metrics.msgs_in
        await sleep_until(hi)
        msgs[name] = conn.metrics.msgs_in - before
    await asyncio.sleep(0.3)
    offset = time.time() - time.monotonic()
    view = conn.metrics.rtt.view()
    out: dict[str, object] = {}
    for name, (lo, hi) in win.items():
        values = [float(rtt) for t, rtt in view if lo + offset <= t < hi + offset]
        out[name] = {**stats(values), "msgs_per_s": msgs[name] / (hi - lo)}
    drainer.cancel()
    await manager.close_all()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["bare", "app", "core"])
    p.add_argument("--port", type=int)
    p.add_argument("--seconds", type=float)
    args = p.parse_args()
    d = args.seconds or (1.0 if args.smoke else 15.0)
    if args.role == "bare":
        print("BARE " + json.dumps(asyncio.run(bare(args.port, d))), flush=True)
        return
    if args.role == "core":
        print("CORE " + json.dumps(asyncio.run(core(args.port, d))), flush=True)
        return
    if args.role == "app":
        from bench.apphost import run_qt

        print("APP " + json.dumps(run_qt(lambda: app(args.port, d))), flush=True)
        return

    server = Child(python("peers.py", "server", "--size", "64", "--rate", str(FLOOD_RATE),
                          "--seconds", str(d + 3)), name="rttserver", stdin=True)
    try:
        port = server.expect("PORT ", 60)
        common = ["--port", port, "--seconds", str(d)]
        app_c = Child(python("bench_rtt.py", "--role", "app", *common), name="rttapp", stdin=True)
        bare_c = Child(python("bench_rtt.py", "--role", "bare", *common), name="rttbare",
                       stdin=True)
        core_c = Child(python("bench_rtt.py", "--role", "core", *common), name="rttcore",
                       stdin=True)
        with app_c, bare_c, core_c:
            app_c.expect("READY", 90)
            bare_c.expect("READY", 30)
            core_c.expect("READY", 30)
            t0 = time.monotonic() + 0.5
            for child in (app_c, bare_c, core_c):
                child.send(f"GO {t0}")
            span = 2 * d + FLOOD_DELAY + 60
            bare_fig = bare_c.json_line("BARE ", span)
            core_fig = core_c.json_line("CORE ", span)
            app_fig = app_c.json_line("APP ", span)
    finally:
        server.stop()
    out: dict[str, object] = {"interval_s": INTERVAL, "seconds_per_phase": d,
                              "flood_msgs_per_s": FLOOD_RATE, "app": app_fig, "bare": bare_fig,
                              "core": core_fig}
    summary = []
    for phase in ("idle", "flood"):
        a, b = app_fig[phase], bare_fig[phase]
        r50 = ratio(a["p50_ms"], b["p50_ms"])
        r99 = ratio(a["p99_ms"], b["p99_ms"])
        out[f"{phase}_p50_ratio"], out[f"{phase}_p99_ratio"] = r50, r99
        say(f"--- {phase}" + (f" (app receives {a['msgs_per_s']:,.0f} msgs/s)"
                              if phase == "flood" else ""))
        say(f"app  RTT ms: p50 {a['p50_ms']:.3f}, p99 {a['p99_ms']:.3f}, max {a['max_ms']:.3f} "
            f"({a['n']} samples); UI tick gap p99 {a['tick_gap_ms']['p99']:.1f} ms")
        say(f"bare RTT ms: p50 {b['p50_ms']:.3f}, p99 {b['p99_ms']:.3f}, max {b['max_ms']:.3f} "
            f"({b['n']} samples)")
        c = core_fig[phase]
        say(f"core RTT ms: p50 {c['p50_ms']:.3f}, p99 {c['p99_ms']:.3f}, max {c['max_ms']:.3f} "
            f"({c['n']} samples; Connection on plain asyncio, no Qt)")
        say(f"ratio: p50 {r50 or 0:.2f}x (target <= {P50_TARGET}x), "
            f"p99 {r99 or 0:.2f}x (target <= {P99_TARGET}x)")
        summary.append([f"RTT {phase} p50 ms", rnd(a["p50_ms"]), rnd(b["p50_ms"]), rnd(r50, 2),
                        f"<= {P50_TARGET}x", bool(r50 is not None and r50 <= P50_TARGET)])
        summary.append([f"RTT {phase} p99 ms", rnd(a["p99_ms"]), rnd(b["p99_ms"]), rnd(r99, 2),
                        f"<= {P99_TARGET}x", bool(r99 is not None and r99 <= P99_TARGET)])
        summary.append([f"RTT {phase} p50/p99 ms, core without Qt (info)",
                        f"{c['p50_ms']:.3f}/{c['p99_ms']:.3f}", None,
                        f"{ratio(c['p50_ms'], b['p50_ms']) or 0:.2f}/"
                        f"{ratio(c['p99_ms'], b['p99_ms']) or 0:.2f}", None, None])
    out["summary"] = summary
    result("rtt", out)


if __name__ == "__main__":
    main()
