"""A binary payload read by every payload codec that accepts it (MessagePack, CBOR, protobuf
wire without a schema), for a frame no protocol decoder explained: the user sees each reading
side by side and judges which one the server meant (several codecs accept the same bytes)."""

from __future__ import annotations

from typing import Any

import msgpack

from core.decoders.cbor import CborError, decode_cbor
from core.decoders.protobuf_wire import ProtobufError, decode_protobuf, to_plain

MAX_BYTES = 2**20  # larger payloads are not tried here (the hex view still shows them)


def readings(payload: bytes) -> list[tuple[str, Any]]:
    """(codec, value) for each codec that reads the whole payload as one structured value: a map
    or an array (a lone number or string is what almost any few bytes decode to)."""
    if not 2 <= len(payload) <= MAX_BYTES:
        return []
    out: list[tuple[str, Any]] = []
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException, TypeError, RecursionError):
        pass  # (trailing bytes raise ExtraData, a ValueError)
    else:
        if isinstance(value, dict | list):
            out.append(("MessagePack", value))
    try:
        value = decode_cbor(payload)
    except CborError:
        pass
    else:
        if isinstance(value, dict | list):
            out.append(("CBOR", value))
    try:
        fields = decode_protobuf(payload, max_depth=16, max_fields=10_000)
    except ProtobufError:
        pass
    else:
        if fields:
            out.append(("protobuf wire (no schema: field numbers)", to_plain(fields)))
    return out
