"""GraphQL over WebSocket through a real `Connection` (decoder "auto", protocol client on)
against strawberry-graphql under uvicorn on 127.0.0.1, both graphql-transport-ws and the legacy
graphql-ws: detected from the subprotocol, kept open past the server's connection_init wait (and
closed 4408 without the client), subscribe paired with its first result, the operation as the
topic, and the composer's templates accepted by the server."""

from __future__ import annotations

import asyncio
import json

from core.decoders.api import EXACT_SUBPROTOCOL, Kind
from core.events import Direction, StateChanged
from core.states import ConnState
from tests.protocol_stories import Recorded
from tests.servers.graphql_server import LEGACY_WS, TRANSPORT_WS

INIT_WAIT = 1.5  # the server's connection_init_wait_timeout, seconds
COUNT = "subscription Count { counter(n: 3) }"


def from_server(kind: Kind, op: str):
    return lambda m: (m.kind is kind and m.direction is Direction.IN
                      and m.correlation == f"op:{op}")


async def test_transport_ws_detected_kept_open_paired_and_templates_accepted(graphql_server):
    endpoint = graphql_server(TRANSPORT_WS, init_wait=INIT_WAIT, keep_alive=None)
    async with Recorded(endpoint, protocol_options={"init_payload": '{"token": "t"}'}) as rec:
        detected = rec.detected
        assert detected.protocol == "graphql" and detected.client and not detected.overridden
        assert detected.score >= EXACT_SUBPROTOCOL
        await rec.message(lambda m: m.fields.get("type") == "connection_ack", "connection_ack")
        assert json.loads(rec.frames(Direction.OUT)[0]) == {
            "type": "connection_init", "payload": {"token": "t"}}
        await asyncio.sleep(INIT_WAIT + 1.5)  # past the server's connection_init wait
        assert rec.conn.state is ConnState.OPEN

        await rec.compose("subscribe", {"id": "s1", "query": COUNT})
        pair = await rec.pair("op:s1")
        assert pair.request.kind is Kind.SUBSCRIBE and pair.reply.kind is Kind.EVENT
        assert pair.reply.payload == {"data": {"counter": 1}}
        assert 0.0 <= pair.latency < 5.0 and pair.conn_id == rec.conn.id
        await rec.message(from_server(Kind.CONTROL, "s1"), "the subscription's complete")
        values = [m.payload["data"]["counter"] for m in rec.messages
                  if m.kind is Kind.EVENT and m.correlation == "op:s1"]
        assert values == [1, 2, 3]
        topics = {m.topic for m in rec.messages if m.correlation == "op:s1"}
        assert topics == {"subscription Count"}
        assert rec.browser_topics()[("operations", "s1 subscription Count")] == "complete"

        await rec.compose("subscribe", {"id": "s2",
                                        "query": "subscription Long { counter(n: 1000) }"})
        await rec.message(from_server(Kind.EVENT, "s2"), "the long subscription's first value")
        await rec.compose("complete", {"id": "s2"})  # the server stops it, and stays open
        await rec.conn.send('{"type": "ping"}')
        await rec.message(lambda m: m.fields.get("type") == "pong", "the server's pong")
        assert rec.conn.state is ConnState.OPEN
    assert rec.errors() == []


async def test_transport_ws_without_the_client_is_closed_4408(graphql_server):
    endpoint = graphql_server(TRANSPORT_WS, init_wait=INIT_WAIT, keep_alive=None)
    async with Recorded(endpoint, protocol_client=False) as rec:
        assert rec.detected.protocol == "graphql" and not rec.detected.client
        await rec.conn.wait_for_state(ConnState.CLOSED, INIT_WAIT + 5)
        assert rec.frames(Direction.OUT) == []  # no connection_init was sent for us
        closed = rec.of(StateChanged)[-1]
        assert closed.close_code == 4408
        reason = await rec.message(lambda m: m.name == "close" and m.direction is Direction.IN,
                                   "the decoded close")
        assert reason.kind is Kind.ERROR
        assert reason.summary.startswith("close 4408 connection initialisation timeout")


async def test_legacy_graphql_ws_detected_kept_open_paired_and_templates_accepted(
        graphql_server):
    endpoint = graphql_server(LEGACY_WS, init_wait=INIT_WAIT, keep_alive=0.5)
    async with Recorded(endpoint) as rec:
        detected = rec.detected
        assert detected.protocol == "graphql" and detected.client
        assert detected.score >= EXACT_SUBPROTOCOL
        await rec.message(lambda m: m.fields.get("type") == "connection_ack", "connection_ack")
        assert json.loads(rec.frames(Direction.OUT)[0]) == {"type": "connection_init"}
        await asyncio.sleep(INIT_WAIT + 1.5)
        assert rec.conn.state is ConnState.OPEN
        keep_alives = [m for m in rec.messages if m.fields.get("type") == "ka"]
        assert len(keep_alives) >= 2 and all(m.heartbeat for m in keep_alives)

        await rec.compose("start (legacy graphql-ws)", {"id": "1", "query": COUNT})
        pair = await rec.pair("op:1")
        assert pair.request.kind is Kind.SUBSCRIBE and pair.request.topic == "subscription Count"
        assert pair.reply.payload == {"data": {"counter": 1}} and pair.latency >= 0.0
        await rec.message(from_server(Kind.CONTROL, "1"), "the subscription's complete")

        await rec.compose("start (legacy graphql-ws)", {
            "id": "2", "query": "subscription Long { counter(n: 1000) }"})
        await rec.message(from_server(Kind.EVENT, "2"), "the long subscription's first value")
        await rec.compose("stop (legacy graphql-ws)", {"id": "2"})
        await asyncio.sleep(0.3)
        assert rec.conn.state is ConnState.OPEN
        assert {m.topic for m in rec.messages if m.correlation == "op:2"} == {
            "subscription Long"}
        browser = rec.browser_topics()
        assert browser[("operations", "1 subscription Count")] == "complete"
        assert ("operations", "2 subscription Long") in browser
    assert rec.errors() == []
