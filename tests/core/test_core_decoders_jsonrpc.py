"""JSON-RPC 2.0: thousands of generated requests, notifications, responses, errors and batches
decode to what was encoded; bad frames never raise."""

from __future__ import annotations

import json
import random
import time

import pytest

from core.decoders.api import Frame, Handshake, Kind
from core.decoders.jsonrpc import CODES, decoder
from core.decoders.pairing import Pairer
from core.events import Direction, Opcode
from tests.decoder_helpers import binary, json_value, text, word


def random_id(rng: random.Random):
    return rng.choice([rng.randint(-(10**9), 10**9), word(rng), None])


def random_member(rng: random.Random) -> tuple[dict, Kind]:
    shape = rng.choice(["request", "notification", "result", "error"])
    if shape in ("request", "notification"):
        obj = {"jsonrpc": "2.0", "method": word(rng)}
        if rng.random() < 0.8:
            obj["params"] = rng.choice([[json_value(rng)], {word(rng): json_value(rng)}])
        if shape == "request":
            obj["id"] = random_id(rng)
            return obj, Kind.REQUEST
        return obj, Kind.EVENT
    if shape == "result":
        return {"jsonrpc": "2.0", "result": json_value(rng), "id": random_id(rng)}, Kind.RESPONSE
    code = rng.choice([*CODES, -32050, 1, -5])
    err = {"code": code, "message": word(rng)}
    return {"jsonrpc": "2.0", "error": err, "id": random_id(rng)}, Kind.ERROR


def check(obj: dict, kind: Kind, m) -> None:
    assert m.kind is kind, (obj, m)
    if kind in (Kind.REQUEST, Kind.EVENT):
        assert m.name == obj["method"]
        assert m.payload == obj.get("params")
    if kind is Kind.EVENT:
        assert m.correlation is None and m.fields["notification"]
    else:
        server = (m.direction is Direction.IN) == (kind is Kind.REQUEST)
        prefix = "rpc-srv:" if server else "rpc:"
        assert m.correlation == prefix + json.dumps(obj["id"], separators=(",", ":"))
    if kind is Kind.RESPONSE:
        assert m.payload == obj["result"]
    if kind is Kind.ERROR:
        assert m.payload == obj["error"]
        code = obj["error"]["code"]
        assert m.fields["code"] == code
        expected = CODES.get(code, "Server error" if -32099 <= code <= -32000 else "error")
        assert m.fields["code_name"] == expected and expected in m.summary


def test_round_trip_of_generated_messages_and_batches() -> None:
    rng = random.Random(2)
    s = decoder.session(Handshake("ws://h/rpc"))
    batches = 0
    for _ in range(4000):
        if rng.random() < 0.3:
            members = [random_member(rng) for _ in range(rng.randint(1, 6))]
            direction = rng.choice([Direction.IN, Direction.OUT])
            messages = s.feed(text(json.dumps([obj for obj, _ in members]), direction))
            assert len(messages) == len(members)
            for index, ((obj, kind), m) in enumerate(zip(members, messages, strict=True)):
                check(obj, kind, m)
                assert m.fields["batch_index"] == index
            batches += 1
        else:
            obj, kind = random_member(rng)
            (m,) = s.feed(text(json.dumps(obj), rng.choice([Direction.IN, Direction.OUT])))
            check(obj, kind, m)
    assert batches > 1000


def test_id_null_is_a_request_and_ids_keep_their_type() -> None:
    s = decoder.session(Handshake("ws://h/"))
    (m,) = s.feed(text('{"jsonrpc":"2.0","method":"eth_blockNumber","id":null}', Direction.OUT))
    assert m.kind is Kind.REQUEST and m.correlation == "rpc:null"
    (reply,) = s.feed(text('{"jsonrpc":"2.0","result":"0x10","id":null}'))
    assert reply.correlation == "rpc:null" and reply.name == "eth_blockNumber"
    assert "eth_blockNumber" in reply.summary
    (one,) = s.feed(text('{"jsonrpc":"2.0","result":1,"id":1}'))
    (one_text,) = s.feed(text('{"jsonrpc":"2.0","result":1,"id":"1"}'))
    assert one.correlation != one_text.correlation


def test_both_ends_number_requests_independently() -> None:
    """An LSP/MCP server asks the client too, with ids of its own: they never meet the
    client's, and each reply is named after its own request."""
    s = decoder.session(Handshake("ws://h/"))
    frames = [
        text('{"jsonrpc":"2.0","method":"initialize","id":1}', Direction.OUT),
        text('{"jsonrpc":"2.0","method":"roots/list","id":1}', Direction.IN),
        text('{"jsonrpc":"2.0","result":{"roots":[]},"id":1}', Direction.OUT),
        text('{"jsonrpc":"2.0","result":{"ok":true},"id":1}', Direction.IN),
    ]
    messages = [m for f in frames for m in s.feed(f)]
    pairer = Pairer()
    pairs = [p for i, m in enumerate(messages) if (p := pairer.add(1, m, float(i)))]
    assert [(p.request.name, p.reply.name, p.latency) for p in pairs] == [
        ("roots/list", "roots/list", 1.0), ("initialize", "initialize", 3.0)]
    assert len(s.methods) == 0


def test_bad_frames_are_errors_in_words_and_never_raise() -> None:
    s = decoder.session(Handshake("ws://h/"))
    assert s.feed(text("[]"))[0].summary == "malformed: empty batch"
    assert s.feed(text("{oops"))[0].kind is Kind.ERROR
    assert s.feed(text('[1, {"jsonrpc":"2.0","method":"m"}]'))[0].kind is Kind.ERROR
    rng = random.Random(9)
    valid = json.dumps([random_member(rng)[0] for _ in range(3)]).encode()
    deadline = time.monotonic() + 20
    for i in range(5000):
        assert time.monotonic() < deadline
        cut = valid[: rng.randint(0, len(valid))]
        payload = rng.randbytes(rng.randint(0, 40)) if i % 2 else cut
        frame = text(payload) if i % 3 else binary(payload)
        for m in s.feed(frame):
            assert m.protocol == "jsonrpc"


def test_detection_and_templates() -> None:
    first = [text('{"jsonrpc":"2.0","method":"initialize","id":0}', Direction.OUT)]
    assert decoder.score(Handshake("ws://h/"), first) == 25
    assert decoder.score(Handshake("ws://h/", "jsonrpc"), []) == 100
    assert decoder.score(Handshake("ws://h/"), [text('{"type":"x"}')]) < 0
    (call,) = decoder.encode("call", {"method": "sum", "params": "[1, 2]", "id": "3"})
    assert json.loads(call.payload) == {"jsonrpc": "2.0", "method": "sum", "params": [1, 2],
                                        "id": 3}
    (note,) = decoder.encode("notification", {"method": "tick"})
    assert json.loads(note.payload) == {"jsonrpc": "2.0", "method": "tick"}
    with pytest.raises(ValueError, match="params"):
        decoder.encode("call", {"method": "m", "params": "5"})
    with pytest.raises(ValueError, match="method is required"):
        decoder.encode("call", {})


def test_close_and_ping_frames_are_not_malformed_messages() -> None:
    """Regression (seen through a real Connection, which feeds close frames to every session):
    the server's close frame (code 1000) was decoded as "malformed: not JSON"."""
    session = decoder.session(Handshake("ws://h/rpc", "jsonrpc"))
    for opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
        assert session.feed(Frame(Direction.IN, opcode, b"\x03\xe8bye")) == ()
    assert session.feed(text("nope"))[0].kind is Kind.ERROR  # a data frame still is
