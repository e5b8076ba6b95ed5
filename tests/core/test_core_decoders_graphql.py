"""GraphQL over WebSocket: both dialects' message flows, operation ids as correlation, the 44xx
close codes in words, the protocol client, templates, and fuzzing."""

from __future__ import annotations

import json
import random
import time

import pytest

from core.decoders.api import Frame, Handshake, Kind
from core.decoders.graphql import LEGACY_WS, TRANSPORT_WS, close_code_text, decoder
from core.decoders.pairing import Pairer
from core.events import Direction, Opcode
from tests.decoder_helpers import binary, feed_all, text

OUT, IN = Direction.OUT, Direction.IN
QUERY = "subscription OnMessage { messageAdded { text } }"


def test_transport_ws_flow_pairs_subscribe_with_first_next() -> None:
    s = decoder.session(Handshake("ws://h/graphql", TRANSPORT_WS), {"init_payload": {"t": 1}})
    (init,) = s.on_open()
    assert json.loads(init.payload) == {"type": "connection_init", "payload": {"t": 1}}
    frames = [
        text(init.payload, OUT),
        text('{"type":"connection_ack"}', IN),
        text(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}), OUT),
        text('{"id":"1","type":"next","payload":{"data":{"messageAdded":{"text":"hi"}}}}', IN),
        text('{"type":"ping"}', IN),
        text('{"id":"1","type":"complete"}', OUT),
        text('{"id":"2","type":"error","payload":[{"message":"bad"}]}', IN),
    ]
    messages = feed_all(s, frames)
    kinds = [m.kind for m in messages]
    assert kinds == [Kind.CONNECT, Kind.CONNECT, Kind.SUBSCRIBE, Kind.EVENT, Kind.HEARTBEAT,
                     Kind.UNSUBSCRIBE, Kind.ERROR]
    sub = messages[2]
    assert sub.name == "subscription OnMessage" and sub.correlation == "op:1"
    assert [m.topic for m in messages[2:]] == ["subscription OnMessage"] * 2 + [None] + [
        "subscription OnMessage", "2"]
    assert messages[3].summary.startswith("next 1 subscription OnMessage {")
    assert len(s.operations) == 1  # the client's complete: a result in flight keeps its name
    assert messages[4].heartbeat
    assert [o.payload for o in s.answer(messages[4])] == [b'{"type":"pong"}']
    assert s.answer(messages[3]) == ()
    pairer = Pairer()
    pairs = [pairer.add(1, m, float(i)) for i, m in enumerate(messages)]
    (pair,) = [p for p in pairs if p]
    assert pair.request is sub and pair.reply is messages[3] and pair.latency == 1.0
    assert pairer.pending_count == 0  # the client's complete waits for nothing


def test_results_after_the_clients_stop_keep_the_operation_as_topic() -> None:
    """Regression (seen against strawberry): the legacy server's data in flight and its complete
    after our stop were topic "2" instead of the operation's name."""
    s = decoder.session(Handshake("ws://h/graphql", LEGACY_WS))
    messages = feed_all(s, [
        text(json.dumps({"id": "2", "type": "start", "payload": {"query": QUERY}}), OUT),
        text('{"id":"2","type":"stop"}', OUT),
        text('{"id":"2","type":"data","payload":{"data":{"messageAdded":null}}}', IN),
        text('{"id":"2","type":"complete"}', IN),
        text('{"id":"2","type":"data","payload":{"data":{"messageAdded":null}}}', IN)])
    assert [m.topic for m in messages] == ["subscription OnMessage"] * 4 + ["2"]
    assert len(s.operations) == 0  # the server's complete ended it


def test_a_subscription_that_ends_without_a_result_is_no_longer_waited_for() -> None:
    s = decoder.session(Handshake("ws://h/graphql", TRANSPORT_WS))
    pairer = Pairer()
    for i, frame in enumerate([
            text('{"id":"5","type":"subscribe","payload":{"query":"{ a }"}}', OUT),
            text('{"id":"5","type":"complete"}', IN)]):
        for m in s.feed(frame):
            assert pairer.add(1, m, float(i)) is None
    assert pairer.pending_count == 0 and pairer.ended == 1


