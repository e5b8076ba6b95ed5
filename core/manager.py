"""Owns every connection of a session and the one event hub they all publish to."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from core.config import ConnectionConfig
from core.connection import Connection
from core.events import ConnectionAdded, ConnectionRemoved, MetricsSnapshot
from core.hub import EventHub

METRICS_S = 0.25  # how often the manager publishes a MetricsSnapshot of each connection
HISTORY_S = 900  # seconds of throughput a connection's first snapshot carries (the longest chart)


class ConnectionManager:
    """`loop` is where the connections run (the app's core thread); by default each one runs on
    the loop it is first started from."""

    def __init__(
        self, hub: EventHub | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.hub = hub or EventHub()
        self.loop = loop
        self._connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)

    def add(
        self,
        config: ConnectionConfig,
        connect: bool = False,
        conn_id: int | None = None,
        resolve: Callable[[str], str] | None = None,
    ) -> Connection:
        """`conn_id` is for views of a recording, whose ids were given by another session;
        `resolve` fills in {{variables}} on every connection attempt (Connection.resolve)."""
        if conn_id is None or conn_id in self._connections:
            conn_id = next(self._ids)
        conn = Connection(config, self.hub, conn_id, loop=self.loop, resolve=resolve)
        self._connections[conn.id] = conn
        self.hub.publish(ConnectionAdded(conn.id, time.time(), config.url, config.label))
        if connect:
            conn.connect()
        return conn

    def get(self, conn_id: int) -> Connection:
        return self._connections[conn_id]

    def list(self) -> list[Connection]:
        return list(self._connections.values())

    def connect(self, conn_id: int) -> None:
        self._connections[conn_id].connect()

    async def disconnect(self, conn_id: int) -> None:
        await self._connections[conn_id].disconnect()

    async def remove(self, conn_id: int) -> None:
        conn = self._connections.pop(conn_id)
        await conn.disconnect()
        self.hub.publish(ConnectionRemoved(conn_id, time.time()))

    async def close_all(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self._connections.values()))

    def publish_metrics(
        self, sink: Callable[[MetricsSnapshot], None], interval: float = METRICS_S
    ) -> Callable[[], None]:
        """Hand `sink` a MetricsSnapshot of each connection every `interval` s, on the manager's
        loop (else the running one: RuntimeError without), where the metrics are written: no
        other thread reads them. A connection whose figures did not change since its last
        snapshot gets none. Not through the hub: they are derived figures for a view (the
        recorder keeps the events they come from). Returns the function (for any thread) that
        stops it."""
        loop = self.loop or asyncio.get_running_loop()
        sent: dict[int, tuple[float, tuple[object, ...]]] = {}  # newest second, figures
        stopped = False

        def tick() -> None:
            if not stopped:
                self._publish_snapshots(sent, sink)
                loop.call_later(interval, tick)

        def stop() -> None:
            nonlocal stopped
            stopped = True

        loop.call_soon_threadsafe(tick)
        return stop

    def _publish_snapshots(self, sent: dict[int, tuple[float, tuple[object, ...]]],
                           sink: Callable[[MetricsSnapshot], None]) -> None:
        now = time.time()
        conns = list(self._connections.values())  # the GUI thread may add one meanwhile
        for gone in sent.keys() - {c.id for c in conns}:
            del sent[gone]
        for conn in conns:
            last_sec, last_key = sent.get(conn.id, (now - HISTORY_S - 1, ()))
            snap = snapshot(conn, now, last_sec + 1)
            key = (snap.state, snap.attempt, snap.retry_at, snap.msgs_in, snap.msgs_out,
                   snap.rtt, snap.app_rtt, snap.queued, snap.last_error, snap.close_code,
                   snap.rtt_mean, snap.app_rtt_mean, snap.name, snap.url, snap.subprotocol)
            if key == last_key and not snap.seconds:
                continue
            sent[conn.id] = (snap.seconds[-1][0] if snap.seconds else last_sec, key)
            sink(snap)

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.list())


def snapshot(conn: Connection, now: float, since: float) -> MetricsSnapshot:
    """The connection's figures as of `now`, with its finished seconds from `since` on. Call it
    on the connection's loop (its metrics are written there)."""
    m = conn.metrics
    totals = m.totals()
    seconds = m.seconds(since, now)
    cfg = conn.config
    return MetricsSnapshot(
        conn.id, now, conn.state, conn.attempt, cfg.name, cfg.url, conn.subprotocol,
        conn.opened_at, conn.retry_at, conn.close_code, conn.close_reason, conn.last_error,
        totals.msgs_in, totals.bytes_in, totals.msgs_out, totals.bytes_out, m.rate(now),
        m.last_rtt("ping"), m.last_rtt("app"), m.mean_rtt("ping"), m.mean_rtt("app"),
        len(conn.queue), tuple((a, b, c, d, e) for a, b, c, d, e in seconds.tolist()),
    )
