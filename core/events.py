"""The frozen events the engine publishes; every view (CLI, Qt, recorder) is built from these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from core.states import ConnState


class Opcode(IntEnum):
    CONT = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10

    @property
    def label(self) -> str:
        return self.name.lower()


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class StateChanged:
    conn_id: int
    time: float
    old: ConnState
    new: ConnState
    attempt: int
    retry_in: float | None = None
    close_code: int | None = None
    close_reason: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """One message or control frame; the payload stays bytes and is decoded on demand."""

    conn_id: int
    time: float
    direction: Direction
    opcode: Opcode
    payload: bytes

    def __init__(
        self, conn_id: int, time: float, direction: Direction, opcode: Opcode, payload: bytes
    ) -> None:
        # One of these per frame (100,000+ a second in a flood). The generated frozen __init__
        # sets each field through object.__setattr__ by name (~1.7 us in all); writing the slots
        # through their descriptors is the same thing in ~0.4 us. Still frozen afterwards.
        _set_conn_id(self, conn_id)
        _set_time(self, time)
        _set_direction(self, direction)
        _set_opcode(self, opcode)
        _set_payload(self, payload)

    @property
    def size(self) -> int:
        return len(self.payload)

    @property
    def is_data(self) -> bool:
        return self.opcode is Opcode.TEXT or self.opcode is Opcode.BINARY

    @property
    def text(self) -> str:
        """The payload as text; binary payloads are not text and raise."""
        if self.opcode is Opcode.BINARY:
            raise ValueError("binary frame has no text")
        return self.payload.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Parsed JSON of a text frame; raises ValueError when it is not JSON."""
        return json.loads(self.text)


# mypy types class access to a slot as the field's value, not as the slot's member descriptor.
_set_conn_id = FrameEvent.conn_id.__set__  # type: ignore[attr-defined, misc]
_set_time = FrameEvent.time.__set__  # type: ignore[attr-defined, misc]
_set_direction = FrameEvent.direction.__set__  # type: ignore[attr-defined, misc]
_set_opcode = FrameEvent.opcode.__set__  # type: ignore[attr-defined, misc]
_set_payload = FrameEvent.payload.__set__  # type: ignore[attr-defined, misc]


@dataclass(frozen=True, slots=True)
class LatencySample:
    conn_id: int
    time: float
    rtt: float  # seconds
    kind: str  # "ping" (protocol) or "app" (application-level heartbeat)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    conn_id: int
    time: float
    message: str
    kind: str = "error"


@dataclass(frozen=True, slots=True)
class QueueDropped:
    """The offline queue was full; the oldest message was dropped."""

    conn_id: int
    time: float
    dropped_total: int


@dataclass(frozen=True, slots=True)
class QueueFlushed:
    conn_id: int
    time: float
    count: int


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """A request by requestId ended: replied (rtt set) or failed (error set)."""

    conn_id: int
    time: float
    request_id: str
    rtt: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionAdded:
    conn_id: int
    time: float
    url: str
    name: str


@dataclass(frozen=True, slots=True)
class HandshakeInfo:
    """What the opening handshake negotiated, published once per open, right before the state
    change to OPEN; also for a handshake the server rejected (status 401 ...), before the state
    change that reports it. Secrets (token, Authorization, Cookie, Set-Cookie,
    Sec-WebSocket-Key) are already masked as "•••"."""

    conn_id: int
    time: float
    url: str  # as connected, token masked
    status: int | None  # HTTP status of the response (101 on success)
    request_headers: tuple[tuple[str, str], ...]
    response_headers: tuple[tuple[str, str], ...]
    subprotocol: str | None
    extensions: tuple[str, ...]  # as negotiated, e.g. "permessage-deflate"
    tls_version: str | None = None  # e.g. "TLSv1.3"; None for ws://
    peer_certificate: str | None = None  # one line: subject, issuer, valid until


@dataclass(frozen=True, slots=True)
class ProtocolDetected:
    """Which application protocol a connection speaks (core.decoders), once per open, and again
    when the user overrides it or the decoder is switched off."""

    conn_id: int
    time: float
    protocol: str | None  # the decoder's name; None: raw frames only
    title: str  # "Socket.IO v5 / Engine.IO v4", or why raw
    score: float
    client: bool  # the protocol client answers for us (pings, connection_init, CONNECT)
    overridden: bool = False  # chosen by the user, not detected
    note: str = ""  # e.g. "socketio decoder switched off: raised ValueError"


@dataclass(frozen=True, slots=True)
class MessagesDecoded:
    """The application messages decoded on one connection since the last such event, batched
    (at most every 50 ms or 512 messages), each with the time of the frame that completed it.
    Only for decoders that are not lazy: a lazy decoder's frames are decoded where shown."""

    conn_id: int
    time: float
    items: tuple[tuple[float, Any], ...]  # (frame time, core.decoders.api.Message)


@dataclass(frozen=True, slots=True)
class PairsMatched:
    """Requests paired with their replies on one connection since the last such event (batched
    like MessagesDecoded)."""

    conn_id: int
    time: float
    pairs: tuple[Any, ...]  # core.decoders.pairing.Pair


@dataclass(frozen=True, slots=True)
class ConnectionRemoved:
    conn_id: int
    time: float


@dataclass(frozen=True, slots=True)
class ScheduleChanged:
    """A scheduled send started, made progress (a few times a second at most) or ended
    (`running` False; `error` says why when it ended early)."""

    conn_id: int
    time: float
    schedule_id: int
    sent: int
    total: int | None  # None: until stopped
    running: bool
    error: str | None = None
    waiting: bool = False  # paused until the connection opens again
    label: str = ""  # what it sends, in words


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Everything the connections table, the status bar and the charts show of one connection,
    taken by the manager on the core thread a few times a second (core.manager.METRICS_S) and
    handed to the view that asked (`ConnectionManager.publish_metrics`), not to the hub: the
    recorder keeps the events these are derived from. The UI keeps its own series from these
    and from LatencySample: it never reads the core's buffers, which the core thread writes."""

    conn_id: int
    time: float
    state: ConnState
    attempt: int
    name: str  # the config's, "" when unnamed
    url: str  # as configured ({{variables}} unresolved), token and all: mask it to show it
    subprotocol: str | None
    opened_at: float | None  # wall time of the last open
    retry_at: float | None  # wall time of the next attempt while waiting
    close_code: int | None
    close_reason: str
    last_error: str | None
    msgs_in: int  # totals since the connection was made
    bytes_in: int
    msgs_out: int
    bytes_out: int
    rates: tuple[float, float, float, float]  # msgs/s in, bytes/s in, msgs/s out, bytes/s out
    rtt: float | None  # the last protocol-ping RTT, seconds
    app_rtt: float | None  # the last application-heartbeat RTT
    rtt_mean: float | None  # mean of the last 100 protocol-ping RTTs
    app_rtt_mean: float | None
    queued: int  # messages in the offline queue
    # the finished seconds since the previous snapshot (silent ones as zeros), oldest first:
    # (epoch second, msgs in, bytes in, msgs out, bytes out)
    seconds: tuple[tuple[float, float, float, float, float], ...] = ()


Event = (
    ConnectionAdded
    | ConnectionRemoved
    | HandshakeInfo
    | ProtocolDetected
    | MessagesDecoded
    | PairsMatched
    | StateChanged
    | FrameEvent
    | LatencySample
    | ErrorEvent
    | QueueDropped
    | QueueFlushed
    | RequestFinished
    | ScheduleChanged
    | MetricsSnapshot
)
