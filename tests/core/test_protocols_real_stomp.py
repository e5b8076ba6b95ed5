"""STOMP 1.2 against a real RabbitMQ node with the Web-STOMP plugin (Debian's rabbitmq-server),
one private node on 127.0.0.1 for the module, every frame through the project's decoder."""

from __future__ import annotations

import secrets

import pytest

from core.decoders.api import Kind
from core.events import Direction
from tests.servers.story import Story

# The broker's start-up is part of the first test's time.
pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def options(endpoint, heart_beat: str = "0,0") -> dict:
    return {**endpoint.options, "heart-beat": heart_beat}


def receipt(ident: str):
    return lambda m: m.kind is Kind.RESPONSE and m.correlation == f"receipt:{ident}"


async def test_connect_subscribe_send_message_receipts(stomp_broker):
    queue = f"/queue/ss-{secrets.token_hex(3)}"
    async with Story.connect(stomp_broker, options(stomp_broker), answer=True) as story:
        assert story.handshake.subprotocol == "v12.stomp"
        assert story.decoder is not None and story.decoder.name == "stomp"
        connected = await story.until(lambda m: m.name == "CONNECTED", timeout=10)
        assert connected.kind is Kind.CONNECT
        encode = story.decoder.encode

        await story.send(encode("SUBSCRIBE with receipt", {
            "id": "sub-1", "destination": queue, "receipt": "r-sub"}))
        await story.until(receipt("r-sub"))

        await story.send(encode("SEND", {"destination": queue, "body": '{"n": 1}'}))
        message = await story.until(lambda m: m.name == "MESSAGE")
        assert message.topic == queue and message.payload == {"n": 1}

        # Two frames packed in one WebSocket message, the second asking for a receipt.
        packed = (f"SEND\ndestination:{queue}\ncontent-length:1\n\n2\0"
                  f"SEND\ndestination:{queue}\nreceipt:r-send\ncontent-length:1\n\n3\0")
        sent = await story.send(packed)
        assert [m.name for m in sent] == ["SEND", "SEND"]
        assert sent[1].kind is Kind.REQUEST
        await story.until(receipt("r-send"))
        bodies = [m.payload for m in story.messages if m.name == "MESSAGE"]
        while len(bodies) < 3:
            bodies.append((await story.until(lambda m: m.name == "MESSAGE")).payload)
        assert bodies == [{"n": 1}, "2", "3"]  # JSON only when the content-type says so

        await story.send(encode("UNSUBSCRIBE", {"id": "sub-1"}))
        await story.send(encode("DISCONNECT with receipt", {"receipt": "r-bye"}))
        # RabbitMQ 3.10's Web-STOMP closes at once, without the RECEIPT: the request stays
        # unanswered, which is what the pairing panel shows.
        code, _ = await story.closed_by_server(timeout=10)
        assert code == 1000

    assert story.malformed() == [] and story.errors() == []
    paired = {p.request.correlation: p for p in story.pairs}
    assert {"receipt:r-sub", "receipt:r-send"} <= set(paired)
    assert [u.request.correlation for u in story.pairer.unanswered(0.0)] == ["receipt:r-bye"]
    assert paired["receipt:r-sub"].request.kind is Kind.SUBSCRIBE
    assert all(p.latency >= 0 for p in story.pairs)
    topics = {m.topic for m in story.messages if m.topic}
    assert queue in topics


async def test_heart_beats_keep_the_session_open(stomp_broker):
    """Heart-beats every second both ways; a SEND with a receipt still works afterwards."""
    queue = f"/queue/ss-{secrets.token_hex(3)}"
    async with Story.connect(stomp_broker, options(stomp_broker, "1000,1000"),
                             answer=True) as story:
        await story.until(lambda m: m.name == "CONNECTED", timeout=10)
        await story.idle(3.5)
        await story.send(f"SEND\ndestination:{queue}\nreceipt:r-1\n\nlate\0")
        await story.until(receipt("r-1"))
    beats = [m for m in story.messages if m.kind is Kind.HEARTBEAT]
    assert sum(m.direction is Direction.IN for m in beats) >= 2
    assert sum(m.direction is Direction.OUT for m in beats) >= 2
    assert story.malformed() == [] and story.errors() == []
