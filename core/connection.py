"""One client connection to any RFC 6455 server: state machine, reconnect, heartbeat, queue."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode

from core.backoff import backoff
from core.closecodes import describe_close
from core.codecs import encode_object, parse_object
from core.config import ConnectionConfig
from core.decoders.layer import Listener, ProtocolLayer, default_registry
from core.decoders.registry import AUTO, RAW, Registry
from core.dial import dial, dial_settings, resolved
from core.errors import ErrorInfo, SettingsError, describe_error
from core.events import (
    Direction,
    ErrorEvent,
    FrameEvent,
    HandshakeInfo,
    Opcode,
    QueueDropped,
    QueueFlushed,
    RequestFinished,
    StateChanged,
)
from core.handshake import handshake_info
from core.heartbeat import Heartbeat
from core.hub import EventHub
from core.loopthread import hop
from core.metrics import ConnectionMetrics
from core.states import ConnState, check_transition
from core.wire import Wire

MAX_FRAGMENTS = 4096  # a message split into more frames than this is refused (1009)
MAX_PENDING_REQUESTS = 10_000
_OPCODES = {WsOpcode(op.value): op for op in Opcode}
# Hot-path constants (a module global is cheaper to read than an enum member).
_WS_TEXT, _WS_BINARY = WsOpcode.TEXT, WsOpcode.BINARY
_TEXT, _BINARY, _IN, _OUT = Opcode.TEXT, Opcode.BINARY, Direction.IN, Direction.OUT
_now = time.time
_ids = itertools.count(1)


class NotOpen(RuntimeError):
    """Raised by operations that need an open connection."""


class RequestTimeout(TimeoutError):
    """No reply carrying the requestId arrived in time."""


@dataclass(frozen=True, slots=True)
class Reply:
    request_id: str
    message: dict[str, Any]
    rtt: float  # seconds from send to reply


class Connection:
    """Drives websockets with its own retry loop and ping task, so every attempt, delay and RTT
    sample is visible as an event instead of hidden inside the library."""

    def __init__(
        self,
        config: ConnectionConfig,
        hub: EventHub | None = None,
        conn_id: int | None = None,
        rng: random.Random | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        resolve: Callable[[str], str] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        # Applied on every attempt to the URL, header values, token and on-open messages
        # ({{variables}}), so a reconnect sends fresh values; may be replaced at any time.
        self.resolve = resolve
        self._on_open: list[str] = []  # this attempt's on-open messages, resolved
        self._protocol_options: dict[str, str] = {}  # and protocol options
        # Decoders (core/decoders/layer.py): a layer per open; `_feed` is its feed() while it
        # wants every frame, else None (raw, lazy decoder): one attribute test per frame.
        self.registry = registry
        self.protocol: ProtocolLayer | None = None
        self.decoder_override: str | None = None  # set_decoder(), kept across reconnects
        self.decoded_listener: Listener | None = None  # sees every decoded message at once
        self._feed: Callable[[Direction, Opcode, bytes, float], None] | None = None
        # The loop this connection lives on (the first one it is started on unless given).
        # Public methods called from any other thread hop to it: the app runs every
        # connection on a core thread while its widgets call these from the GUI thread.
        self._loop = loop
        self.id = conn_id if conn_id is not None else next(_ids)
        self.hub = hub or EventHub()
        self.metrics = ConnectionMetrics()
        self.state = ConnState.CLOSED
        self.attempt = 0
        self.last_error: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.subprotocol: str | None = None
        self.opened_at: float | None = None  # wall time of the last open
        self.retry_at: float | None = None  # wall time of the next attempt while waiting
        self.queue: deque[tuple[bytes, bool]] = deque()
        self.queue_dropped = 0
        # Messages sent with send_acked(): request id -> [payload, is_text, epoch last written].
        self.unacked: dict[str, list[Any]] = {}
        self._epoch = 0  # one per open connection
        self._flushing = False
        # While the protocol's handshake is not confirmed (ProtocolLayer.wait_ready) the user's
        # messages wait in the offline queue, as while connecting.
        self._held = False
        self._rng = rng or random.Random()
        self.wire: Wire | None = None  # while open
        self._task: asyncio.Task[None] | None = None
        self._retry_now = asyncio.Event()
        self._stopping = False
        self._close_error: str | None = None
        self._fragments: list[bytes] | None = None
        # the data frames of the read in progress (at most one read's bytes, wire.READ_CHUNK, plus
        # a message it completes), published when the read is done: _publish_inbox()
        self._inbox: list[FrameEvent] = []
        self._fragment_op = Opcode.TEXT
        self._requests: dict[str, tuple[asyncio.Future[Reply], float]] = {}
        self.heartbeat = Heartbeat(self)
        self._state_waiters: list[tuple[ConnState, asyncio.Future[None]]] = []

    # ----- public API -----------------------------------------------------------------------

    def connect(self) -> None:
        """Start the connect/retry loop in the background (no-op when already running)."""
        if (loop := self._foreign_loop()) is not None:
            loop.call_soon_threadsafe(self.connect)
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._stopping = False
            self.attempt = 1
            self._set_state(ConnState.CONNECTING)  # at once, so callers see it has started
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"connection-{self.id}"
            )

    async def disconnect(self, code: int = 1000, reason: str = "") -> None:
        """Close for good: no retry; unanswered requests fail now."""
        if (loop := self._foreign_loop()) is not None:
            return await hop(loop, self.disconnect(code, reason))
        self._stopping = True
        ws = self.wire
        if ws is not None and self.state is ConnState.OPEN:
            self._set_state(ConnState.CLOSING)
            self.publish_frame(Direction.OUT, Opcode.CLOSE, _close_payload(code, reason))
            await ws.close(code, reason)
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=1.0)  # let the loop record the clean close
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_requests("the connection was closed")

    def reconnect_now(self) -> None:
        """Skip the remaining retry delay, or drop an open connection and open it again."""
        if (loop := self._foreign_loop()) is not None:
            loop.call_soon_threadsafe(self.reconnect_now)
            return
        if self.state is ConnState.WAITING:
            self._retry_now.set()
        elif self.state is ConnState.OPEN and self.wire is not None:
            self.abort("Reconnect requested by the user")
        elif self._task is None or self._task.done():
            self.connect()

    async def wait_for_state(self, state: ConnState, timeout: float) -> None:
        """Return once the connection is (or next becomes) `state`; TimeoutError otherwise."""
        if self.state is state:
            return
        if (loop := self._foreign_loop()) is not None:
            return await hop(loop, self.wait_for_state(state, timeout))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (state, future)
        self._state_waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            with contextlib.suppress(ValueError):
                self._state_waiters.remove(entry)

    async def send(self, data: str | bytes, *, text: bool | None = None) -> bool:
        """Send now when open, else keep it in the offline queue; True when it went out now."""
        if (loop := self._foreign_loop()) is not None:
            return await hop(loop, self.send(data, text=text))
        if isinstance(data, str):
            payload, is_text = data.encode(), True if text is None else text
        else:
            payload, is_text = bytes(data), bool(text)
        if self.state is not ConnState.OPEN or self.queue or self.wire is None or self._held:
            self._enqueue(payload, is_text)
            return False
        try:
            await self._write(self.wire, payload, is_text)
        except ConnectionClosed:
            self._enqueue(payload, is_text)
            return False
        return True

    async def request(self, message: dict[str, Any], timeout: float | None = None) -> Reply:
        """Send `message` with a fresh requestId and wait for the reply that carries it."""
        if (loop := self._foreign_loop()) is not None:
            return await hop(loop, self.request(message, timeout))
        if len(self._requests) >= MAX_PENDING_REQUESTS:
            raise NotOpen("too many unanswered requests")
        request_id = uuid.uuid4().hex[:16]
        binary = self.subprotocol == "msgpack"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = (future, time.monotonic())
        timeout = self.config.request_timeout if timeout is None else timeout
        try:
            payload = encode_object({**message, "requestId": request_id}, binary)
            await self.send(payload, text=not binary)
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            error = f"no reply within {timeout:g} s"
            self.publish(RequestFinished(self.id, time.time(), request_id, None, error))
            raise RequestTimeout(f"request {request_id}: {error}") from None
        finally:
            self._requests.pop(request_id, None)
        self.publish(RequestFinished(self.id, time.time(), request_id, reply.rtt))
        return reply

    async def send_acked(self, message: dict[str, Any]) -> str:
        """Deliver exactly once to a server that acks by message id (PROTOCOL.md): the message
        is kept until the reply carrying its requestId arrives and is written again, with the
        same id, after every reconnect until then. Returns the message id."""
        if (loop := self._foreign_loop()) is not None:
            return await hop(loop, self.send_acked(message))
        message = dict(message)
        message_id = str(message.setdefault("id", uuid.uuid4().hex[:16]))
        request_id = str(message.setdefault("requestId", f"ack-{message_id}"))
        binary = self.subprotocol == "msgpack"
        if len(self.unacked) >= self.config.queue_size:
            del self.unacked[next(iter(self.unacked))]
            self.queue_dropped += 1
            self.publish(QueueDropped(self.id, time.time(), self.queue_dropped))
        entry: list[Any] = [encode_object(message, binary), not binary, -1]
        self.unacked[request_id] = entry
        ws = self.wire
        if self.state is ConnState.OPEN and ws is not None and not (self._flushing or self._held):
            with contextlib.suppress(ConnectionClosed):
                await self._write(ws, entry[0], entry[1])
                entry[2] = self._epoch
        return message_id

    def set_decoder(self, name: str) -> None:
        """Override the detected protocol for this connection (any thread): a decoder's name,
        "raw" or "auto". Applied at once when open (ProtocolDetected is published again) and
        on every later open. ValueError in words for a name no decoder has."""
        registry = self._registry()
        if name not in (AUTO, RAW) and registry.get(name) is None:
            known = ", ".join([*registry.names, AUTO, RAW])
            raise ValueError(f"no decoder named {name!r} (known: {known})")
        if (loop := self._foreign_loop()) is not None:
            loop.call_soon_threadsafe(self._apply_decoder, name)
            return
        self._apply_decoder(name)

    def _apply_decoder(self, name: str) -> None:
        self.decoder_override = name
        layer = self.protocol
        if layer is not None and not layer.closed:
            layer.override(name)

    def _registry(self) -> Registry:
        if self.registry is None:
            self.registry = default_registry()
        return self.registry

    def _foreign_loop(self) -> asyncio.AbstractEventLoop | None:
        """This connection's loop when the caller is not running on it, else None."""
        loop = self._loop
        if loop is None:
            return None
        try:
            if asyncio.get_running_loop() is loop:
                return None
        except RuntimeError:  # a plain thread without a loop
            pass
        return loop

    @property
    def pending_requests(self) -> int:
        return len(self._requests)

    @property
    def uptime(self) -> float | None:
        if self.state is ConnState.OPEN and self.opened_at is not None:
            return time.time() - self.opened_at
        return None

    # ----- the retry loop -------------------------------------------------------------------

    async def _run(self) -> None:
        policy = self.config.reconnect
        delays = backoff(policy, self._rng)
        streak, streak_kind = 0, ""  # failures of one kind in a row
        try:
            while True:
                if self.state is not ConnState.CONNECTING:
                    self.attempt += 1
                    self._set_state(ConnState.CONNECTING)
                opened = await self._open()
                if isinstance(opened, ErrorInfo):
                    streak = streak + 1 if opened.kind == streak_kind else 1
                    streak_kind = opened.kind
                    message, final = self._verdict(opened, streak)
                    if final or not self._may_retry():
                        self._set_state(ConnState.CLOSED, error=message)
                        return
                    await self._wait_retry(next(delays), error=message)
                    continue
                streak, streak_kind = 0, ""
                started = time.monotonic()
                code, reason, error = await self._serve(*opened)
                if self._stopping:
                    self._set_state(ConnState.CLOSED, close_code=code, close_reason=reason)
                    return
                if time.monotonic() - started >= policy.stable_after:
                    delays = backoff(policy, self._rng)
                    self.attempt = 0
                if not self._may_retry():
                    self._set_state(
                        ConnState.CLOSED, close_code=code, close_reason=reason, error=error
                    )
                    return
                await self._wait_retry(
                    next(delays), close_code=code, close_reason=reason, error=error
                )
        except asyncio.CancelledError:
            if self.state is not ConnState.CLOSED:
                self._set_state(ConnState.CLOSED, close_code=self.close_code)
            raise

    def _verdict(self, info: ErrorInfo, streak: int) -> tuple[str, bool]:
        """The error in words, and whether to stop retrying: a fatal error, or one that
        repeated `streak` times (a typo'd host, a server that does not speak WebSocket) and
        will not heal by itself."""
        policy = self.config.reconnect
        if info.kind == "protocol" and streak >= policy.max_protocol_errors:
            return f"{info.message} ({streak} protocol errors in a row: not retrying)", True
        if info.kind == "dns" and streak >= policy.max_dns_errors:
            return (f"{info.message} (not found {streak} times in a row: gave up retrying; "
                    "connect again once the URL is fixed)"), True
        if not info.retry:
            return f"{info.message} (not retrying: fix the settings, then connect again)", True
        return info.message, False

    def _may_retry(self) -> bool:
        policy = self.config.reconnect
        if not policy.enabled or self._stopping:
            return False
        return policy.max_attempts is None or self.attempt < policy.max_attempts

    async def _wait_retry(self, delay: float, **info: Any) -> None:
        self.retry_at = time.time() + delay
        self._set_state(ConnState.WAITING, retry_in=delay, **info)
        self._retry_now.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._retry_now.wait()
        self.retry_at = None

    async def _open(self) -> tuple[Wire, HandshakeInfo] | ErrorInfo:
        """The open connection and its handshake, or what went wrong in words. A rejected
        handshake (HTTP 401 ...) is published too: its status and headers tell why."""
        try:
            cfg = resolved(self.config, self.resolve)
        except SettingsError as exc:  # a {{variable}} without a value: not retried
            return describe_error(exc, self.config.url)
        self._on_open = cfg.on_open
        self._protocol_options = cfg.protocol_options
        masked = (cfg.token or "", *getattr(self.resolve, "secret_values", ()))
        url, settings = dial_settings(cfg)
        made: list[Wire] = []  # one per attempt of a redirect chain
        try:
            wire = await dial(url, settings, made.append)
        except Exception as exc:
            last = made[-1] if made else None
            if last is not None and last.response is not None:
                self.publish(handshake_info(self.id, url, last, masked))
            reached = last is not None and last.request is not None
            return describe_error(exc, cfg.url, bool(cfg.token), reached=reached)
        return wire, handshake_info(self.id, url, wire, masked)

    async def _serve(
        self, ws: Wire, handshake: HandshakeInfo
    ) -> tuple[int | None, str, str | None]:
        """Run one open connection to its end; return close code, reason and error in words."""
        self.wire = ws
        self.subprotocol = ws.protocol.subprotocol
        self._close_error = None
        self._fragments = None
        self._epoch += 1
        self.opened_at = time.time()
        self.publish(handshake)
        self._set_state(ConnState.OPEN)
        layer = self._open_layer(handshake)
        ws.attach(self._on_frame, self._deliver, self.hub.backpressure, self.hub.priority,
                  self._publish_inbox)
        tasks = self.heartbeat.start(ws)
        try:
            # The protocol's own handshake (connection_init, CONNECT, "40") goes first.
            await layer.write_pending(lambda payload, text: self._write(ws, payload, text))
            tasks.append(asyncio.create_task(
                layer.run(lambda payload, text: self._write(ws, payload, text)),
                name=f"protocol-{self.id}"))
            if layer.holding:  # the user's messages once the server confirmed the handshake
                self._held = True
                tasks.append(asyncio.create_task(self._send_when_ready(ws, layer),
                                                 name=f"on-open-{self.id}"))
            else:
                await self._send_on_open(ws)
            await ws.wait_closed()
        except ConnectionClosed:
            await ws.wait_closed()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._held = False
            self._feed = None
            layer.close()
            self.wire = None
            self.heartbeat.app_ping_at = None
        code = ws.close_code
        reason = ws.close_reason or ""
        return code, reason, self._explain_close(ws, code, reason)

    def _open_layer(self, handshake: HandshakeInfo) -> ProtocolLayer:
        cfg = self.config
        layer = ProtocolLayer(
            self.id, handshake, self.publish, registry=self._registry(),
            decoder=self.decoder_override or cfg.decoder, client=cfg.protocol_client,
            options=self._protocol_options, on_change=self._layer_changed,
            listener=self.decoded_listener,
        )
        self.protocol = layer
        layer.start()
        return layer

    def _layer_changed(self) -> None:
        layer = self.protocol
        self._feed = layer.feed if layer is not None and layer.fed else None

    def _explain_close(self, ws: Wire, code: int | None, reason: str) -> str | None:
        if self._close_error:
            return self._close_error
        if self._stopping:
            return None
        sent = ws.close_sent
        if sent is not None and not ws.protocol.close_rcvd_then_sent and sent.code != 1000:
            return f"SocketScope closed the connection: {describe_close(sent.code)} ({sent.reason})"
        if code in (1000, 1001, None):  # normal closure and going away are not errors
            return None
        if code == 1006:
            return "Connection lost without a close frame (1006)"
        detail = f": {reason}" if reason else ""
        return f"Closed by the server: {describe_close(code)}{detail}"

    # ----- sending --------------------------------------------------------------------------

    async def _send_on_open(self, ws: Wire) -> None:
        """The profile's on-open messages, then the unacked and offline-queued ones."""
        for text in self._on_open:
            await self._write(ws, text.encode(), True)
        await self._flush(ws)

    async def _send_when_ready(self, ws: Wire, layer: ProtocolLayer) -> None:
        """Holds the user's messages until the protocol's handshake is confirmed (the server
        ignores or rejects them before), at most `open_timeout`; a refused handshake keeps
        them queued (the server closes, the next open sends them)."""
        confirmed = await layer.wait_ready(self.config.open_timeout)
        if layer.refused is not None:
            self.publish(ErrorEvent(
                self.id, time.time(), f"The server refused the {layer.name} handshake "
                f"({layer.refused}): on-open and queued messages were not sent", "protocol"))
            return
        if not confirmed:
            self.publish(ErrorEvent(
                self.id, time.time(), f"The {layer.name} handshake was not confirmed within "
                f"{self.config.open_timeout:g} s: on-open and queued messages sent anyway",
                "protocol"))
        with contextlib.suppress(ConnectionClosed):
            for text in self._on_open:  # still ahead of what the user sends meanwhile
                await self._write(ws, text.encode(), True)
            self._held = False
            await self._flush(ws)

    def _enqueue(self, payload: bytes, is_text: bool) -> None:
        if len(self.queue) >= self.config.queue_size:
            self.queue.popleft()
            self.queue_dropped += 1
            self.publish(QueueDropped(self.id, time.time(), self.queue_dropped))
        self.queue.append((payload, is_text))

    async def _flush(self, ws: Wire) -> None:
        """Unacked messages go first (again), then the offline queue, in order; a queued
        message is removed only once written, so none is lost or sent twice."""
        sent = 0
        self._flushing = True
        try:
            sent = await self._resend_unacked(ws)
        except ConnectionClosed:
            return
        finally:
            self._flushing = False
        while self.queue:
            payload, is_text = self.queue.popleft()
            try:
                await self._write(ws, payload, is_text)
            except ConnectionClosed:
                self.queue.appendleft((payload, is_text))
                break
            sent += 1
        if sent:
            self.publish(QueueFlushed(self.id, time.time(), sent))

    async def _resend_unacked(self, ws: Wire) -> int:
        sent = 0
        while True:
            due = [(rid, e) for rid, e in self.unacked.items() if e[2] != self._epoch]
            if not due:
                return sent
            for request_id, entry in due:
                if request_id in self.unacked and entry[2] != self._epoch:  # still due
                    await self._write(ws, entry[0], entry[1])
                    entry[2] = self._epoch
                    sent += 1

    async def _write(self, ws: Wire, payload: bytes, is_text: bool) -> None:
        await ws.send(payload, is_text)
        now = time.time()
        self.metrics.record_out(len(payload), now)
        op = _TEXT if is_text else _BINARY
        self.publish(FrameEvent(self.id, now, _OUT, op, payload))
        feed = self._feed
        if feed is not None:
            feed(_OUT, op, payload, now)

    # ----- receiving (called synchronously as frames are parsed) ----------------------------

    def _on_frame(self, frame: Frame) -> None:
        # Runs once per frame, 100,000+ times a second in a flood: data frames take the
        # shortest path (identity tests on module constants; enum lookups cost ~0.1 us each).
        data = frame.data
        if type(data) is not bytes:
            data = bytes(data)
        ws_op = frame.opcode
        if ws_op is _WS_TEXT:
            op = _TEXT
        elif ws_op is _WS_BINARY:
            op = _BINARY
        else:
            self._on_other_frame(_OPCODES[ws_op], data, frame.fin)
            return
        if frame.fin:
            self._deliver(op, data)
        else:
            self._fragments = [data]
            self._fragment_op = op

    def _on_other_frame(self, op: Opcode, data: bytes, fin: bool) -> None:
        if op is Opcode.CONT:
            fragments = self._fragments
            if fragments is None:
                return  # the protocol layer already failed the connection
            fragments.append(data)
            if len(fragments) > MAX_FRAGMENTS:
                self._fragments = None
                self._fail(1009, f"message split into more than {MAX_FRAGMENTS} fragments")
            elif fin:
                self._fragments = None
                self._deliver(self._fragment_op, b"".join(fragments))
        else:
            now = time.time()
            self.publish(FrameEvent(self.id, now, Direction.IN, op, data))
            if op is Opcode.CLOSE and (feed := self._feed) is not None:
                feed(_IN, op, data, now)  # close codes mean something in some protocols
            if op is Opcode.PING:
                self.publish_frame(Direction.OUT, Opcode.PONG, data)  # sent by the protocol
            elif op is Opcode.CLOSE and self.state is ConnState.OPEN:
                self._set_state(ConnState.CLOSING)

    def _deliver(self, op: Opcode, data: bytes) -> None:
        if op is _TEXT and not data.isascii():  # ASCII is valid UTF-8: no decode needed
            try:
                data.decode()  # RFC 6455 requires failing on invalid UTF-8
            except UnicodeDecodeError as exc:
                self._fail(1007, f"invalid UTF-8 at byte {exc.start} of a text message")
                return
        now = _now()
        self.metrics.record_in(len(data), now)
        event = FrameEvent(self.id, now, _IN, op, data)
        feed = self._feed
        if feed is None and not (self._requests or self.unacked):
            self._inbox.append(event)  # with the rest of the read: _publish_inbox()
        else:
            self.publish(event)
            if feed is not None:
                feed(_IN, op, data, now)
            if (self._requests or self.unacked) and b"requestId" in data:
                self._match_request(op, data)
        heartbeat = self.heartbeat
        if heartbeat.app_ping_at is not None and (wire := self.wire) is not None:
            heartbeat.on_message(op, data, now, wire.read_at)

    def _publish_inbox(self) -> None:
        """Publish the data frames read so far as one batch (the wire calls this at the end of
        each read; every other publication of this connection calls it first, so the hub sees
        this connection's events in the order they happened)."""
        if self._inbox:
            frames, self._inbox = self._inbox, []
            self.hub.publish_frames(frames)

    def _match_request(self, op: Opcode, data: bytes) -> None:
        obj = parse_object(op, data)
        request_id = obj.get("requestId") if obj else None
        if not isinstance(request_id, str):
            return
        self.unacked.pop(request_id, None)
        entry = self._requests.get(request_id)
        if entry is None or obj is None or entry[0].done():
            return
        future, sent_at = entry
        future.set_result(Reply(request_id, obj, time.monotonic() - sent_at))

    def _fail(self, code: int, reason: str) -> None:
        ws = self.wire
        self._close_error = f"SocketScope closed the connection: {describe_close(code)} ({reason})"
        self.publish(ErrorEvent(self.id, time.time(), self._close_error, "protocol"))
        if ws is not None:
            ws.fail(code, reason)

    def abort(self, error: str) -> None:
        """Drop the open connection at once, with `error` as the reason it closed."""
        self._close_error = error
        if self.wire is not None:
            self.wire.abort()

    def _fail_requests(self, why: str) -> None:
        for future, _ in list(self._requests.values()):
            if not future.done():
                future.set_exception(NotOpen(why))
                future.exception()  # mark retrieved: a caller may already have given up

    # ----- events ---------------------------------------------------------------------------

    def _set_state(self, new: ConnState, **info: Any) -> None:
        old = self.state
        check_transition(old, new)
        self.state = new
        if "close_code" in info:
            self.close_code = info["close_code"]
            self.close_reason = info.get("close_reason", "")
        if info.get("error"):
            self.last_error = info["error"]
        elif new is ConnState.OPEN:
            self.last_error = None
        event = StateChanged(self.id, time.time(), old, new, self.attempt, **info)
        self.publish(event)
        if info.get("error"):
            self.publish(ErrorEvent(self.id, event.time, info["error"], "connection"))
        for wanted, future in self._state_waiters:
            if wanted is new and not future.done():
                future.set_result(None)

    def publish_frame(self, direction: Direction, op: Opcode, data: bytes) -> None:
        self.publish(FrameEvent(self.id, time.time(), direction, op, data))

    def publish(self, event: Any) -> None:
        """An event of this connection, after the frames read before it."""
        self._publish_inbox()
        self.hub.publish(event)


def _close_payload(code: int, reason: str) -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:123]
