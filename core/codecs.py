"""Decoding of payloads for display and matching: JSON, MessagePack, hex, previews."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from core.closecodes import describe_close
from core.events import Opcode

PREVIEW_CHARS = 200
# Controls shown as ␀…␡; bidirectional overrides and isolates (which can disguise text, e.g.
# "file\u202egnp.exe") and zero-width characters shown by name instead of applied.
_CONTROL: dict[int, int | str] = {c: 0x2400 + c for c in range(32)}
_CONTROL[0x7F] = 0x2421
_CONTROL |= {c: f"<U+{c:04X}>" for c in (
    0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B, 0x202C,
    0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF)}


def parse_object(opcode: Opcode, payload: bytes) -> dict[str, Any] | None:
    """The JSON object of a text frame or the MessagePack map of a binary one, else None."""
    try:
        if opcode is Opcode.TEXT:
            obj = json.loads(payload)
        elif opcode is Opcode.BINARY:
            obj = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        else:
            return None
    except (ValueError, msgpack.UnpackException, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def message_type(opcode: Opcode, payload: bytes) -> str | None:
    """The `type` field, the de facto discriminator of JSON WebSocket protocols."""
    obj = parse_object(opcode, payload)
    kind = obj.get("type") if obj else None
    return kind if isinstance(kind, str) else None


def encode_object(obj: dict[str, Any], binary: bool) -> bytes:
    if binary:
        return msgpack.packb(obj, use_bin_type=True)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def preview(opcode: Opcode, payload: bytes, limit: int = PREVIEW_CHARS) -> str:
    """One safe line: control characters made visible, binary shown as hex, truncated."""
    head = payload[: limit * 4]
    if opcode is Opcode.CLOSE:
        if len(payload) < 2:
            return "no status code"
        reason = payload[2:].decode("utf-8", errors="replace").translate(_CONTROL)
        text = describe_close(int.from_bytes(payload[:2], "big"))
        return (text + (f": {reason}" if reason else ""))[:limit]
    if opcode is not Opcode.TEXT:  # binary; ping and pong payloads are bytes too
        text = head[:limit].hex(" ")
    else:
        text = head.decode("utf-8", errors="replace").translate(_CONTROL)
    if len(text) > limit or len(head) < len(payload):
        text = text[:limit] + "…"
    return text


def hexdump(payload: bytes, width: int = 16, limit: int = 64 * 1024) -> str:
    """Offset, hex and ASCII columns; long payloads are cut at `limit` bytes with a note."""
    lines = []
    for off in range(0, min(len(payload), limit), width):
        chunk = payload[off : off + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<{width * 3}} {ascii_}")
    if len(payload) > limit:
        lines.append(f"… {len(payload) - limit} more bytes")
    return "\n".join(lines)
