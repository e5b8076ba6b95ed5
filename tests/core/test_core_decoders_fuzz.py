"""Every built-in decoder under hypothesis: any sequence of frames, of any opcode and bytes,
decodes without raising, answers without raising, and each call returns quickly."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.decoders import embedded, graphql, json_plain, jsonrpc, mqtt, socketio, stomp
from core.decoders.api import Frame, Handshake, Message
from core.events import Direction, Opcode

DECODERS = [json_plain.decoder, embedded.decoder, jsonrpc.decoder, socketio.decoder,
            graphql.decoder, stomp.decoder, mqtt.decoder]
SEEDS = [b"", b"2", b"3probe", b'0{"sid":"a","pingInterval":1}', b'451-["a",{"_placeholder":true,'
         b'"num":0}]', b'{"jsonrpc":"2.0","method":"m","id":null}', b'[{"jsonrpc":"2.0"}]',
         b'{"type":"next","id":"1","payload":{}}', b'{"type":"join_room","room":"r"}',
         b"\x10\x0c\x00\x04MQTT\x04\x02\x00<\x00\x00", b"\xff\xfe", b'{"type":"ping"}']

frames = st.lists(st.builds(
    Frame,
    st.sampled_from(list(Direction)),
    st.sampled_from([Opcode.TEXT, Opcode.TEXT, Opcode.BINARY, Opcode.CLOSE]),
    st.one_of(st.sampled_from(SEEDS), st.binary(max_size=200),
              st.text(max_size=100).map(str.encode),
              st.tuples(st.sampled_from(SEEDS), st.integers(0, 60)).map(lambda t: t[0][:t[1]])),
), max_size=30)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.name)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=frames, subprotocol=st.sampled_from([None, "graphql-ws", "msgpack"]))
def test_any_frames_never_raise(decoder, frames: list[Frame], subprotocol) -> None:
    handshake = Handshake("ws://h/socket.io/?EIO=3", subprotocol)
    decoder.score(handshake, frames)
    session = decoder.session(handshake)
    session.on_open()
    for frame in frames:
        start = time.perf_counter()
        messages = session.feed(frame)
        for message in messages:
            assert isinstance(message, Message) and message.protocol == decoder.name
            session.answer(message)
        session.tick(start)
        assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.name)
def test_nesting_deeper_than_the_parser_goes_is_not_an_exception(decoder) -> None:
    deep = b"[" * 100_000
    session = decoder.session(Handshake("ws://h/"))
    for payload in (deep, b"0" + deep, b"42" + deep, b'{"a":' + deep, b"\x91" * 100_000):
        for opcode in (Opcode.TEXT, Opcode.BINARY):
            frame = Frame(Direction.IN, opcode, payload)
            decoder.score(Handshake("ws://h/"), [frame])
            for message in session.feed(frame):
                assert message.protocol == decoder.name
