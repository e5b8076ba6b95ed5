"""Socket.IO v5 / Engine.IO v4 against a real python-socketio server (uvicorn) on 127.0.0.1:
a plain websockets client whose every frame goes through the project's decoder and Pairer."""

from __future__ import annotations

import asyncio

from core.decoders.api import Kind
from core.events import Direction
from tests.servers.story import Story


def is_ack(message) -> bool:
    return message.kind is Kind.RESPONSE and message.direction is Direction.IN


async def test_connect_emit_with_ack_binary_and_rooms(socketio_server):
    endpoint = socketio_server()
    async with Story.connect(endpoint, {"namespaces": ["/chat"]}, answer=True) as story:
        assert story.decoder is not None and story.decoder.name == "socketio"
        opened = await story.until(lambda m: m.fields.get("engineio") == "open")
        assert opened.kind is Kind.CONNECT
        await story.until(lambda m: m.kind is Kind.CONNECT and m.topic == "/chat"
                          and m.direction is Direction.IN)

        # The composer's template, sent as is: the server accepts it and acks.
        decoder = story.decoder
        await story.send(decoder.encode("emit with ack", {
            "event": "chat", "data": '{"text": "hi"}', "namespace": "/", "ack": "1"}))
        ack = await story.until(is_ack)
        assert ack.payload == [{"ok": True, "echo": {"text": "hi"}}]
        assert ack.name == "chat"

        await story.send(decoder.encode("emit with ack", {
            "event": "join", "data": '"room-1"', "namespace": "/chat", "ack": "2"}))
        joined = await story.until(lambda m: m.name == "joined")
        assert joined.topic == "/chat" and joined.payload[1]["room"] == "room-1"
        ack = await story.until(is_ack)
        assert ack.topic == "/chat" and ack.payload == [{"joined": "room-1"}]

        # A binary event: the placeholder packet, then its attachment frame.
        blob = bytes(range(256)) * 4
        await story.send('451-/chat,3["upload",{"_placeholder":true,"num":0}]')
        await story.send(blob)
        sent = [m for m in story.messages if m.name == "upload"]
        assert sent and sent[0].payload == ["upload", blob]
        download = await story.until(lambda m: m.name == "download")
        assert download.payload == ["download", blob]
        assert download.fields["attachments"] == 1
        ack = await story.until(is_ack)
        assert ack.payload == [{"size": len(blob)}]

    assert story.malformed() == [] and story.errors() == []
    assert {p.request.name for p in story.pairs} == {"chat", "join", "upload"}
    assert all(p.latency >= 0 for p in story.pairs)
    correlations = {p.request.correlation for p in story.pairs}
    assert correlations == {"ack:/:1", "ack:/chat:2", "ack:/chat:3"}
    assert story.pairer.percentiles("chat").count == 1
    assert story.pairer.pending_count == 0


async def test_protocol_client_outlives_the_ping_timeout(socketio_server):
    """Pings every 0.5 s, 1 s to answer: answered pings keep it open well past 1.5 s."""
    endpoint = socketio_server(ping_interval=0.5, ping_timeout=1.0)
    async with Story.connect(endpoint, answer=True) as story:
        await story.idle(3.0)
        await story.send(story.decoder.encode("emit with ack", {
            "event": "chat", "data": "1", "namespace": "/", "ack": "9"}))
        ack = await story.until(is_ack)
        assert ack.payload == [{"ok": True, "echo": 1}]
    beats = [m for m in story.messages if m.heartbeat]
    assert sum(m.direction is Direction.IN for m in beats) >= 3
    assert sum(m.direction is Direction.OUT for m in beats) >= 3
    assert story.malformed() == []


async def test_without_the_protocol_client_the_server_drops_us(socketio_server):
    """What the protocol client prevents: unanswered pings close the connection."""
    endpoint = socketio_server(ping_interval=0.5, ping_timeout=0.5)
    async with Story.connect(endpoint) as story:
        await story.send("40")
        code, _ = await story.closed_by_server(timeout=10.0)
    assert code is not None
    assert any(m.fields.get("engineio") == "ping" for m in story.messages)
    assert story.malformed() == []


async def test_echo_and_connection_counts():
    """The server object itself, for stories that count its connections."""
    from tests.servers.socketio_server import SocketIOServer

    server = SocketIOServer()
    endpoint = server.start()
    try:
        async with Story.connect(endpoint, answer=True) as story:
            await story.until(lambda m: m.kind is Kind.CONNECT and m.direction is Direction.IN
                              and m.fields.get("type") is not None)
            await story.send('421["echo",{"a":[1,2]}]')
            ack = await story.until(is_ack)
            assert ack.payload == [{"a": [1, 2]}] and ack.name == "echo"
        assert server.connects == 1
        for _ in range(100):  # the server sees the close a moment later
            if server.disconnects:
                break
            await asyncio.sleep(0.02)
        assert server.disconnects == 1
    finally:
        server.stop()
