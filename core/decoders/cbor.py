"""CBOR (RFC 8949) payloads, through cbor2: a payload codec beside MessagePack, not a decoder.

`decode_cbor` insists that the payload is exactly one CBOR item, so stray bytes after a valid
head are an error rather than silently ignored; sizes and nesting are bounded (cbor2 itself
refuses lengths longer than the data and nesting past its own limit).
"""

from __future__ import annotations

import io
import json
from typing import Any

import cbor2

MAX_SIZE = 16 * 1024 * 1024
DESCRIBE_CHARS = 120


class CborError(ValueError):
    """A payload that is not one well-formed CBOR item, in words for the user."""


def decode_cbor(data: bytes, max_size: int = MAX_SIZE) -> Any:
    """The one CBOR item in `data` (tags the codec knows become Python values, others CBORTag)."""
    if len(data) > max_size:
        raise CborError(f"a CBOR payload of {len(data)} bytes passes the bound of {max_size}")
    if not data:
        raise CborError("an empty payload is not CBOR")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError,
            MemoryError) as exc:
        raise CborError(f"not CBOR: {exc}") from None
    if stream.tell() != len(data):
        raise CborError(f"not CBOR: {len(data) - stream.tell()} bytes after the first item")
    return value


def encode_cbor(value: Any) -> bytes:
    return cbor2.dumps(value)


def describe(payload: bytes, limit: int = DESCRIBE_CHARS) -> str | None:
    """One line for the inspector ("CBOR {…}"), None when the payload is not one CBOR item.

    A lone small integer or simple value is not claimed: almost any one byte decodes to one.
    """
    if len(payload) < 2:
        return None
    try:
        value = decode_cbor(payload)
    except CborError:
        return None
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_plain)
    except (TypeError, ValueError, RecursionError):  # non-string keys, shared references
        text = repr(value)
    text = "CBOR " + text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return f"h'{bytes(value[:32]).hex()}{'…' if len(value) > 32 else ''}'"
    if isinstance(value, cbor2.CBORTag):
        return {f"tag {value.tag}": value.value}
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)
