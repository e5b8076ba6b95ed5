"""The embedded server on several instances over a real `redis-server` on 127.0.0.1.

Exactly once across instances under load (every delivery counted), exactly once by `id` for a
client that reconnects to another instance, kill -9 of an instance (its clients leave every room
within the stated bound), and Redis restarted mid-run (local rooms keep working, what could not be
published is counted and reported, presence comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from core.server import RoomServer, ServerConfig, make_token

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 0.25
TTL = 1.0
BOUND = TTL + HEARTBEAT  # A crashed instance's clients are gone everywhere within this (stated).


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A throwaway redis-server on a loopback port, no persistence; restartable on that port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_proc() -> Any:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    proc = RedisProcess()
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def cluster(redis_proc: RedisProcess) -> AsyncIterator[Callable[..., Awaitable[RoomServer]]]:
    """A factory of in-process instances on the test's loop; all stopped at the end."""
    started: list[RoomServer] = []

    async def start(**fields: Any) -> RoomServer:
        fields = {"port": 0, "auth": False, "redis_url": redis_proc.url,
                  "cluster_heartbeat": HEARTBEAT, "cluster_ttl": TTL, **fields}  # fmt: skip
        server = RoomServer(ServerConfig(**fields))
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


class Client:
    """A room-protocol client that files every message it gets; replies by requestId."""

    ids = itertools.count(1)

    def __init__(self, ws: ClientConnection, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.id: str = hello["clientId"]
        self.got: list[dict[str, Any]] = []
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> Client:
        ws = await connect(url, max_queue=None)
        return cls(ws, json.loads(await asyncio.wait_for(ws.recv(), 5)))

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                msg = json.loads(raw)
                waiter = self._waiting.pop(msg.get("requestId", -1), None)
                if waiter is not None:
                    waiter.set_result(msg)
                else:
                    self.got.append(msg)

    async def send(self, **msg: Any) -> None:
        await self.ws.send(json.dumps(msg))

    async def ask(self, **msg: Any) -> dict[str, Any]:
        rid = next(self.ids)
        self._waiting[rid] = asyncio.get_running_loop().create_future()
        await self.send(requestId=rid, **msg)
        return await asyncio.wait_for(self._waiting[rid], 5)

    async def members(self, room: str) -> set[str]:
        reply = await self.ask(type="list_rooms")
        return {
            m["clientId"] for r in reply["rooms"] if r["name"] == room for m in r["members"]
        }

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.got if m["type"] == kind]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Poll `check` every 50 ms; the seconds it took, or a failure saying what never happened."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_room_and_private_messages_exactly_once_across_three_instances(
    cluster: Callable[..., Awaitable[RoomServer]],
) -> None:
    servers = [await cluster(rate=5000.0, burst=5000) for _ in range(3)]
    clients = [await Client.open(servers[i % 3].url) for i in range(18)]
    room_of = [f"room-{i // 6}" for i in range(18)]  # Six members each, two per instance.
    for client, room in zip(clients, room_of, strict=True):
        assert (await client.ask(type="join_room", room=room))["type"] == "ack"
    everyone = {c.id for c in clients}

    async def converged() -> bool:
        for client, room in zip(clients, room_of, strict=True):
            peers = {c.id for c, r in zip(clients, room_of, strict=True) if r == room}
            if await client.members(room) != peers:
                return False
            listed = await client.ask(type="list_clients")
            if {c["clientId"] for c in listed["clients"]} != everyone:
                return False
        return True

    await until(converged, 10, "every instance sees every room's six members")
    for client in clients:
        client.got.clear()

    expected: Counter[tuple[int, int]] = Counter()  # (receiver, message number)
    total, per_tick, tick = 3000, 10, 0.01  # 1,000 messages/s for 3 s
    started = time.monotonic()
    for n in range(total):
        sender = n % 18
        if n % 4 == 3:
            target = (sender + 7) % 18
            await clients[sender].send(
                type="private_message", targetId=clients[target].id, data=n
            )
            expected[(target, n)] += 1
        else:
            await clients[sender].send(type="broadcast", room=room_of[sender], data=n)
            for r in range(18):
                if r != sender and room_of[r] == room_of[sender]:
                    expected[(r, n)] += 1
        if n % per_tick == per_tick - 1:
            await asyncio.sleep(max(0.0, started + (n + 1) / per_tick * tick - time.monotonic()))
    rate = total / (time.monotonic() - started)

    def counted() -> Counter[tuple[int, int]]:
        got: Counter[tuple[int, int]] = Counter()
        for r, client in enumerate(clients):
            for msg in client.got:
                if msg["type"] in ("broadcast", "private_message"):
                    got[(r, msg["data"])] += 1
        return got

    async def all_in() -> bool:
        return sum(counted().values()) >= sum(expected.values())

    await until(all_in, 15, f"{sum(expected.values())} deliveries")
    await asyncio.sleep(0.3)  # Room for a duplicate to show up.
    got = counted()
    assert not [m for c in clients for m in c.got if m["type"] == "error"]
    assert got == expected, (
        f"lost {sum((expected - got).values())}, duplicated {sum((got - expected).values())}"
    )
    assert rate > 500, f"the load was only {rate:.0f} messages/s"
    for msg in clients[0].received("broadcast"):
        assert msg["from"] in everyone
    for client in clients:
        await client.close()


