"""Benchmark 5, scale: 1,000 simultaneous connections from one app, each with a 1 s heartbeat.

The server is `python main.py serve --no-auth --max-conns-per-ip 2000 --port 0` in a process of
its own. The app is the real window offscreen (every panel, the bridge ticking every 50 ms, the
session Recorder as ui/app.py starts it) with N connections added straight to its
ConnectionManager (as the connections panel does, without selecting each one), in steps of 50.
Once all are open and 2 s have passed: the app process's CPU over the measuring window (as a share
of one core), the UI tick gap (10 ms precise QTimer) p50/p99/max, RSS and RSS per connection,
and the RTT samples that came in (about N per second when every heartbeat is answered).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Child,
    cpu_seconds,
    percentile,
    rnd,
    rss_mb,
    say,
)

CPU_TARGET, GAP_TARGET_MS = 0.5, 50.0
STEP = 50


async def add_connections(manager: Any, port: int, n: int, name: str) -> None:
    """n connections with a 1 s heartbeat, opened in steps of STEP."""
    from core.config import ConnectionConfig, HeartbeatConfig

    for i in range(n):
        manager.add(ConnectionConfig(url=f"ws://127.0.0.1:{port}/", name=f"{name}-{i + 1}",
                                     heartbeat=HeartbeatConfig(interval=1.0, timeout=10.0)),
                    connect=True)
        if (i + 1) % STEP == 0:
            await asyncio.sleep(0.1)


async def app(port: int, n: int, seconds: float, timeout: float) -> dict[str, object]:
    from bench.apphost import TickProbe, open_app, until
    from core.events import LatencySample
    from core.states import ConnState

    session = open_app([])
    manager = session.manager
    await asyncio.sleep(0.8)
    rss0 = rss_mb()
    t_add = time.monotonic()
    await add_connections(manager, port, n, "scale")
    conns = manager.list()
    all_open = await until(lambda: all(c.state is ConnState.OPEN for c in conns), timeout, 0.1)
    open_s = time.monotonic() - t_add
    await asyncio.sleep(2.0)
    samples = [0]

    def count(event: object) -> None:
        if type(event) is LatencySample:
            samples[0] += 1

    manager.hub.subscribe(count)
    probe = TickProbe()
    probe.start()
    cpu0, t0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds(), time.monotonic()
    probe.stop()
    rss1 = rss_mb()
    gaps = probe.gaps
    still_open = sum(c.state is ConnState.OPEN for c in conns)
    rtts = [c.metrics.last_rtt() for c in conns]
    rtts_ms = [r * 1000 for r in rtts if r is not None]
    probe.close()
    await session.close()
    return {
        "connections": n, "all_open": all_open, "open_after_s": open_s,
        "still_open": still_open,
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "tick_gap_ms": {"p50": percentile(gaps, 50), "p99": percentile(gaps, 99),
                        "max": max(gaps) if gaps else None, "n": len(gaps)},
        "rss_mb": {"before": rss0, "with_connections": rss1},
        "kb_per_conn": (rss1 - rss0) * 1024 / n,
        "rtt_samples_per_s": samples[0] / (t1 - t0),
        "last_rtt_ms": {"p50": percentile(rtts_ms, 50), "p99": percentile(rtts_ms, 99)},
    }


async def core(port: int, n: int, seconds: float, timeout: float) -> dict[str, object]:
    """For information: the same connections on the core alone (plain asyncio, no Qt), a deque
    subscriber drained every 50 ms standing in for the bridge."""
    from collections import deque

    from bench.common import raise_fd_limit
    from core.manager import ConnectionManager
    from core.states import ConnState

    raise_fd_limit()
    manager = ConnectionManager()
    buf: deque[object] = deque(maxlen=200_000)
    manager.hub.subscribe(buf.append)

    async def drain() -> None:
        for _ in range(1_000_000):
            await asyncio.sleep(0.05)
            buf.clear()

    drainer = asyncio.create_task(drain())
    rss0 = rss_mb()
    await add_connections(manager, port, n, "core")
    conns = manager.list()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(c.state is ConnState.OPEN for c in conns):
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    cpu0, t0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds(), time.monotonic()
    rss1 = rss_mb()
    drainer.cancel()
    await manager.close_all()
    return {"cpu_share": (cpu1 - cpu0) / (t1 - t0), "kb_per_conn": (rss1 - rss0) * 1024 / n,
            "open": sum(c.state is ConnState.OPEN for c in conns)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["app", "core"])
    p.add_argument("--port", type=int)
    p.add_argument("--n", type=int)
    p.add_argument("--seconds", type=float)
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()
    n = args.n or (50 if args.smoke else 1000)
    seconds = args.seconds or (1.0 if args.smoke else 10.0)
    if args.role == "core":
        print("CORE " + json.dumps(asyncio.run(core(args.port, n, seconds, args.timeout))),
              flush=True)
        return
    if args.role == "app":
        from bench.apphost import run_qt

        figures = run_qt(lambda: app(args.port, n, seconds, args.timeout))
        print("APP " + json.dumps(figures), flush=True)
        return

    from bench.common import python, raise_fd_limit, result

    raise_fd_limit()
    server = Child([sys.executable, str(ROOT / "main.py"), "serve", "--no-auth",
                    "--max-conns-per-ip", "2000", "--port", "0"], name="scale-server", stdin=True)
    try:
        url = server.expect("listening ", 60)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server_rss0 = rss_mb(server.pid)
        app_c = Child(python("bench_scale.py", "--role", "app", "--port", str(port),
                             "--n", str(n), "--seconds", str(seconds),
                             "--timeout", str(args.timeout)), name="scale-app")
        with app_c:
            fig = app_c.json_line("APP ", args.timeout + seconds + 120)
        fig["server_rss_mb"] = {"before": server_rss0, "after": rss_mb(server.pid)}
        core_c = Child(python("bench_scale.py", "--role", "core", "--port", str(port),
                              "--n", str(n), "--seconds", str(seconds),
                              "--timeout", str(args.timeout)), name="scale-core")
        with core_c:
            fig["core"] = core_c.json_line("CORE ", args.timeout + seconds + 120)
    finally:
        server.stop()
    cpu, gap = fig["cpu_share"], fig["tick_gap_ms"]
    say(f"{n} connections open after {fig['open_after_s']:.1f} s (all: {fig['all_open']}, "
        f"still open at the end: {fig['still_open']})")
    say(f"app CPU {cpu:.0%} of one core over {seconds:g} s (target < {CPU_TARGET:.0%}); "
        f"RTT samples {fig['rtt_samples_per_s']:.0f}/s")
    say(f"UI tick gap ms: p50 {gap['p50']:.1f}, p99 {gap['p99']:.1f} (target < {GAP_TARGET_MS:g}),"
        f" max {gap['max']:.1f}")
    say(f"RSS {fig['rss_mb']['with_connections']:.0f} MiB ({fig['kb_per_conn']:.0f} KiB per "
        "connection)")
    say(f"core alone (no Qt): CPU {fig['core']['cpu_share']:.0%} of one core, "
        f"{fig['core']['kb_per_conn']:.0f} KiB per connection")
    result("scale", {**fig, "seconds": seconds, "summary": [
        [f"scale {n} conns app CPU (share of a core)", rnd(cpu, 3), None, None,
         f"< {CPU_TARGET}", bool(cpu < CPU_TARGET)],
        [f"scale {n} conns UI tick gap p99 ms", rnd(gap["p99"], 1), None, None,
         f"< {GAP_TARGET_MS:g} ms", bool(gap["p99"] < GAP_TARGET_MS)],
        [f"scale {n} conns CPU, core without Qt (info)", rnd(fig["core"]["cpu_share"], 3),
         None, None, None, None],
        [f"scale {n} conns RSS MiB (KiB/conn)",
         f"{fig['rss_mb']['with_connections']:.0f} ({fig['kb_per_conn']:.0f})", None, None,
         None, None],
    ]})


if __name__ == "__main__":
    main()
