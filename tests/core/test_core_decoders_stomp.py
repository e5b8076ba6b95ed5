"""The STOMP decoder against stomp.py's frame encoder and parser (stomp.utils) and the STOMP 1.2
spec's examples; packed and split frames, escapes, NUL bodies; fuzzing; the protocol client."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import pytest
from stomp import utils as stomp_ref

from core.decoders.api import Decoder, DecoderSession, Frame, Handshake, Kind, Message
from core.decoders.stomp import StompSettings, decoder
from core.decoders.stomp_frames import CLIENT_COMMANDS, SERVER_COMMANDS, encode_frame
from core.events import Direction, Opcode

HANDSHAKE = Handshake("ws://broker.test:15674/ws", "v12.stomp")
PLAIN = "abcXYZ019/_-.é中😀 "  # needs no escaping
ESCAPABLE = PLAIN + "\n:\\\r"


def text(rng: random.Random, alphabet: str, low: int = 0, high: int = 12) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def feed_chunked(session: Any, data: bytes, rng: random.Random,
                 direction: Direction = Direction.IN) -> list[Message]:
    out: list[Message] = []
    pos = 0
    while pos < len(data):
        size = rng.choice((1, 2, 5, 40, 300, 5000))
        out += session.feed(Frame(direction, Opcode.TEXT, data[pos : pos + size]))
        pos += size
    return out


def frames(messages: list[Message]) -> list[Message]:
    return [m for m in messages if not m.heartbeat]


def test_frames_from_stomp_py_decode_packed_and_split() -> None:
    rng = random.Random(1)
    expected, wire = [], b""
    for _ in range(2000):
        command = rng.choice(sorted(CLIENT_COMMANDS | SERVER_COMMANDS - {"CONNECTED"}))
        headers = {text(rng, PLAIN.strip(), 1, 8): text(rng, PLAIN)
                   for _ in range(rng.randint(0, 5))}
        headers.pop("content-length", None)
        body = rng.choice((b"", b"hello", rng.randbytes(rng.randint(0, 300)), b"a\0b\0"))
        if body:
            headers["content-length"] = 0  # stomp.py fills in the real length
        frame = stomp_ref.Frame(command, dict(headers), body)
        wire += b"".join(stomp_ref.convert_frame(frame))
        if rng.random() < 0.2:
            wire += rng.choice((b"\n", b"\r\n", b"\n\n"))  # heart-beats between frames
        if body:
            headers["content-length"] = str(len(body))
        expected.append((command, sorted(headers.items()), body))
    session = decoder.session(HANDSHAKE)
    got = frames(feed_chunked(session, wire, rng))
    assert [m.kind for m in got if m.kind is Kind.ERROR and m.name is None] == []
    assert len(got) == len(expected)
    for message, (command, headers, body) in zip(got, expected, strict=True):
        assert message.name == command
        assert sorted(message.fields["headers"]) == headers
        assert message.fields["body_bytes"] == len(body)
    assert session.streams[Direction.IN].buffered == 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_escaped_headers_round_trip_and_match_stomp_py(version: str) -> None:
    rng = random.Random(2)
    alphabet = ESCAPABLE if version == "1.2" else ESCAPABLE.replace("\r", "")
    session = decoder.session(Handshake("ws://h/", f"v1{version[-1]}.stomp"))
    for _ in range(1000):
        headers = [(text(rng, alphabet, 1, 6), text(rng, alphabet)) for _ in range(4)]
        headers = [(k, v) for k, v in headers if k != "content-length"]
        body = rng.randbytes(rng.randint(0, 50))
        data = encode_frame("SEND", headers, body, version=version)
        (message,) = session.feed(Frame(Direction.OUT, Opcode.TEXT, data))
        assert list(message.fields["headers"])[:-1] == headers
        assert message.fields["body_bytes"] == len(body)
        if version == "1.2":  # stomp.py unescapes like 1.2; the first of a repeated header wins
            ref = stomp_ref.parse_frame(data[:-1])
            first: dict[str, str] = {}
            for k, v in headers:
                first.setdefault(k, v)
            assert ref.cmd == "SEND" and ref.body == body
            assert {k: v for k, v in ref.headers.items() if k != "content-length"} == first


def test_the_spec_examples() -> None:
    session = decoder.session(HANDSHAKE)
    # STOMP 1.2 "Value Encoding": \c is a colon, \n a line feed; CONNECTED is never escaped
    got = session.feed(Frame(Direction.IN, Opcode.TEXT,
                             b"CONNECTED\nversion:1.2\nserver:a\\b\n\n\0"
                             b"MESSAGE\nfoo:Hello\\cWorld\\n!\nsubscription:0\nmessage-id:007\n"
                             b"destination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0"
                             b"\n"
                             b"MESSAGE\nfoo:World\nfoo:Hello\ndestination:/q\n\n\0"))
    connected, message, beat, repeated = got
    assert connected.kind is Kind.CONNECT and ("server", "a\\b") in connected.fields["headers"]
    assert message.kind is Kind.EVENT and message.topic == "/queue/a"
    assert ("foo", "Hello:World\n!") in message.fields["headers"]
    assert message.payload == "hello queue a"
    assert message.summary == "MESSAGE /queue/a hello queue a"
    assert beat.heartbeat and beat.kind is Kind.HEARTBEAT
    assert repeated.fields["headers"][:2] == (("foo", "World"), ("foo", "Hello"))
    # an undefined escape is one error, and the stream goes on
    bad, good = session.feed(Frame(Direction.IN, Opcode.TEXT,
                                   b"MESSAGE\nfoo:a\\tb\n\n\0RECEIPT\nreceipt-id:1\n\n\0"))
    assert bad.kind is Kind.ERROR and "escape" in bad.summary
    assert good.kind is Kind.RESPONSE and good.correlation == "receipt:1"


def test_content_length_bodies_hold_nuls_and_crlf_lines_are_read() -> None:
    session = decoder.session(HANDSHAKE)
    data = (b"MESSAGE\r\ndestination:/topic/x\r\ncontent-length:5\r\n\r\na\0b\0c\0"
            b"\r\n\r\n")
    got = session.feed(Frame(Direction.IN, Opcode.BINARY, data))
    assert [m.kind for m in got] == [Kind.EVENT, Kind.HEARTBEAT]
    assert got[0].payload == "a\0b\0c" and got[0].topic == "/topic/x"
    assert got[1].fields["eols"] == 2
    (wrong,) = session.feed(Frame(Direction.IN, Opcode.TEXT,
                                  b"MESSAGE\ncontent-length:2\n\nabc\0"))
    assert wrong.kind is Kind.ERROR and "no NUL" in wrong.summary


def test_receipts_subscriptions_and_kinds() -> None:
    session = decoder.session(HANDSHAKE)
    out = session.feed(Frame(Direction.OUT, Opcode.TEXT,
                             encode_frame("SUBSCRIBE", [("id", "s1"), ("destination", "/queue/r"),
                                                        ("receipt", "r-1")])
                             + encode_frame("SEND", [("destination", "/queue/r"),
                                                     ("receipt", "r-2")], b'{"a":1}')
                             + encode_frame("SEND", [("destination", "/queue/r")], b"x")))
    assert [(m.kind, m.correlation, m.topic) for m in out] == [
        (Kind.SUBSCRIBE, "receipt:r-1", "/queue/r"), (Kind.REQUEST, "receipt:r-2", "/queue/r"),
        (Kind.EVENT, None, "/queue/r")]
    assert out[1].payload == {"a": 1}
    back = session.feed(Frame(Direction.IN, Opcode.TEXT,
                              b"RECEIPT\nreceipt-id:r-1\n\n\0"
                              b"MESSAGE\nsubscription:s1\nmessage-id:1\n\n{\"n\":2}\0"
                              b"ERROR\nreceipt-id:r-2\nmessage:no such queue\n\n\0"))
    assert [(m.kind, m.correlation) for m in back] == [
        (Kind.RESPONSE, "receipt:r-1"), (Kind.EVENT, None), (Kind.ERROR, "receipt:r-2")]
    assert back[1].topic == "/queue/r" and back[1].fields["subscription"] == "s1"
    assert back[2].summary == "ERROR no such queue receipt r-2"
    (unsub,) = session.feed(Frame(Direction.OUT, Opcode.TEXT,
                                  encode_frame("UNSUBSCRIBE", [("id", "s1")])))
    assert unsub.kind is Kind.UNSUBSCRIBE and unsub.topic == "/queue/r"
    assert session.subscriptions == {}


def test_the_protocol_client_connects_and_beats_at_the_negotiated_interval() -> None:
    session = decoder.session(HANDSHAKE, StompSettings(heart_beat=(4000, 0), login="guest",
                                                       passcode="pw"))
    (hello,) = session.on_open()
    assert hello.text
    ref = stomp_ref.parse_frame(hello.payload.rstrip(b"\0"))
    assert ref.cmd == "CONNECT"
    assert ref.headers == {"accept-version": "1.2", "heart-beat": "4000,0",
                           "login": "guest", "passcode": "pw"}
    (shown,) = decoder.session(HANDSHAKE).feed(Frame(Direction.OUT, Opcode.TEXT, hello.payload))
    assert ("passcode", "•••") in shown.fields["headers"]  # the secret is not shown
    assert session.tick(10.0) == ()  # nothing before CONNECTED
    session.feed(Frame(Direction.IN, Opcode.TEXT,
                       b"CONNECTED\nversion:1.2\nheart-beat:0,10000\n\n\0"))
    assert session.send_every == 10.0  # max(our 4000, the server's wish of 10000) ms
    assert session.tick(100.0) == () and session.tick(109.0) == ()
    assert session.tick(110.0)[0].payload == b"\n"
    assert [t for t in range(111, 200) if session.tick(float(t))] == list(range(120, 200, 10))

    quiet = decoder.session(HANDSHAKE)
    quiet.on_open()
    quiet.feed(Frame(Direction.IN, Opcode.TEXT, b"CONNECTED\nversion:1.0\n\n\0"))
    assert quiet.tick(1e6) == () and quiet.version == "1.0"
    (raw,) = quiet.feed(Frame(Direction.IN, Opcode.TEXT, b"MESSAGE\nfoo:a\\nb\n\n\0"))
    assert ("foo", "a\\nb") in raw.fields["headers"]  # 1.0 has no escapes


def test_heart_beats_keep_within_the_interval_counted_from_what_we_sent() -> None:
    """Regression: the beat clock started at the first tick after CONNECTED and a beat waited
    for the tick after its deadline, so at 1000 ms beats could be 2 s apart (RabbitMQ closes a
    client silent for about 2-3 s at that rate)."""
    session = decoder.session(HANDSHAKE, StompSettings(heart_beat=(1000, 1000)))
    (hello,) = session.on_open()
    session.feed(Frame(Direction.OUT, Opcode.TEXT, hello.payload, 100.0))
    session.feed(Frame(Direction.IN, Opcode.TEXT,
                       b"CONNECTED\nversion:1.2\nheart-beat:1000,1000\n\n\0", 100.01))
    beats = []
    for tick in (100.99 + i for i in range(6)):
        if session.tick(tick):
            beats.append(tick)
            session.feed(Frame(Direction.OUT, Opcode.TEXT, b"\n", tick + 0.001))
    sent = [100.0, *beats]
    assert max(b - a for a, b in itertools.pairwise(sent)) <= 1.0
    session.feed(Frame(Direction.OUT, Opcode.TEXT, b"SEND\ndestination:/q\n\nx\0", 200.0))
    assert session.tick(200.0) == () and session.tick(200.5)  # any frame counts as a beat


def test_templates_make_frames_the_decoder_and_stomp_py_read_back() -> None:
    assert set(decoder.templates()) == {"SEND", "SUBSCRIBE with receipt", "UNSUBSCRIBE",
                                        "DISCONNECT with receipt"}
    cases = {
        "SEND": {"destination": "/queue/a:b", "body": '{"x":"\\u0000"}'},
        "SUBSCRIBE with receipt": {"destination": "/topic/t", "id": "0", "receipt": "r9"},
        "UNSUBSCRIBE": {"id": "0"},
        "DISCONNECT with receipt": {"receipt": "bye"},
    }
    session = decoder.session(HANDSHAKE)
    for name, values in cases.items():
        (out,) = decoder.encode(name, values)
        (message,) = session.feed(Frame(Direction.OUT, Opcode.TEXT, out.payload))
        assert message.name == name.split()[0] and message.kind is not Kind.ERROR
        ref = stomp_ref.parse_frame(out.payload[:-1])
        for key, value in values.items():
            if key != "body":
                assert ref.headers[key] == value
    (send,) = decoder.encode("SEND", {"destination": "/q", "body": b"a\0b"})
    assert send.payload.endswith(b"\n\na\0b\0") and b"content-length:3\n" in send.payload
    for name, values in (("SEND", {}), ("UNSUBSCRIBE", {"id": ""}), ("NOPE", {}),
                         ("SEND", {"destination": "a\0b"})):
        with pytest.raises(ValueError):
            decoder.encode(name, values)


def test_the_decoder_is_shaped_like_the_interface() -> None:
    assert isinstance(decoder, Decoder) and decoder.name == "stomp"
    assert isinstance(decoder.session(HANDSHAKE), DecoderSession)


def test_score() -> None:
    assert decoder.score(HANDSHAKE, []) >= 100
    first = [Frame(Direction.OUT, Opcode.TEXT, b"CONNECT\naccept-version:1.2\n\n\0")]
    assert 20 <= decoder.score(Handshake("ws://h/ws"), first) < 50
    assert decoder.score(Handshake("ws://h/stomp"), []) == 50
    assert decoder.score(Handshake("ws://h/ws"), [Frame(Direction.IN, Opcode.TEXT, b"{}")]) < 0


# --- fuzzing ------------------------------------------------------------------------------------

def sample_stream(rng: random.Random) -> bytes:
    parts = []
    for _ in range(40):
        headers = [(text(rng, ESCAPABLE, 1, 5), text(rng, ESCAPABLE)) for _ in range(3)]
        headers = [(k, v) for k, v in headers if k != "content-length"]
        parts.append(encode_frame(rng.choice(("SEND", "MESSAGE", "ERROR")), headers,
                                  rng.randbytes(rng.randint(0, 40)),
                                  content_length=rng.random() < .5))
    return b"\n".join(parts)


def test_random_truncated_and_mutated_frames_never_raise_or_hang() -> None:
    rng = random.Random(3)
    sample = sample_stream(rng)
    started = time.monotonic()
    for i in range(3000):
        session = decoder.session(HANDSHAKE, StompSettings(max_buffer=4096))
        if i % 3 == 0:
            data = rng.randbytes(rng.randint(0, 600))
        elif i % 3 == 1:
            data = sample[rng.randint(0, len(sample)) :][: rng.randint(0, 900)]
        else:
            mutated = bytearray(sample[:2000])
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.choice((0, 10, 13, 58, 92, 255,
                                                                   rng.randrange(256)))
            data = bytes(mutated)
        for message in feed_chunked(session, data, rng, rng.choice(list(Direction))):
            assert isinstance(message.summary, str)
        assert all(s.buffered <= 4096 for s in session.streams.values())
    assert time.monotonic() - started < 60


def test_a_huge_content_length_or_an_endless_frame_stays_within_the_bound() -> None:
    session = decoder.session(HANDSHAKE, StompSettings(max_buffer=64 * 1024))
    (err,) = session.feed(Frame(Direction.IN, Opcode.TEXT,
                                b"MESSAGE\ncontent-length:99999999999\n\nabc"))
    assert err.kind is Kind.ERROR and "content-length" in err.summary
    assert session.streams[Direction.IN].buffered == 0
    for _ in range(20):  # the rest of that frame is skipped up to its NUL, never held
        assert session.feed(Frame(Direction.IN, Opcode.TEXT, b"y" * 100_000)) == []
        assert session.streams[Direction.IN].buffered == 0
    assert session.feed(Frame(Direction.IN, Opcode.TEXT,
                              b"yy\0MESSAGE\ndestination:/q\n\n")) == []
    dropped = []
    for _ in range(100):  # 5 MB of a body that never ends
        dropped += session.feed(Frame(Direction.IN, Opcode.TEXT, b"y" * 50_000))
        assert session.streams[Direction.IN].buffered <= 64 * 1024
    assert dropped and all(m.kind is Kind.ERROR for m in dropped)
    assert "passed 65536 bytes" in dropped[0].summary


def test_protocol_client_options_from_a_mapping() -> None:
    session = decoder.session(HANDSHAKE, {"heart-beat": "5000,0", "host": "vhost",
                                          "accept-version": "1.1,1.2"})
    (hello,) = decoder.session(Handshake("ws://h/ws")).on_open()
    assert b"accept-version:1.0,1.1,1.2\n" in hello.payload  # no subprotocol: all versions
    (hello,) = session.on_open()
    ref = stomp_ref.parse_frame(hello.payload.rstrip(b"\0"))
    assert (ref.headers["heart-beat"], ref.headers["host"]) == ("5000,0", "vhost")
    for bad in ({"heartbeat": "1,1"}, {"heart-beat": "1"}, {"heart-beat": "-1,0"}):
        with pytest.raises(ValueError, match="STOMP"):
            decoder.session(HANDSHAKE, bad)
    (bad_frame,) = session.feed(Frame(Direction.IN, Opcode.TEXT, b"HELLO\n\n\0"))
    assert bad_frame.summary.startswith("malformed: unknown STOMP command")


def test_cost_stays_linear_for_tiny_pieces_and_many_packed_frames() -> None:
    """A frame a byte at a time is not searched again from its start on every byte, and many
    frames in one message are not a quadratic scan (both were, before; bounds are generous)."""
    body = b"SEND\ndestination:/q\n" + b"h:v\n" * 2000 + b"\n" + b"x" * 200_000 + b"\0"
    session = decoder.session(HANDSHAKE)
    started = time.monotonic()
    got = []
    for i in range(len(body)):
        got += session.feed(Frame(Direction.IN, Opcode.TEXT, body[i : i + 1]))
    assert [m.kind for m in got] == [Kind.ERROR]  # more than 1000 headers: one clear error
    packed = b"SEND\ndestination:/q\n\n\0" * 200_000
    assert len(session.feed(Frame(Direction.IN, Opcode.TEXT, packed))) == 200_000
    assert time.monotonic() - started < 30
