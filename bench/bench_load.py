"""Benchmark: Locust-driven load against the local runner, the same scenario and server.

The server is `main.py serve` in a process of its own (no auth; rate, burst and connections
per IP raised so it never throttles the load). Each runner offers far more than it can send:
U clients each asking for R requests/s (a ping with a requestId, the reply expected within 5 s).
Reported: replies/s achieved over the run (from its final stats), reply p50/p95/p99, and each
Locust figure's ratio to the local runner's (one process on one asyncio loop). Locust runs as
master + 1 worker and master + 2 workers (gevent, one process each).

    python bench/bench_load.py [--smoke] [--users U] [--rate R] [--duration S]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, child_env, ratio, result, rnd, say, table
from core.load.local_run import run_local
from core.load.locust_run import LocustOptions, run_locust
from core.load.plan import LoadPlan, make_plan
from core.load.scenario import Expectation, Scenario, SendPattern
from core.load.stats import LoadStats


@contextlib.contextmanager
def server() -> Iterator[str]:
    cmd = [sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", "--no-auth",
           "--rate", "100000", "--burst", "100000", "--max-conns-per-ip", "10000",
           "--ping-interval", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=child_env(), cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"ws://\S+", line)
        if found is None:
            raise RuntimeError(f"the server did not start: {line!r}")
        yield found.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def figures(final: LoadStats, seconds: float) -> dict[str, float | None]:
    return {"replies_per_s": rnd(final.reply.requests / seconds, 1),
            "sends": final.send.requests, "replies": final.reply.requests,
            "failures": final.failures, "p50_ms": final.p50, "p95_ms": final.p95,
            "p99_ms": final.p99}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes")
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--rate", type=float, default=50.0, help="requests/s asked of each client")
    p.add_argument("--duration", type=float, default=20.0)
    args = p.parse_args()
    users, rate, duration = (5, 5.0, 2.0) if args.smoke else (args.users, args.rate,
                                                               args.duration)
    runs: dict[str, dict[str, float | None]] = {}
    with server() as url, tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(name="bench", url=url,
                            send=SendPattern(messages=['{"type":"ping"}'], rate=rate),
                            expect=Expectation(kind="reply", within=5.0))
        plan: LoadPlan = make_plan(scenario, None, users=users, spawn_rate=max(users, 1) * 2.0,
                                   duration=duration)
        say(f"{users} clients x {rate:g} requests/s asked, {duration:g} s, server {url}")
        runs["local"] = figures(run_local(plan, lambda _: None), duration)
        say("local", runs["local"])
        for workers in (1, 2):
            options = LocustOptions(workers=workers, out_dir=Path(tmp) / f"w{workers}")
            started = time.monotonic()
            final = run_locust(plan, options, lambda _: None)
            runs[f"locust_{workers}w"] = figures(final, duration)
            say(f"locust {workers} worker(s)", runs[f"locust_{workers}w"],
                f"(the run took {time.monotonic() - started:.1f} s with start and settling)")
    base = runs["local"]["replies_per_s"]
    rows = [[name, r["replies_per_s"], rnd(ratio(r["replies_per_s"], base), 2), r["p50_ms"],
             r["p95_ms"], r["p99_ms"], r["failures"]] for name, r in runs.items()]
    say(table(rows, ["runner", "replies/s", "x local", "p50 ms", "p95 ms", "p99 ms", "failed"]))
    result("load", {"users": users, "rate": rate, "duration": duration, **runs,
                    "summary": rows})


if __name__ == "__main__":
    main()
