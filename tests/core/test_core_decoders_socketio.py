"""The Socket.IO / Engine.IO decoder against python-socketio's and python-engineio's own packet
encoders (differential), its protocol client, and fuzzing: bad frames never raise, never hang
and never grow the attachment buffer past its bound."""

from __future__ import annotations

import json
import random
import time
import tracemalloc

import engineio.packet as eio
import pytest
import socketio.packet as sio

from core.decoders.api import Handshake, Kind, Outgoing
from core.decoders.socketio import SocketIOSession, decoder
from core.events import Direction
from tests.decoder_helpers import binary, feed_all, json_value, text, word

URL4 = "ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket"
URL3 = "ws://127.0.0.1:1/socket.io/?EIO=3&transport=websocket"


def session(url: str = URL4, **options) -> SocketIOSession:
    return decoder.session(Handshake(url), options)


def reference_frames(packet: sio.Packet, direction: Direction) -> list:
    """The websocket frames python-socketio/engineio send for one Socket.IO packet."""
    encoded = packet.encode()
    head, attachments = (encoded[0], encoded[1:]) if isinstance(encoded, list) else (encoded, [])
    frames = [text(eio.Packet(eio.MESSAGE, data=head).encode(), direction)]
    frames += [binary(eio.Packet(eio.MESSAGE, data=a).encode(), direction) for a in attachments]
    return frames


def random_packet(rng: random.Random) -> tuple[sio.Packet, object]:
    kind = rng.choice([sio.CONNECT, sio.DISCONNECT, sio.EVENT, sio.EVENT, sio.ACK,
                       sio.CONNECT_ERROR])
    namespace = rng.choice([None, "/", "/chat", "/a/b-c", "/" + word(rng)])
    ident = None
    binary_ok = kind in (sio.EVENT, sio.ACK)
    if kind == sio.EVENT:
        data = [word(rng)] + [json_value(rng, with_bytes=True) for _ in range(rng.randint(0, 3))]
    elif kind == sio.ACK:
        data = [json_value(rng, with_bytes=True) for _ in range(rng.randint(0, 3))]
    elif kind == sio.CONNECT:
        data = rng.choice([None, {"token": word(rng)}, {"sid": word(rng)}])
    elif kind == sio.CONNECT_ERROR:
        data = {"message": word(rng), "data": json_value(rng)}
    else:
        data = None
    if kind in (sio.EVENT, sio.ACK) and (kind == sio.ACK or rng.random() < 0.5):
        ident = rng.randrange(0, 10**12)
    packet = sio.Packet(kind, data=data, namespace=namespace, id=ident,
                        binary=None if binary_ok else False)
    return packet, data


def test_differential_against_python_socketio() -> None:
    rng = random.Random(1313)
    s = session()
    binaries = 0
    for _ in range(4000):
        packet, data = random_packet(rng)
        direction = rng.choice([Direction.IN, Direction.OUT])
        frames = reference_frames(packet, direction)
        messages = feed_all(s, frames)
        assert len(messages) == 1, (packet.encode(), messages)
        m = messages[0]
        assert m.fields["type"] == sio.packet_names[packet.packet_type]
        assert m.fields["namespace"] == (packet.namespace or "/")
        assert m.topic == (packet.namespace or "/")
        assert m.fields["id"] == packet.id
        assert m.fields["attachments"] == len(frames) - 1
        assert m.payload == data
        assert m.direction is direction
        if packet.packet_type in (sio.EVENT, sio.BINARY_EVENT):
            assert m.name == data[0]
            assert m.kind is (Kind.REQUEST if packet.id is not None else Kind.EVENT)
        if packet.id is not None:
            is_ack = packet.packet_type in (sio.ACK, sio.BINARY_ACK)
            asker = direction if not is_ack else Direction.IN if direction is Direction.OUT \
                else Direction.OUT
            prefix = "ack" if asker is Direction.OUT else "ack-srv"
            assert m.correlation == f"{prefix}:{packet.namespace or '/'}:{packet.id}"
        binaries += len(frames) > 1
        assert s.buffered_bytes == 0
    assert binaries > 300  # the generator really exercised attachments


