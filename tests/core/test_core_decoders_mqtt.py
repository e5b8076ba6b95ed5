"""The MQTT decoder against references: bytes a real paho-mqtt client sends over loopback, and
server packets built from the spec (tests/mqtt_reference.py); then fuzzing and the client."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.decoders import mqtt_wire as wire
from core.decoders.api import Decoder, DecoderSession, Frame, Handshake, Kind, Message
from core.decoders.mqtt import MqttSettings, decoder
from core.events import Direction, Opcode
from tests import mqtt_reference as ref

HANDSHAKE = Handshake("ws://127.0.0.1:1/mqtt", "mqtt")
PAHO_VERSIONS = {3: paho.MQTTv31, 4: paho.MQTTv311, 5: paho.MQTTv5}


def feed_chunked(session: Any, data: bytes, rng: random.Random,
                 direction: Direction = Direction.OUT) -> list[Message]:
    """Feeds `data` cut at random places: packets split across frames and packed in one."""
    out: list[Message] = []
    pos = 0
    while pos < len(data):
        size = rng.choice((1, 2, 3, 7, 64, 500, 4096, 70_000))
        out += session.feed(Frame(direction, Opcode.BINARY, data[pos : pos + size]))
        pos += size
    return out


def paho_client(version: int, client_id: str = "diff") -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=PAHO_VERSIONS[version])
    client.max_inflight_messages_set(0)  # 0: unlimited, the listener never acknowledges
    return client


def random_actions(client: paho.Client, rng: random.Random, version: int,
                   count: int) -> list[dict[str, Any]]:
    """Publishes/subscribes/unsubscribes at random; what each should decode to."""
    expected = []
    for _ in range(count):
        roll = rng.random()
        props, want_props = (ref.random_properties(rng, PacketTypes.PUBLISH) if version == 5
                             else (None, {}))
        if roll < 0.7:
            topic = ref.rand_text(rng, 1, 30)
            payload = rng.randbytes(rng.choice((0, 1, 10, 127, 128, 300, 16_400)))
            qos, retain = rng.randint(0, 2), rng.random() < 0.3
            info = client.publish(topic, payload, qos, retain, properties=props)
            expected.append({"name": "PUBLISH", "topic": topic, "qos": qos, "retain": retain,
                             "raw": payload, "packet_id": info.mid if qos else None,
                             "properties": want_props})
            continue
        filters = [ref.rand_text(rng, 1, 20) + rng.choice(("", "/+", "/#"))
                   for _ in range(rng.randint(1, 3))]
        if roll < 0.85:
            opts = [SubscribeOptions(rng.randint(0, 2), rng.random() < .5, rng.random() < .5,
                                     rng.randint(0, 2)) for _ in filters]
            sub_props, want_sub = (ref.random_properties(rng, PacketTypes.SUBSCRIBE)
                                   if version == 5 else (None, {}))
            pairs = list(zip(filters, opts if version == 5 else [o.QoS for o in opts],
                             strict=True))
            _, mid = client.subscribe(pairs, properties=sub_props)
            options = [o.pack()[0] if version == 5 else o.QoS for o in opts]
            expected.append({"name": "SUBSCRIBE", "filters": filters, "options": options,
                             "packet_id": mid, "properties": want_sub})
        else:
            _, mid = client.unsubscribe(filters)
            expected.append({"name": "UNSUBSCRIBE", "filters": filters, "packet_id": mid,
                             "properties": {}})
    return expected


def check(message: Message, want: dict[str, Any], version: int) -> None:
    f = message.fields
    assert message.name == want["name"]
    assert message.correlation == (f"mqtt:{want['packet_id']}" if want["packet_id"] else None)
    if version == 5:
        assert f["properties"] == want["properties"]
    else:
        assert "properties" not in f
    if want["name"] == "PUBLISH":
        assert (f["topic"], f["qos"], f["retain"], f["dup"]) == (
            want["topic"], want["qos"], want["retain"], False)
        assert message.topic == want["topic"]
        raw = message.payload
        if isinstance(raw, str):
            raw = raw.encode()
        elif not isinstance(raw, bytes):  # JSON that parsed
            raw = want["raw"]
        assert raw == want["raw"]
        assert message.kind is (Kind.REQUEST if want["qos"] else Kind.EVENT)
    else:
        assert f["filters"] == want["filters"]
        assert message.topic == ", ".join(want["filters"])
    if want["name"] == "SUBSCRIBE":
        assert f["options"] == want["options"]


@pytest.mark.parametrize("version", [3, 4, 5])
def test_what_a_paho_client_sends_decodes_to_what_it_was_told(version: int) -> None:
    rng = random.Random(1000 + version)
    capture = ref.PahoCapture()
    client = paho_client(version)
    try:
        connack = ref.spec_connack(False, 0, None, version == 5)
        capture.connect(client, connack, keepalive=45)
        client.loop_start()
        ref.wait_until(client.is_connected)
        expected = random_actions(client, rng, version, 1500)
        client.disconnect()
        data = capture.wait_closed()
    finally:
        client.loop_stop()
        capture.close()
    session = decoder.session(HANDSHAKE)
    messages = feed_chunked(session, data, rng)
    assert [m.kind for m in messages if m.kind is Kind.ERROR] == []
    connect, *middle, last = messages
    assert connect.name == "CONNECT" and connect.kind is Kind.CONNECT
    assert connect.fields["protocol_level"] == version
    assert connect.fields["protocol_name"] == ("MQIsdp" if version == 3 else "MQTT")
    assert (connect.fields["client_id"], connect.fields["keep_alive"]) == ("diff", 45)
    assert last.name == "DISCONNECT"
    assert len(middle) == len(expected) == 1500
    for message, want in zip(middle, expected, strict=True):
        check(message, want, version)


@pytest.mark.parametrize("version", [4, 5])
def test_paho_connect_variants_decode(version: int) -> None:
    """Clean session, will (with MQTT 5 will properties), user name and password, properties."""
    rng = random.Random(7 + version)
    for i in range(40):
        capture = ref.PahoCapture()
        client_id = ref.rand_text(rng, 1)
        client = paho_client(version, client_id=client_id)
        will = rng.random() < 0.6
        will_props, want_will = (ref.random_properties(rng, PacketTypes.WILLMESSAGE)
                                 if version == 5 else (None, {}))
        if will:
            client.will_set("will/" + ref.rand_text(rng), rng.randbytes(rng.randint(0, 50)),
                            rng.randint(0, 2), rng.random() < 0.5, properties=will_props)
        user = ref.rand_text(rng, 1) if rng.random() < 0.5 else None
        password = ref.rand_text(rng) if user and rng.random() < 0.5 else None
        if user:
            client.username_pw_set(user, password)
        props, want_props = (ref.random_properties(rng, PacketTypes.CONNECT) if version == 5
                             else (None, {}))
        kwargs = {"clean_start": i % 2 == 0, "properties": props} if version == 5 else {}
        try:
            capture.connect(client, None, keepalive=rng.randint(1, 600), **kwargs)
            ref.wait_until(lambda c=capture: len(c.data) > 0 and _complete(c.data))
        finally:
            capture.close()
            if client.socket() is not None:
                client.socket().close()
        (msg,) = decoder.session(HANDSHAKE).feed(
            Frame(Direction.OUT, Opcode.BINARY, bytes(capture.data)))
        f = msg.fields
        assert msg.name == "CONNECT", msg.summary
        assert f["client_id"] == client_id
        assert f["will"] is will
        assert f.get("username") == user
        assert f.get("password") == ("•••" if password is not None else None)
        reader = wire.Reader(bytes(capture.data), "CONNECT")
        reader.take(1)
        raw = wire.parse(1, 0, reader.take(reader.varint()), version).fields
        assert raw.get("password") == (password.encode() if password is not None else None)
        if version == 5:
            assert f["properties"] == want_props
            assert f["clean_start"] is (i % 2 == 0)
            if will:
                assert f["will_properties"] == want_will


def _complete(data: bytearray) -> bool:
    try:
        length = wire.Reader(bytes(data[1:5]), "x").varint()
    except wire.MqttError:
        return False
    return len(data) >= 1 + len(wire.varint(length)) + length


def random_server_packet(rng: random.Random, v5: bool) -> tuple[bytes, dict[str, Any]]:
    """One packet a broker sends, built from the spec, and what it should decode to."""
    kind = rng.choice(("CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
                       "SUBACK", "UNSUBACK", "PINGRESP", "DISCONNECT", "AUTH"))
    pid = rng.randint(1, 0xFFFF)
    ptype = wire.TYPES[kind]

    def props(packet_type: int) -> tuple[Any, dict[str, Any]]:
        return ref.random_properties(rng, packet_type) if v5 else (None, {})

    if kind == "CONNACK":
        p, want = props(PacketTypes.CONNACK)
        code = rng.choice((0, 0, 1, 5, 0x80, 0x87))
        return ref.spec_connack(rng.random() < .5, code, p, v5), {"reason_code": code} | (
            {"properties": want} if v5 else {})
    if kind == "PUBLISH":
        p, want = props(PacketTypes.PUBLISH)
        qos, topic, payload = rng.randint(0, 2), ref.rand_text(rng, 1, 20), rng.randbytes(30)
        dup, retain = rng.random() < .3, rng.random() < .3
        fields = {"topic": topic, "qos": qos, "dup": dup, "retain": retain} | (
            {"packet_id": pid} if qos else {}) | ({"properties": want} if v5 else {})
        return ref.spec_publish(topic, payload, qos, retain, dup, pid, p, v5), fields
    if ptype in (4, 5, 6, 7):
        p, want = props(ptype)
        if v5 and rng.random() < .7:
            code = rng.choice((0, 0x10, 0x80, 0x92))
            with_props = rng.random() < .5
            data = ref.spec_ack(ptype, pid, code, p if with_props else None)
            return data, {"packet_id": pid, "reason_code": code} | (
                {"properties": want} if with_props else {})
        return ref.spec_ack(ptype, pid), {"packet_id": pid}
    if ptype in (9, 11):
        p, want = props(ptype)
        codes = [rng.choice((0, 1, 2, 0x80, 0x11)) for _ in range(rng.randint(1, 4))]
        if ptype == 11 and not v5:
            codes = []
        return ref.spec_suback(ptype, pid, codes, p, v5), {"packet_id": pid,
                                                            "reason_codes": codes} | (
            {"properties": want} if v5 else {})
    if kind == "PINGRESP" or not v5:
        return ref.spec_packet(0xD0 if kind == "PINGRESP" else 0xE0, b""), {}
    p, want = props(ptype)
    code = rng.choice((None, 0, 0x8E, 0x18))
    with_props = code is not None and rng.random() < .5
    data = ref.spec_reason(ptype, code, p if with_props else None)
    return data, ({"reason_code": code} if code is not None else {}) | (
        {"properties": want} if with_props else {})


@pytest.mark.parametrize("version", [4, 5])
def test_server_packets_built_from_the_spec_decode(version: int) -> None:
    rng = random.Random(50 + version)
    packets = [random_server_packet(rng, version == 5) for _ in range(3000)]
    session = decoder.session(HANDSHAKE, MqttSettings(version=version))
    messages = feed_chunked(session, b"".join(p for p, _ in packets), rng, Direction.IN)
    assert len(messages) == len(packets)
    for message, (_, want) in zip(messages, packets, strict=True):
        assert not message.summary.startswith("malformed"), message.summary
        refused = message.name == "CONNACK" and want["reason_code"] != 0
        assert (message.kind is Kind.ERROR) is refused
        got = {k: v for k, v in message.fields.items()
               if k not in ("version", "session_present", "payload")}
        assert got == want, message.summary
        assert message.heartbeat is (message.name == "PINGRESP")


def test_version_is_taken_from_connect_and_kept() -> None:
    """A v5 CONNECT makes the session read properties in what follows, both ways."""
    session = decoder.session(HANDSHAKE)  # settings say 3.1.1
    connect = wire.encode_connect("c", 30, version=5, props={"session_expiry_interval": 9})
    p = ref.Properties(PacketTypes.CONNACK)
    p.ServerKeepAlive = 20
    connack = ref.spec_connack(False, 0, p, True)
    (out,) = session.feed(Frame(Direction.OUT, Opcode.BINARY, connect))
    assert out.fields["properties"] == {"session_expiry_interval": 9}
    (back,) = session.feed(Frame(Direction.IN, Opcode.BINARY, connack))
    assert back.fields["properties"] == {"server_keep_alive": 20}
    assert session.version == 5 and session.keep_alive == 20


def test_the_protocol_client_connects_and_pings_at_the_keep_alive() -> None:
    session = decoder.session(HANDSHAKE, MqttSettings(client_id="me", keep_alive=30,
                                                      version=5, username="u"))
    (hello,) = session.on_open()
    assert not hello.text
    (decoded,) = decoder.session(HANDSHAKE).feed(Frame(Direction.OUT, Opcode.BINARY,
                                                       hello.payload))
    assert (decoded.name, decoded.fields["client_id"], decoded.fields["keep_alive"],
            decoded.fields["protocol_level"], decoded.fields["username"]) == (
                "CONNECT", "me", 30, 5, "u")
    assert session.tick(100.0) == ()  # no PINGREQ before CONNACK
    session.feed(Frame(Direction.IN, Opcode.BINARY, ref.spec_connack(False, 0, None, True)))
    assert session.tick(100.0) == ()
    assert session.tick(129.0) == ()
    (ping,) = session.tick(130.0)
    assert ping.payload == b"\xc0\x00"
    assert session.tick(131.0) == () and len(session.tick(160.5)) == 1


def test_pings_keep_within_the_keep_alive_counted_from_our_last_packet() -> None:
    """Regression (measured against mosquitto through a Connection): with keep-alive 2 s the
    first PINGREQ went 3.006 s after the CONNECT, past the broker's 1.5 keep-alives: the clock
    started at the first tick after CONNACK and a ping waited for the tick after its deadline."""
    session = decoder.session(HANDSHAKE, MqttSettings(keep_alive=2))
    (hello,) = session.on_open()
    session.feed(Frame(Direction.OUT, Opcode.BINARY, hello.payload, 100.0))
    session.feed(Frame(Direction.IN, Opcode.BINARY, ref.spec_connack(False, 0, None, False),
                       100.01))
    pings = []
    for tick in (100.99 + i for i in range(8)):  # ticks a second apart, just before the mark
        if session.tick(tick):
            pings.append(tick)
            session.feed(Frame(Direction.OUT, Opcode.BINARY, b"\xc0\x00", tick + 0.001))
    sent = [100.0, *pings]
    assert max(b - a for a, b in itertools.pairwise(sent)) <= 2.0  # never a keep-alive silent
    (pub,) = session.encode("PUBLISH", {"topic": "t", "payload": "x"})
    last = pings[-1]
    session.feed(Frame(Direction.OUT, Opcode.BINARY, pub.payload, last + 0.9))
    assert session.tick(last + 1.0) == () and session.tick(last + 1.85) == ()  # it counted
    assert session.tick(last + 1.95)  # the next tick would be past last + 0.9 + 2


def test_templates_encode_frames_the_decoder_reads_back() -> None:
    assert set(decoder.templates()) == {"PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE"}
    for version in (4, 5):
        session = decoder.session(HANDSHAKE, MqttSettings(version=version))
        (pub,) = session.encode("PUBLISH", {"topic": "room/1", "qos": "1", "retain": "true",
                                            "payload": '{"a":1}', "packet_id": 2})
        (sub,) = session.encode("SUBSCRIBE", {"filter": "room/#", "qos": 2})
        (uns,) = session.encode("UNSUBSCRIBE", {"filter": "room/#"})
        got = decoder.session(HANDSHAKE, MqttSettings(version=version)).feed(
            Frame(Direction.OUT, Opcode.BINARY, pub.payload + sub.payload + uns.payload))
        assert got[0].summary == 'PUBLISH room/1 qos1 id 2 retain {"a":1}'
        assert got[0].payload == {"a": 1} and got[0].correlation == "mqtt:2"
        assert (got[1].name, got[1].topic, got[1].fields["qos"]) == ("SUBSCRIBE", "room/#", [2])
        assert got[2].name == "UNSUBSCRIBE" and got[2].kind is Kind.UNSUBSCRIBE
    for bad in ({"topic": ""}, {"topic": "a/#"}, {"topic": "a", "qos": 3},
                {"topic": "a", "qos": "x"}):
        with pytest.raises(ValueError):
            decoder.encode("PUBLISH", bad)
    with pytest.raises(ValueError):
        decoder.encode("NOPE", {})


def test_the_decoder_is_shaped_like_the_interface() -> None:
    assert isinstance(decoder, Decoder) and decoder.name == "mqtt"
    assert isinstance(decoder.session(HANDSHAKE), DecoderSession)


def test_score() -> None:
    assert decoder.score(HANDSHAKE, []) >= 100
    assert decoder.score(Handshake("ws://h/x", "mqttv3.1"), []) >= 100
    connect = Frame(Direction.OUT, Opcode.BINARY, wire.encode_connect("c"))
    assert 20 <= decoder.score(Handshake("ws://h/x"), [connect]) < 50
    assert decoder.score(Handshake("ws://h/mqtt"), []) == 50
    assert decoder.score(Handshake("ws://h/chat"), []) < 0


# --- fuzzing ------------------------------------------------------------------------------------

def valid_stream(rng: random.Random) -> bytes:
    return b"".join(random_server_packet(rng, True)[0] for _ in range(50))


def test_random_truncated_and_mutated_bytes_never_raise_or_hang() -> None:
    rng = random.Random(99)
    sample = valid_stream(rng)
    started = time.monotonic()
    for i in range(3000):
        session = decoder.session(HANDSHAKE, MqttSettings(version=rng.choice((4, 5)),
                                                          max_packet=4096))
        if i % 3 == 0:
            data = rng.randbytes(rng.randint(0, 600))
        elif i % 3 == 1:
            data = sample[rng.randint(0, len(sample)) :][: rng.randint(0, 900)]
        else:
            data = bytearray(sample[:2000])
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        for message in feed_chunked(session, data, rng, rng.choice(list(Direction))):
            assert isinstance(message.summary, str)
        assert all(s.buffered <= 4096 + 5 for s in session.streams.values())
    assert time.monotonic() - started < 60


def test_a_huge_remaining_length_is_skipped_not_buffered() -> None:
    session = decoder.session(HANDSHAKE, MqttSettings(max_packet=64 * 1024))
    header = bytes([0x30]) + wire.varint(wire.MAX_REMAINING)
    (dropped,) = session.feed(Frame(Direction.IN, Opcode.BINARY, header + b"x" * 100))
    assert dropped.kind is Kind.ERROR and "passes the bound" in dropped.summary
    for _ in range(200):  # 20 MB more of the same never-ending packet
        assert session.feed(Frame(Direction.IN, Opcode.BINARY, b"y" * 100_000)) == []
        assert session.streams[Direction.IN].buffered == 0


def test_an_unfinished_packet_stays_within_the_bound_and_a_bad_length_drops_the_buffer() -> None:
    session = decoder.session(HANDSHAKE, MqttSettings(max_packet=64 * 1024))
    header = bytes([0x30]) + wire.varint(60_000)
    assert session.feed(Frame(Direction.IN, Opcode.BINARY, header + b"z" * 50_000)) == []
    assert session.streams[Direction.IN].buffered <= 64 * 1024 + 5
    session = decoder.session(HANDSHAKE)
    (bad,) = session.feed(Frame(Direction.IN, Opcode.BINARY, b"\x30\xff\xff\xff\xff\x01abc"))
    assert bad.kind is Kind.ERROR and "dropped the buffer" in bad.summary
    assert session.streams[Direction.IN].buffered == 0
    (ok,) = session.feed(Frame(Direction.IN, Opcode.BINARY, wire.encode_simple(13)))
    assert ok.name == "PINGRESP" and ok.heartbeat


def test_a_malformed_body_is_one_error_and_the_next_packet_still_decodes() -> None:
    session = decoder.session(HANDSHAKE)
    bad = bytes([0x82, 3, 0, 1, 0])  # SUBSCRIBE whose filter is cut short
    messages = session.feed(Frame(Direction.OUT, Opcode.BINARY, bad + wire.encode_simple(12)))
    assert [m.kind for m in messages] == [Kind.ERROR, Kind.HEARTBEAT]
    assert "SUBSCRIBE" in messages[0].summary and "truncated" in messages[0].summary


def test_protocol_client_options_from_a_mapping() -> None:
    """What a profile or the CLI gives (guard.open_session passes it as session()'s options)."""
    session = decoder.session(HANDSHAKE, {"client-id": "cli", "keep-alive": "15", "version": 5,
                                          "clean": "false"})
    (hello,) = session.on_open()
    (connect,) = decoder.session(HANDSHAKE).feed(Frame(Direction.OUT, Opcode.BINARY,
                                                       hello.payload))
    f = connect.fields
    assert (f["client_id"], f["keep_alive"], f["protocol_level"], f["clean_start"]) == (
        "cli", 15, 5, False)
    for bad in ({"keepalive": 5}, {"keep-alive": "soon"}, {"version": 6}, {"clean": "maybe"}):
        with pytest.raises(ValueError, match="MQTT"):
            decoder.session(HANDSHAKE, bad)
    (bad_packet,) = session.feed(Frame(Direction.IN, Opcode.BINARY, b"\x00\x00"))
    assert bad_packet.summary.startswith("malformed: ")


def test_cost_stays_linear_for_tiny_pieces_and_many_packed_packets() -> None:
    session = decoder.session(HANDSHAKE)
    data = wire.encode_publish("t", b"x" * 200_000, 1, packet_id=1)
    started = time.monotonic()
    got: list[Message] = []
    for i in range(len(data)):
        got += session.feed(Frame(Direction.IN, Opcode.BINARY, data[i : i + 1]))
    assert [m.name for m in got] == ["PUBLISH"]
    packed = wire.encode_publish("t", b"{}") * 200_000
    assert len(session.feed(Frame(Direction.IN, Opcode.BINARY, packed))) == 200_000
    assert time.monotonic() - started < 30


def test_the_protocol_client_acknowledges_qos_deliveries() -> None:
    session = decoder.session(HANDSHAKE)
    passive = [session.answer(m) for m in session.feed(Frame(
        Direction.IN, Opcode.BINARY, ref.spec_publish("t", b"x", 1, False, False, 7, None, False)))]
    assert passive == [()]  # protocol client off: raw, as before
    session.on_open()
    incoming = b"".join((ref.spec_connack(False, 0, None, False),
                         ref.spec_publish("t", b"x", 0, False, False, 0, None, False),
                         ref.spec_publish("t", b"x", 1, False, False, 7, None, False),
                         ref.spec_publish("t", b"x", 2, False, False, 8, None, False),
                         ref.spec_ack(6, 8), ref.spec_ack(5, 9), ref.spec_ack(4, 10)))
    replies = [session.answer(m) for m in
               session.feed(Frame(Direction.IN, Opcode.BINARY, incoming))]
    sent = b"".join(o.payload for r in replies for o in r)
    assert sent == ref.spec_ack(4, 7) + ref.spec_ack(5, 8) + ref.spec_ack(7, 8) + \
        ref.spec_ack(6, 9)
    checker = decoder.session(HANDSHAKE)
    names = [(m.name, m.correlation) for m in checker.feed(Frame(Direction.OUT, Opcode.BINARY,
                                                                 sent))]
    # acks of the broker's flows pair as mqtt-srv:, our own QoS 2 flow's PUBREL as mqtt:
    assert names == [("PUBACK", "mqtt-srv:7"), ("PUBREC", "mqtt-srv:8"),
                     ("PUBCOMP", "mqtt-srv:8"), ("PUBREL", "mqtt:9")]
