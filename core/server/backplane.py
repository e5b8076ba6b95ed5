"""One instance's link to Redis: a shared channel, presence hashes with expiry, shared message ids.

Keys of cluster `ns` (ServerConfig.cluster_name):
  `ns:bus`           the pub/sub channel every instance publishes each event on, once
  `ns:instances`     the set of instance ids that may be alive
  `ns:inst:<id>`     hash of an instance's clients (id -> {"n": name, "r": rooms}) plus "~" (meta);
                     its expiry (`cluster_ttl`) is refreshed by the instance's heartbeat, so a
                     crashed instance's clients vanish within `cluster_ttl` + one heartbeat
  `ns:seen:<name>`   sorted set of handled message ids of a client name, scored by expiry (ms)

Events travel as MessagePack (a msgpack client's data may hold bytes). Writes go through one
bounded outbox drained by one task, in order, a batch per round trip. Redis being away never
raises into the server: the backplane says so in the log, counts every event it could not
publish, and rewrites this instance's presence once Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import ServerConfig
from .events import ERROR, INFO, WARNING, ServerLog

__all__ = ["Backplane", "Record", "View"]

Command = tuple[Any, ...]
Record = tuple[str, list[str]]  # A client's display name and rooms.
View = dict[str, dict[str, Record]]  # Other instances: instance id -> client id -> record.
META = b"~"
BATCH = 512  # Outbox items per pipeline round trip.
FAILURES = (RedisError, OSError, TimeoutError)


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


class Backplane:
    """Redis I/O of one instance; `publish`/`store` never block and never raise for Redis."""

    def __init__(
        self,
        config: ServerConfig,
        log: ServerLog,
        instance: str,
        on_event: Callable[[dict[str, Any]], None],
        on_view: Callable[[View, set[str]], None],
        local: Callable[[], Iterable[tuple[str, Record]]],
    ) -> None:
        assert config.redis_url, "a backplane needs a Redis URL"
        self.config = config
        self.instance = instance
        self.up = False
        self.unpublished = 0  # Events that never reached Redis, since start.
        self.outages = 0
        self.down_since: float | None = None
        self.instances = 1  # Live instances in the last view, this one included.
        ns = config.cluster_name
        self.channel = f"{ns}:bus"
        self._set = f"{ns}:instances"
        self._ns = ns
        self._log = log
        self._on_event = on_event
        self._on_view = on_view
        self._local = local
        self._outbox: deque[tuple[tuple[Command, ...], int]] = deque()  # (commands, bytes)
        self._outbox_bytes = 0
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._subscribed = False
        self._dirty = False  # A presence write was dropped: rewrite at the next heartbeat.
        self._lost_at_outage = 0
        self._nonce = secrets.token_hex(8)  # Tells our presence hash from a namesake's.
        self._name_clash = False
        self._received: Counter[str] = Counter()  # Events per origin, to spot racing re-reads.
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Redis = Redis.from_url(
            config.redis_url,
            socket_connect_timeout=1.0,
            socket_timeout=max(2.0, config.cluster_ttl),
            retry=Retry(NoBackoff(), 0),  # Our heartbeat retries; a command fails fast.
        )

    def key(self, instance: str) -> str:
        return f"{self._ns}:inst:{instance}"

    def seen_key(self, name: str) -> str:
        return f"{self._ns}:seen:{name}"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, wait: float = 2.0) -> None:
        """Start the tasks; waits up to `wait` s for Redis, then serves locally until it answers."""
        loop = asyncio.get_running_loop()
        for job in (self._listen, self._publish, self._heartbeat):
            self._tasks.append(loop.create_task(job(), name=f"socketscope-cluster-{job.__name__}"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._ready.wait()
        if not self.up and self.outages == 0:
            self._fail(TimeoutError(f"no answer within {wait:g} s"), 0)

    async def stop(self) -> None:
        """Leave the cluster at once (others drop our clients now, not at expiry), then close."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)  # A stuck teardown must not stop ours.
        self._tasks.clear()
        if self.up:
            pipe = self._redis.pipeline(transaction=False)
            for commands, _size in self._outbox:
                for command in commands:
                    pipe.execute_command(*command)
            pipe.delete(self.key(self.instance))
            pipe.srem(self._set, self.instance)
            pipe.publish(self.channel, pack({"o": self.instance, "k": "x"}))
            with contextlib.suppress(*FAILURES):
                async with asyncio.timeout(2.0):
                    await pipe.execute()
        self._outbox.clear()
        with contextlib.suppress(*FAILURES):
            async with asyncio.timeout(2.0):
                await self._redis.aclose()

    def health(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "redis": "up" if self.up else "down",
            "instances": self.instances,
            "unpublished": self.unpublished,
            "outages": self.outages,
            "downSince": None if self.down_since is None else int(self.down_since * 1000),
        }

    # -- writes ---------------------------------------------------------------------------------

    def publish(self, event: dict[str, Any], *stores: Command) -> None:
        """Queue `stores`, then the event on the channel; counted as unpublished when it cannot go.

        Raises ValueError when the event cannot be encoded (nothing is queued then)."""
        try:
            payload = pack({"o": self.instance, **event})
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError("Message data cannot be encoded") from exc
        sent = self._enqueue((*stores, ("PUBLISH", self.channel, payload)), len(payload))
        if not sent and (self.up or self.down_since is not None):  # Not before Redis first answers.
            self.unpublished += 1

    def store(self, *commands: Command) -> None:
        """Queue presence or id writes; dropped ones are repaired by the next rewrite."""
        if not self._enqueue(commands, sum(len(str(c)) for c in commands)):
            self._dirty = True

    def _enqueue(self, commands: tuple[Command, ...], size: int) -> bool:
        cfg = self.config
        if not self.up or len(self._outbox) >= cfg.cluster_outbox or (
            self._outbox_bytes + size > cfg.cluster_outbox_bytes
        ):
            return False
        self._outbox.append((commands, size))
        self._outbox_bytes += size
        self._wake.set()
        return True

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                self._outbox_bytes -= sum(size for _, size in batch)
                pipe = self._redis.pipeline(transaction=False)
                for commands, _size in batch:
                    for command in commands:
                        pipe.execute_command(*command)
                try:
                    await pipe.execute(raise_on_error=False)  # A refused command is no outage.
                except FAILURES as exc:
                    self._fail(exc, sum(1 for commands, _ in batch if _publishes(commands)))

    # -- reads ----------------------------------------------------------------------------------

    async def load_seen(self, name: str) -> list[Any]:
        """Message ids handled for `name` on any instance and not yet expired ([] without Redis)."""
        if not self.up:
            return []
        try:
            async with asyncio.timeout(1.0):
                raw = await self._redis.zrangebyscore(
                    self.seen_key(name), int(time.time() * 1000), "+inf"
                )
        except FAILURES:
            return []
        return [msgpack.unpackb(item, raw=False) for item in raw if isinstance(item, bytes)]

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed = True
                async for message in pubsub.listen():
                    self._receive(message["data"])
            except FAILURES as exc:
                self._fail(exc, 0)
            finally:
                self._subscribed = False
                with contextlib.suppress(*FAILURES):
                    await pubsub.aclose()
            await asyncio.sleep(self._retry_period)

    def _receive(self, data: object) -> None:
        if not isinstance(data, bytes):
            return
        try:
            event = msgpack.unpackb(data, raw=False)
            origin = event["o"]
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            return  # Not ours: another program on the same channel.
        if origin == self.instance:
            return  # Delivered locally already.
        self._received[origin] += 1
        try:
            self._on_event(event)
        except Exception as exc:  # A bug here must not end the subscription.
            self._log.add(ERROR, "cluster", f"could not apply an event from {origin}: {exc!r}")

    # -- heartbeat and presence -----------------------------------------------------------------

    @property
    def _retry_period(self) -> float:
        return min(self.config.cluster_heartbeat, 0.5)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._beat()
            except FAILURES as exc:
                self._fail(exc, 0)
            except Exception as exc:  # A bug must not stop the heartbeat (then presence expires).
                self._log.add(ERROR, "cluster", f"heartbeat failed: {exc!r}")
            since = self.down_since
            if not self.up and since is not None and time.time() - since > self.config.cluster_ttl:
                self._on_view({}, set())  # Whom we cannot reach is not in our rooms.
            await asyncio.sleep(self.config.cluster_heartbeat if self.up else self._retry_period)

    async def _beat(self) -> None:
        if not self.up:
            if not self._subscribed:
                return
            await self._rewrite()
            self._recover()
        else:
            pipe = self._redis.pipeline(transaction=False)
            pipe.pexpire(self.key(self.instance), int(self.config.cluster_ttl * 1000))
            pipe.sadd(self._set, self.instance)
            alive, _ = await pipe.execute()
            if not alive or self._dirty:  # Redis lost our hash (restart, or we stalled).
                await self._rewrite()
        before = dict(self._received)
        view = await self._read_view()
        racing = {i for i, n in self._received.items() if before.get(i) != n}
        for gone in [i for i in self._received if i not in view and i not in racing]:
            del self._received[gone]  # Bounded by the live instances.
        self.instances = len(view) + 1
        self._on_view(view, racing)

    async def _rewrite(self) -> None:
        """This instance's presence hash from local state, in one transaction."""
        self._dirty = False
        key = self.key(self.instance)
        await self._check_name(key)
        fields: list[Any] = [META, pack({"since": int(time.time() * 1000), "nonce": self._nonce})]
        for client_id, record in self._local():
            fields += [client_id, pack(record)]
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.execute_command("HSET", key, *fields)
        pipe.pexpire(key, int(self.config.cluster_ttl * 1000))
        pipe.sadd(self._set, self.instance)
        await pipe.execute()

    async def _check_name(self, key: str) -> None:
        """Two live instances of one name would take each other's events for their own."""
        meta = await self._redis.hget(key, META)
        if not isinstance(meta, bytes) or self._name_clash:
            return
        with contextlib.suppress(ValueError, TypeError, AttributeError, msgpack.UnpackException):
            if msgpack.unpackb(meta, raw=False).get("nonce") != self._nonce:
                self._name_clash = True
                self._log.add(
                    ERROR,
                    "cluster",
                    f"another live instance of cluster {self._ns} is named {self.instance}: "
                    "give each instance its own name (--instance), or neither sees the other",
                )

    async def _read_view(self) -> View:
        others = sorted(
            i for i in (_text(m) for m in await self._redis.smembers(self._set))
            if i != self.instance
        )
        pipe = self._redis.pipeline(transaction=False)
        for other in others:
            pipe.hgetall(self.key(other))
        hashes = await pipe.execute() if others else []
        view: View = {}
        dead = []
        for other, fields in zip(others, hashes, strict=True):
            if META not in fields:
                dead.append(other)
                continue
            view[other] = {
                k.decode(): _record(v) for k, v in fields.items() if k != META
            }
        if dead:
            await self._redis.srem(self._set, *dead)
        return view

    def _fail(self, exc: BaseException, lost: int) -> None:
        lost += sum(1 for commands, _ in self._outbox if _publishes(commands))
        self.unpublished += lost
        self._outbox.clear()
        self._outbox_bytes = 0
        if not self.up and self.down_since is not None:
            return
        self.up = False
        self.outages += 1
        self.down_since = time.time()
        self._lost_at_outage = self.unpublished - lost
        self._log.add(
            WARNING,
            "cluster",
            f"Redis unreachable ({type(exc).__name__}: {str(exc)[:120]}): instance "
            f"{self.instance} serves its local clients only; messages for other instances are "
            "counted as lost until Redis is back",
        )

    def _recover(self) -> None:
        self.up = True
        self._ready.set()
        if self.down_since is None:
            self._log.add(INFO, "cluster", f"instance {self.instance} joined cluster {self._ns}")
            return
        away = time.time() - self.down_since
        lost = self.unpublished - self._lost_at_outage
        self.down_since = None
        self._log.add(
            WARNING if lost else INFO,
            "cluster",
            f"Redis reachable again after {away:.1f} s: {lost} messages could not be published "
            f"while it was away ({self.unpublished} in all); presence resynced",
        )


def _publishes(commands: tuple[Command, ...]) -> bool:
    return any(command[0] == "PUBLISH" for command in commands)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(value: bytes) -> Record:
    try:
        obj = msgpack.unpackb(value, raw=False)
        return str(obj[0]), [str(room) for room in obj[1]]
    except (ValueError, TypeError, IndexError, msgpack.UnpackException):
        return "?", []
