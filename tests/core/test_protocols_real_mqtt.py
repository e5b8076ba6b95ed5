"""MQTT over WebSocket against real brokers on 127.0.0.1: amqtt (3.1.1, from its own venv) and
Debian's mosquitto (3.1.1 and 5; amqtt has no MQTT 5), every frame through the project's decoder.
One broker per module; each story uses its own topics."""

from __future__ import annotations

import secrets

import pytest

from core.decoders.api import Kind
from core.events import Direction
from tests.servers.story import Story

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

CASES = [("amqtt_broker", 4), ("mosquitto_broker", 4), ("mosquitto_broker", 5)]


def inbound(name: str, pid: int | None = None):
    return lambda m: (m.direction is Direction.IN and m.name == name
                      and (pid is None or m.fields.get("packet_id") == pid))


@pytest.mark.parametrize(("broker", "version"), CASES,
                         ids=["amqtt-3.1.1", "mosquitto-3.1.1", "mosquitto-5"])
async def test_connect_subscribe_publish_qos_0_1_2_and_ping(request, broker, version):
    endpoint = request.getfixturevalue(broker)
    base = f"ss/{secrets.token_hex(3)}"
    settings = {"version": version, "keep-alive": 2, "client-id": f"ss-{secrets.token_hex(4)}"}
    async with Story.connect(endpoint, settings, answer=True) as story:  # sends CONNECT
        assert story.handshake.subprotocol == "mqtt"
        assert story.decoder is not None and story.decoder.name == "mqtt"
        connack = await story.until(inbound("CONNACK"))
        assert connack.kind is Kind.CONNECT and connack.fields["reason_code"] == 0
        encode = story.session.encode  # the templates, for this session's version

        await story.send(encode("SUBSCRIBE", {"filter": f"{base}/#", "qos": 2,
                                              "packet_id": 100}))
        suback = await story.until(inbound("SUBACK", 100))
        assert suback.kind is Kind.RESPONSE

        # Our own packet ids stay above the broker's (both ends number independently).
        for qos, pid in ((0, 101), (1, 102), (2, 103)):
            await story.send(encode("PUBLISH", {"topic": f"{base}/q{qos}", "qos": qos,
                                                "payload": f'{{"qos": {qos}}}',
                                                "packet_id": pid}))
            if qos == 1:
                await story.until(inbound("PUBACK", pid))
            if qos == 2:
                await story.until(inbound("PUBREC", pid))  # our PUBREL follows (answer)
                await story.until(inbound("PUBCOMP", pid))
        delivered = {m.topic: m for m in await story.collect(inbound("PUBLISH"), 3)}
        assert {t: m.payload for t, m in delivered.items()} == {
            f"{base}/q{q}": {"qos": q} for q in (0, 1, 2)}
        assert delivered[f"{base}/q2"].fields["qos"] == 2

        await story.idle(4.0)  # past 1.5 x the keep-alive: PINGREQ/PINGRESP keep it open
        await story.send(encode("UNSUBSCRIBE", {"filter": f"{base}/#", "packet_id": 104}))
        await story.until(inbound("UNSUBACK", 104))

    assert story.malformed() == [] and story.errors() == []
    assert all(m.fields.get("version") == version for m in story.messages)
    sent = [m.name for m in story.messages if m.direction is Direction.OUT]
    assert {"CONNECT", "SUBSCRIBE", "PUBLISH", "PUBREL", "PINGREQ", "UNSUBSCRIBE"} <= set(sent)
    # Each delivery acknowledged as its QoS asks (amqtt delivers at the subscription's QoS 2,
    # mosquitto at the publisher's).
    answered = {(m.name, m.fields.get("packet_id")) for m in story.messages
                if m.direction is Direction.OUT}
    for m in delivered.values():
        owed = {1: ["PUBACK"], 2: ["PUBREC", "PUBCOMP"]}.get(m.fields["qos"], [])
        assert {(name, m.fields.get("packet_id")) for name in owed} <= answered
    assert any(m.name == "PINGRESP" for m in story.messages)
    ours = {p.request.fields.get("packet_id"): p.reply.name for p in story.pairs
            if p.request.direction is Direction.OUT}
    assert {100: "SUBACK", 102: "PUBACK", 104: "UNSUBACK"}.items() <= ours.items()
    assert ours.get(103) in ("PUBREC", "PUBCOMP")
    assert all(p.latency >= 0 for p in story.pairs)


async def test_mqtt5_properties_reach_the_subscriber(mosquitto_broker):
    """MQTT 5 properties both ways: CONNACK's limits, a PUBLISH's content type, user
    properties and response topic forwarded by mosquitto, a topic alias resolved."""
    from core.decoders import mqtt_wire as wire

    topic = f"ss/{secrets.token_hex(3)}/props"
    settings = {"version": 5, "keep-alive": 30}
    async with Story.connect(mosquitto_broker, settings, answer=True) as story:
        connack = await story.until(inbound("CONNACK"))
        assert connack.fields["properties"].get("topic_alias_maximum", 0) >= 1
        await story.send(story.session.encode("SUBSCRIBE", {"filter": topic, "qos": 1,
                                                            "packet_id": 7}))
        await story.until(inbound("SUBACK", 7))
        props = {"content_type": "application/json", "response_topic": f"{topic}/reply",
                 "user_property": [("trace", "t-1"), ("k", "v")], "topic_alias": 1}
        sent = await story.send(wire.encode_publish(topic, b'{"v": 5}', 1, packet_id=8,
                                                    version=5, props=props))
        assert sent[0].topic == topic  # the alias is remembered for this direction
        await story.until(inbound("PUBACK", 8))
        # The same topic again by its alias alone (an empty topic name).
        again = await story.send(wire.encode_publish("", b'{"v": 6}', 0, version=5,
                                                     props={"topic_alias": 1}))
        assert again[0].topic == topic
        got = await story.collect(inbound("PUBLISH"), 2)
    first = got[0]
    assert first.topic == topic and first.payload == {"v": 5}
    received = first.fields["properties"]
    assert received["content_type"] == "application/json"
    assert received["response_topic"] == f"{topic}/reply"
    assert received["user_property"] == [("trace", "t-1"), ("k", "v")]
    assert got[1].topic == topic and got[1].payload == {"v": 6}
    assert story.malformed() == [] and story.errors() == []
    assert any(p.request.fields.get("packet_id") == 8 and p.reply.name == "PUBACK"
               for p in story.pairs)


async def test_same_packet_id_both_ways_pairs_each_flow(mosquitto_broker):
    """Both ends number packet ids independently: mosquitto's first delivery to us is id 1,
    as is our first PUBLISH. Each flow must pair with its own acknowledgement."""
    topic = f"ss/{secrets.token_hex(3)}/same-id"
    async with Story.connect(mosquitto_broker, {"version": 4}, answer=True) as story:
        await story.until(inbound("CONNACK"))
        encode = story.session.encode
        await story.send(encode("SUBSCRIBE", {"filter": topic, "qos": 1, "packet_id": 9}))
        await story.until(inbound("SUBACK", 9))
        await story.send(encode("PUBLISH", {"topic": topic, "qos": 1, "payload": "x",
                                            "packet_id": 1}))
        await story.collect(inbound("PUBACK", 1), 1)
        await story.collect(inbound("PUBLISH", 1), 1)
    assert story.malformed() == []
    flows = {(p.request.direction, p.request.name, p.reply.name) for p in story.pairs}
    assert (Direction.OUT, "PUBLISH", "PUBACK") in flows  # ours, answered by the broker
    assert story.pairer.unmatched == 0
