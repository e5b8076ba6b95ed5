"""Owns every connection of a session and the one event hub they all publish to."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from core.config import ConnectionConfig
from core.connection import Connection
from core.events import ConnectionAdded, ConnectionRemoved
from core.hub import EventHub


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

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.list())
