"""The STOMP 1.0-1.2 decoder (Spring, RabbitMQ Web-STOMP, ActiveMQ over WebSocket).

Each direction has its own bounded stream, so frames packed in one message or split across
messages decode alike. Receipts pair by "receipt:<id>"; subscriptions are remembered (bounded)
so a MESSAGE or UNSUBSCRIBE names its destination. As a protocol client the session sends
CONNECT on open and heart-beat EOLs at the interval negotiated with CONNECTED.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.decoders.api import (
    EXACT_SUBPROTOCOL,
    FIRST_FRAMES,
    NOT_MINE,
    URL_SIGNATURE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
    due,
)
from core.decoders.client_options import settings_from
from core.decoders.stomp_frames import (
    COMMANDS,
    Broken,
    Heartbeat,
    StompFrame,
    StompStream,
    encode_frame,
)
from core.events import Direction, Opcode

SUBPROTOCOLS = {"v12.stomp": "1.2", "v11.stomp": "1.1", "v10.stomp": "1.0"}
MAX_SUBSCRIPTIONS = 10_000
SUMMARY_CHARS = 80
MASK = "•••"
_KINDS = {
    "CONNECT": Kind.CONNECT, "STOMP": Kind.CONNECT, "CONNECTED": Kind.CONNECT,
    "SUBSCRIBE": Kind.SUBSCRIBE, "UNSUBSCRIBE": Kind.UNSUBSCRIBE, "SEND": Kind.EVENT,
    "MESSAGE": Kind.EVENT, "RECEIPT": Kind.RESPONSE, "ERROR": Kind.ERROR}
_FIRST_LINE = re.compile(rb"^(?:\r?\n)*([A-Z]{3,11})\r?\n")


@dataclass(frozen=True, slots=True)
class StompSettings:
    """The protocol client's CONNECT; heart_beat is (can send, wants to receive) in ms."""

    # The virtual host; None sends no host header, as stomp.js does: RabbitMQ then uses its
    # default vhost, while the URL's host it refuses ("Virtual host '127.0.0.1' access denied").
    host: str | None = None
    accept_version: str = "1.0,1.1,1.2"
    heart_beat: tuple[int, int] = (10_000, 10_000)
    login: str | None = None
    passcode: str | None = None
    max_buffer: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if min(self.heart_beat) < 0 or self.max_buffer < 1024:
            raise ValueError("STOMP heart-beat must be two numbers >= 0 and max-buffer >= 1024")