def test_engineio_packets_against_python_engineio() -> None:
    rng = random.Random(44)
    s = session()
    names = ["open", "close", "ping", "pong", "upgrade", "noop"]
    for _ in range(2000):
        kind = rng.choice([eio.OPEN, eio.CLOSE, eio.PING, eio.PONG, eio.UPGRADE, eio.NOOP,
                           eio.MESSAGE])
        if kind == eio.MESSAGE:
            data = rng.randbytes(rng.randint(0, 100))
            (m,) = s.feed(binary(eio.Packet(kind, data=data).encode()))
            assert m.kind is Kind.EVENT and m.payload == data
            continue
        if kind == eio.OPEN:
            data = {"sid": word(rng), "upgrades": [], "pingInterval": rng.randint(1, 60000),
                    "pingTimeout": rng.randint(1, 60000)}
        else:
            data = rng.choice([None, "probe", word(rng)])
        (m,) = s.feed(text(eio.Packet(kind, data=data).encode()))
        name = names[[eio.OPEN, eio.CLOSE, eio.PING, eio.PONG, eio.UPGRADE, eio.NOOP].index(kind)]
        assert m.fields["engineio"] == name
        assert m.heartbeat == (name in ("ping", "pong"))
        decoded = eio.Packet(encoded_packet=eio.Packet(kind, data=data).encode())
        assert m.payload == (decoded.data if decoded.data is not None else "")


def test_acks_pair_with_their_event_per_asking_side() -> None:
    s = session()
    frames = [text('42/chat,1["save",{"a":1}]', Direction.OUT),
              text('421["remind"]', Direction.IN),
              text('43/chat,1[{"ok":true}]', Direction.IN),
              text('431["done"]', Direction.OUT)]
    messages = feed_all(s, frames)
    assert [m.correlation for m in messages] == ["ack:/chat:1", "ack-srv:/:1", "ack:/chat:1",
                                                  "ack-srv:/:1"]
    assert [m.name for m in messages] == ["save", "remind", "save", "remind"]
    assert messages[2].summary == 'ack /chat save 1 [{"ok":true}]'


def test_protocol_client_pongs_and_connects_namespaces() -> None:
    s = session(namespaces=["/chat", "/admin"])
    assert s.on_open() == ()
    (opened,) = s.feed(text('0{"sid":"x","pingInterval":25000,"pingTimeout":20000}'))
    assert [o.payload for o in s.answer(opened)] == [b"40", b"40/chat,", b"40/admin,"]
    (ping,) = s.feed(text("2"))
    assert s.answer(ping) == (Outgoing(b"3", text=True),)
    (probe,) = s.feed(text("2probe"))
    assert s.answer(probe) == (Outgoing(b"3probe", text=True),)
    (own_ping,) = s.feed(text("2", Direction.OUT))
    assert s.answer(own_ping) == ()
    assert s.tick(time.monotonic()) == ()  # v4: the server pings


def test_eio3_is_named_pings_by_tick_and_strips_binary_prefix() -> None:
    assert decoder.score(Handshake(URL3), []) >= 50
    s = session(URL3)
    (opened,) = s.feed(text('0{"sid":"x","pingInterval":1000,"pingTimeout":5000}'))
    assert "Engine.IO v3" in opened.summary and opened.fields["eio"] == 3
    assert s.answer(opened) == ()  # v3 servers connect "/" themselves
    assert s.tick(100.0) == ()
    assert s.tick(101.5) == (Outgoing(b"2", text=True),)
    assert s.tick(101.7) == ()
    assert feed_all(s, [text('451-["up",{"_placeholder":true,"num":0}]'),
                        binary(b"\x04abc")])[0].payload == ["up", b"abc"]


