"""STOMP through a real `Connection` (decoder "auto", protocol client on) against a private
RabbitMQ node with Web-STOMP on 127.0.0.1: detected from the subprotocol, the client's CONNECT
(login, passcode, virtual host from the options) accepted, heart-beats negotiated at 1 s both ways
keeping the connection open, SUBSCRIBE and SEND with receipts paired with their RECEIPTs, the
destination as the topic, and the composer's templates accepted by the broker."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from core.decoders.api import EXACT_SUBPROTOCOL, Kind
from core.events import Direction
from core.states import ConnState
from tests.protocol_stories import Recorded

# The broker's start-up (5-10 s) is part of the first test's time.
pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def header(message, name: str) -> str | None:
    return dict(message.fields["headers"]).get(name)


async def test_stomp_detected_kept_alive_by_heart_beats_receipts_paired(stomp_broker):
    queue = f"/queue/ss-{secrets.token_hex(3)}"
    options = {**stomp_broker.options, "heart-beat": "1000,1000"}
    async with Recorded(stomp_broker, protocol_options=options) as rec:
        detected = rec.detected
        assert detected.protocol == "stomp" and detected.client
        assert detected.score >= EXACT_SUBPROTOCOL
        connected = await rec.message(lambda m: m.name == "CONNECTED", "CONNECTED", 10)
        assert connected.kind is Kind.CONNECT and header(connected, "version") == "1.2"
        assert header(connected, "heart-beat") == "1000,1000"  # negotiated both ways
        [connect] = [m for m in rec.messages if m.name == "CONNECT"]
        assert header(connect, "login") == "guest" and header(connect, "passcode") == "•••"
        assert header(connect, "host") == "/"

        await asyncio.sleep(4.0)  # RabbitMQ closes a silent client after about 2 intervals
        assert rec.conn.state is ConnState.OPEN
        beats = [m for m in rec.messages if m.kind is Kind.HEARTBEAT]
        assert sum(m.direction is Direction.OUT for m in beats) >= 2  # ours, from tick()
        assert sum(m.direction is Direction.IN for m in beats) >= 2  # the broker's

        await rec.compose("SUBSCRIBE with receipt", {
            "id": "sub-1", "destination": queue, "receipt": "r-sub"})
        pair = await rec.pair("receipt:r-sub")
        assert pair.request.name == "SUBSCRIBE" and pair.reply.name == "RECEIPT"
        assert pair.reply.kind is Kind.RESPONSE
        assert 0.0 <= pair.latency < 5.0 and pair.conn_id == rec.conn.id

        await rec.compose("SEND", {"destination": queue, "body": '{"n": 1}'})
        delivered = await rec.message(lambda m: m.name == "MESSAGE", "the delivery")
        assert delivered.topic == queue and delivered.payload == {"n": 1}  # the Topics panel's
        await rec.conn.send(f"SEND\ndestination:{queue}\nreceipt:r-send\n\n2\0")
        sent = await rec.pair("receipt:r-send")
        assert sent.request.kind is Kind.REQUEST and sent.request.topic == queue
        await rec.until(lambda: len([m for m in rec.messages if m.name == "MESSAGE"]) == 2,
                        what="the second delivery")

        await rec.compose("UNSUBSCRIBE", {"id": "sub-1"})
        await asyncio.sleep(0.3)
        assert rec.conn.state is ConnState.OPEN
        assert {m.topic for m in rec.messages if m.direction is Direction.IN
                and m.name == "MESSAGE"} == {queue}
        browser = rec.browser_topics()
        assert ("destinations", queue) in browser
        assert browser[("subscriptions", f"sub-1 → {queue}")] == "unsubscribed"
    assert rec.errors() == []


async def test_without_the_client_heart_beats_the_broker_closes_a_silent_connection(
        stomp_broker):
    async with Recorded(stomp_broker, protocol_client=False) as rec:
        assert rec.detected.protocol == "stomp" and not rec.detected.client
        await rec.conn.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n"
                            "heart-beat:1000,1000\n\n\0")  # promises beats nobody sends
        await rec.message(lambda m: m.name == "CONNECTED", "CONNECTED", 10)
        await rec.conn.wait_for_state(ConnState.CLOSED, 8.0)
        assert not [m for m in rec.messages if m.heartbeat and m.direction is Direction.OUT]


async def test_the_clients_default_connect_is_accepted(stomp_broker):
    """Regression: with no options the CONNECT carried the URL's host as virtual host, which
    RabbitMQ refuses ("Bad CONNECT: Virtual host '127.0.0.1' access denied")."""
    async with Recorded(stomp_broker) as rec:
        assert rec.detected.client
        reply = await rec.message(lambda m: m.name in ("CONNECTED", "ERROR"), "the reply", 10)
        assert reply.name == "CONNECTED", reply.summary
        [connect] = [m for m in rec.messages if m.name == "CONNECT"]
        assert header(connect, "host") is None  # as stomp.js sends it
