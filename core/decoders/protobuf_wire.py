"""Protocol Buffers payloads without a schema (the wire format), or with a user's descriptor set.

Without a schema only field numbers and wire types are known: a varint is an integer (its
signed and zigzag readings are offered), fixed 32/64-bit values are kept as unsigned integers,
and a length-delimited value is tried as a nested message, then as UTF-8 text, else kept as
bytes. Group wire types (deprecated since proto2) are refused. Depth, size and the number of
fields are bounded; each byte is parsed at most once per nesting level.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

MAX_DEPTH = 32
MAX_SIZE = 16 * 1024 * 1024
MAX_FIELDS = 100_000
DESCRIBE_CHARS = 120


class WireType(IntEnum):
    VARINT = 0
    I64 = 1
    LEN = 2
    SGROUP = 3
    EGROUP = 4
    I32 = 5


class ProtobufError(ValueError):
    """A payload that is not protobuf wire format (or does not fit the schema), in words."""


class _TooMany(ProtobufError):
    """The field budget ran out: fatal for the whole payload, not just a nested attempt."""


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire_type: WireType
    value: int | str | bytes | list[Field]  # LEN: nested fields, text, or bytes

    @property
    def signed(self) -> int | None:
        """The two's-complement reading of a varint or fixed value (int32/int64/sfixed)."""
        if not isinstance(self.value, int):
            return None
        bits = 32 if self.wire_type is WireType.I32 else 64
        return self.value - (1 << bits) if self.value >> (bits - 1) else self.value

    @property
    def zigzag(self) -> int | None:
        """The sint32/sint64 reading of a varint."""
        if self.wire_type is not WireType.VARINT or not isinstance(self.value, int):
            return None
        return (self.value >> 1) ^ -(self.value & 1)

    @property
    def floating(self) -> float | None:
        """The double (I64) or float (I32) reading of a fixed value."""
        if self.wire_type is WireType.I64:
            assert isinstance(self.value, int)  # the parser reads fixed values as integers
            number: float = struct.unpack("<d", int(self.value).to_bytes(8, "little"))[0]
            return number
        if self.wire_type is WireType.I32:
            assert isinstance(self.value, int)
            number = struct.unpack("<f", int(self.value).to_bytes(4, "little"))[0]
            return number
        return None


def decode_protobuf(data: bytes, max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE,
                    max_fields: int = MAX_FIELDS) -> list[Field]:
    """The fields of one message; ProtobufError when `data` is not one."""
    if len(data) > max_size:
        raise ProtobufError(f"a payload of {len(data)} bytes passes the bound of {max_size}")
    return _Parser(max_depth, max_fields).message(memoryview(data), 0)


class _Parser:
    def __init__(self, max_depth: int, max_fields: int) -> None:
        self.max_depth, self.budget = max_depth, max_fields

    def message(self, data: memoryview, depth: int) -> list[Field]:
        fields, pos = [], 0
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ProtobufError(f"field number 0 at byte {pos}")
            if wire in (WireType.SGROUP, WireType.EGROUP):
                raise ProtobufError(f"field {number}: group wire types are not supported")
            if wire > WireType.I32:
                raise ProtobufError(f"field {number}: unknown wire type {wire}")
            self.budget -= 1
            if self.budget < 0:
                raise _TooMany("more fields than the bound allows")
            value, pos = self._value(data, pos, WireType(wire), depth)
            fields.append(Field(number, WireType(wire), value))
        return fields

    def _value(self, data: memoryview, pos: int, wire: WireType,
               depth: int) -> tuple[int | str | bytes | list[Field], int]:
        if wire is WireType.VARINT:
            return _varint(data, pos)
        if wire in (WireType.I64, WireType.I32):
            size = 8 if wire is WireType.I64 else 4
            if pos + size > len(data):
                raise ProtobufError(f"a fixed {size * 8}-bit value cut short at byte {pos}")
            return int.from_bytes(data[pos : pos + size], "little"), pos + size
        length, pos = _varint(data, pos)
        if pos + length > len(data):
            raise ProtobufError(f"a {length}-byte value runs past the end at byte {pos}")
        chunk = data[pos : pos + length]
        return self._len_value(chunk, depth), pos + length

    def _len_value(self, chunk: memoryview, depth: int) -> list[Field] | str | bytes:
        if chunk and depth + 1 < self.max_depth:
            try:
                return self.message(chunk, depth + 1)
            except _TooMany:
                raise
            except ProtobufError:
                pass
        raw = bytes(chunk)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos + i >= len(data):
            raise ProtobufError(f"a varint cut short at byte {pos + i}")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if value >> 64:
                raise ProtobufError(f"a varint past 64 bits at byte {pos}")
            return value, pos + i + 1
    raise ProtobufError(f"a varint longer than 10 bytes at byte {pos}")


def to_plain(fields: list[Field]) -> dict[str, Any]:
    """{"1": value, "2": [repeated values]} with nested messages as dicts, for display and JSON."""
    groups: dict[str, list[Any]] = {}
    for f in fields:
        value = to_plain(f.value) if isinstance(f.value, list) else f.value
        groups.setdefault(str(f.number), []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in groups.items()}


def describe(payload: bytes, limit: int = DESCRIBE_CHARS) -> str | None:
    """One line for the inspector ("protobuf {1: 150, 2: "abc"}"); None when not a message."""
    try:
        fields = decode_protobuf(payload, max_depth=8, max_fields=1000)
    except ProtobufError:
        return None
    if not fields:
        return None
    text = "protobuf " + _brief(fields)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _brief(fields: list[Field]) -> str:
    parts = []
    for f in fields[:50]:
        if isinstance(f.value, list):
            shown = _brief(f.value)
        elif isinstance(f.value, bytes):
            shown = f"<{len(f.value)} bytes>"
        elif isinstance(f.value, str):
            shown = repr(f.value[:60])
        else:
            shown = str(f.value)
        parts.append(f"{f.number}: {shown}")
    return "{" + ", ".join(parts) + ("}" if len(fields) <= 50 else ", …}")


def decode_with_descriptor(data: bytes, descriptor_set: bytes,
                           message_name: str) -> dict[str, Any]:
    """The message as a dict, read with a FileDescriptorSet (`protoc --descriptor_set_out`).

    Needs the optional `protobuf` package; field names are kept as in the .proto file.
    """
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
        from google.protobuf.message import DecodeError
    except ImportError:
        raise ProtobufError("decoding with a schema needs the protobuf package") from None
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(descriptor_set)
        pool = descriptor_pool.DescriptorPool()
        for proto in files.file:
            pool.Add(proto)
        descriptor = pool.FindMessageTypeByName(message_name)
    except KeyError:
        raise ProtobufError(f"the descriptor set has no message {message_name!r}") from None
    except (DecodeError, TypeError, ValueError) as exc:
        raise ProtobufError(f"not a usable FileDescriptorSet: {exc}") from None
    message = message_factory.GetMessageClass(descriptor)()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"not a {message_name}: {exc}") from None
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