async def test_a_resent_id_is_not_delivered_twice_after_reconnecting_elsewhere(
    cluster: Callable[..., Awaitable[RoomServer]],
) -> None:
    secret = "cluster-test-secret-of-at-least-32-bytes"
    a, b, c = [await cluster(auth=True, secret=secret) for _ in range(3)]
    alice_token = make_token(secret, "alice")
    bob = await Client.open(f"{b.url}/?token={make_token(secret, 'bob')}")
    alice = await Client.open(f"{a.url}/?token={alice_token}")
    for client in (bob, alice):
        await client.ask(type="join_room", room="r")
    await until(lambda: _has(bob, "r", alice.id), 5, "bob sees alice in r")
    reply = await alice.ask(type="broadcast", room="r", data="once", id="m-1")
    assert reply["type"] == "ack"
    await alice.close()
    alice = await Client.open(f"{c.url}/?token={alice_token}")  # Another instance.
    await alice.ask(type="join_room", room="r")
    again = await alice.ask(type="broadcast", room="r", data="once", id="m-1")
    assert again["type"] == "ack"  # Acked again ...
    await alice.ask(type="broadcast", room="r", data="after", id="m-2")

    async def after_arrived() -> bool:
        return any(m["data"] == "after" for m in bob.received("broadcast"))

    await until(after_arrived, 5, "bob gets the message after the resend")
    datas = [m["data"] for m in bob.received("broadcast")]
    assert datas == ["once", "after"]  # ... but delivered once.
    for client in (alice, bob):
        await client.close()


async def _has(client: Client, room: str, member: str) -> bool:
    return member in await client.members(room)


async def _spawn_instance(url: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", "--no-auth",
        "--redis", url, "--cluster-heartbeat", str(HEARTBEAT), "--cluster-ttl", str(TTL),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
    assert line.startswith("listening "), line
    return proc, line.split()[1]


async def test_killed_instance_members_leave_every_room_within_the_bound(
    redis_proc: RedisProcess,
) -> None:
    procs: list[asyncio.subprocess.Process] = []
    clients: list[Client] = []
    try:
        for _ in range(3):
            proc, url = await _spawn_instance(redis_proc.url)
            procs.append(proc)
            clients += [await Client.open(url), await Client.open(url)]
        for client in clients:
            for room in ("a", "b"):
                await client.ask(type="join_room", room=room)
        everyone = {c.id for c in clients}

        async def full() -> bool:
            return all([await c.members(r) == everyone for c in clients[:4] for r in "ab"])

        await until(full, 10, "the six clients in both rooms, seen from every instance")
        listed = await clients[0].ask(type="list_clients")
        instance_of = {c["clientId"]: c["instance"] for c in listed["clients"]}
        victims = {clients[4].id, clients[5].id}
        assert len(set(instance_of.values())) == 3

        procs[2].send_signal(signal.SIGKILL)
        await procs[2].wait()
        survivors = everyone - victims

        async def gone() -> bool:
            return all([await c.members(r) == survivors for c in clients[:4] for r in "ab"])

        took = await until(gone, BOUND + 5, "the killed instance's clients leave")
        assert took <= BOUND + 1.0, f"took {took:.2f} s, stated bound {BOUND} s"
        left = {(m["room"], m["clientId"]) for m in clients[0].received("presence")
                if m["event"] == "leave"}  # fmt: skip
        assert left >= {(r, v) for r in "ab" for v in victims}
        from redis.asyncio import Redis

        async with Redis.from_url(redis_proc.url) as redis:
            assert not await redis.exists(f"socketscope:inst:{instance_of[clients[4].id]}")
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 10)


