"""The server killed and restarted 100 times under a client that keeps sending: it reconnects
every time on schedule, and messages sent with send_acked reach the server exactly once, in
order (the embedded server acks by message id and remembers ids across its restarts)."""

from __future__ import annotations

import asyncio
import json

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import Direction, Event, FrameEvent, StateChanged
from core.manager import ConnectionManager
from core.server import EmbeddedServer, ServerConfig, make_token
from core.states import ConnState

SECRET = "restart-test-secret-0123456789abcdef"
POLICY = ReconnectPolicy(initial=0.02, factor=2.0, max_delay=0.1, jitter=0.2, stable_after=60)
JOIN = json.dumps({"type": "join_room", "room": "r"})
RESTARTS = 100


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_hundred_restarts_deliver_every_message_once_in_order() -> None:
    server = EmbeddedServer(ServerConfig(port=0, secret=SECRET, ping_interval=0))
    server.start()
    port = server.port
    manager = ConnectionManager()
    events: list[Event] = []
    manager.hub.subscribe(events.append)

    def config(name: str) -> ConnectionConfig:
        return ConnectionConfig(server.url, token=make_token(SECRET, sub=name), reconnect=POLICY,
                                heartbeat=HeartbeatConfig(interval=0), on_open=[JOIN])

    sender = manager.add(config("sender"), connect=True)
    listener = manager.add(config("listener"), connect=True)
    sent: list[int] = []
    try:
        for cycle in range(RESTARTS):
            await until(lambda: sender.state is ConnState.OPEN
                        and listener.state is ConnState.OPEN)
            for _ in range(3):  # while up
                n = len(sent)
                sent.append(n)
                await sender.send_acked({"type": "broadcast", "room": "r", "data": n,
                                         "id": f"m{n}"})
            await asyncio.to_thread(server.stop)  # our loop must keep answering the close
            for _ in range(2):  # while down: kept until acked
                n = len(sent)
                sent.append(n)
                await sender.send_acked({"type": "broadcast", "room": "r", "data": n,
                                         "id": f"m{n}"})
            await until(lambda: sender.state is ConnState.WAITING)
            server.config.port = port
            await asyncio.to_thread(server.start)
            assert server.port == port, cycle
        await until(lambda: not sender.unacked and listener.state is ConnState.OPEN)
        await asyncio.sleep(0.2)
    finally:
        await manager.close_all()
        await asyncio.to_thread(server.stop)

    got = [json.loads(e.payload)["data"] for e in events
           if isinstance(e, FrameEvent) and e.conn_id == listener.id
           and e.direction is Direction.IN and e.is_data and b'"broadcast"' in e.payload]
    assert len(got) == len(set(got)), "a message was delivered twice"
    assert got == sorted(got), "delivery out of order"
    assert not sender.unacked  # every message acknowledged by the server
    opens = [e for e in events if isinstance(e, StateChanged) and e.conn_id == sender.id
             and e.new is ConnState.OPEN]
    assert len(opens) == RESTARTS + 1
    waits = [e.retry_in for e in events if isinstance(e, StateChanged)
             and e.conn_id == sender.id and e.new is ConnState.WAITING]
    assert waits and all(0 < (w or 0) <= POLICY.max_delay for w in waits)
    print(f"FIGURE restarts={RESTARTS} sent={len(sent)} delivered_to_listener={len(got)}")