def test_templates_encode_what_the_reference_decodes() -> None:
    (out,) = decoder.encode("emit with ack", {"event": "chat", "data": '{"a": 1}',
                                              "namespace": "/room", "ack": "7"})
    assert out.text
    packet = sio.Packet(encoded_packet=eio.Packet(encoded_packet=out.payload.decode()).data)
    assert (packet.packet_type, packet.namespace, packet.id, packet.data) == (
        sio.EVENT, "/room", 7, ["chat", {"a": 1}])
    (plain,) = decoder.encode("emit", {"event": "hello"})
    assert plain.payload == b'42["hello"]'
    for bad in ({"event": ""}, {"event": "x", "data": "{oops"}, {"event": "x", "namespace": "a"}):
        with pytest.raises(ValueError):
            decoder.encode("emit", bad)


def test_random_emits_from_the_template_decode_in_the_reference() -> None:
    rng = random.Random(99)
    for _ in range(1000):
        namespace = rng.choice(["/", "/chat", "/" + word(rng)])
        event, data = word(rng), json_value(rng)
        ack = rng.choice([None, rng.randrange(10**9)])
        values = {"event": event, "data": json.dumps(data), "namespace": namespace}
        if ack is None:
            (out,) = decoder.encode("emit", values)
        else:
            (out,) = decoder.encode("emit with ack", {**values, "ack": str(ack)})
        engine = eio.Packet(encoded_packet=out.payload.decode())
        packet = sio.Packet(encoded_packet=engine.data)
        assert engine.packet_type == eio.MESSAGE and packet.packet_type == sio.EVENT
        assert (packet.namespace or "/", packet.id) == (namespace, ack)
        assert packet.data == [event] + ([] if data is None else [data])


def test_incomplete_binary_event_is_said_and_not_kept() -> None:
    s = session()
    head = '452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert list(s.feed(text(head))) == []
    assert list(s.feed(binary(b"a"))) == []
    first, second = s.feed(text('42["next"]'))
    assert first.kind is Kind.ERROR and "1 of 2" in first.summary
    assert second.name == "next" and s.buffered_bytes == 0


def valid_frames(rng: random.Random) -> list[bytes]:
    packet, _ = random_packet(rng)
    return [f.payload for f in reference_frames(packet, Direction.IN)]


def test_fuzz_random_truncated_and_mutated_frames_never_raise() -> None:
    rng = random.Random(7)
    s = session()
    deadline = time.monotonic() + 30
    for i in range(6000):
        assert time.monotonic() < deadline
        payload = b"".join(valid_frames(rng))
        choice = i % 4
        if choice == 0:
            payload = rng.randbytes(rng.randint(0, 64))
        elif choice == 1:
            payload = payload[: rng.randint(0, len(payload))]
        elif choice == 2 and payload:
            pos = rng.randrange(len(payload))
            payload = payload[:pos] + bytes([rng.randrange(256)]) + payload[pos + 1:]
        frame = text(payload) if rng.random() < 0.7 else binary(payload)
        for m in s.feed(frame):
            assert m.protocol == "socketio" and isinstance(m.summary, str)
            s.answer(m)
        assert s.buffered_bytes <= s.max_attachment_bytes


def test_a_million_bytes_of_never_completing_attachments_stay_bounded() -> None:
    bound = 64 * 1024
    s = SocketIOSession(Handshake(URL4), max_attachment_bytes=bound)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        dropped = 0
        sent = 0
        while sent < 1_000_000:
            s.feed(text('45999-["big",' + '{"_placeholder":true,"num":0}]'))
            for _ in range(100):
                messages = s.feed(binary(b"x" * 1000))
                sent += 1000
                dropped += sum("dropped" in m.summary for m in messages)
                assert s.buffered_bytes <= bound
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert dropped >= 10
    assert grown < 2 * bound + 256 * 1024


def test_detection_signatures() -> None:
    assert decoder.score(Handshake(URL4), []) == 55
    assert decoder.score(Handshake("ws://h/socket.io/"), []) == 50
    assert decoder.score(Handshake("ws://h/ws"), [text('0{"sid":"a","upgrades":[]}')]) == 25
    assert decoder.score(Handshake("ws://h/ws"), [text('{"type":"x"}')]) < 0
