"""JSON-RPC 2.0 against a real jsonrpcserver dispatcher behind a `websockets` server on
127.0.0.1: calls, a notification, a batch and errors, every frame through the project's decoder."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from core.decoders.api import Kind
from core.events import Direction
from tests.servers.story import Story


def reply_to(ident: int | str):
    correlation = f"rpc:{json.dumps(ident)}"
    return lambda m: m.direction is Direction.IN and m.correlation == correlation


async def test_call_notification_batch_and_errors(jsonrpc_server):
    async with Story.connect(jsonrpc_server) as story:
        assert story.handshake.subprotocol == "jsonrpc"
        assert story.decoder is not None and story.decoder.name == "jsonrpc"
        encode = story.decoder.encode

        await story.send(encode("call", {"method": "add", "params": "[2, 3]", "id": "1"}))
        result = await story.until(reply_to(1))
        assert result.kind is Kind.RESPONSE and result.payload == 5 and result.name == "add"

        await story.send(encode("call", {"method": "echo", "params": '{"value": "x"}',
                                         "id": '"e-1"'}))
        assert (await story.until(reply_to("e-1"))).payload == "x"

        # A notification: the server must not answer it (the next reply is the next call's).
        sent = await story.send(encode("notification", {"method": "echo",
                                                        "params": '{"value": 1}'}))
        assert sent[0].kind is Kind.EVENT and sent[0].fields.get("notification")
        await story.send(encode("call", {"method": "fail", "params": '{"code": -32001}',
                                         "id": "2"}))
        failed = await story.until(lambda m: m.direction is Direction.IN)
        assert failed.correlation == "rpc:2" and failed.kind is Kind.ERROR
        assert failed.fields.get("code") == -32001

        await story.send(encode("call", {"method": "nope", "params": "[]", "id": "3"}))
        missing = await story.until(reply_to(3))
        assert missing.kind is Kind.ERROR and missing.fields.get("code") == -32601

        batch = [{"jsonrpc": "2.0", "method": "add", "params": [1, 1], "id": 10},
                 {"jsonrpc": "2.0", "method": "echo", "params": ["n"]},
                 {"jsonrpc": "2.0", "method": "echo", "params": ["b"], "id": 11}]
        members = await story.send(json.dumps(batch))
        assert [m.fields.get("batch_index") for m in members] == [0, 1, 2]
        replies = await story.recv()
        assert sorted(m.correlation for m in replies) == ["rpc:10", "rpc:11"]

        # Notifications the server sends.
        await story.send(encode("call", {"method": "subscribe_ticks", "params": "[2]",
                                         "id": "4"}))
        await story.until(reply_to(4))
        ticks = [await story.until(lambda m: m.name == "tick") for _ in range(2)]
        assert [t.payload for t in ticks] == [{"n": 1}, {"n": 2}]
        assert all(t.kind is Kind.EVENT and t.correlation is None for t in ticks)

        pong = await story.ws.ping()  # still open after all of it
        await asyncio.wait_for(pong, 5)

    assert story.malformed() == []
    paired = {p.request.correlation: p for p in story.pairs}
    assert set(paired) == {"rpc:1", 'rpc:"e-1"', "rpc:2", "rpc:3", "rpc:10", "rpc:11", "rpc:4"}
    assert paired["rpc:2"].reply.kind is Kind.ERROR
    assert story.pairer.percentiles("add").count == 2
    assert story.pairer.pending_count == 0 and story.pairer.unmatched == 0


async def test_detected_from_the_first_frame_without_a_subprotocol(jsonrpc_server):
    """Many JSON-RPC servers name no subprotocol: the first frame's shape decides."""
    bare = dataclasses.replace(jsonrpc_server, subprotocol=None)
    async with Story.connect(bare) as story:
        assert story.handshake.subprotocol is None
        assert story.decoder is None  # nothing to go on before the first frame
        await story.send(story.registry.get("jsonrpc").encode(
            "call", {"method": "add", "params": "[20, 22]", "id": "7"}))
        assert story.decoder is not None and story.decoder.name == "jsonrpc"
        assert story.detector.confident
        assert (await story.until(reply_to(7))).payload == 42
    assert [p.request.name for p in story.pairs] == ["add"]
    assert story.malformed() == [] and story.errors() == []
