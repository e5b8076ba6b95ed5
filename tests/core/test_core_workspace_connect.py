"""The resolve hook of Connection and ConnectionManager against real servers on 127.0.0.1:
{{variables}} are resolved on every attempt, and an unresolved one fails it for good."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import Direction, Event, FrameEvent, HandshakeInfo, StateChanged
from core.manager import ConnectionManager
from core.server import make_token
from core.states import ConnState
from core.workspace import Environment, Resolver, SecretStore, Variable

SECRET = "workspace-test-secret-0123456789abcdef"
FAST = ReconnectPolicy(initial=0.05, max_delay=0.3, jitter=0.1, stable_after=0.5)


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def frames(events: list[Event], direction: Direction) -> list[str]:
    return [e.payload.decode() for e in events if isinstance(e, FrameEvent)
            and e.direction is direction and e.is_data]


async def test_token_and_on_open_are_resolved_again_on_reconnect(embedded_server) -> None:
    server = embedded_server(secret=SECRET)
    environ = {"SS_WS_TOKEN": make_token(SECRET, sub="first")}
    env = Environment("dev", [Variable("token", "${env:SS_WS_TOKEN}")])
    manager = ConnectionManager()
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    config = ConnectionConfig(server.url, token="{{token}}", token_mode="bearer",
                              on_open=['{"type":"ping","n":"{{$seq}}"}'], reconnect=FAST)
    conn = manager.add(config, connect=True, resolve=Resolver(env, environ=environ))
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: len(frames(events, Direction.IN)) >= 2)  # connected, pong
        environ["SS_WS_TOKEN"] = make_token(SECRET, sub="second")  # a fresh token
        conn.reconnect_now()
        await until(lambda: sum('"connected"' in t for t in frames(events, Direction.IN)) >= 2)
        await until(lambda: len(frames(events, Direction.OUT)) >= 2)
    finally:
        await manager.close_all()
    sent = [json.loads(t) for t in frames(events, Direction.OUT)]
    assert [m["n"] for m in sent] == ["1", "2"]
    hello = [json.loads(t) for t in frames(events, Direction.IN) if '"connected"' in t]
    assert [m["name"] for m in hello] == ["first", "second"]
    assert config.token == "{{token}}"  # the profile itself is left as written


async def test_unresolved_variable_fails_the_attempt_without_retry(embedded_server) -> None:
    server = embedded_server(auth=False)
    manager = ConnectionManager()
    states: list[StateChanged] = []
    manager.hub.subscribe(lambda e: states.append(e) if isinstance(e, StateChanged) else None)
    config = ConnectionConfig(server.url, on_open=["{{missing}}"], reconnect=FAST)
    conn = manager.add(config, connect=True, resolve=Resolver(Environment("dev")))
    try:
        await until(lambda: conn.state is ConnState.CLOSED and len(states) >= 2)
        await asyncio.sleep(0.3)  # longer than FAST's first delays: no second attempt
    finally:
        await manager.close_all()
    assert [s.new for s in states] == [ConnState.CONNECTING, ConnState.CLOSED]
    assert states[-1].error == ("unknown variable {{missing}} (environment 'dev') "
                                "(not retrying: fix the settings, then connect again)")


async def test_headers_url_and_query_token_reach_a_plain_server() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handler(ws: ServerConnection) -> None:
        headers = ws.request.headers
        seen.append((ws.request.path, {k: headers[k] for k in ("X-Attempt", "Authorization")}))
        await ws.close()

    env = Environment("dev", [Variable("room", "lobby"), Variable("token", "t-{{$seq}}")])
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        manager = ConnectionManager()
        config = ConnectionConfig(
            f"ws://127.0.0.1:{port}/{{{{room}}}}?a=1", token="{{token}}",
            headers=[("X-Attempt", "{{$seq}}"), ("Authorization", "Bearer ${env:SS_BEARER}")],
            reconnect=ReconnectPolicy(initial=0.05, max_delay=0.1, jitter=0.0, max_attempts=2),
            heartbeat=HeartbeatConfig(interval=0),
        )
        resolver = Resolver(env, environ={"SS_BEARER": "b-1"})
        conn = manager.add(config, connect=True, resolve=resolver)
        try:
            await until(lambda: len(seen) >= 2)
        finally:
            await manager.close_all()
    (path1, h1), (path2, h2) = seen[:2]
    # Each attempt resolves the header values ($seq 1, then 3), then the token (2, then 4).
    assert path1 == "/lobby?a=1&token=t-2" and h1["X-Attempt"] == "1"
    assert path2 == "/lobby?a=1&token=t-4" and h2["X-Attempt"] == "3"
    assert h1["Authorization"] == h2["Authorization"] == "Bearer b-1"
    assert conn.config.url.endswith("/{{room}}?a=1")


async def test_secret_values_are_masked_in_the_handshake_event() -> None:
    seen: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws.request.headers["X-Session"])
        await ws.close()

    secrets = SecretStore(use_keyring=False)
    secrets.set("env/dev/session", "sess-0f9e8d")
    env = Environment("dev", [Variable("session", "", secret=True), Variable("room", "lobby")])
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        manager = ConnectionManager()
        shakes: list[HandshakeInfo] = []
        manager.hub.subscribe(lambda e: shakes.append(e) if isinstance(e, HandshakeInfo) else None)
        config = ConnectionConfig(
            f"ws://127.0.0.1:{port}/{{{{room}}}}?s={{{{session}}}}",
            headers=[("X-Session", "id={{session}}"), ("X-Room", "{{room}}")],
            reconnect=ReconnectPolicy(enabled=False), heartbeat=HeartbeatConfig(interval=0))
        manager.add(config, connect=True, resolve=Resolver(env, secrets))
        try:
            await until(lambda: seen and shakes)
        finally:
            await manager.close_all()
            secrets.delete("env/dev/session")
    assert seen == ["id=sess-0f9e8d"]
    headers = dict(shakes[0].request_headers)
    assert headers["X-Session"] == "id=•••" and headers["X-Room"] == "lobby"
    assert "sess-0f9e8d" not in repr(shakes[0]) and shakes[0].url.endswith("/lobby?s=•••")
