"""Health and limits: 1009, rate limit then 1008, dead and slow clients, 1001 on shutdown."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from tests.core.test_server_support import (
    WAIT,
    closed_code,
    peer,
    raw_upgrade,
    running,
    token,
    url_with_token,
    wait_for,
)
from tests.rawws import client_frame
from tests.timing import scaled


async def test_oversize_message_is_closed_with_1009() -> None:
    async with running(max_size=1024) as server, peer(server) as alice:
        await alice.ws.send(json.dumps({"type": "ping", "pad": "x" * 900}))
        assert (await alice.recv())["type"] == "pong"  # Just under the limit is fine.
        await alice.ws.send("x" * 2000)
        assert await closed_code(alice.ws) == 1009


async def test_rate_limit_errors_then_closes_with_1008_on_sustained_abuse() -> None:
    async with running(rate=1.0, burst=3, abuse_limit=6) as server, peer(server) as alice:
        for _ in range(5):
            await alice.send(type="ping")
        replies = [await alice.recv() for _ in range(5)]
        assert [r["type"] for r in replies[:3]] == ["pong"] * 3
        assert replies[3:] == [{"type": "error", "message": "Rate limit exceeded"}] * 2
        for _ in range(10):
            await alice.send(type="ping")
        assert await closed_code(alice.ws) == 1008
        kinds = [e.kind for e in server.log.drain()]
        assert kinds.count("limit") == 2  # "over the limit" once, then the close.


async def test_rate_limit_refills() -> None:
    async with running(rate=50.0, burst=2) as server, peer(server) as alice:
        for _ in range(3):
            for _ in range(2):
                assert (await alice.request(type="ping", requestId=1))["type"] == "pong"
            await asyncio.sleep(0.1)  # 5 tokens back.


async def test_client_that_never_answers_pings_is_terminated() -> None:
    async with running(ping_interval=0.2, ping_timeout=0.3) as server, peer(server) as watcher:
        await watcher.request(type="join_room", room="r", requestId=1)
        reader, writer, head = await raw_upgrade(server.port, f"/?token={token('zombie')}")
        try:
            assert head.startswith(b"HTTP/1.1 101")
            writer.write(client_frame(0x1, b'{"type":"join_room","room":"r"}'))
            await writer.drain()
            joined = await watcher.expect("presence")
            assert joined["event"] == "join"
            # Read (so pings do arrive) but never answer; the server must hang up on us.
            start = asyncio.get_running_loop().time()
            for _ in range(1000):
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), WAIT)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
            elapsed = asyncio.get_running_loop().time() - start
            assert elapsed < scaled(2.0)
        finally:
            writer.transport.abort()
        left = await watcher.expect("presence")
        assert left["event"] == "leave" and left["clientId"] == joined["clientId"]
        assert any(e.kind == "terminated" and "no pong" in e.text for e in server.log.drain()), (
            "termination not logged"
        )


async def test_healthy_clients_survive_pings() -> None:
    async with running(ping_interval=0.1, ping_timeout=0.3) as server, peer(server) as alice:
        await asyncio.sleep(0.6)  # Several ping rounds; websockets answers them.
        assert (await alice.request(type="ping", requestId=1))["type"] == "pong"


async def test_slow_consumer_is_dropped_without_stalling_others() -> None:
    config = {"max_write_buffer": 64 * 1024, "rate": 10_000.0, "burst": 10_000}
    async with running(**config) as server, peer(server, "fast") as fast:
        _reader, writer, head = await raw_upgrade(
            server.port, f"/?token={token('slow')}", rcvbuf=4096
        )
        try:
            assert head.startswith(b"HTTP/1.1 101")
            writer.write(client_frame(0x1, b'{"type":"join_room","room":"r"}'))
            await writer.drain()
            await fast.request(type="join_room", room="r", requestId=0)
            await wait_for(lambda: len(server.rooms.members("r")) == 2)
            # Never read: flood until the server gives up on the slow reader.
            blob = "z" * 16_000
            for i in range(2000):  # Up to 32 MB; loopback buffers hold a few MB at most.
                await fast.send(type="broadcast", room="r", data=blob)
                if i % 20 == 0:
                    assert (await fast.request(type="ping", requestId=i))["type"] == "pong"
                if len(server.rooms.members("r")) == 1:
                    break
            await wait_for(lambda: len(server.rooms.members("r")) == 1)
        finally:
            writer.transport.abort()
        assert any("dropped slow client" in e.text for e in server.log.drain())
        assert (await fast.request(type="ping", requestId="after"))["type"] == "pong"


async def test_shutdown_closes_every_client_with_1001() -> None:
    async with running() as server:
        url = url_with_token(server)
        echo = url_with_token(server, path="/echo")
        async with connect(url) as a, connect(url) as b, connect(echo) as c:
            for ws in (a, b):
                await ws.recv()
            await server.stop()
            assert [await closed_code(ws) for ws in (a, b, c)] == [1001, 1001, 1001]
