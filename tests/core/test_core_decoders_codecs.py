"""The payload codecs against their references: CBOR values from cbor2.dumps, protobuf messages
serialized by the protobuf package from a schema built here; fuzzing and bounds."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import struct
import time
from decimal import Decimal
from typing import Any

import cbor2
import pytest
from google.protobuf import descriptor_pb2, json_format, message_factory, struct_pb2
from google.protobuf import descriptor_pool as pool_mod

from core.decoders import cbor, protobuf_wire
from core.decoders.protobuf_wire import Field, ProtobufError, WireType

# --- CBOR ---------------------------------------------------------------------------------------


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.randrange(13 if depth < 4 else 9)
    if roll == 0:
        return rng.randint(-(2**70), 2**70)  # bignums (tags 2 and 3) too
    if roll == 1:
        return rng.randint(-30, 30)
    if roll == 2:
        return rng.choice((rng.uniform(-1e10, 1e10), 0.5, -0.0, math.inf, -math.inf, 1e-300))
    if roll == 3:
        return "".join(rng.choice("aZ0 é中😀\n\0") for _ in range(rng.randint(0, 20)))
    if roll == 4:
        return rng.randbytes(rng.randint(0, 40))
    if roll == 5:
        return rng.choice((True, False, None))
    if roll == 6:
        return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rng.randint(0, 10**8))
    if roll == 7:
        return Decimal(rng.randint(-(10**6), 10**6)) / 100
    if roll == 8:
        return rng.randint(0, 2**64 - 1)
    if roll in (9, 10):
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    keys = [rng.choice((rng.randint(-5, 5), f"k{rng.randint(0, 9)}")) for _ in range(5)]
    return {k: random_value(rng, depth + 1) for k in keys}


def test_cbor_decodes_what_cbor2_encoded() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        value = random_value(rng)
        assert cbor.decode_cbor(cbor2.dumps(value)) == value
        assert cbor.decode_cbor(cbor2.dumps(value, canonical=True)) == value
    nan = cbor.decode_cbor(cbor2.dumps(math.nan))
    assert math.isnan(nan)


def test_cbor_refuses_trailing_bytes_empty_and_oversized_payloads() -> None:
    with pytest.raises(cbor.CborError, match="after the first item"):
        cbor.decode_cbor(cbor2.dumps(1) + b"\x02")
    with pytest.raises(cbor.CborError, match="empty"):
        cbor.decode_cbor(b"")
    with pytest.raises(cbor.CborError, match="bound"):
        cbor.decode_cbor(cbor2.dumps(b"x" * 2000), max_size=1000)
    with pytest.raises(cbor.CborError):  # a 2**64-byte string that is not there
        cbor.decode_cbor(b"\x5b" + b"\xff" * 8)
    for huge in (b"\x9b\x7f" + b"\xff" * 7, b"\xbb\x00" + b"\xff" * 7):  # 2**63 items
        with pytest.raises(cbor.CborError, match="premature end"):
            cbor.decode_cbor(huge)
    with pytest.raises(cbor.CborError):  # nesting past cbor2's limit
        cbor.decode_cbor(b"\x81" * 100_000 + b"\x01")


def test_cbor_describe() -> None:
    assert cbor.describe(cbor2.dumps({"a": [1, b"\x00\xff"]})) == 'CBOR {"a":[1,"h\'00ff\'"]}'
    assert cbor.describe(cbor2.dumps({1: "x", "y": {2, 3}})).startswith("CBOR {")
    assert cbor.describe(b"\x01") is None and cbor.describe(b"\x01\x02") is None
    assert len(cbor.describe(cbor2.dumps(list(range(1000))))) == cbor.DESCRIBE_CHARS


def test_cbor_fuzz_only_raises_its_own_error() -> None:
    rng = random.Random(6)
    samples = [cbor2.dumps(random_value(rng)) for _ in range(200)]
    started = time.monotonic()
    for i in range(5000):
        if i % 2:
            data = rng.randbytes(rng.randint(0, 200))
        else:
            data = bytearray(rng.choice(samples))
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randint(0, len(data))])
        with contextlib.suppress(cbor.CborError):
            cbor.decode_cbor(data)
        assert cbor.describe(data) is None or cbor.describe(data).startswith("CBOR ")
    assert time.monotonic() - started < 60


# --- protobuf wire ------------------------------------------------------------------------------

T = descriptor_pb2.FieldDescriptorProto
SCALARS = [  # (name, number, type, wire type, how the decoded Field reads back the value)
    ("i32", 1, T.TYPE_INT32, WireType.VARINT, "signed"),
    ("i64", 2, T.TYPE_INT64, WireType.VARINT, "signed"),
    ("u32", 3, T.TYPE_UINT32, WireType.VARINT, "value"),
    ("u64", 4, T.TYPE_UINT64, WireType.VARINT, "value"),
    ("s32", 5, T.TYPE_SINT32, WireType.VARINT, "zigzag"),
    ("s64", 6, T.TYPE_SINT64, WireType.VARINT, "zigzag"),
    ("f32", 7, T.TYPE_FIXED32, WireType.I32, "value"),
    ("f64", 8, T.TYPE_FIXED64, WireType.I64, "value"),
    ("sf32", 9, T.TYPE_SFIXED32, WireType.I32, "signed"),
    ("sf64", 10, T.TYPE_SFIXED64, WireType.I64, "signed"),
    ("b", 11, T.TYPE_BOOL, WireType.VARINT, "value"),
    ("fl", 12, T.TYPE_FLOAT, WireType.I32, "floating"),
    ("d", 13, T.TYPE_DOUBLE, WireType.I64, "floating"),
    ("e", 18, T.TYPE_ENUM, WireType.VARINT, "signed"),
    ("far", 536_870_911, T.TYPE_INT32, WireType.VARINT, "signed"),  # the largest field number
]
LENGTH = [("str", 14, T.TYPE_STRING), ("by", 15, T.TYPE_BYTES), ("inner", 16, T.TYPE_MESSAGE)]


def build_schema() -> tuple[bytes, Any, Any]:
    """A proto3 file made here: its FileDescriptorSet bytes, the All and Inner classes."""
    proto = descriptor_pb2.FileDescriptorProto(name="all.proto", package="t", syntax="proto3")
    color = proto.enum_type.add(name="Color")
    for i, name in enumerate(("RED", "GREEN", "BLUE")):
        color.value.add(name=name, number=i)
    inner = proto.message_type.add(name="Inner")
    inner.field.add(name="a", number=1, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    inner.field.add(name="s", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    msg = proto.message_type.add(name="All")
    for name, number, ftype, *_ in SCALARS + LENGTH:
        f = msg.field.add(name=name, number=number, type=ftype, label=T.LABEL_OPTIONAL)
        if ftype == T.TYPE_ENUM:
            f.type_name = ".t.Color"
        if ftype == T.TYPE_MESSAGE:
            f.type_name = ".t.Inner"
    msg.field.add(name="packed", number=17, type=T.TYPE_INT32, label=T.LABEL_REPEATED)
    msg.field.add(name="tags", number=19, type=T.TYPE_STRING, label=T.LABEL_REPEATED)
    pool = pool_mod.DescriptorPool()
    pool.Add(proto)
    classes = [message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{n}"))
               for n in ("All", "Inner")]
    files = descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString()
    return files, classes[0], classes[1]


def random_scalar(rng: random.Random, ftype: int) -> Any:
    """Never zero: proto3 leaves default values off the wire."""
    return _random_scalar(rng, ftype) or 1


def _random_scalar(rng: random.Random, ftype: int) -> Any:
    bits = {T.TYPE_INT32: 31, T.TYPE_SINT32: 31, T.TYPE_SFIXED32: 31, T.TYPE_INT64: 63,
            T.TYPE_SINT64: 63, T.TYPE_SFIXED64: 63}
    if ftype in bits:
        edge = rng.choice((1, 2**7, 2**14, 2 ** bits[ftype]))
        return rng.randint(-edge, edge - 1)
    if ftype in (T.TYPE_UINT32, T.TYPE_FIXED32):
        return rng.randint(0, 2**32 - 1)
    if ftype in (T.TYPE_UINT64, T.TYPE_FIXED64):
        return rng.randint(0, 2**64 - 1)
    if ftype == T.TYPE_BOOL:
        return True
    if ftype == T.TYPE_ENUM:
        return rng.randint(1, 2)
    return rng.uniform(-1e6, 1e6) or 1.5


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = b""
    while True:
        n, low = n >> 7, n & 0x7F
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def reencode(fields: list[Field]) -> bytes:
    """Fields back to the wire (independent of the decoder), to compare LEN values as bytes."""
    out = b""
    for f in fields:
        out += varint(f.number << 3 | f.wire_type)
        if f.wire_type is WireType.VARINT:
            out += varint(f.value)
        elif f.wire_type is WireType.I32:
            out += f.value.to_bytes(4, "little")
        elif f.wire_type is WireType.I64:
            out += f.value.to_bytes(8, "little")
        else:
            raw = raw_bytes(f.value)
            out += varint(len(raw)) + raw
    return out


def raw_bytes(value: Any) -> bytes:
    if isinstance(value, list):
        return reencode(value)
    return value.encode() if isinstance(value, str) else value


def test_protobuf_wire_decodes_what_the_protobuf_package_serialized() -> None:
    files, All, Inner = build_schema()
    rng = random.Random(8)
    for _ in range(3000):
        msg, expected = All(), []
        for name, number, ftype, wire, reading in SCALARS:
            if rng.random() < 0.6:
                value = random_scalar(rng, ftype)
                setattr(msg, name, value)
                if ftype == T.TYPE_FLOAT:
                    value = struct.unpack("<f", struct.pack("<f", value))[0]
                expected.append((number, wire, reading, value))
        if rng.random() < 0.6:
            msg.str = "".join(rng.choice("ab(\n\x08 é😀") for _ in range(rng.randint(1, 30)))
            expected.append((14, WireType.LEN, "raw", msg.str.encode()))
        if rng.random() < 0.6:
            msg.by = rng.randbytes(rng.randint(1, 30))
            expected.append((15, WireType.LEN, "raw", msg.by))
        if rng.random() < 0.6:
            msg.inner.CopyFrom(Inner(a=rng.randint(1, 1000), s="x" * rng.randint(0, 3)))
            expected.append((16, WireType.LEN, "raw", msg.inner.SerializeToString()))
        if rng.random() < 0.5:
            msg.packed.extend(rng.randint(-(2**31), 2**31 - 1) for _ in range(rng.randint(1, 9)))
            expected.append((17, WireType.LEN, "raw", b"".join(varint(v) for v in msg.packed)))
        for tag in (["t"] * rng.randint(0, 3)):
            msg.tags.append(tag)
            expected.append((19, WireType.LEN, "raw", b"t"))
        expected.sort(key=lambda e: e[0])
        data = msg.SerializeToString()
        fields = protobuf_wire.decode_protobuf(data)
        assert [(f.number, f.wire_type) for f in fields] == [(e[0], e[1]) for e in expected]
        for f, (_, _, reading, value) in zip(fields, expected, strict=True):
            got = raw_bytes(f.value) if reading == "raw" else getattr(f, reading)
            assert got == value, (f, value)
        assert reencode(fields) == data
        assert protobuf_wire.decode_with_descriptor(data, files, "t.All") == \
            json_format.MessageToDict(msg, preserving_proto_field_name=True)


def test_text_and_nested_messages_are_told_apart() -> None:
    _, All, Inner = build_schema()
    data = All(str="hello world", inner=Inner(a=150, s="deep"), by=b"\xff\xfe")
    data = data.SerializeToString()
    fields = protobuf_wire.decode_protobuf(data)
    assert fields[0] == Field(14, WireType.LEN, "hello world")
    assert fields[1] == Field(15, WireType.LEN, b"\xff\xfe")
    assert fields[2] == Field(16, WireType.LEN, [Field(1, WireType.VARINT, 150),
                                                 Field(2, WireType.LEN, "deep")])
    assert protobuf_wire.to_plain(fields) == {"14": "hello world", "15": b"\xff\xfe",
                                              "16": {"1": 150, "2": "deep"}}
    assert protobuf_wire.describe(data) == \
        "protobuf {14: 'hello world', 15: <2 bytes>, 16: {1: 150, 2: 'deep'}}"
    value = struct_pb2.Struct()
    value.update({"k": [1, "two", {"n": None}]})
    assert protobuf_wire.decode_protobuf(value.SerializeToString())[0].number == 1


def test_groups_bad_wire_types_and_bounds_are_refused_cleanly() -> None:
    with pytest.raises(ProtobufError, match="group"):
        protobuf_wire.decode_protobuf(b"\x0b\x08\x01\x0c")
    with pytest.raises(ProtobufError, match="wire type 7"):
        protobuf_wire.decode_protobuf(b"\x0f")
    with pytest.raises(ProtobufError, match="field number 0"):
        protobuf_wire.decode_protobuf(b"\x00\x01")
    with pytest.raises(ProtobufError, match="64 bits"):
        protobuf_wire.decode_protobuf(b"\x08" + b"\xff" * 9 + b"\x7f")
    with pytest.raises(ProtobufError, match="past the end"):
        protobuf_wire.decode_protobuf(b"\x0a\x05ab")
    with pytest.raises(ProtobufError, match="bound"):
        protobuf_wire.decode_protobuf(b"\x08\x01" * 10, max_size=10)
    with pytest.raises(ProtobufError, match="more fields"):
        protobuf_wire.decode_protobuf(b"\x08\x01" * 200_000)
    # a group inside a length-delimited value: not a message, so bytes
    assert protobuf_wire.decode_protobuf(b"\x0a\x02\x0b\x0c")[0].value == "\x0b\x0c"
    deep = b"\x08\x01"
    for _ in range(200):
        deep = b"\x0a" + varint(len(deep)) + deep
    fields, depth = protobuf_wire.decode_protobuf(deep, max_depth=32), 0
    while isinstance(fields, list) and fields:
        fields, depth = fields[0].value, depth + 1
    assert depth == 32 and isinstance(fields, str | bytes)


def test_descriptor_errors_are_words() -> None:
    files, _, _ = build_schema()
    with pytest.raises(ProtobufError, match="no message"):
        protobuf_wire.decode_with_descriptor(b"", files, "t.Nope")
    with pytest.raises(ProtobufError, match="FileDescriptorSet"):
        protobuf_wire.decode_with_descriptor(b"", b"\xff\xff", "t.All")
    with pytest.raises(ProtobufError, match=r"not a t\.All"):
        protobuf_wire.decode_with_descriptor(b"\x0a\x05ab", files, "t.All")


def test_protobuf_fuzz_only_raises_its_own_error() -> None:
    _, All, Inner = build_schema()
    sample = All(i32=-5, str="abc", inner=Inner(a=3, s="q"), packed=[1, 2, 300])
    sample = sample.SerializeToString()
    rng = random.Random(9)
    started = time.monotonic()
    for i in range(5000):
        if i % 2:
            data = rng.randbytes(rng.randint(0, 300))
        else:
            mutated = bytearray(sample)
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            data = bytes(mutated[: rng.randint(0, len(mutated))])
        with contextlib.suppress(ProtobufError):
            protobuf_wire.decode_protobuf(data)
        described = protobuf_wire.describe(data)
        assert described is None or described.startswith("protobuf {")
    assert time.monotonic() - started < 60
