"""The decoder plug-in interface: what a protocol decoder declares, scores and produces.

Shaped after mitmproxy's contentviews (a name, a score that says "mine, how sure"), with the
per-connection state they lack: a `DecoderSession` sees every frame of one connection in order,
may buffer across frames (Socket.IO attachments, MQTT packets split over frames, STOMP frames
packed in one message) and, as a protocol client, may answer the server (Engine.IO pongs,
MQTT PINGREQ) so the connection stays open. Nothing here imports Qt or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from core.events import Direction, Opcode

ENTRY_POINT_GROUP = "socketscope.decoders.v1"

# Score tiers (a decoder may add up to 9 inside its tier to say how sure it is); below 0: not
# mine. The highest score wins; the generic JSON decoder always answers GENERIC for JSON.
EXACT_SUBPROTOCOL = 100.0
URL_SIGNATURE = 50.0
FIRST_FRAMES = 20.0
GENERIC = 1.0
NOT_MINE = -1.0

TICK_SECONDS = 1.0  # how often a running session's tick() is called


def due(last: float, every: float, now: float) -> bool:
    """Whether a frame that must follow `last` within `every` seconds has to go at this tick:
    it would be late by the next one (a keep-alive sent on the tick after its deadline is a
    second late, past a broker's 1.5 keep-alives when the keep-alive is 2 s)."""
    return now + TICK_SECONDS > last + every


class Kind(StrEnum):
    CONNECT = "connect"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    EVENT = "event"
    REQUEST = "request"
    RESPONSE = "response"
    ERROR = "error"
    HEARTBEAT = "heartbeat"
    CONTROL = "control"


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a decoder may score a connection on before any frame."""

    url: str
    subprotocol: str | None = None
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Frame:
    """One data frame as a decoder sees it (the payload stays bytes)."""

    direction: Direction
    opcode: Opcode
    payload: bytes
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class Message:
    """One application message decoded from one or more frames (or one of several in a frame).

    `correlation` pairs a request with its reply and is namespaced by the decoder so that two
    kinds of ids never meet (e.g. "ack:/chat:7", "rpc:42", "receipt:r-1", "mqtt:5").
    """

    protocol: str  # the decoder's name
    kind: Kind
    summary: str  # one line for the inspector's Message column: "emit chat {…} ack 1"
    direction: Direction = Direction.IN
    name: str | None = None  # event or method name
    topic: str | None = None  # topic, room, destination, namespace or operation
    correlation: str | None = None
    heartbeat: bool = False
    payload: Any = None  # the decoded body: JSON-like values or bytes
    fields: Mapping[str, Any] = field(default_factory=dict)  # protocol extras (headers, qos, ...)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame a session wants sent: a protocol-client answer or a composer template's output."""

    payload: bytes
    text: bool


@runtime_checkable
class DecoderSession(Protocol):
    """One connection's decoding state. Every method must return quickly and never raise on bad
    input: a malformed frame decodes to a Message of kind ERROR (or nothing while buffering).
    Buffers are bounded in bytes; what they drop is said in a Message.

    Optional (read with getattr): `ready(message: Message) -> bool | None`, asked about each
    received message until it answers: True when the message completes the protocol's
    handshake (Socket.IO namespace connect, graphql `connection_ack`, STOMP CONNECTED, MQTT
    CONNACK accepted), False when it refuses it (CONNACK failure, STOMP ERROR, graphql 4401),
    None when it says neither. With the protocol client on, the user's on-open and queued
    messages wait for True, since a server ignores or rejects them before (core/connection.py);
    after False they stay queued. A session without it is ready at once."""

    def feed(self, frame: Frame) -> Sequence[Message]:
        """The messages completed by this frame (0, 1 or many)."""
        ...

    def on_open(self) -> Sequence[Outgoing]:
        """Protocol-client frames to send first on every open (connection_init, CONNECT, ...)."""
        ...

    def answer(self, message: Message) -> Sequence[Outgoing]:
        """Protocol-client replies a received message calls for (Engine.IO "2" -> "3")."""
        ...

    def tick(self, now: float) -> Sequence[Outgoing]:
        """Protocol-client frames due by `now` (MQTT PINGREQ, STOMP heart-beats); called
        every TICK_SECONDS while open, so what would be late by the next call is due now."""
        ...


@runtime_checkable
class Decoder(Protocol):
    """A protocol decoder, registered under the entry-point group ENTRY_POINT_GROUP."""

    name: str  # short and stable: "socketio", "graphql-ws", "jsonrpc", "stomp", "mqtt", "json"
    title: str  # for people: "Socket.IO v5 / Engine.IO v4"
    subprotocols: tuple[str, ...]  # exact Sec-WebSocket-Protocol values this decoder speaks
    # Optional (read with getattr, default False): `lazy = True` says each frame decodes alone
    # and the session never speaks, so a running connection does not feed it every frame; the
    # frames are decoded where they are shown (core/decoders/layer.py decode_frame).

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        """How sure this decoder is that the connection speaks its protocol (tiers above)."""
        ...

    def session(self, handshake: Handshake) -> DecoderSession:
        ...

    def templates(self) -> Mapping[str, str]:
        """Composer templates by title, as text with {{placeholders}} (may be empty)."""
        ...

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        """The frames for one composer template filled with `values`; ValueError when a value is
        missing or wrong, with a message for the user."""
        ...
