"""GraphQL over WebSocket against a real strawberry-graphql server (uvicorn) on 127.0.0.1, both
graphql-transport-ws and the legacy graphql-ws, every frame through the project's decoder."""

from __future__ import annotations

from core.decoders.api import Kind
from core.events import Direction
from tests.servers.graphql_server import LEGACY_WS, TRANSPORT_WS
from tests.servers.story import Story

COUNTER = "subscription Count { counter(n: 3) }"


def received(kind: Kind, op: str | None = None):
    def wanted(message) -> bool:
        return (message.kind is kind and message.direction is Direction.IN
                and (op is None or message.correlation == f"op:{op}"))
    return wanted


def ended(op: str):
    return lambda m: (m.direction is Direction.IN and m.correlation == f"op:{op}"
                      and m.kind is Kind.CONTROL)


async def test_transport_ws_subscribe_query_mutation_complete(graphql_server):
    endpoint = graphql_server(TRANSPORT_WS)
    async with Story.connect(endpoint, answer=True) as story:  # sends connection_init
        assert story.handshake.subprotocol == TRANSPORT_WS
        assert story.decoder is not None and story.decoder.name == "graphql"
        await story.until(received(Kind.CONNECT))  # connection_ack
        encode = story.decoder.encode

        await story.send(encode("subscribe", {"id": "s1", "query": COUNTER}))
        await story.until(ended("s1"))
        values = [m.payload for m in story.messages
                  if m.kind is Kind.EVENT and m.correlation == "op:s1"]
        assert [v["data"]["counter"] for v in values] == [1, 2, 3]

        await story.send(encode("subscribe", {
            "id": "q1", "query": 'query Hello { hello(name: "scope") }'}))
        answer = await story.until(received(Kind.EVENT, "q1"))
        assert answer.payload == {"data": {"hello": "hello scope"}}
        await story.send(encode("subscribe", {
            "id": "m1", "query": "mutation Add($a: Int!) { add(a: $a, b: 3) }",
            "variables": '{"a": 2}', "operationName": "Add"}))
        answer = await story.until(received(Kind.EVENT, "m1"))
        assert answer.payload == {"data": {"add": 5}} and answer.topic == "Add"

        # A long subscription stopped by the client's complete (the composer's template).
        await story.send(encode("subscribe", {
            "id": "s2", "query": "subscription { counter(n: 1000) }"}))
        await story.until(received(Kind.EVENT, "s2"))
        await story.send(encode("complete", {"id": "s2"}))
        await story.send('{"type": "ping"}')
        await story.until(lambda m: m.heartbeat and m.direction is Direction.IN)

    assert story.malformed() == [] and story.errors() == []
    paired = {p.request.correlation: p for p in story.pairs}
    assert {"op:s1", "op:q1", "op:m1", "op:s2"} <= set(paired)
    assert paired["op:s1"].request.kind is Kind.SUBSCRIBE
    assert paired["op:s1"].request.topic == "subscription Count"
    assert all(p.latency >= 0 for p in story.pairs)


async def test_legacy_graphql_ws_start_data_stop(graphql_server):
    endpoint = graphql_server(LEGACY_WS)
    async with Story.connect(endpoint, answer=True) as story:
        assert story.handshake.subprotocol == LEGACY_WS
        assert story.decoder is not None and story.decoder.name == "graphql"
        await story.until(received(Kind.CONNECT))
        encode = story.decoder.encode
        await story.send(encode("start (legacy graphql-ws)", {"id": "1", "query": COUNTER}))
        await story.until(ended("1"))
        data = [m.payload for m in story.messages if m.fields.get("type") == "data"]
        assert [d["data"]["counter"] for d in data] == [1, 2, 3]

        await story.send(encode("start (legacy graphql-ws)", {
            "id": "2", "query": "subscription { counter(n: 1000) }"}))
        await story.until(received(Kind.EVENT, "2"))
        await story.send(encode("stop (legacy graphql-ws)", {"id": "2"}))
        await story.until(lambda m: m.fields.get("type") == "ka")  # keep-alive, every second
    assert story.malformed() == [] and story.errors() == []
    assert {"op:1", "op:2"} <= {p.request.correlation for p in story.pairs}


async def test_no_connection_init_is_closed_4408_in_words(graphql_server):
    endpoint = graphql_server(TRANSPORT_WS, init_wait=1.0)
    async with Story.connect(endpoint) as story:  # raw: no connection_init
        code, said = await story.closed_by_server(timeout=10.0)
    assert code == 4408
    assert any("4408 connection initialisation timeout" in m.summary for m in said), said
