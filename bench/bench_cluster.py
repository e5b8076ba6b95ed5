"""Benchmark: embedded server fan-out on 1 instance vs 3 instances over Redis, same total clients.

One room, N clients, broadcasts of 100 B (the clients, the broadcaster and the message are
bench_fanout.py's). Configurations, each instance a process of its own:
  single     one RoomServer, no Redis (what `main.py serve` runs)
  single+r   one RoomServer with `redis_url`: the cost of publishing every message once
  cluster3   three RoomServers on one Redis (`main.py serve --redis`), the N clients spread evenly;
             the broadcaster is on the first instance, the others get each message from Redis
Figure: deliveries/s until the last client has all K broadcasts of a burst; ratio cluster3/single.
A throwaway `redis-server` (no persistence) on a free loopback port; skipped without the binary.
On a machine with fewer cores than processes the instances compete for CPU: read the ratio with
the core count beside it (printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_fanout import CLIENT_PROCS, Broadcaster, _until_stdin_closes, broadcast_message
from bench.common import HOST, Child, frame, python, raise_fd_limit, ratio, result, rnd, say


async def instance(redis_url: str | None) -> None:
    from core.server import RoomServer, ServerConfig

    config = ServerConfig(
        host=HOST, port=0, auth=False, rate=1e9, burst=10**9, max_conns_per_ip=100_000,
        ping_interval=0, demo_bots=0, redis_url=redis_url,
    )
    server = RoomServer(config)
    await server.start()
    print(f"PORT {server.port}", flush=True)
    await _until_stdin_closes()
    await server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return proc, f"redis://{HOST}:{port}/0"
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("redis-server did not answer")


def run_one(label: str, instances: int, redis_url: str | None, n: int, burst: int,
            timeout: float) -> dict[str, object]:
    servers: list[Child] = []
    procs: list[tuple[Child, int]] = []
    bc: Broadcaster | None = None
    try:
        args = ["--role", "instance", *(["--redis", redis_url] if redis_url else [])]
        servers = [Child(python("bench_cluster.py", *args), name=f"cluster-{label}-{i}", stdin=True)
                   for i in range(instances)]
        ports = [int(s.expect("PORT ", 60)) for s in servers]
        groups = instances * -(-CLIENT_PROCS // instances)  # The same number per instance.
        per = [n // groups + (1 if i < n % groups else 0) for i in range(groups)]
        for i, k in enumerate(per):
            if k:
                port = ports[i % instances]
                procs.append((Child(python("bench_fanout.py", "--role", "clients", "--port",
                                           str(port), "--n", str(k), "--timeout", str(timeout)),
                                    name=f"cluster-clients{i}", stdin=True), k))
        for c, _ in procs:
            c.expect("JOINED", timeout)
        for c, _ in procs:
            c.expect("READY", timeout)
        bc = Broadcaster(ports[0])
        time.sleep(2.5 if redis_url else 0.5)  # Every instance has seen every join.
        blob = b"".join(frame(1, broadcast_message(j), mask=True) for j in range(1, burst + 1))
        for c, k in procs:
            c.send(f"EXPECT {k * burst} burst {timeout}")
        time.sleep(0.05)
        t = time.monotonic()
        bc.send(blob)
        done = [c.json_line("burst ", timeout + 10) for c, _ in procs]
        finished = all(d["t"] is not None for d in done)
        wall = (max(d["t"] for d in done) - t) if finished else None
        return {"config": label, "instances": instances, "clients": n, "burst": burst,
                "burst_s": wall, "deliveries_per_s": n * burst / wall if wall else None,
                "delivered": sum(d["total"] for d in done)}
    finally:
        if bc is not None:
            bc.close()
        for c, _ in procs:
            c.stop(timeout=5)
        for s in servers:
            s.stop(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["instance"])
    p.add_argument("--redis")
    p.add_argument("--sizes", help="client counts, e.g. 300,900")
    args = p.parse_args()
    if args.role == "instance":
        asyncio.run(instance(args.redis))
        return
    if shutil.which("redis-server") is None:
        say("skipped: redis-server is not installed (apt-get install redis-server)")
        result("cluster", {"skipped": "redis-server is not installed"})
        return
    raise_fd_limit()
    sizes = [int(s) for s in (args.sizes or ("30" if args.smoke else "300,900")).split(",")]
    timeout = 60.0 if args.smoke else 180.0
    redis, url = start_redis()
    out: dict[str, object] = {"cores": os.cpu_count(), "runs": []}
    summary = []
    try:
        for n in sizes:
            burst = 20 if args.smoke else max(100, 300_000 // n)
            runs = {
                "single": run_one("single", 1, None, n, burst, timeout),
                "single+r": run_one("single+r", 1, url, n, burst, timeout),
                "cluster3": run_one("cluster3", 3, url, n, burst, timeout),
            }
            say(f"--- {n} clients, {burst} broadcasts of 100 B, {os.cpu_count()} cores")
            for label, r in runs.items():
                say(f"{label:9s} {r['deliveries_per_s'] or 0:>10,.0f} deliveries/s "
                    f"in {r['burst_s'] or 0:.2f} s")
                out["runs"].append(r)  # type: ignore[attr-defined]
            single = runs["single"]["deliveries_per_s"]
            for label in ("single+r", "cluster3"):
                value = runs[label]["deliveries_per_s"]
                summary.append([f"fan-out {n} clients deliveries/s, {label} vs single",
                                rnd(value, 0), rnd(single, 0), rnd(ratio(value, single), 2),  # type: ignore[arg-type]
                                None, None])
            out[f"n{n}_ratio_cluster3"] = ratio(runs["cluster3"]["deliveries_per_s"], single)  # type: ignore[arg-type]
    finally:
        redis.terminate()
        redis.wait(10)
    out["summary"] = summary
    result("cluster", out)


if __name__ == "__main__":
    main()
