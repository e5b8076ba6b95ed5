"""Benchmark 3, embedded server fan-out: one room, N clients, broadcasts of 100 B.

Servers, each in a process of its own, against the same clients in the same run:
  embedded    core.server.RoomServer (PROTOCOL.md) with ServerConfig(auth=False, rate and burst
              raised, max_conns_per_ip raised, no health pings): what `main.py serve` runs
  websockets  a plain websockets server written here: join_room -> ack, broadcast ->
              websockets.broadcast() to the other members
  node        bench/node/fanout_server.mjs on the `ws` package (skipped without node)
Clients: 4 processes of raw sockets (hand-made handshake; frames are counted by a marker in the
broadcast data with one bytes.count() per read, so the clients cost little). Each joins "bench" by
PROTOCOL.md (`join_room` with a requestId, waits for the ack). One more raw client, here, joins
last and broadcasts: first P single broadcasts one at a time (time from the send to the last
client that has it), then K broadcasts written at once (deliveries/s until the last client has
all of them). Memory: server RSS after all N joined minus before, per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH,
    HOST,
    Child,
    client_handshake,
    cpu_seconds,
    frame,
    percentile,
    python,
    raise_fd_limit,
    ratio,
    result,
    rnd,
    rss_mb,
    say,
)

ROOM = "bench"
MARK = b"~bm~"
CLIENT_PROCS = 4
MSG_SIZE = 100  # bytes of the broadcast message a client sends
TARGET_WS, TARGET_NODE = 1.0, 0.8
BURST_PASS = 0.05  # seconds between the clients' read passes during a burst


def broadcast_message(seq: int) -> bytes:
    base = f'{{"type":"broadcast","room":"{ROOM}","data":"~bm~{seq:08d}"}}'
    pad = MSG_SIZE - len(base)
    return (base[:-2] + "x" * pad + '"}').encode()


# ----- servers ----------------------------------------------------------------------------------


async def embedded_server() -> None:
    from core.server import RoomServer, ServerConfig

    config = ServerConfig(
        host=HOST, port=0, auth=False, rate=1e9, burst=10**9, max_conns_per_ip=100_000,
        ping_interval=0, demo_bots=0,
    )
    server = RoomServer(config)
    await server.start()
    print(f"PORT {server.port}", flush=True)
    await _until_stdin_closes()
    await server.stop()


async def websockets_server() -> None:
    from websockets.asyncio.server import broadcast, serve

    rooms: dict[str, set] = {}

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        client_id = os.urandom(6).hex()
        joined: set[str] = set()
        await ws.send(json.dumps({"type": "connected", "clientId": client_id,
                                  "timestamp": int(time.time() * 1000)}))
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                kind, room = msg.get("type"), msg.get("room")
                if kind == "join_room" and isinstance(room, str):
                    rooms.setdefault(room, set()).add(ws)
                    joined.add(room)
                    if "requestId" in msg:
                        await ws.send(json.dumps({"type": "ack", "requestId": msg["requestId"]}))
                elif kind == "broadcast" and room in joined:
                    out = json.dumps({"type": "broadcast", "room": room, "data": msg.get("data"),
                                      "from": client_id, "timestamp": int(time.time() * 1000)})
                    broadcast([c for c in rooms[room] if c is not ws], out)
        finally:
            for room in joined:
                rooms[room].discard(ws)

    async with serve(handler, HOST, 0, ping_interval=None, compression=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await _until_stdin_closes()


async def _until_stdin_closes(timeout: float = 900.0) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        if not os.read(sys.stdin.fileno(), 4096) and not done.done():
            done.set_result(None)

    loop.add_reader(sys.stdin.fileno(), readable)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await done


# ----- clients (a process of many raw connections) ----------------------------------------------


def clients(port: int, n: int, timeout: float) -> None:
    raise_fd_limit()
    socks: list[socket.socket] = []
    join = frame(1, json.dumps({"type": "join_room", "room": ROOM, "requestId": "j"}).encode(),
                 mask=True)
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_handshake(s, "/", port, timeout=30)
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    tails = {s.fileno(): b"" for s in socks}
    acked: set[int] = set()
    for s in socks:
        sel.register(s, selectors.EVENT_READ, s)
        s.send(join)
    stdin = sys.stdin.fileno()
    sel.register(stdin, selectors.EVENT_READ, None)
    total = 0
    rx_bytes = 0
    target: tuple[int, str, float] | None = None  # (count, label, deadline)
    last_data = time.monotonic()
    joined_at: float | None = None
    ready = False
    deadline = time.monotonic() + timeout
    keep = len(MARK) - 1
    while time.monotonic() < deadline:
        if target is not None and target[1] == "burst":
            # During the burst, let each socket gather frames between passes so that one recv()
            # takes many: a server that writes one segment per message would otherwise cost the
            # clients a syscall per delivery and make them the bottleneck. Adds <= 50 ms to a
            # burst of seconds.
            time.sleep(BURST_PASS)
        for key, _ in sel.select(0.05):
            if key.data is None:
                line = os.read(stdin, 4096).decode()
                if not line:
                    return
                for cmd in line.split("\n"):
                    parts = cmd.split()
                    if parts and parts[0] == "EXPECT":
                        target = (int(parts[1]), parts[2], time.monotonic() + float(parts[3]))
                        if parts[2] == "burst":
                            cpu_at_burst = cpu_seconds()
                continue
            s = key.data
            fd = s.fileno()
            try:
                chunk = s.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(s)
                continue
            rx_bytes += len(chunk)
            data = tails[fd] + chunk
            total += data.count(MARK)
            tails[fd] = data[-keep:]
            last_data = time.monotonic()
            if fd not in acked and b'"ack"' in data:
                acked.add(fd)
        now = time.monotonic()
        if joined_at is None and len(acked) == n:
            joined_at = now
            print("JOINED", flush=True)
        if joined_at is not None and not ready and now - last_data > 0.3:
            ready = True
            print(f"READY {rss_mb():.1f}", flush=True)
        if target is not None:
            count, label, until = target
            if total >= count:
                extra = {"cpu_s": cpu_seconds() - cpu_at_burst} if label == "burst" else {}
                print(f"{label} " + json.dumps({"t": now, "total": total, "rx_bytes": rx_bytes,
                                                **extra}), flush=True)
                target = None
            elif now > until:
                print(f"{label} " + json.dumps({"t": None, "total": total}), flush=True)
                target = None


# ----- the broadcaster (in the orchestrator) ----------------------------------------------------


class Broadcaster:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rest = client_handshake(self.sock, "/", port)
        self.sock.sendall(frame(1, json.dumps(
            {"type": "join_room", "room": ROOM, "requestId": "j"}).encode(), mask=True))
        data = rest
        deadline = time.monotonic() + 30
        while b'"ack"' not in data and time.monotonic() < deadline:
            data = data[-16:] + self.sock.recv(65536)
        if b'"ack"' not in data:
            raise RuntimeError("the broadcaster's join was not acknowledged")
        self.sock.settimeout(None)
        self._drain = threading.Thread(target=self._discard, daemon=True)
        self._drain.start()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            while self.sock.recv(1 << 20):
                pass

    def send(self, blob: bytes) -> None:
        self.sock.sendall(blob)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(frame(8, b"\x03\xe8", mask=True))
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


# ----- orchestration ----------------------------------------------------------------------------


def server_command(kind: str) -> list[str] | None:
    if kind == "node":
        node = shutil.which("node")
        script = BENCH / "node" / "fanout_server.mjs"
        if node is None or not (BENCH / "node" / "node_modules" / "ws").is_dir():
            return None
        return [node, str(script)]
    return python("bench_fanout.py", "--role", f"{kind}-server")


def node_missing_reason() -> str:
    if shutil.which("node") is None:
        return "node is not installed"
    return "the ws package is missing: run `npm install` in bench/node"


def run_one(kind: str, n: int, probes: int, burst: int, timeout: float) -> dict[str, object]:
    cmd = server_command(kind)
    assert cmd is not None
    server = Child(cmd, name=f"fanout-{kind}", stdin=True)
    procs: list[Child] = []
    bc: Broadcaster | None = None
    try:
        port = int(server.expect("PORT ", 60))
        time.sleep(0.3)
        rss0 = rss_mb(server.pid)
        per = [n // CLIENT_PROCS + (1 if i < n % CLIENT_PROCS else 0) for i in range(CLIENT_PROCS)]
        started = time.monotonic()
        for i, k in enumerate(p for p in per if p):
            procs.append(Child(python("bench_fanout.py", "--role", "clients", "--port", str(port),
                                      "--n", str(k), "--timeout", str(timeout)),
                               name=f"clients{i}", stdin=True))
        client_rss = 0.0
        for c in procs:
            c.expect("JOINED", timeout)
        for c in procs:
            client_rss += float(c.expect("READY", timeout))
        setup_s = time.monotonic() - started
        time.sleep(0.2)
        rss1 = rss_mb(server.pid)
        bc = Broadcaster(port)
        cpu0 = cpu_seconds(server.pid)
        latencies = []
        for i in range(1, probes + 1):
            for c, k in zip(procs, [p for p in per if p], strict=True):
                c.send(f"EXPECT {k * i} probe 10")
            time.sleep(0.02)
            t = time.monotonic()
            bc.send(frame(1, broadcast_message(i), mask=True))
            ends = [c.json_line("probe ", 15)["t"] for c in procs]
            if all(e is not None for e in ends):
                latencies.append((max(ends) - t) * 1000)
            time.sleep(0.02)
        blob = b"".join(frame(1, broadcast_message(probes + j), mask=True)
                        for j in range(1, burst + 1))
        for c, k in zip(procs, [p for p in per if p], strict=True):
            c.send(f"EXPECT {k * (probes + burst)} burst {timeout}")
        time.sleep(0.05)
        t = time.monotonic()
        bc.send(blob)
        done = [c.json_line("burst ", timeout + 10) for c in procs]
        server_cpu = cpu_seconds(server.pid) - cpu0
        finished = all(d["t"] is not None for d in done)
        wall = (max(d["t"] for d in done) - t) if finished else None
        deliveries = n * burst
        rx = sum(d.get("rx_bytes", 0) for d in done)
        return {
            "server": kind, "clients": n, "probes": probes, "burst": burst,
            "setup_s": setup_s,
            "latency_ms": {"p50": percentile(latencies, 50), "max": max(latencies, default=None),
                           "n": len(latencies)},
            "burst_s": wall,
            "deliveries_per_s": deliveries / wall if wall else None,
            "server_cpu_s": server_cpu,
            "client_cpu_s": sum(d.get("cpu_s", 0.0) for d in done),
            "rss_mb": {"before": rss0, "after_join": rss1},
            "kb_per_conn": (rss1 - rss0) * 1024 / n,
            "client_rss_mb": client_rss,
            "rx_bytes": rx,
        }
    finally:
        if bc is not None:
            bc.close()
        for c in procs:
            c.stop(timeout=5)
        server.stop(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["embedded-server", "websockets-server", "clients"])
    p.add_argument("--port", type=int)
    p.add_argument("--n", type=int)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--sizes", help="client counts, e.g. 100,500,1000")
    args = p.parse_args()
    if args.role == "embedded-server":
        asyncio.run(embedded_server())
        return
    if args.role == "websockets-server":
        asyncio.run(websockets_server())
        return
    if args.role == "clients":
        clients(args.port, args.n, args.timeout)
        return

    raise_fd_limit()
    sizes = [int(s) for s in (args.sizes or ("20" if args.smoke else "100,500,1000")).split(",")]
    probes = 3 if args.smoke else 20
    timeout = 60.0 if args.smoke else 180.0
    kinds = ["embedded", "websockets", "node"]
    node_note = None
    if server_command("node") is None:
        kinds.remove("node")
        node_note = f"node column skipped: {node_missing_reason()}"
        say(node_note)
    out: dict[str, object] = {"node_note": node_note, "runs": []}
    summary = []
    for n in sizes:
        burst = 50 if args.smoke else max(100, 600_000 // n)
        runs = {kind: run_one(kind, n, probes, burst, timeout) for kind in kinds}
        say(f"--- {n} clients, {burst} broadcasts of {MSG_SIZE} B (then {probes} single ones)")
        for kind, r in runs.items():
            lat = r["latency_ms"]
            say(f"{kind:11s} {r['deliveries_per_s'] or 0:>10,.0f} deliveries/s, last client "
                f"after {lat['p50']:.1f} ms (p50 of {lat['n']}), max {lat['max'] or 0:.1f} ms; "
                f"{r['kb_per_conn']:.1f} KiB/conn; server CPU {r['server_cpu_s']:.2f} s, "
                f"clients CPU {r['client_cpu_s']:.2f} s in {r['burst_s'] or 0:.2f} s")
            out["runs"].append(r)  # type: ignore[attr-defined]
        emb = runs["embedded"]["deliveries_per_s"]
        r_ws = ratio(emb, runs["websockets"]["deliveries_per_s"])
        summary.append([f"fan-out {n} clients deliveries/s vs websockets", rnd(emb, 0),
                        rnd(runs["websockets"]["deliveries_per_s"], 0), rnd(r_ws, 2),
                        f">= {TARGET_WS}x", bool(r_ws is not None and r_ws >= TARGET_WS)])
        out[f"n{n}_ratio_websockets"] = r_ws
        if "node" in runs:
            r_node = ratio(emb, runs["node"]["deliveries_per_s"])
            out[f"n{n}_ratio_node"] = r_node
            met = bool(r_node is not None and r_node >= TARGET_NODE)
            summary.append([f"fan-out {n} clients deliveries/s vs node", rnd(emb, 0),
                            rnd(runs["node"]["deliveries_per_s"], 0), rnd(r_node, 2),
                            f">= {TARGET_NODE}x", met])
        else:
            summary.append([f"fan-out {n} clients vs node", None, None, None, node_note, None])
        for label, what in (("ms to last client (p50)", "latency"), ("KiB per idle conn", "mem")):
            v = {k: (r["latency_ms"]["p50"] if what == "latency" else r["kb_per_conn"])
                 for k, r in runs.items()}
            summary.append([f"fan-out {n} clients {label}", rnd(v["embedded"], 1),
                            rnd(v["websockets"], 1), rnd(ratio(v["embedded"], v["websockets"]), 2),
                            None, None])
    out["summary"] = summary
    result("fanout", out)


if __name__ == "__main__":
    main()