def short(value: Any, limit: int = SUMMARY_CHARS) -> str:
    if isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
        except (ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_value(frame: StompFrame) -> Any:
    """The body as JSON when it parses, else text, else bytes."""
    body = frame.body
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    if text[:1] in "{[" or "json" in (frame.header("content-type") or ""):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return text


class StompSession:
    def __init__(self, handshake: Handshake,
                 options: Mapping[str, Any] | StompSettings | None = None) -> None:
        self.settings = settings_from(StompSettings, options, "STOMP")
        self.handshake = handshake
        self.version = SUBPROTOCOLS.get(handshake.subprotocol or "", "1.2")
        self.streams = {d: StompStream(self.settings.max_buffer) for d in Direction}
        self.subscriptions: OrderedDict[str, str] = OrderedDict()  # id -> destination
        self.send_every = 0.0  # seconds between our heart-beats, 0: none
        self._last_out: float | None = None  # when we last sent anything (heart-beat clock)
        self._client = False

    def feed(self, frame: Frame) -> Sequence[Message]:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return ()
        if frame.direction is Direction.OUT:
            self._last_out = frame.time  # any data counts as a heart-beat
        out: list[Message] = []
        for item in self.streams[frame.direction].feed(frame.payload):
            if isinstance(item, Heartbeat):
                out.append(Message("stomp", Kind.HEARTBEAT, "heart-beat", frame.direction,
                                   heartbeat=True, fields={"eols": item.eols}))
            elif isinstance(item, Broken):
                out.append(Message("stomp", Kind.ERROR, f"{item.what}: {item.reason}",
                                   frame.direction, fields={"dropped_bytes": item.dropped}))
            else:
                out.append(self._message(item, frame.direction))
        return out

    def _message(self, frame: StompFrame, direction: Direction) -> Message:
        cmd, hdr = frame.command, frame.header
        if cmd == "CONNECTED":
            self._connected(frame)
        destination = hdr("destination")
        receipt = hdr("receipt-id") if cmd in ("RECEIPT", "ERROR") else hdr("receipt")
        kind = _KINDS.get(cmd, Kind.CONTROL)
        if receipt is not None and kind in (Kind.EVENT, Kind.CONTROL):
            kind = Kind.REQUEST  # a SEND or DISCONNECT that asks for a receipt
        sub_id = hdr("id") if cmd in ("SUBSCRIBE", "UNSUBSCRIBE") else hdr("subscription")
        if cmd == "SUBSCRIBE" and sub_id is not None and destination is not None:
            self._remember(sub_id, destination)
        elif sub_id is not None and destination is None:
            destination = self.subscriptions.get(sub_id)
        if cmd == "UNSUBSCRIBE" and sub_id is not None:
            self.subscriptions.pop(sub_id, None)
        payload = body_value(frame)
        return Message(
            "stomp", kind, _summary(frame, destination, receipt, payload), direction,
            name=cmd, topic=destination,
            correlation=f"receipt:{receipt}" if receipt is not None else None,
            payload=payload,
            fields={"headers": _masked(frame.headers), "subscription": sub_id,
                    "version": self.version, "body_bytes": len(frame.body)})

    def _remember(self, sub_id: str, destination: str) -> None:
        self.subscriptions[sub_id] = destination
        self.subscriptions.move_to_end(sub_id)
        while len(self.subscriptions) > MAX_SUBSCRIPTIONS:
            self.subscriptions.popitem(last=False)

    def _connected(self, frame: StompFrame) -> None:
        version = frame.header("version") or "1.0"
        if version in SUBPROTOCOLS.values():
            self.version = version
            for stream in self.streams.values():
                stream.version = version
        cx = self.settings.heart_beat[0]
        sy = _beats(frame.header("heart-beat"))[1]
        self.send_every = max(cx, sy) / 1000 if cx and sy else 0.0

    def on_open(self) -> Sequence[Outgoing]:
        self._client = True
        self.send_every, self._last_out = 0.0, None
        self.streams = {d: StompStream(self.settings.max_buffer) for d in Direction}
        s = self.settings
        accept = SUBPROTOCOLS.get(self.handshake.subprotocol or "") or s.accept_version
        headers = [("accept-version", accept)]
        headers += [("host", s.host)] if s.host else []
        headers += [("heart-beat", f"{s.heart_beat[0]},{s.heart_beat[1]}")]
        headers += [(k, v) for k, v in (("login", s.login), ("passcode", s.passcode)) if v]
        frame = encode_frame("CONNECT", headers, version=self.version, content_length=False)
        return (Outgoing(frame, text=True),)

    def ready(self, message: Message) -> bool | None:
        """CONNECTED completes the handshake; an ERROR before it refuses it."""
        if message.direction is not Direction.IN or message.protocol != "stomp":
            return None
        if message.name == "CONNECTED":
            return True
        return False if message.name == "ERROR" else None

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        """An EOL when nothing else went out for the negotiated interval (the broker closes
        a client silent for about twice that)."""
        if not self._client or not self.send_every:
            return ()
        if self._last_out is None:
            self._last_out = now
        if not due(self._last_out, self.send_every, now):
            return ()
        self._last_out = now
        return (Outgoing(b"\n", text=True),)


def _masked(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The passcode is shown as present, never as the secret itself."""
    return tuple((k, MASK if k == "passcode" else v) for k, v in headers)


def _beats(value: str | None) -> tuple[int, int]:
    try:
        sx, sy = (int(part) for part in (value or "0,0").split(","))
    except ValueError:
        return 0, 0
    return max(0, sx), max(0, sy)


def _summary(frame: StompFrame, destination: str | None, receipt: str | None,
             payload: Any) -> str:
    parts = [frame.command]
    if frame.command == "ERROR" and frame.header("message"):
        parts.append(short(frame.header("message"), 60))
    elif destination:
        parts.append(destination)
    if frame.command in ("CONNECT", "STOMP", "CONNECTED"):
        parts += [f"{k} {v}" for k, v in frame.headers if k in ("version", "accept-version")]
    if receipt is not None:
        parts.append(f"receipt {receipt}")
    if payload is not None:
        parts.append(short(payload))
    return " ".join(parts)


TEMPLATES = {
    "SEND": "SEND\ndestination:{{destination}}\ncontent-type:{{content-type}}\n\n{{body}}\\0",
    "SUBSCRIBE with receipt":
        "SUBSCRIBE\nid:{{id}}\ndestination:{{destination}}\nack:{{ack}}\nreceipt:{{receipt}}"
        "\n\n\\0",
    "UNSUBSCRIBE": "UNSUBSCRIBE\nid:{{id}}\n\n\\0",
    "DISCONNECT with receipt": "DISCONNECT\nreceipt:{{receipt}}\n\n\\0",
}
_TEMPLATE_HEADERS = {
    "SEND": (("destination", None), ("content-type", "application/json")),
    "SUBSCRIBE with receipt": (("id", None), ("destination", None), ("ack", "auto"),
                               ("receipt", None)),
    "UNSUBSCRIBE": (("id", None),),
    "DISCONNECT with receipt": (("receipt", None),),
}


class StompDecoder:
    name = "stomp"
    title = "STOMP 1.0–1.2"
    subprotocols = tuple(SUBPROTOCOLS)

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if handshake.subprotocol in SUBPROTOCOLS:
            return EXACT_SUBPROTOCOL + float(SUBPROTOCOLS[handshake.subprotocol][-1])
        for frame in first:
            match = _FIRST_LINE.match(frame.payload[:64])
            if match and match.group(1).decode() in COMMANDS:
                return FIRST_FRAMES + 5
        path = urlsplit(handshake.url).path.lower()
        if "stomp" in path:
            return URL_SIGNATURE
        return NOT_MINE

    def session(self, handshake: Handshake,
                options: Mapping[str, Any] | StompSettings | None = None) -> StompSession:
        """`options`: StompSettings or a mapping of its fields ("heart-beat": "5000,5000")."""
        return StompSession(handshake, options)

    def templates(self) -> Mapping[str, str]:
        return dict(TEMPLATES)

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        """STOMP 1.2 frames (escaped headers; SEND always carries content-length)."""
        if template not in _TEMPLATE_HEADERS:
            raise ValueError(f"no STOMP template named {template!r}")
        headers = []
        for key, default in _TEMPLATE_HEADERS[template]:
            value = values.get(key, default)
            if value is None or value == "":
                raise ValueError(f"{template}: {key} is missing")
            headers.append((key, str(value)))
        body = values.get("body", "")
        data = body if isinstance(body, bytes) else str(body).encode("utf-8")
        command = template.split()[0]
        if command != "SEND" and data:
            raise ValueError(f"{command} frames carry no body")
        frame = encode_frame(command, headers, data, content_length=command == "SEND")
        return (Outgoing(frame, text=_is_utf8(data)),)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


decoder = StompDecoder()