async def test_redis_restart_keeps_local_rooms_and_counts_what_was_lost(
    cluster: Callable[..., Awaitable[RoomServer]], redis_proc: RedisProcess
) -> None:
    a, b, c = [await cluster() for _ in range(3)]
    a1, a2, b1, c1 = [await Client.open(s.url) for s in (a, a, b, c)]
    for client in (a1, a2, b1, c1):
        await client.ask(type="join_room", room="r")
    everyone = {x.id for x in (a1, a2, b1, c1)}
    await until(lambda: _all_see(b1, "r", everyone), 5, "b sees all four in r")

    redis_proc.stop()

    async def down() -> bool:
        return all([(await x.ask(type="health"))["redis"] == "down" for x in (a1, b1, c1)])

    await until(down, 10, "every instance notices Redis is gone")
    assert (await a1.ask(type="health"))["status"] == "degraded"
    for n in range(20):
        await a1.send(type="broadcast", room="r", data=f"away-{n}")

    async def local_delivered() -> bool:
        return len(a2.received("broadcast")) == 20

    await until(local_delivered, 5, "a's own members get their room's messages")
    health = await a1.ask(type="health")
    assert health["unpublished"] == 20, health

    redis_proc.start()

    async def up() -> bool:
        return all([(await x.ask(type="health"))["redis"] == "up" for x in (a1, b1, c1)])

    await until(up, 10, "every instance is back on Redis")
    await until(lambda: _all_see(b1, "r", everyone), 5, "presence resynced on b")
    await until(lambda: _all_see(c1, "r", everyone), 5, "presence resynced on c")
    for n in range(5):
        await a1.send(type="broadcast", room="r", data=f"back-{n}")

    async def back() -> bool:
        return all([len(x.received("broadcast")) == 5 for x in (b1, c1)])

    await until(back, 5, "b and c get the messages sent after Redis came back")
    await asyncio.sleep(0.2)
    for x in (b1, c1):
        assert [m["data"] for m in x.received("broadcast")] == [f"back-{n}" for n in range(5)]
    health = await a1.ask(type="health")
    assert (health["unpublished"], health["outages"], health["status"]) == (20, 1, "ok")
    said = [e.text for e in a.log.drain() if e.kind == "cluster"]
    assert any("Redis unreachable" in text for text in said), said
    assert any("20 messages could not be published" in text for text in said), said
    for client in (a1, a2, b1, c1):
        await client.close()


async def _all_see(client: Client, room: str, members: set[str]) -> bool:
    return await client.members(room) == members


async def test_msgpack_bytes_cross_instances_and_json_members_are_not_sent_them(
    cluster: Callable[..., Awaitable[RoomServer]],
) -> None:
    import msgpack
    from websockets.typing import Subprotocol

    a, b = [await cluster() for _ in range(2)]
    packed = [Subprotocol("msgpack")]
    sender = await connect(a.url, subprotocols=packed)
    reader = await connect(b.url, subprotocols=packed)
    plain = await Client.open(b.url)  # JSON cannot carry bytes: it gets nothing, b keeps going.
    ids = [msgpack.unpackb(await ws.recv())["clientId"] for ws in (sender, reader)]
    for ws in (sender, reader):
        await ws.send(msgpack.packb({"type": "join_room", "room": "bin", "requestId": 1}))
        assert msgpack.unpackb(await ws.recv())["type"] == "ack"
    await plain.ask(type="join_room", room="bin")
    await until(lambda: _all_see(plain, "bin", {*ids, plain.id}), 5, "b sees all three")
    await sender.send(msgpack.packb({"type": "broadcast", "room": "bin", "data": b"\x00\xff"}))
    await sender.send(msgpack.packb({"type": "private_message", "targetId": plain.id,
                                     "data": "text is fine"}))  # fmt: skip
    got = []
    async with asyncio.timeout(5):
        while len(got) < 1:
            msg = msgpack.unpackb(await reader.recv())
            if msg["type"] == "broadcast":
                got.append(msg)
    assert got[0]["data"] == b"\x00\xff" and got[0]["from"] == ids[0]

    async def private_arrived() -> bool:
        return bool(plain.received("private_message"))

    await until(private_arrived, 5, "the JSON member gets the later private message")
    assert not plain.received("broadcast")
    for ws in (sender, reader):
        await ws.close()
    await plain.close()


async def test_two_live_instances_of_one_name_are_told(
    cluster: Callable[..., Awaitable[RoomServer]],
) -> None:
    first = await cluster(cluster_instance="twin")
    second = await cluster(cluster_instance="twin")
    said = [e.text for s in (first, second) for e in s.log.drain() if e.kind == "cluster"]
    assert any("is named twin" in text for text in said), said
    other = await cluster(cluster_instance="single")
    assert not [e for e in other.log.drain() if "is named" in e.text]
