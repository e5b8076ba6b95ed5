"""The server itself: one `Wire` per connection, the room protocol behind it, shutdown.

Plain asyncio on whatever loop runs it; `EmbeddedServer` gives it a thread of its own. The
connections are websockets' sans-I/O protocol driven by `Wire` (core/server/wire.py); the
handshake is decided by `Gate` (core/server/admission.py). Everything here runs in the loop's
callbacks: a message is handled, and its replies queued, when the wire reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from .admission import Admission, Gate
from .config import ServerConfig
from .dedup import SeenIds
from .demo import DemoBots
from .events import ERROR, INFO, WARNING, RoomSnapshot, ServerLog, ServerSnapshot, Stats
from .fanout import EncodeError, Fanout, encode
from .guard import Limits
from .protocol import RATE_LIMITED, Hub, error, now_ms
from .rooms import Member, Rooms
from .tokens import weak_secret
from .wire import Wire

if TYPE_CHECKING:
    from .cluster import ClusterHub

__all__ = ["RoomServer"]

SUBPROTOCOL = Subprotocol("msgpack")
SNAPSHOT_PERIOD = 0.1  # Seconds between snapshots published for other threads.
SWEEP_PERIOD = 10.0  # Seconds between expiry sweeps of remembered message ids.
# What a client may send before its cluster admission completes (one Redis round trip): at most
# this many messages and WAITING_MESSAGES_OF_MAX_SIZE times max_size bytes, else 1008.
MAX_WAITING = 256
WAITING_MESSAGES_OF_MAX_SIZE = 4

# websockets logs request lines (with ?token=...) at DEBUG; this logger never goes below WARNING.
_WIRE_LOG = logging.getLogger("socketscope.server.wire")
_WIRE_LOG.setLevel(logging.WARNING)


def _select_subprotocol(
    _protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """MessagePack when the client offers it, else plain JSON (no subprotocol is no error)."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class RoomServer:
    """The embedded test server of PROTOCOL.md; `await start()`, then `await stop()`."""

    def __init__(self, config: ServerConfig | None = None, log: ServerLog | None = None) -> None:
        self.config = config or ServerConfig()
        self.log = log or ServerLog(self.config.log_capacity)
        self.stats = Stats()
        self.rooms = Rooms()
        self.latest = ServerSnapshot()  # Refreshed every SNAPSHOT_PERIOD; safe to read anywhere.
        self.port = 0
        self.connections: set[Wire] = set()  # Every TCP connection, from accept to its end.
        self.gate = Gate(self.config, self.log, self.stats)
        self._server: asyncio.Server | None = None
        self._limits: Limits | None = None
        self._hub: Hub | None = None
        self.cluster: ClusterHub | None = None  # With `redis_url`: rooms shared through Redis.
        self._demo: DemoBots | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._admitted: dict[Wire, Admission] = {}
        self._admitting: dict[Wire, list[str | bytes]] = {}  # opened, ids still loading
        self._open = 0

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where a local client connects (a wildcard host becomes the loopback address)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(
            self.config.host, self.config.host
        )
        if ":" in host:
            host = f"[{host}]"
        return f"{self.config.scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "server not started"
        return self._hub

    async def start(self) -> None:
        """Listen; raises OSError when the address is unavailable."""
        if self._server is not None:
            return
        cfg = self.config
        loop = asyncio.get_running_loop()
        fanout = Fanout(self.stats, self.log, cfg.max_write_buffer)
        seen = SeenIds(cfg.dedup_window, cfg.dedup_max)
        if cfg.redis_url:
            from .cluster import ClusterHub  # redis-py only for a cluster

            self._hub = self.cluster = ClusterHub(self.rooms, seen, fanout, cfg, self.log)
        else:
            self._hub = Hub(self.rooms, seen, fanout, cfg.max_rooms_per_client)
        self._demo = DemoBots(self._hub, cfg.demo_rooms)
        self._limits = Limits(
            rate=cfg.rate,
            burst=cfg.burst,
            abuse_limit=cfg.abuse_limit,
            abuse_window=cfg.abuse_window,
            max_write_buffer=cfg.max_write_buffer,
            max_size=cfg.max_size,
            close_timeout=cfg.close_timeout,
            open_timeout=cfg.open_timeout,
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout,
            log=self.log,
        )
        tls = self._tls_context()
        self._server = await loop.create_server(
            self._make_wire,
            cfg.host,
            cfg.port,
            ssl=tls,
            ssl_handshake_timeout=cfg.open_timeout if tls is not None else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.add(INFO, "listening", f"listening on {self.url}")
        if self.cluster is not None:
            await self.cluster.start()
        if cfg.auth and weak_secret(cfg.secret):
            self.log.add(
                WARNING,
                "config",
                "the token secret is shorter than 32 bytes: fine for local tests only",
            )
        self._demo.set(cfg.demo_bots, cfg.demo_rate)
        self.latest = self.snapshot()
        self._publisher = loop.create_task(self._publish(), name="socketscope-snapshots")

    async def stop(self) -> None:
        """Close every client with 1001 and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._demo is not None:
            self._demo.stop()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        server.close()
        for wire in list(self.connections):
            wire.close(1001, "server shutting down")
        for wait, end in ((self.config.close_timeout + 1.0, Wire.abort), (1.0, None)):
            if self.connections:
                await asyncio.wait([w.done for w in self.connections], timeout=wait)
            for wire in list(self.connections):
                if end is not None:
                    end(wire)
        await server.wait_closed()
        if self.cluster is not None:
            await self.cluster.stop()
        self.latest = self.snapshot()
        self.log.add(INFO, "stopped", "server stopped")

    def set_demo(self, bots: int, rate: float) -> None:
        """Change the number of demo bots and their message rate (call on the server's loop)."""
        self.config.demo_bots, self.config.demo_rate = bots, rate
        if self._demo is not None:
            self._demo.set(bots, rate)

    def snapshot(self) -> ServerSnapshot:
        """A fresh snapshot; call on the server's loop (other threads read `latest`)."""
        rooms = tuple(
            RoomSnapshot(name, tuple(m.label for m in members.values()))
            for name, members in sorted(self.rooms.rooms.items())
        )
        return ServerSnapshot(
            clients=self._open,
            bots=self._demo.count if self._demo is not None else 0,
            rooms=rooms,
            messages_in=self.stats.messages_in,
            messages_out=self.stats.messages_out,
            rejections=self.stats.rejections,
            taken_at=time.time(),
        )

    async def _publish(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(SNAPSHOT_PERIOD)
            self.latest = self.snapshot()
            if time.monotonic() - last_sweep > SWEEP_PERIOD:
                last_sweep = time.monotonic()
                self.hub.seen.sweep()

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if not cfg.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        return context

    # -- connections (Wire's Handler) -----------------------------------------------------------

    def _make_wire(self) -> Wire:
        assert self._limits is not None
        protocol = ServerProtocol(
            extensions=[  # websockets' serve() default: permessage-deflate, small windows.
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12,
                    client_max_window_bits=12,
                    compress_settings={"memLevel": 5},
                )
            ],
            subprotocols=[SUBPROTOCOL],
            select_subprotocol=_select_subprotocol,
            max_size=self.config.max_size,
            logger=_WIRE_LOG,
        )
        wire = Wire(self, self._limits, protocol)
        self.connections.add(wire)
        return wire

    def handshake(self, wire: Wire, request: Request) -> Response:
        response, admission = self.gate.decide(wire.protocol, request, wire.remote_address)
        if admission is not None:
            self._admitted[wire] = admission
        return response

    def opened(self, wire: Wire) -> None:
        admission = self._admitted.get(wire) or Admission("unknown", "/", None, None)
        client_id = secrets.token_hex(6)
        name = admission.name or f"guest-{client_id[:6]}"
        self._open += 1
        via = wire.subprotocol or "json"
        self.log.add(
            INFO,
            "handshake",
            f"client {client_id} ({name}) connected from {admission.ip} on {admission.path} "
            f"via {via}",
        )
        wire.label = f"{client_id} ({name})"
        if admission.path == "/echo":
            wire.metered = False  # As before: the echo path answers whatever comes.
            return
        member = Member(
            client_id=client_id,
            name=name,
            dedup_key=admission.key or client_id,
            conn=wire,
            msgpack=wire.subprotocol == SUBPROTOCOL,
        )
        wire.session = member
        if self.cluster is not None and member.dedup_key != member.client_id:
            # The ids its token's subject handled on any instance come first: until then its
            # messages wait here (exactly once by id across instances).
            self._admitting[wire] = []
            asyncio.get_running_loop().create_task(self._admit(wire, member))
            return
        self._connect(member)

    async def _admit(self, wire: Wire, member: Member) -> None:
        assert self.cluster is not None
        try:
            await self.cluster.admit(member)
        except Exception as exc:  # Redis away: this instance's own memory of ids still holds
            self.log.add(WARNING, "cluster", f"client {wire.label}: ids not loaded: {exc!r}")
        waiting = self._admitting.pop(wire, None)
        if waiting is None:  # it left meanwhile
            return
        self._connect(member)
        for message in waiting:
            self.received(wire, message)

    def _connect(self, member: Member) -> None:
        self.hub.connect(member)
        self._send(
            member,
            {"type": "connected", "clientId": member.client_id, "name": member.name,
             "timestamp": now_ms()},
        )

    def received(self, wire: Wire, message: str | bytes) -> None:
        waiting = self._admitting.get(wire)
        if waiting is not None:
            if len(waiting) < MAX_WAITING and (
                sum(map(len, waiting)) + len(message)
                <= WAITING_MESSAGES_OF_MAX_SIZE * self.config.max_size
            ):
                waiting.append(message)
            else:
                wire.close(1008, "too many messages before admission")
            return
        self.stats.messages_in += 1
        member: Member | None = wire.session
        try:
            if member is None:  # /echo: the same value in the same frame type.
                wire.send(message)
                self.stats.messages_out += 1
                return
            for reply in self.hub.handle(member, message):
                self._send(member, reply)
        except Exception as exc:
            self.log.add(ERROR, "error", f"client {wire.label}: internal error: {exc!r}")
            wire.close(1011, "internal error")

    def refused(self, wire: Wire) -> None:
        self.stats.messages_in += 1
        if wire.session is not None:
            self._send(wire.session, error(RATE_LIMITED))

    def closed(self, wire: Wire) -> None:
        self.connections.discard(wire)
        admission = self._admitted.pop(wire, None)
        if admission is not None:
            self.gate.release(admission)
        if not wire.opened:
            return
        self._open -= 1
        member: Member | None = wire.session
        if member is not None and self._admitting.pop(wire, None) is None:
            self.hub.disconnect(member)
            if member.dedup_key == member.client_id:  # This key can never come back.
                self.hub.seen.forget(member.dedup_key)
        code = wire.close_code
        self.log.add(
            INFO,
            "closed",
            f"client {wire.label} disconnected" + (f" ({code})" if code is not None else ""),
        )

    def _send(self, member: Member, reply: dict[str, Any]) -> None:
        try:
            frame = encode(reply, member.msgpack)
        except EncodeError as exc:  # Only a requestId can be unencodable here: leave it out.
            frame = encode(error(str(exc)), member.msgpack)
        member.conn.send(frame)
        self.stats.messages_out += 1
