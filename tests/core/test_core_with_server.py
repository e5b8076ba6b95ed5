"""The client engine and the embedded server together, as the app uses them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from core.config import ConnectionConfig, ReconnectPolicy
from core.events import Direction, Event, FrameEvent
from core.manager import ConnectionManager
from core.server import make_token
from core.states import ConnState

FAST = ReconnectPolicy(initial=0.05, max_delay=0.3, jitter=0.1, stable_after=0.5)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def texts(events: list[Event], conn_id: int) -> list[dict]:
    return [json.loads(e.payload) for e in events
            if isinstance(e, FrameEvent) and e.conn_id == conn_id and e.direction is Direction.IN
            and e.is_data]


async def test_two_clients_talk_through_a_room(embedded_server) -> None:
    server = embedded_server(secret="room-test-secret-0123456789abcdef")
    manager = ConnectionManager()
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    token = make_token("room-test-secret-0123456789abcdef", sub="ana")
    ana = manager.add(ConnectionConfig(server.url, token=token), connect=True)
    bob = manager.add(ConnectionConfig(server.url, token=make_token(
        "room-test-secret-0123456789abcdef", sub="bob"), token_mode="bearer"), connect=True)
    try:
        for conn in (ana, bob):
            await conn.wait_for_state(ConnState.OPEN, 5)
            assert (await conn.request({"type": "join_room", "room": "lobby"})).message["type"] \
                == "ack"
        rooms = (await ana.request({"type": "list_rooms"})).message["rooms"]
        assert {m["name"] for m in rooms[0]["members"]} == {"ana", "bob"}
        await ana.send(json.dumps({"type": "broadcast", "room": "lobby", "data": {"hi": 1}}))
        await until(lambda: any(m["type"] == "broadcast" for m in texts(events, bob.id)))
        got = next(m for m in texts(events, bob.id) if m["type"] == "broadcast")
        assert got["data"] == {"hi": 1} and got["room"] == "lobby"
        assert not any(m["type"] == "broadcast" for m in texts(events, ana.id))
    finally:
        await manager.close_all()
    assert len(manager) == 2
    await manager.remove(ana.id)
    assert [c.id for c in manager.list()] == [bob.id]


async def test_restart_under_a_client_delivers_the_queue_once_in_order(embedded_server) -> None:
    first = embedded_server(auth=False)
    port = first.port
    manager = ConnectionManager()
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    conn = manager.add(ConnectionConfig(first.url + "/echo", reconnect=FAST), connect=True)
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        first.stop()
        await conn.wait_for_state(ConnState.WAITING, 5)
        sent = [f"offline-{i}" for i in range(20)]
        for text in sent:
            assert await conn.send(text) is False
        embedded_server(auth=False, port=port)
        await conn.wait_for_state(ConnState.OPEN, 10)

        def echoed() -> list[str]:
            return [e.payload.decode() for e in events if isinstance(e, FrameEvent)
                    and e.direction is Direction.IN and e.is_data]

        await until(lambda: len(echoed()) >= 20)
        await asyncio.sleep(0.2)  # a duplicate would arrive by now
    finally:
        await manager.close_all()
    assert echoed() == sent
    waits = [e for e in events if getattr(e, "new", None) is ConnState.WAITING]
    assert waits and all(0 < (w.retry_in or 0) <= FAST.max_delay for w in waits)