def test_legacy_graphql_ws_flow() -> None:
    s = decoder.session(Handshake("ws://h/graphql", LEGACY_WS))
    assert s.dialect == LEGACY_WS
    (init,) = s.on_open()
    assert json.loads(init.payload) == {"type": "connection_init"}
    frames = [
        text('{"type":"connection_ack"}', IN),
        text('{"type":"ka"}', IN),
        text(json.dumps({"id": "7", "type": "start", "payload": {"query": QUERY,
                                                                "operationName": "Msgs"}}), OUT),
        text('{"id":"7","type":"data","payload":{"data":{}}}', IN),
        text('{"id":"7","type":"stop"}', OUT),
        text('{"id":"7","type":"complete"}', IN),
    ]
    kinds = [(m.kind, m.correlation) for m in feed_all(s, frames)]
    assert kinds == [(Kind.CONNECT, None), (Kind.HEARTBEAT, None), (Kind.SUBSCRIBE, "op:7"),
                     (Kind.EVENT, "op:7"), (Kind.UNSUBSCRIBE, None), (Kind.CONTROL, "op:7")]
    assert all(m.fields["dialect"] == LEGACY_WS for m in feed_all(s, frames))


@pytest.mark.parametrize(("code", "words"), [
    (4400, "bad request"), (4401, "unauthorized"), (4403, "forbidden"),
    (4406, "subprotocol not acceptable"), (4408, "connection initialisation timeout"),
    (4409, "subscriber already exists"), (4429, "too many initialisation requests")])
def test_close_codes_in_words(code: int, words: str) -> None:
    assert close_code_text(code) == f"{code} {words}"
    s = decoder.session(Handshake("ws://h/", TRANSPORT_WS))
    payload = code.to_bytes(2, "big") + b"Subscriber for 1 already exists"
    (m,) = s.feed(Frame(IN, Opcode.CLOSE, payload))
    assert m.kind is Kind.ERROR and words in m.summary and m.fields["code"] == code


def test_detection_tiers() -> None:
    assert decoder.score(Handshake("ws://h/x", TRANSPORT_WS), []) == 100
    assert decoder.score(Handshake("ws://h/x", LEGACY_WS), []) == 100
    assert decoder.score(Handshake("ws://h/api/graphql"), []) == 50
    init = [text('{"type":"connection_init"}', OUT)]
    assert decoder.score(Handshake("ws://h/api/graphql"), init) == 55
    first = [text('{"type":"connection_init"}', OUT), text('{"type":"connection_ack"}')]
    assert decoder.score(Handshake("ws://h/x"), first) == 25
    assert decoder.score(Handshake("ws://h/x"), [text('{"type":"chat"}')]) < 0


def test_templates() -> None:
    (sub,) = decoder.encode("subscribe", {"id": "3", "query": QUERY, "variables": '{"a": 1}'})
    assert json.loads(sub.payload) == {"id": "3", "type": "subscribe",
                                       "payload": {"query": QUERY, "variables": {"a": 1}}}
    (done,) = decoder.encode("complete", {"id": "3"})
    assert json.loads(done.payload) == {"id": "3", "type": "complete"}
    (start,) = decoder.encode("start (legacy graphql-ws)", {"query": QUERY})
    assert json.loads(start.payload)["type"] == "start"
    with pytest.raises(ValueError, match="variables"):
        decoder.encode("subscribe", {"query": QUERY, "variables": "[1]"})
    with pytest.raises(ValueError, match="query is required"):
        decoder.encode("subscribe", {"id": "1"})


def test_fuzz_never_raises() -> None:
    rng = random.Random(5)
    s = decoder.session(Handshake("ws://h/", TRANSPORT_WS))
    valid = json.dumps({"id": "1", "type": "next", "payload": {"data": {"x": [1, 2]}}}).encode()
    deadline = time.monotonic() + 20
    for i in range(5000):
        assert time.monotonic() < deadline
        cut = valid[: rng.randint(0, len(valid))]
        payload = cut if i % 2 else rng.randbytes(rng.randint(0, 30))
        kind = i % 3
        frame = (text(payload) if kind == 0 else binary(payload) if kind == 1
                 else Frame(IN, Opcode.CLOSE, payload))
        for m in s.feed(frame):
            assert m.protocol == "graphql"
            s.answer(m)


def test_an_operation_without_operation_name_is_named_from_its_query() -> None:
    from core.decoders.graphql import operation_name

    assert operation_name({"query": "mutation Add($a: Int!) { add(a: $a) }"}) == "mutation Add"
    assert operation_name({"query": "\n  subscription OnTick {tick}"}) == "subscription OnTick"
    assert operation_name({"query": "subscription { tick }"}) == "subscription"
    assert operation_name({"query": "{ hello }"}) == "query"  # the shorthand form
    assert operation_name({"query": "not graphql"}) is None
