"""MQTT through a real `Connection` (decoder "auto", protocol client on) against real brokers on
127.0.0.1: amqtt for MQTT 3.1.1 and mosquitto for MQTT 5. Detected from the subprotocol, the
client's CONNECT (client id, keep-alive, version from the options) accepted, PINGREQ/PINGRESP
keeping the connection open past the keep-alive, SUBSCRIBE -> SUBACK and QoS 1 PUBLISH -> PUBACK
paired, the topic on the decoded messages, and the composer's templates accepted."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from core.decoders.api import EXACT_SUBPROTOCOL, Kind
from core.decoders.mqtt_wire import encode_connect
from core.events import Direction
from core.states import ConnState
from tests.protocol_stories import Recorded

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

CASES = [("amqtt_broker", 4), ("mosquitto_broker", 5)]
IDS = ["amqtt-3.1.1", "mosquitto-5"]
KEEP_ALIVE = 2  # seconds; a broker closes a client silent for 1.5 times that


def named(name: str, direction: Direction = Direction.IN):
    return lambda m: m.name == name and m.direction is direction


@pytest.mark.parametrize(("broker", "version"), CASES, ids=IDS)
async def test_mqtt_detected_kept_alive_acks_paired_templates_accepted(request, broker, version):
    endpoint = request.getfixturevalue(broker)
    base = f"ss/{secrets.token_hex(3)}"
    client_id = f"ss-{secrets.token_hex(4)}"
    options = {"client-id": client_id, "keep-alive": str(KEEP_ALIVE), "version": str(version)}
    async with Recorded(endpoint, protocol_options=options) as rec:
        detected = rec.detected
        assert detected.protocol == "mqtt" and detected.client
        assert detected.score >= EXACT_SUBPROTOCOL
        connack = await rec.message(named("CONNACK"), "CONNACK")
        assert connack.kind is Kind.CONNECT and connack.fields["reason_code"] == 0
        [connect] = [m for m in rec.messages if m.name == "CONNECT"]
        assert connect.fields["client_id"] == client_id
        assert connect.fields["keep_alive"] == KEEP_ALIVE
        assert connect.fields["protocol_level"] == version

        await asyncio.sleep(2.5 * KEEP_ALIVE)  # well past 1.5 keep-alives
        assert rec.conn.state is ConnState.OPEN
        pings = [m for m in rec.messages if m.name == "PINGREQ"]
        pongs = [m for m in rec.messages if m.name == "PINGRESP"]
        assert len(pings) >= 2 and all(m.direction is Direction.OUT for m in pings)
        assert len(pongs) >= 2 and all(m.heartbeat and m.kind is Kind.HEARTBEAT for m in pongs)

        await rec.compose("SUBSCRIBE", {"filter": f"{base}/#", "qos": 1, "packet_id": 100,
                                        "version": version})
        suback = await rec.pair("mqtt:100")
        assert suback.request.name == "SUBSCRIBE" and suback.reply.name == "SUBACK"
        assert suback.request.topic == f"{base}/#" and 0.0 <= suback.latency < 5.0
        await rec.compose("PUBLISH", {"topic": f"{base}/temp", "qos": 1, "packet_id": 101,
                                      "payload": '{"c": 21}', "version": version})
        puback = await rec.pair("mqtt:101")
        assert puback.request.name == "PUBLISH" and puback.reply.name == "PUBACK"
        assert puback.reply.kind is Kind.RESPONSE and puback.conn_id == rec.conn.id
        delivery = await rec.message(named("PUBLISH"), "the broker's delivery")
        assert delivery.topic == f"{base}/temp" and delivery.payload == {"c": 21}
        pid = delivery.fields["packet_id"]  # the broker's own id, acked by our client
        await rec.until(lambda: [m for m in rec.messages if m.name == "PUBACK" and
                                 m.direction is Direction.OUT and
                                 m.fields.get("packet_id") == pid], what="our PUBACK")
        await rec.compose("UNSUBSCRIBE", {"filter": f"{base}/#", "packet_id": 102,
                                          "version": version})
        await rec.pair("mqtt:102")
        assert rec.conn.state is ConnState.OPEN
        topics = {m.topic for m in rec.messages if m.name in ("PUBLISH", "SUBSCRIBE")}
        assert topics == {f"{base}/#", f"{base}/temp"}
        browser = rec.browser_topics()
        assert ("topics", *base.split("/"), "temp") in browser
        assert browser[("subscriptions", f"{base}/#")] == "unsubscribed"
    assert rec.errors() == []


async def test_without_the_client_pings_mosquitto_closes_past_the_keep_alive(mosquitto_broker):
    """What keep-alive means, shown on mosquitto: amqtt never closes a silent client (its
    broker's read-timeout handler does nothing), so its story above shows less."""
    async with Recorded(mosquitto_broker, protocol_client=False) as rec:
        assert rec.detected.protocol == "mqtt" and not rec.detected.client
        await rec.conn.send(encode_connect(f"ss-{secrets.token_hex(4)}", 1, True, 4),
                            text=False)  # MQTT 3.1.1, keep-alive 1 s, and nobody pings
        await rec.message(named("CONNACK"), "CONNACK")
        await rec.conn.wait_for_state(ConnState.CLOSED, 15.0)  # mosquitto checks every few s
        assert not [m for m in rec.messages if m.name == "PINGREQ"]
