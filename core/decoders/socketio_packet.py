"""Socket.IO v5 packets inside Engine.IO v4 (and v3) messages: parsing one packet's text and
putting binary attachments back in place. Mirrors python-socketio's encoder, which the
differential tests check it against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENGINE_TYPES = ("open", "close", "ping", "pong", "message", "upgrade", "noop")
PACKET_TYPES = ("CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT",
                "BINARY_ACK")
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
MAX_ID_DIGITS = 20
MAX_COUNT_DIGITS = 10  # python-socketio refuses longer attachment counts too


@dataclass(slots=True)
class Packet:
    type: int
    namespace: str  # "/" when the packet names none
    id: int | None
    data: Any
    attachments: int = 0

    @property
    def type_name(self) -> str:
        return PACKET_TYPES[self.type]


def parse_packet(text: str) -> Packet:
    """One Socket.IO packet (what follows Engine.IO's "4"); ValueError in words when bad."""
    if not text or text[0] not in "0123456":
        raise ValueError(f"unknown Socket.IO packet type {text[:1]!r}")
    kind = int(text[0])
    rest = text[1:]
    count = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = rest.find("-")
        if dash <= 0 or not rest[:dash].isdigit():
            raise ValueError("binary packet without its attachment count")
        if dash > MAX_COUNT_DIGITS:
            raise ValueError("attachment count too long")
        count, rest = int(rest[:dash]), rest[dash + 1:]
    namespace = "/"
    if rest.startswith("/"):
        comma = rest.find(",")
        namespace, rest = (rest, "") if comma == -1 else (rest[:comma], rest[comma + 1:])
        namespace = namespace.split("?", 1)[0]
    ident = None
    digits = 0
    while digits < len(rest) and rest[digits] in "0123456789":
        digits += 1
    if digits:
        if digits > MAX_ID_DIGITS:
            raise ValueError("ack id too long")
        ident, rest = int(rest[:digits]), rest[digits:]
    data = None
    if rest:
        try:
            data = json.loads(rest)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"data is not JSON: {exc}") from None
    return Packet(kind, namespace, ident, data, count)


def reconstruct(data: Any, attachments: list[bytes], depth: int = 0) -> Any:
    """`data` with each {"_placeholder": true, "num": n} replaced by attachment n."""
    if depth > 200:
        raise ValueError("data nested too deeply")
    if isinstance(data, list):
        return [reconstruct(item, attachments, depth + 1) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") and "num" in data:
            num = data["num"]
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(
                    attachments):
                raise ValueError(f"placeholder for attachment {num!r} of {len(attachments)}")
            return attachments[num]
        return {key: reconstruct(value, attachments, depth + 1) for key, value in data.items()}
    return data


def encode_event(namespace: str, event: str, args: list[Any], ack: int | None) -> str:
    """The text of an EVENT packet inside an Engine.IO message ("42/chat,7[...]")."""
    text = "42"
    if namespace and namespace != "/":
        text += namespace + ","
    if ack is not None:
        text += str(ack)
    return text + json.dumps([event, *args], separators=(",", ":"), ensure_ascii=False)
