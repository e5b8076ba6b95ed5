"""Replay against real servers: the embedded /echo gives no differences, a changed server does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.events import ConnectionAdded, Direction, FrameEvent, Opcode
from core.hub import EventHub
from core.recorder import Recorder
from core.recording.diff import IgnoreRules, Reply, compare, diff_replies
from core.recording.replay import ReplayError, ReplayOptions, load_sources, replay
from core.states import ConnState

MESSAGES = [
    {"requestId": f"r{i}", "op": "put", "n": i, "ts": 1000 + i, "data": {"ts": 5, "v": [i, i]}}
    for i in range(6)
]


async def record(url: str, path: Path, messages: list[str | bytes]) -> None:
    """A real session: each message sent once its echo came back, as a user would."""
    hub = EventHub()
    recorder = Recorder(path, hub)
    conn = Connection(ConnectionConfig(url, heartbeat=HeartbeatConfig(interval=0),
                                       reconnect=ReconnectPolicy(enabled=False)), hub)
    hub.publish(ConnectionAdded(conn.id, time.time(), url, "rec"))
    conn.connect()
    await conn.wait_for_state(ConnState.OPEN, 5)
    for count, message in enumerate(messages, 1):
        await conn.send(message)
        for _ in range(500):
            if conn.metrics.msgs_in >= count:
                break
            await asyncio.sleep(0.01)
    await conn.disconnect()
    recorder.close()


@asynccontextmanager
async def changed_server(alter: Callable[[dict], dict | None]) -> AsyncIterator[str]:
    """Echoes JSON after `alter` (None: no reply), other messages unchanged."""

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            try:
                reply = alter(json.loads(message))
            except ValueError:
                await ws.send(message)
                continue
            if reply is not None:
                await ws.send(json.dumps(reply))

    async with serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def recorded(embedded_server, tmp_path) -> tuple[Path, str]:
    server = embedded_server(auth=False)
    path = tmp_path / "rec.sqlite"
    echo = server.url + "/echo"
    await record(echo, path, [json.dumps(m) for m in MESSAGES] + ["not json", b"\x01\x02"])
    return path, echo


FAST = {"reply_timeout": 1.0, "quiet": 0.2}


@pytest.mark.parametrize("timing", ["fast", "original", "wait-reply"])
async def test_replay_against_the_same_echo_shows_no_difference(recorded, timing) -> None:
    path, echo = recorded
    sources = load_sources(path)
    assert [len(s.outbound) for s in sources] == [8]
    result = await replay(sources, ConnectionConfig(echo), ReplayOptions(timing=timing, **FAST))
    assert result.summary()["same"] == 8
    assert result.all_same and result.sent == 8 and result.unsent == 0


async def test_a_changed_server_shows_changed_and_missing_replies(recorded) -> None:
    path, _ = recorded

    def alter(message: dict) -> dict | None:
        if message["n"] == 2:
            return None  # dropped
        if message["n"] == 4:
            return {**message, "data": {"ts": 5, "v": [4, 40]}, "new": True}
        return message

    async with changed_server(alter) as url:
        result = await replay(load_sources(path), ConnectionConfig(url),
                              ReplayOptions(timing="wait-reply", **FAST))
    assert not result.all_same
    by_status: dict[str, list] = {}
    for diff in result.diffs:
        by_status.setdefault(diff.status, []).append(diff)
    assert {k: len(v) for k, v in by_status.items()} == {"same": 6, "changed": 1, "missing": 1}
    (changed,) = by_status["changed"]
    assert changed.key == "r4" and changed.paths == ("data.v.1", "new")
    (missing,) = by_status["missing"]
    assert missing.key == "r2" and missing.replayed is None
    assert missing.to_json()["recorded"]["text"] == json.dumps(MESSAGES[2])


async def test_ignored_fields_make_a_timestamp_difference_disappear(recorded) -> None:
    path, _ = recorded

    def restamp(message: dict) -> dict:
        return {**message, "ts": message["ts"] + 99, "data": {**message["data"], "ts": 6}}

    async with changed_server(restamp) as url:
        config = ConnectionConfig(url)
        plain = await replay(load_sources(path), config, ReplayOptions(**FAST))
        ignored = await replay(load_sources(path), config, ReplayOptions(ignore=["ts"], **FAST))
        only_top = await replay(load_sources(path), config,
                                ReplayOptions(ignore=["data.ts"], **FAST))
    assert {d.paths for d in plain.diffs if d.status == "changed"} == {("ts", "data.ts")}
    assert plain.summary()["changed"] == 6
    assert ignored.all_same and ignored.summary()["same"] == 8
    assert {d.paths for d in only_top.diffs if d.status == "changed"} == {("ts",)}


async def test_no_server_is_a_replay_error(recorded) -> None:
    path, _ = recorded
    with pytest.raises(ReplayError, match=r"cannot connect to ws://127\.0\.0\.1:9/"):
        await replay(load_sources(path), ConnectionConfig("ws://127.0.0.1:9/"),
                     ReplayOptions(open_timeout=2))
    with pytest.raises(ReplayError, match="connection 5 sent nothing"):
        load_sources(path, conn_id=5)


def frame(t: float, text: str, direction: Direction = Direction.IN) -> FrameEvent:
    return FrameEvent(1, t, direction, Opcode.TEXT, text.encode())


def test_pairing_by_order_is_aligned_so_a_drop_does_not_shift_the_rest() -> None:
    recorded = [Reply(frame(i, json.dumps({"n": i})), i) for i in range(5)]
    replayed = [Reply(frame(10 + i, json.dumps({"n": i})), i) for i in (0, 1, 3, 4)]
    replayed.append(Reply(frame(20, "surprise"), 4))
    diffs = diff_replies(1, recorded, replayed, set(), IgnoreRules())
    assert [(d.status, d.recorded and d.recorded.time) for d in diffs] == [
        ("same", 0), ("same", 1), ("missing", 2), ("same", 3), ("same", 4), ("extra", None)]


def test_replies_pair_by_request_id_whatever_their_order() -> None:
    recorded = [Reply(frame(1, '{"requestId": "a", "v": 1}'), 0),
                Reply(frame(2, '{"requestId": "b", "v": 2}'), 1),
                Reply(frame(3, '{"id": "srv-1", "v": 3}'), 1)]  # the server's own id
    replayed = [Reply(frame(11, '{"requestId": "b", "v": 2}'), 1),
                Reply(frame(12, '{"requestId": "a", "v": 9}'), 1),
                Reply(frame(13, '{"id": "srv-2", "v": 3}'), 1)]
    diffs = diff_replies(1, recorded, replayed, {"a", "b"}, IgnoreRules(["id"]))
    assert [(d.status, d.key, d.paths) for d in diffs] == [
        ("changed", "a", ("v",)), ("same", "b", ()), ("same", None, ())]


def test_compare_is_json_aware_and_exact_for_the_rest() -> None:
    rules = IgnoreRules(["items.*.at"])
    assert compare(frame(0, '{"a": 1, "b": [1, 2]}'), frame(0, '{"b": [1, 2], "a": 1}'),
                   rules) == ()
    assert compare(frame(0, '{"a": 1}'), frame(0, '{"a": 1.5}'), rules) == ("a",)
    assert compare(frame(0, '{"a": 1}'), frame(0, '{"a": 1.0}'), rules) == ()
    assert compare(frame(0, '{"a": 1}'), frame(0, '{"a": true}'), rules) == ("a",)
    assert compare(frame(0, '{"items": [{"at": 1, "v": 2}]}'),
                   frame(0, '{"items": [{"at": 7, "v": 3}]}'), rules) == ("items.0.v",)
    assert compare(frame(0, "[1]"), frame(0, "[1, 2]"), rules) == ("1",)
    assert compare(frame(0, "abc"), frame(0, "abd"), rules) == ("$",)
    binary = FrameEvent(1, 0, Direction.IN, Opcode.BINARY, b"abc")
    assert compare(frame(0, "abc"), binary, rules) == ("$opcode",)
    assert compare(binary, binary, rules) == ()


async def test_a_har_replays_at_its_original_timing_with_gaps_capped(
    embedded_server, tmp_path
) -> None:
    server = embedded_server(auth=False)
    messages = []
    for i, at in enumerate((10.0, 10.3, 110.3)):  # a gap of 0.3 s, then one of 100 s
        for kind in ("send", "receive"):
            messages.append({"type": kind, "time": at + (0.01 if kind == "receive" else 0),
                             "opcode": 1, "data": f"m{i}"})
    har = {"log": {"version": "1.2", "entries": [{
        "_resourceType": "websocket", "startedDateTime": "1970-01-01T00:00:10.000Z",
        "request": {"method": "GET", "url": "ws://example.test/", "headers": []},
        "response": {"status": 101, "headers": []}, "_webSocketMessages": messages}]}}
    path = tmp_path / "gaps.har"
    path.write_text(json.dumps(har), encoding="utf-8")
    started = time.monotonic()
    result = await replay(load_sources(path), ConnectionConfig(server.url + "/echo"),
                          ReplayOptions(timing="original", max_gap=0.3, **FAST))
    elapsed = time.monotonic() - started
    assert result.all_same and result.summary()["same"] == 3
    assert 0.55 <= elapsed < 10  # 0.3 s kept, 100 s capped to 0.3 s
