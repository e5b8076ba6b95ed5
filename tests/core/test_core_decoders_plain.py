"""The generic JSON fallback and the embedded room protocol (JSON and MessagePack)."""

from __future__ import annotations

import json
import random

import msgpack
import pytest

from core.decoders.api import Handshake, Kind
from core.decoders.embedded import decoder as embedded
from core.decoders.json_plain import decoder as plain
from core.decoders.pairing import Pairer
from core.events import Direction
from tests.decoder_helpers import binary, feed_all, json_value, text

OUT, IN = Direction.OUT, Direction.IN


def test_plain_json_kinds_topics_and_reply_by_remembered_id() -> None:
    s = plain.session(Handshake("ws://h/"))
    messages = feed_all(s, [
        text('{"action":"subscribe","channel":"trades","id":1}', OUT),
        text('{"op":"trade","channel":"trades","price":3}', IN),
        text('{"type":"result","id":1}', IN),
        text('{"type":"ping"}', IN),
        text('{"event":"error","requestId":"r9"}', IN),
        text('{"type":"get","correlationId":"c1"}', OUT),
        text('{"type":"error","correlationId":"c1"}', IN),
        text("[1, 2]", IN),
        text("not json", IN),
    ])
    assert [(m.kind, m.topic, m.correlation) for m in messages] == [
        (Kind.SUBSCRIBE, "trades", "id:1"),
        (Kind.EVENT, "trades", None),
        (Kind.RESPONSE, None, "id:1"),
        (Kind.HEARTBEAT, None, None),
        (Kind.ERROR, None, "id:r9"),
        (Kind.REQUEST, None, "id:c1"),
        (Kind.ERROR, None, "id:c1"),
    ]
    assert messages[3].heartbeat and messages[1].name == "trade"
    pairer = Pairer()
    pairs = [pairer.add(1, m, float(i)) for i, m in enumerate(messages)]
    assert [p.latency for p in pairs if p] == [2.0, 1.0]


def test_plain_json_remembers_a_bounded_number_of_sent_ids() -> None:
    s = plain.session(Handshake("ws://h/"))
    for i in range(10_000):
        s.feed(text(f'{{"type":"get","id":{i}}}', OUT))
    assert len(s.sent) == 4096
    (old,) = s.feed(text('{"type":"result","id":0}', IN))
    (recent,) = s.feed(text('{"type":"result","id":9999}', IN))
    assert (old.kind, recent.kind) == (Kind.EVENT, Kind.RESPONSE)


def test_plain_json_scores_generic_and_never_raises() -> None:
    assert plain.score(Handshake("ws://h/"), [text('{"a":1}')]) == 1.0
    assert plain.score(Handshake("ws://h/"), [binary(b"\x00\x01")]) < 0
    rng = random.Random(11)
    s = plain.session(Handshake("ws://h/"))
    for _ in range(3000):
        value = json_value(rng)
        payload = json.dumps(value).encode()
        if rng.random() < 0.5:
            payload = payload[: rng.randint(0, len(payload))]
        for m in s.feed(text(payload, rng.choice([IN, OUT]))):
            assert m.protocol == "json" and m.payload == value
    (out,) = plain.encode("message", {"type": "hello", "id": "1", "data": "[1]"})
    assert json.loads(out.payload) == {"type": "hello", "id": "1", "data": [1]}


def test_embedded_protocol_flow_pairs_request_ids() -> None:
    s = embedded.session(Handshake("ws://h/"))
    frames = [
        text('{"type":"connected","clientId":"c1","timestamp":1}', IN),
        text('{"type":"join_room","room":"lobby","requestId":"q1"}', OUT),
        text('{"type":"ack","requestId":"q1"}', IN),
        text('{"type":"presence","room":"lobby","clientId":"c2","event":"join"}', IN),
        text('{"type":"broadcast","room":"lobby","data":{"t":"hi"},"requestId":"q2"}', OUT),
        text('{"type":"error","requestId":"q2","message":"Not a member","error":"x"}', IN),
        text('{"type":"ping","requestId":"q3"}', OUT),
        text('{"type":"pong","requestId":"q3","timestamp":5}', IN),
        text("garbage", IN),
    ]
    messages = feed_all(s, frames)
    assert [(m.kind, m.name, m.topic) for m in messages] == [
        (Kind.CONNECT, "connected", None),
        (Kind.SUBSCRIBE, "join_room", "lobby"),
        (Kind.RESPONSE, "ack", None),
        (Kind.EVENT, "presence join", "lobby"),
        (Kind.REQUEST, "broadcast", "lobby"),
        (Kind.ERROR, "error", None),
        (Kind.REQUEST, "ping", None),
        (Kind.RESPONSE, "pong", None),
        (Kind.ERROR, None, None),
    ]
    assert messages[6].heartbeat and messages[7].heartbeat
    pairer = Pairer()
    pairs = [p for i, m in enumerate(messages) if (p := pairer.add(1, m, float(i)))]
    assert [(p.request.name, p.reply.name) for p in pairs] == [
        ("join_room", "ack"), ("broadcast", "error"), ("ping", "pong")]


def test_embedded_msgpack_frames_detection_and_templates() -> None:
    s = embedded.session(Handshake("ws://h/", "msgpack"))
    (m,) = s.feed(binary(msgpack.packb({"type": "rooms", "rooms": [], "requestId": 4})))
    assert m.kind is Kind.RESPONSE and m.correlation == "req:4"
    connected = [text('{"type":"connected","clientId":"c1","timestamp":1}')]
    assert embedded.score(Handshake("ws://h/"), connected) == 25
    assert embedded.score(Handshake("ws://h/"), [text('{"type":"other"}')]) < 0
    (join,) = embedded.encode("join room", {"room": "lobby", "requestId": "r1"})
    assert json.loads(join.payload) == {"type": "join_room", "room": "lobby", "requestId": "r1"}
    (packed,) = embedded.encode("broadcast", {"room": "a", "data": "{}", "binary": True})
    assert not packed.text and msgpack.unpackb(packed.payload)["type"] == "broadcast"
    with pytest.raises(ValueError, match="room is required"):
        embedded.encode("join room", {})
