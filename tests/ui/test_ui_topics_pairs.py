"""The Topics and Pairs panels against real servers: the embedded server (rooms, requestId pairs),
websockets servers speaking JSON-RPC 2.0, STOMP and graphql-transport-ws, python-socketio under
uvicorn and mosquitto; and the topic trees and pair tables on their own."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import serve

from core.config import ConnectionConfig
from core.decoders.api import Frame
from core.decoders.mqtt import decoder as mqtt
from core.events import Direction, Opcode
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.pairs_panel import PairsPanel
from ui.topics_panel import TopicsPanel


@pytest.fixture
def panels(qtbot):
    """A bridge over a core thread, and the two panels side by side; all closed at the end."""
    bridge = make_bridge()
    topics, pairs = TopicsPanel(bridge), PairsPanel(bridge)
    for panel in (topics, pairs):
        panel.resize(640, 300)
        panel.show()
    yield bridge, topics, pairs
    bridge.stop()
    dispose(topics, pairs, bridge)


async def open_conn(bridge, url: str, *panels):  # type: ignore[no-untyped-def]
    conn = bridge.manager.add(ConnectionConfig(url=url, name="t"), connect=True)
    for panel in panels:
        panel.set_connections([conn.id])
    await until(lambda: conn.state is ConnState.OPEN, 5, "open")
    return conn


def names(table) -> list[str]:  # type: ignore[no-untyped-def]
    return [row[0] for row in table.rows]


async def rpc_server(host: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """Answers every JSON-RPC call after 20 ms, except "slow", which it never answers."""

    async def handler(ws):  # type: ignore[no-untyped-def]
        async for text in ws:
            call = json.loads(text)
            if call.get("method") == "slow" or "id" not in call:
                continue
            await asyncio.sleep(0.02)
            params = call.get("params") or []
            await ws.send(json.dumps({"jsonrpc": "2.0", "result": sum(params), "id": call["id"]}))

    return await serve(handler, host, 0)


async def test_embedded_rooms_are_topics_and_requests_pair(panels, embedded_server) -> None:
    bridge, topics, pairs = panels
    srv = embedded_server(auth=False)
    conn = await open_conn(bridge, srv.url, topics, pairs)
    try:
        for room in ("lobby", "ops"):
            assert (await conn.request({"type": "join_room", "room": room})).message["type"] \
                == "ack"
        reply = await conn.request({"type": "list_rooms"})
        assert reply.message["type"] == "rooms"
        await until(lambda: {"rooms > lobby", "rooms > ops"} <= set(topics.model.path_texts()),
                    5, "rooms as topics")
        assert topics.protocol == "embedded"
        assert "embedded" in topics.title.text()
        await until(lambda: "list_rooms" in names(pairs.latency), 5, "list_rooms pair")
        row = next(r for r in pairs.table.rows if r[1] == "list_rooms")
        assert row[3].startswith("req:") and 0 <= float(row[2]) < 5_000
        stats = pairs.pairs[conn.id].latency["list_rooms"].percentiles()
        assert stats.count == 1 and stats.p50 > 0
        before = topics.model.stats_at(("rooms", "ops")).count
        task = topics.unsubscribe(("rooms", "ops"))  # the room protocol's leave_room
        assert task is not None
        await task
        await until(lambda: topics.model.stats_at(("rooms", "ops")).count > before, 5, "left")
        members = (await conn.request({"type": "list_rooms"})).message["rooms"]
        assert all(r["name"] != "ops" or r["count"] == 0 for r in members), members
        topics.grab().save("/tmp/topics.png")
    finally:
        await bridge.manager.close_all()


async def test_jsonrpc_methods_pairs_and_unanswered(panels) -> None:
    bridge, topics, pairs = panels
    server = await rpc_server()
    port = server.sockets[0].getsockname()[1]
    conn = await open_conn(bridge, f"ws://127.0.0.1:{port}/rpc", topics, pairs)
    try:
        for ident in range(1, 6):
            method = "add" if ident % 2 else "sum"
            await conn.send(json.dumps({"jsonrpc": "2.0", "method": method,
                                        "params": [ident, 1], "id": ident}))
        await conn.send(json.dumps({"jsonrpc": "2.0", "method": "slow", "params": [], "id": 99}))
        await until(lambda: len(pairs.table.rows) == 5, 5, "five pairs")
        assert topics.protocol == "jsonrpc"
        await until(lambda: {"methods > add", "methods > sum", "methods > slow"}
                    <= set(topics.model.path_texts()), 5, "methods as topics")
        assert topics.model.stats_at(("methods", "add")).count == 6  # 3 calls, 3 results
        assert set(names(pairs.latency)) == {"add", "sum"}
        assert all(float(row[2]) >= 15 for row in pairs.table.rows)  # the server waits 20 ms
        await until(lambda: pairs.unanswered.rows and float(pairs.unanswered.rows[0][2]) >= 1.0,
                    5, "the unanswered call aging")
        assert pairs.unanswered.rows[0][:2] == ("slow", pairs.unanswered.rows[0][1])
        assert "99" in pairs.unanswered.rows[0][1]
        assert pairs.tabs.tabText(1) == "Unanswered (1)"
        assert pairs.bars.opts["height"] is not None and sum(pairs.bars.opts["height"]) > 0
        pairs.grab().save("/tmp/pairs.png")
    finally:
        await bridge.manager.close_all()
        server.close()
        await server.wait_closed()


async def test_socketio_namespaces_events_and_ack_pairs(panels) -> None:
    from core.decoders.socketio import decoder as socketio
    from tests.servers.socketio_server import running

    bridge, topics, pairs = panels
    server = running(ping_interval=1.0, ping_timeout=1.0)
    try:
        conn = await open_conn(bridge, server.url, topics, pairs)
        await until(lambda: topics.protocol == "socketio", 5, "detected")
        await until(lambda: server.connects == 1, 5, "the default namespace connected")
        for ack in (1, 2, 3):
            (emit,) = socketio.encode("emit with ack", {"namespace": "/", "event": "echo",
                                                        "data": json.dumps({"n": ack}),
                                                        "ack": str(ack)})
            await conn.send(emit.payload, text=emit.text)
        await until(lambda: len(pairs.table.rows) == 3, 5, "three acks paired")
        assert {row[1] for row in pairs.table.rows} == {"echo"}
        assert sorted(row[3] for row in pairs.table.rows) == ["ack:/:1", "ack:/:2", "ack:/:3"]
        assert "/ > echo" in topics.model.path_texts()
        assert topics.model.stats_at(("/", "echo")).count == 6  # three emits, three acks
        assert not topics.subscribe_button.isEnabled()  # Socket.IO has no subscribe
        await asyncio.sleep(2.5)  # past the ping timeout: the protocol client answers pings
        assert conn.state is ConnState.OPEN and server.disconnects == 0
    finally:
        await bridge.manager.close_all()
        server.stop()


def mqtt_handshake():  # type: ignore[no-untyped-def]
    from core.decoders.api import Handshake

    return Handshake("ws://127.0.0.1/mqtt", "mqtt")


async def recording_server(reply, subprotocols=None):  # type: ignore[no-untyped-def]
    """A websockets server that keeps what it receives and answers through `reply(text)`
    (a list of frames to send back)."""
    received: list[str] = []

    async def handler(ws):  # type: ignore[no-untyped-def]
        async for data in ws:
            text = data if isinstance(data, str) else data.decode()
            received.append(text)
            for answer in reply(text):
                await ws.send(answer)

    server = await serve(handler, "127.0.0.1", 0, subprotocols=subprotocols)
    return server, received


def stomp_reply(text: str) -> list[str]:
    from core.decoders.stomp_frames import encode_frame

    head = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines()[1:])
    if text.startswith("CONNECT"):
        return [encode_frame("CONNECTED", [("version", "1.2")]).decode()]
    if text.startswith("SUBSCRIBE"):
        return [encode_frame("RECEIPT", [("receipt-id", head["receipt"])]).decode(),
                encode_frame("MESSAGE", [("destination", head["destination"]),
                                         ("subscription", head["id"]), ("message-id", "1")],
                             b'{"hello": 1}').decode()]
    return []


async def test_stomp_subscribe_unsubscribe_from_the_tree(panels) -> None:
    bridge, topics, pairs = panels
    server, received = await recording_server(stomp_reply)
    port = server.sockets[0].getsockname()[1]
    conn = bridge.manager.add(ConnectionConfig(url=f"ws://127.0.0.1:{port}/", name="stomp",
                                               decoder="stomp"), connect=True)
    topics.set_connections([conn.id])
    pairs.set_connections([conn.id])
    try:
        await until(lambda: topics.protocol == "stomp", 5, "the chosen decoder")
        assert topics.subscribe_button.isEnabled()
        await topics.subscribe("/queue/a")
        await until(lambda: "destinations > /queue/a" in topics.model.path_texts(), 5, "message")
        (path,) = [p for p in topics.model.shown.topics if p[0] == "subscriptions"]
        assert path[1].endswith("→ /queue/a")
        await until(lambda: "SUBSCRIBE" in names(pairs.latency), 5, "paired with its RECEIPT")
        await topics.unsubscribe(path)
        sub_id = topics.model.stats_at(path).key
        await until(lambda: any(t.startswith("UNSUBSCRIBE") and f"id:{sub_id}" in t
                                for t in received), 5, "UNSUBSCRIBE at the server")
        await until(lambda: topics.model.stats_at(path).state == "unsubscribed", 5, "state")
    finally:
        await bridge.manager.close_all()
        server.close()
        await server.wait_closed()


def graphql_reply(text: str) -> list[str]:
    message = json.loads(text)
    if message["type"] == "connection_init":
        return [json.dumps({"type": "connection_ack"})]
    if message["type"] == "subscribe":
        return [json.dumps({"id": message["id"], "type": "next", "payload": {"data": {"t": 1}}})]
    return []


async def test_graphql_operation_completed_from_the_tree(panels) -> None:
    from core.decoders.graphql import decoder as graphql

    bridge, topics, pairs = panels
    server, received = await recording_server(graphql_reply, ["graphql-transport-ws"])
    port = server.sockets[0].getsockname()[1]
    conn = bridge.manager.add(ConnectionConfig(url=f"ws://127.0.0.1:{port}/graphql", name="gql",
                                               subprotocols=["graphql-transport-ws"]),
                              connect=True)
    topics.set_connections([conn.id])
    pairs.set_connections([conn.id])
    try:
        await until(lambda: topics.protocol == "graphql", 5, "detected by its subprotocol")
        await until(lambda: any("connection_init" in t for t in received), 5, "init")
        (start,) = graphql.encode("subscribe", {"id": "op1", "operationName": "Clock",
                                                "query": "subscription Clock { t }"})
        await conn.send(start.payload, text=True)
        path = ("operations", "op1 Clock")
        await until(lambda: topics.model.stats_at(path) is not None
                    and topics.model.stats_at(path).count == 2, 5, "subscribe and next")
        assert topics.model.stats_at(path).state == "active"
        await until(lambda: "Clock" in names(pairs.latency), 5, "paired with its first result")
        assert topics.unsubscribe_button.text() == "Complete"
        await topics.unsubscribe(path)
        await until(lambda: {"id": "op1", "type": "complete"} in
                    [json.loads(t) for t in received], 5, "complete at the server")
        await until(lambda: topics.model.stats_at(path).state == "complete", 5, "state")
    finally:
        await bridge.manager.close_all()
        server.close()
        await server.wait_closed()


def decode_all(decoder, frames, handshake=None):  # type: ignore[no-untyped-def]
    """(time, message) of real frames fed in order to a real session of `decoder`."""
    from core.decoders.api import Handshake

    session = decoder.session(handshake or Handshake("ws://127.0.0.1/"))
    return [(1000.0 + i, m) for i, (direction, opcode, payload) in enumerate(frames)
            for m in session.feed(Frame(direction, opcode, payload))]


def tree_of(items, max_topics: int = 5_000):  # type: ignore[no-untyped-def]
    from ui.topics_model import ConnTopics, TopicsModel

    store = ConnTopics(max_topics)
    for when, message in items:
        store.add(when, message)
    model = TopicsModel()
    model.show(store, 1005.0)
    return store, model


def test_topic_trees_of_mqtt_stomp_graphql_socketio(qtbot) -> None:
    from core.decoders.graphql import decoder as graphql
    from core.decoders.socketio import decoder as socketio
    from core.decoders.stomp import decoder as stomp
    from core.decoders.stomp_frames import encode_frame

    out, inn = Direction.OUT, Direction.IN
    sub = mqtt.encode("SUBSCRIBE", {"filter": "room/#", "qos": 1})[0].payload
    pub = [mqtt.encode("PUBLISH", {"topic": t, "payload": "p", "retain": r})[0].payload
           for t, r in (("room/1", "1"), ("room/2/x", "0"), ("room/1", "0"))]
    store, model = tree_of(decode_all(mqtt, [(out, Opcode.BINARY, sub)]
                                      + [(inn, Opcode.BINARY, p) for p in pub], mqtt_handshake()))
    assert {"subscriptions > room/#", "topics > room > 1", "topics > room > 2 > x"} <= set(
        model.path_texts())
    assert store.topics[("topics", "room", "1")].count == 2
    assert store.topics[("topics", "room", "1")].state == "retained"
    assert store.topics[("subscriptions", "room/#")].key == "room/#"

    frames = [stomp.encode("SUBSCRIBE with receipt", {"id": "s1", "destination": "/queue/a",
                                                      "receipt": "r1"})[0].payload,
              encode_frame("MESSAGE", [("destination", "/queue/a"), ("subscription", "s1"),
                                       ("message-id", "7")], b"hello")]
    store, model = tree_of(decode_all(stomp, [(out, Opcode.TEXT, frames[0]),
                                              (inn, Opcode.TEXT, frames[1])]))
    assert set(model.path_texts()) >= {"subscriptions > s1 → /queue/a", "destinations > /queue/a"}
    assert store.topics[("subscriptions", "s1 → /queue/a")].key == "s1"

    start = graphql.encode("subscribe", {"id": "9", "query": "subscription Clock { time }",
                                         "operationName": "Clock"})[0].payload
    done = json.dumps({"id": "9", "type": "complete"}).encode()
    store, model = tree_of(decode_all(graphql, [(out, Opcode.TEXT, start),
                                                (inn, Opcode.TEXT, done)]))
    (path,) = [p for p in store.topics if p[0] == "operations"]
    assert path == ("operations", "9 Clock") and store.topics[path].state == "complete"

    emit = socketio.encode("emit", {"namespace": "/chat", "event": "say", "data": "{}"})[0]
    store, model = tree_of(decode_all(socketio, [(inn, Opcode.TEXT, emit.payload)]))
    assert "/chat > say" in model.path_texts()


def test_topics_are_bounded_and_the_rest_counted(qtbot) -> None:
    from core.decoders.jsonrpc import decoder as jsonrpc

    calls = [(Direction.OUT, Opcode.TEXT, json.dumps(
        {"jsonrpc": "2.0", "method": f"m{i % 5}", "id": i}).encode()) for i in range(20)]
    store, model = tree_of(decode_all(jsonrpc, calls), max_topics=3)
    assert len(store.topics) == 3 and store.more == 8 and len(store.more_topics) == 2
    last = model.item(model.rowCount() - 1, 0).text()
    assert last == "… 2 more topics"
    assert len(store.topics[("methods", "m0")].last) <= 120
    deep = mqtt.encode("PUBLISH", {"topic": "/".join(["level"] * 40) + "x" * 60_000})[0]
    store, _ = tree_of(decode_all(mqtt, [(Direction.IN, Opcode.BINARY, deep.payload)],
                                      mqtt_handshake()))
    (path,) = store.topics
    assert len(path) == 12 and max(map(len, path)) <= 120 and path[-1].endswith("…")
    assert store.topics[path].key == ""  # too long to keep for subscribe / unsubscribe


def test_pair_tables_pass_the_model_tester(qtmodeltester) -> None:
    from core.decoders.api import Kind, Message
    from core.decoders.pairing import Pair
    from ui.pairs_model import MAX_PAIRS, ConnPairs, LatencyTable, PairsTable

    table, store = PairsTable(max_rows=20), ConnPairs()
    qtmodeltester.check(table)
    rows = []
    for i in range(MAX_PAIRS + 10):
        request = Message("jsonrpc", Kind.REQUEST, "call", name=f"m{i % 3}",
                          correlation=f"rpc:{i}")
        reply = Message("jsonrpc", Kind.RESPONSE, "result", correlation=f"rpc:{i}")
        rows.append(store.add(Pair(1, request, reply, 0.001 * (i % 50)), 1000.0 + i))
        if i < 30 or len(rows) == 50 or i == MAX_PAIRS + 9:  # ticks of one pair, and of more
            # than the table holds
            table.add(rows)
            rows = []
    assert table.rowCount() == 20 and table.rows[0][3] == f"rpc:{MAX_PAIRS + 9}"
    assert len(store.rows) == MAX_PAIRS and store.rows[0].correlation == "rpc:10"
    table.show(store)
    assert table.rowCount() == 20 and table.rows[-1][3] == f"rpc:{MAX_PAIRS - 10}"
    latency = LatencyTable()
    qtmodeltester.check(latency)
    latency.show(store)
    assert [row[0] for row in latency.rows] == ["m0", "m1", "m2"]
    assert sum(int(row[1]) for row in latency.rows) == MAX_PAIRS + 10


@pytest.mark.broker
async def test_mqtt_topics_subscribe_from_the_tree_and_acks_pair(panels, mosquitto_broker) -> None:
    bridge, topics, pairs = panels
    conn = bridge.manager.add(ConnectionConfig(url=mosquitto_broker.url, name="mqtt",
                                               subprotocols=["mqtt"]), connect=True)
    topics.set_connections([conn.id])
    pairs.set_connections([conn.id])
    try:
        await until(lambda: conn.state is ConnState.OPEN, 5, "open")
        retained = mqtt.encode("PUBLISH", {"topic": "room/1", "qos": 1, "retain": "1",
                                           "payload": "kept", "packet_id": 100})[0]
        await conn.send(retained.payload, text=False)
        await until(lambda: "PUBLISH" in names(pairs.latency), 5, "PUBLISH / PUBACK pair")
        assert topics.protocol == "mqtt"
        assert topics.subscribe_button.isEnabled()
        task = topics.subscribe("room/#")
        assert task is not None
        await task
        await until(lambda: "topics > room > 1" in topics.model.path_texts()
                    and topics.model.stats_at(("topics", "room", "1")).state == "retained",
                    5, "the retained message delivered")
        await until(lambda: "SUBSCRIBE" in names(pairs.latency), 5, "SUBSCRIBE / SUBACK pair")
        assert "subscriptions > room/#" in topics.model.path_texts()
        task = topics.unsubscribe(("subscriptions", "room/#"))
        assert task is not None
        await task
        await until(lambda: "UNSUBSCRIBE" in names(pairs.latency), 5, "UNSUBSCRIBE / UNSUBACK")
        assert topics.model.stats_at(("subscriptions", "room/#")).state == "unsubscribed"
        assert conn.state is ConnState.OPEN
    finally:
        await bridge.manager.close_all()
