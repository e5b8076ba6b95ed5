"""JSON-RPC 2.0 through a real `Connection` (decoder "auto") against jsonrpcserver behind a
`websockets` server on 127.0.0.1: detected from the subprotocol (and, without one, from the
first frames), open for as long as we like (JSON-RPC has no liveness rule of its own), a call
paired with its result by id, the method named on the decoded messages, and the composer's
call and notification templates accepted by the server."""

from __future__ import annotations

import asyncio
import dataclasses

from core.decoders.api import EXACT_SUBPROTOCOL, FIRST_FRAMES, URL_SIGNATURE, Kind
from core.events import Direction, ProtocolDetected
from core.states import ConnState
from tests.protocol_stories import Recorded


async def test_jsonrpc_detected_stays_open_pairs_calls_and_accepts_templates(jsonrpc_server):
    async with Recorded(jsonrpc_server) as rec:
        detected = rec.detected
        assert detected.protocol == "jsonrpc" and detected.client  # on: nothing to say yet
        assert detected.score >= EXACT_SUBPROTOCOL
        await asyncio.sleep(2.0)  # no liveness rule: it simply stays open
        assert rec.conn.state is ConnState.OPEN and rec.frames(Direction.OUT) == []

        await rec.compose("call", {"method": "add", "params": '{"a": 2, "b": 3}', "id": 7})
        pair = await rec.pair("rpc:7")
        assert pair.request.kind is Kind.REQUEST and pair.request.name == "add"
        assert pair.reply.kind is Kind.RESPONSE and pair.reply.payload == 5
        assert pair.reply.name == "add"  # the reply is named after its request's method
        assert 0.0 <= pair.latency < 5.0 and pair.conn_id == rec.conn.id

        await rec.compose("notification", {"method": "echo", "params": '["quiet"]'})
        await rec.compose("call", {"method": "subscribe_ticks", "params": '{"n": 2}',
                                   "id": '"t"'})
        await rec.pair('rpc:"t"')
        ticks = await rec.until(lambda: [m for m in rec.messages if m.name == "tick"][1:],
                                what="two tick notifications from the server")
        assert all(m.kind is Kind.EVENT and m.direction is Direction.IN for m in ticks)
        methods = {m.name for m in rec.messages}
        assert {"add", "echo", "subscribe_ticks", "tick"} <= methods
        assert {("methods", name) for name in methods} <= set(rec.browser_topics())
        assert rec.conn.state is ConnState.OPEN
        assert [p.request.correlation for p in rec.pairs] == ["rpc:7", 'rpc:"t"']
    assert rec.errors() == []


async def test_jsonrpc_without_a_subprotocol_is_detected_from_the_first_frames(jsonrpc_server):
    endpoint = dataclasses.replace(jsonrpc_server, subprotocol=None)
    async with Recorded(endpoint, detected_at_open=False) as rec:
        await asyncio.sleep(0.2)
        assert rec.of(ProtocolDetected) == []  # nothing to go on yet
        await rec.conn.send('{"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1}')
        await rec.until(lambda: rec.of(ProtocolDetected), what="ProtocolDetected")
        detected = rec.detected
        assert detected.protocol == "jsonrpc" and FIRST_FRAMES <= detected.score < URL_SIGNATURE
        assert not detected.client  # not sure enough to speak for us
        pair = await rec.pair("rpc:1")  # the held first frames were decoded and paired
        assert pair.reply.payload == 1
