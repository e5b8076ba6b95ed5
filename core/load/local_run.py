"""Local runs: the plan's clients as the core's own Connections on one asyncio loop, in a child
process (`python -m core.load.local_run`, the plan as JSON on stdin, LoadStats as NDJSON on
stdout), so a GUI or CLI that watches it never shares its loop or its GIL. Up to ~1,000 clients.

Samples are counted as the Locust user counts them (core/load/locust_user.py): a `connect` per
opening attempt, a `send` per message, a `reply` per expectation met or missed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.config import ReconnectPolicy
from core.connection import Connection, RequestTimeout
from core.events import Direction, FrameEvent, StateChanged
from core.hub import EventHub
from core.load.match import matches
from core.load.plan import LoadPlan
from core.load.stats import Counts, Histogram, LoadStats, RateMeter, stats_from_json
from core.states import ConnState

MAX_LOCAL_USERS = 2000
STOP_TIMEOUT = 10.0  # for every connection's closing handshake at the end


class _Client:
    """One simulated client's expectations in flight (for expect = "match")."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.settled: asyncio.Future[bool] | None = None  # the open or the failure
        self.waiting: list[float] = []  # send times awaiting a matching message


class LocalLoad:
    def __init__(self, plan: LoadPlan) -> None:
        if plan.users > MAX_LOCAL_USERS:
            raise ValueError(f"a local run takes up to {MAX_LOCAL_USERS} clients; "
                             "use Locust workers (without --local) for more")
        self.plan = plan
        self.config = dataclasses.replace(plan.config(),
                                          reconnect=ReconnectPolicy(enabled=False))
        self.hub = EventHub()
        self.hub.subscribe(self._on_event)
        self.clients: dict[int, _Client] = {}
        self.counts = {name: Counts() for name in ("connect", "send", "reply")}
        self.latency = Histogram()
        self.state = "starting"
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests: set[asyncio.Task[None]] = set()

    def snapshot(self, t: float) -> LoadStats:
        c = self.counts
        return LoadStats(
            t=round(t, 2), state=self.state, users=len(self.clients),
            connect=dataclasses.replace(c["connect"]), send=dataclasses.replace(c["send"]),
            reply=dataclasses.replace(c["reply"]), p50=self.latency.percentile(0.5),
            p95=self.latency.percentile(0.95), p99=self.latency.percentile(0.99))

    async def run(self, on_stats: Callable[[LoadStats], None], interval: float = 1.0,
                  stop: asyncio.Event | None = None) -> LoadStats:
        stop = stop or asyncio.Event()
        started = time.monotonic()
        meter = RateMeter()
        spawner = asyncio.create_task(self._spawn())
        self.state = "spawning"
        ticks = itertools.count(1)
        while (tick := next(ticks) * interval) <= self.plan.duration and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), started + tick - time.monotonic())
            if spawner.done() and self.state == "spawning":
                self.state = "running"
            on_stats(meter.update(self.snapshot(time.monotonic() - started)))
        self.state = "stopping"
        spawner.cancel()
        await self._stop()
        self.state = "stopped"
        final = meter.update(self.snapshot(time.monotonic() - started))
        on_stats(final)
        return final

    async def _spawn(self) -> None:
        for i in range(self.plan.users):
            task = asyncio.create_task(self._client(i))
            self._tasks.add(task)
            await asyncio.sleep(1.0 / self.plan.spawn_rate)

    async def _stop(self) -> None:
        for task in (*self._tasks, *self._requests):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._requests, return_exceptions=True)
        closing = [c.conn.disconnect() for c in self.clients.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.gather(*closing, return_exceptions=True)
        self.clients.clear()

    async def _client(self, index: int) -> None:
        plan = self.plan
        client = _Client(Connection(self.config, self.hub))
        self.clients[client.conn.id] = client
        messages = itertools.cycle(plan.messages)
        for _ in range(index % len(plan.messages)):
            next(messages)  # clients start at different messages of the cycle
        while True:
            self._expire(client)
            if client.conn.state is not ConnState.OPEN:
                await self._connect(client)
            else:
                await self._send(client, next(messages))
            spread = 1 + random.uniform(-plan.jitter, plan.jitter)
            await asyncio.sleep(spread / plan.rate + plan.think_time)

    async def _connect(self, client: _Client) -> None:
        client.settled = asyncio.get_running_loop().create_future()
        client.conn.connect()
        try:
            async with asyncio.timeout(self.config.open_timeout + 1.0):
                opened = await client.settled
        except TimeoutError:
            opened = False
            await client.conn.disconnect()
        self._count("connect", ok=opened)

    async def _send(self, client: _Client, wire: Any) -> None:
        if self.plan.expect == "reply":
            task = asyncio.create_task(self._request(client.conn, json.loads(wire.data)))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
            return
        sent = await client.conn.send(wire.payload(), text=wire.text)
        self._count("send", ok=sent)
        if sent and self.plan.expect == "match":
            client.waiting.append(time.monotonic())

    async def _request(self, conn: Connection, message: dict[str, Any]) -> None:
        self._count("send", ok=True)
        try:
            reply = await conn.request(message, timeout=self.plan.within)
        except RequestTimeout:
            self._count("reply", ok=False)
            return
        except Exception:  # not open, too many unanswered: the send failed
            self.counts["send"].failures += 1
            return
        self._count("reply", ok=reply.message.get("type") not in self.plan.fail_types)
        self.latency.add(reply.rtt * 1000)

    def _expire(self, client: _Client) -> None:
        limit = time.monotonic() - self.plan.within
        late = sum(1 for t in client.waiting if t < limit)
        if late:
            client.waiting = [t for t in client.waiting if t >= limit]
            self.counts["reply"].requests += late
            self.counts["reply"].failures += late

    def _count(self, name: str, ok: bool) -> None:
        counts = self.counts[name]
        counts.requests += 1
        counts.failures += not ok

    def _on_event(self, event: object) -> None:
        """O(1) per event, as the hub asks: states settle connects, frames meet matches."""
        if isinstance(event, StateChanged):
            client = self.clients.get(event.conn_id)
            settled = client.settled if client is not None else None
            if settled is not None and not settled.done() and event.new in (
                    ConnState.OPEN, ConnState.CLOSED):
                settled.set_result(event.new is ConnState.OPEN)
        elif (isinstance(event, FrameEvent) and self.plan.expect == "match"
              and event.direction is Direction.IN and event.is_data):
            client = self.clients.get(event.conn_id)
            if client is not None and client.waiting:
                self._match(client, event)

    def _match(self, client: _Client, event: FrameEvent) -> None:
        try:
            obj = json.loads(event.payload)
        except ValueError:
            return
        if isinstance(obj, dict) and matches(obj, self.plan.match):
            sent = client.waiting.pop(0)
            self._count("reply", ok=True)
            self.latency.add((time.monotonic() - sent) * 1000)


# ---- the child process and its parent --------------------------------------------------------


async def _child(plan: LoadPlan) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def emit(stats: LoadStats) -> None:
        sys.stdout.write(json.dumps(stats.to_json()) + "\n")
        sys.stdout.flush()

    await LocalLoad(plan).run(emit, stop=stop)
    return 0


def main() -> int:
    """`python -m core.load.local_run`: the plan as JSON on stdin, NDJSON stats on stdout."""
    try:
        plan = LoadPlan.from_json(sys.stdin.read())
    except (ValueError, TypeError, KeyError) as exc:
        print(f"error: not a load plan: {exc}", file=sys.stderr)
        return 2
    try:
        LocalLoad(plan)  # its checks, before any client starts
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_child(plan))


