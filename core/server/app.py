"""The server itself: handshake checks, one handler per connection, health pings, shutdown.

Plain asyncio on whatever loop runs it; `EmbeddedServer` gives it a thread of its own.
Rejections happen in `process_request`, before the upgrade, in the order 404, 403, 429, 401.
Health is our own ping task per connection (not websockets' hidden keepalive) so that a
termination is logged like every other event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .config import ServerConfig
from .dedup import SeenIds
from .demo import DemoBots
from .events import ERROR, INFO, WARNING, RoomSnapshot, ServerLog, ServerSnapshot, Stats
from .fanout import EncodeError, Fanout, encode
from .guard import ABUSED, OK, GuardedConnection, Limits
from .protocol import RATE_LIMITED, Hub, error, now_ms
from .rooms import Member, Rooms
from .tokens import TokenError, verify_token, weak_secret

if TYPE_CHECKING:
    from .cluster import ClusterHub

__all__ = ["RoomServer"]

PATHS = ("/", "/echo")
SUBPROTOCOL = Subprotocol("msgpack")
SNAPSHOT_PERIOD = 0.1  # Seconds between snapshots published for other threads.
SWEEP_PERIOD = 10.0  # Seconds between expiry sweeps of remembered message ids.
MAX_NAME = 64
FAIR_SHARE = 16  # Messages handled in a row before the handler yields to other connections.

# websockets logs request lines (with ?token=...) at DEBUG; this logger never goes below WARNING.
_WIRE_LOG = logging.getLogger("socketscope.server.wire")
_WIRE_LOG.setLevel(logging.WARNING)

UNAUTHORIZED = "401 Unauthorized: a valid token is required\n"
NOT_FOUND = "404 Not Found: no such path\n"
FORBIDDEN = "403 Forbidden: origin not allowed\n"
TOO_MANY = "429 Too Many Requests: too many connections from this address\n"
OUR_BODIES = frozenset(body.encode() for body in (UNAUTHORIZED, NOT_FOUND, FORBIDDEN, TOO_MANY))


@dataclass
class Admission:
    """What the handshake learned about a connection it let through."""

    ip: str
    name: str | None  # Display name from the token, when there is one.
    key: str | None  # Exactly-once key: the token's subject.


def _token_from(query: str, headers: Headers) -> str | None:
    tokens = parse_qs(query).get("token")
    if tokens:
        return tokens[0]
    for value in headers.get_all("Authorization"):
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _display_name(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    """(display name, exactly-once key) from the `sub` or `name` claim."""
    for claim in ("sub", "name"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            printable = "".join(ch for ch in value if ch.isprintable())[:MAX_NAME]
            return (printable or None), value
    return None, None


def _excerpt(text: str) -> str:
    """At most MAX_NAME characters of client input, anything unprintable as an escape."""
    clipped = text[:MAX_NAME]
    if clipped.isprintable():
        return clipped
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in clipped)


def _plain_rejection(conn: ServerConnection, _request: Request, response: Response) -> Response:
    """websockets' own refusals (400, 403, 405, 426, ...) quote request headers in their body:
    replace that body with a fixed one. Our rejections and the 101 pass through unchanged."""
    if response.status_code == 101 or response.body in OUR_BODIES:
        return response
    plain = conn.respond(
        response.status_code, f"{response.status_code} {response.reason_phrase}: not a valid "
        "WebSocket handshake\n"
    )
    for name in ("Allow", "Upgrade", "Server"):
        if name in response.headers:
            plain.headers[name] = response.headers[name]
    return plain


def _select_subprotocol(
    _conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
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
        self._server: Server | None = None
        self._hub: Hub | None = None
        self.cluster: ClusterHub | None = None  # With `redis_url`: rooms shared through Redis.
        self._demo: DemoBots | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._per_ip: Counter[str] = Counter()
        self._admitted: dict[ServerConnection, Admission] = {}
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
        limits = Limits(
            cfg.rate,
            cfg.burst,
            cfg.abuse_limit,
            cfg.abuse_window,
            cfg.max_write_buffer,
            cfg.max_size,
            self.log,
        )
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            create_connection=functools.partial(GuardedConnection, limits=limits),  # type: ignore[arg-type]
            process_request=self._process_request,
            process_response=_plain_rejection,
            select_subprotocol=_select_subprotocol,
            max_size=cfg.max_size,
            ping_interval=None,  # Our own health task, see _heartbeat.
            ping_timeout=None,
            close_timeout=cfg.close_timeout,
            open_timeout=cfg.open_timeout,
            server_header="SocketScope",
            logger=_WIRE_LOG,
            ssl=self._tls_context(),
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
        server.close(close_connections=True, code=1001, reason="server shutting down")
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

    # -- handshake ------------------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        cfg = self.config
        url = urlsplit(request.path)
        path = url.path  # Never log request.path: its query may hold a token.
        shown = _excerpt(path)  # And never more than a short, escaped excerpt of client input.
        peer = conn.remote_address
        ip = str(peer[0]) if peer else "unknown"
        if path not in PATHS:
            return self._reject(conn, 404, NOT_FOUND, ip, shown, "no such path")
        origins = request.headers.get_all("Origin")
        if cfg.origins and origins and (len(origins) > 1 or origins[0] not in cfg.origins):
            return self._reject(conn, 403, FORBIDDEN, ip, shown, "origin not allowed")
        if self._per_ip[ip] >= cfg.max_conns_per_ip:
            return self._reject(
                conn,
                429,
                TOO_MANY,
                ip,
                shown,
                f"more than {cfg.max_conns_per_ip} connections from this address",
            )
        name = key = None
        if cfg.auth:
            token = _token_from(url.query, request.headers)
            try:
                claims = verify_token(token or "", cfg.secret)
            except TokenError as exc:
                response = self._reject(conn, 401, UNAUTHORIZED, ip, shown, str(exc))
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            name, key = _display_name(claims)
        self._admitted[conn] = Admission(ip, name, key)
        self._per_ip[ip] += 1
        conn.connection_lost_waiter.add_done_callback(lambda _: self._release(conn))
        return None

    def _reject(
        self, conn: ServerConnection, status: int, body: str, ip: str, path: str, why: str
    ) -> Response:
        self.stats.rejections += 1
        response = conn.respond(status, body)
        self.log.add(
            WARNING, "rejected", f"{status} {response.reason_phrase} for {ip} on {path}: {why}"
        )
        return response

    def _release(self, conn: ServerConnection) -> None:
        admission = self._admitted.pop(conn, None)
        if admission is not None:
            self._per_ip[admission.ip] -= 1
            if self._per_ip[admission.ip] <= 0:
                del self._per_ip[admission.ip]

    # -- connections ----------------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection) -> None:
        admission = self._admitted.get(conn) or Admission("unknown", None, None)
        client_id = secrets.token_hex(6)
        path = urlsplit(conn.request.path).path if conn.request else "/"
        name = admission.name or f"guest-{client_id[:6]}"
        self._open += 1
        via = conn.subprotocol or "json"
        self.log.add(
            INFO,
            "handshake",
            f"client {client_id} ({name}) connected from {admission.ip} on {path} via {via}",
        )
        if isinstance(conn, GuardedConnection):
            conn.label = f"{client_id} ({name})"
        heartbeat = asyncio.create_task(self._heartbeat(conn, client_id, name))
        try:
            if path == "/echo":
                await self._echo(conn)
            else:
                member = Member(
                    client_id=client_id,
                    name=name,
                    dedup_key=admission.key or client_id,
                    conn=conn,
                    msgpack=conn.subprotocol == SUBPROTOCOL,
                )
                await self._serve_member(member)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.log.add(ERROR, "error", f"client {client_id} ({name}): internal error: {exc!r}")
            await conn.close(1011, "internal error")
        finally:
            heartbeat.cancel()
            self._open -= 1
            code = conn.close_code
            self.log.add(
                INFO,
                "closed",
                f"client {client_id} ({name}) disconnected"
                + (f" ({code})" if code is not None else ""),
            )

    async def _echo(self, conn: ServerConnection) -> None:
        async for message in conn:
            self.stats.messages_in += 1
            await conn.send(message)
            self.stats.messages_out += 1

    async def _serve_member(self, member: Member) -> None:
        conn: GuardedConnection = member.conn
        hub = self.hub
        if self.cluster is not None:
            await self.cluster.admit(member)
        hub.connect(member)
        try:
            await self._send(
                member,
                {
                    "type": "connected",
                    "clientId": member.client_id,
                    "name": member.name,
                    "timestamp": now_ms(),
                },
            )
            handled = 0
            async for raw in conn:
                self.stats.messages_in += 1
                handled += 1
                # Frames already queued come out without a pause: let other clients in now and
                # then (and after every refusal, each of which is a write).
                if handled % FAIR_SHARE == 0:
                    await asyncio.sleep(0)
                verdict = conn.spend()
                if verdict == ABUSED:
                    return  # Failed with 1008 already.
                if verdict != OK:
                    await self._send(member, error(RATE_LIMITED))
                    await asyncio.sleep(0)
                    continue
                for reply in hub.handle(member, raw):
                    await self._send(member, reply)
        finally:
            hub.disconnect(member)
            if member.dedup_key == member.client_id:  # This key can never come back.
                hub.seen.forget(member.dedup_key)

    async def _send(self, member: Member, reply: dict[str, Any]) -> None:
        try:
            frame = encode(reply, member.msgpack)
        except EncodeError as exc:  # Only a requestId can be unencodable here: leave it out.
            frame = encode(error(str(exc)), member.msgpack)
        await member.conn.send(frame)
        self.stats.messages_out += 1

    async def _heartbeat(self, conn: ServerConnection, client_id: str, name: str) -> None:
        """Ping every interval; no pong within the timeout: abort the connection."""
        interval = self.config.ping_interval
        timeout = self.config.ping_timeout if self.config.ping_timeout > 0 else None
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                async with asyncio.timeout(timeout):
                    pong = await conn.ping()
                    await pong
            except TimeoutError:
                self.log.add(
                    WARNING,
                    "terminated",
                    f"terminated client {client_id} ({name}): no pong within {timeout:g} s",
                )
                conn.transport.abort()
                return
            except ConnectionClosed:
                return
