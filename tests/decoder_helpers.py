"""Shared pieces of the decoder tests: frames, random JSON values, feeding a whole stream."""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from typing import Any

from core.decoders.api import DecoderSession, Frame, Message
from core.events import Direction, Opcode

WORD = string.ascii_letters + string.digits + "_-"
TEXTY = WORD + " äö€😀\"\\/\n\t{}[],:"


def text(payload: str | bytes, direction: Direction = Direction.IN) -> Frame:
    data = payload.encode() if isinstance(payload, str) else payload
    return Frame(direction, Opcode.TEXT, data)


def binary(payload: bytes, direction: Direction = Direction.IN) -> Frame:
    return Frame(direction, Opcode.BINARY, payload)


def feed_all(session: DecoderSession, frames: Iterable[Frame]) -> list[Message]:
    out: list[Message] = []
    for frame in frames:
        out.extend(session.feed(frame))
    return out


def word(rng: random.Random, low: int = 1, high: int = 12) -> str:
    return "".join(rng.choice(WORD) for _ in range(rng.randint(low, high)))


def json_value(rng: random.Random, depth: int = 0, with_bytes: bool = False) -> Any:
    """A random JSON value (and, when asked, bytes leaves for Socket.IO attachments)."""
    leaves = ["int", "float", "str", "bool", "none"] + (["bytes"] if with_bytes else [])
    choice = rng.choice(leaves + (["list", "dict"] if depth < 3 else []))
    if choice == "int":
        return rng.randint(-(2**53), 2**53)
    if choice == "float":
        return rng.uniform(-1e6, 1e6)
    if choice == "str":
        return "".join(rng.choice(TEXTY) for _ in range(rng.randint(0, 16)))
    if choice == "bool":
        return rng.random() < 0.5
    if choice == "none":
        return None
    if choice == "bytes":
        return rng.randbytes(rng.randint(0, 64))
    if choice == "list":
        return [json_value(rng, depth + 1, with_bytes) for _ in range(rng.randint(0, 4))]
    return {word(rng): json_value(rng, depth + 1, with_bytes) for _ in range(rng.randint(0, 4))}