class LocalRunError(RuntimeError):
    """The child process failed, with its last error line."""


def run_local(plan: LoadPlan, on_stats: Callable[[LoadStats], None],
              python: str = sys.executable, stop: threading.Event | None = None) -> LoadStats:
    """Runs the plan in a child process and hands each second's stats to `on_stats` (on this
    thread); `stop` ends the run early (the child still reports its final figures). The child
    is always stopped, also when `on_stats` raises (Ctrl-C)."""
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(
            [python, "-m", "core.load.local_run"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=errors, text=True, cwd=_root())
        if stop is not None:
            threading.Thread(target=_stop_on, args=(stop, child), daemon=True).start()
        return _watch(child, plan, on_stats, errors)


def _stop_on(stop: threading.Event, child: subprocess.Popen[str]) -> None:
    while child.poll() is None:
        if stop.wait(0.2):
            with contextlib.suppress(OSError):
                child.send_signal(signal.SIGINT)  # the child's graceful stop
            return


def _watch(child: subprocess.Popen[str], plan: LoadPlan, on_stats: Callable[[LoadStats], None],
           errors: IO[str]) -> LoadStats:
    final: LoadStats | None = None
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(plan.to_json())
        child.stdin.close()
        for line in child.stdout:
            final = stats_from_json(json.loads(line))
            on_stats(final)
        child.wait(STOP_TIMEOUT)
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(STOP_TIMEOUT + 5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child.stdout is not None:
            child.stdout.close()
    if final is None or final.state != "stopped":
        errors.seek(0)
        lines = errors.read().strip().splitlines()
        raise LocalRunError(lines[-1] if lines else f"the local run ended early "
                            f"(exit {child.returncode})")
    return final


def _root() -> str:
    """The directory `core` is imported from, so the child imports the same code."""
    return str(Path(__file__).resolve().parents[2])


if __name__ == "__main__":
    sys.exit(main())
