"""Scheduled sends against the embedded server's /echo path, the connections on a core thread."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import Direction, Event, FrameEvent, ScheduleChanged
from core.loopthread import LoopThread
from core.manager import ConnectionManager
from core.schedule import MAX_PER_CONNECTION, Pace, Scheduler, TextMessage
from core.states import ConnState
from core.workspace import Collection, Environment, Resolver, SavedMessage, Variable

FAST = ReconnectPolicy(initial=0.05, max_delay=0.3, jitter=0.1, stable_after=0.5)


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def env(embedded_server):  # type: ignore[no-untyped-def]
    server = embedded_server(auth=False)
    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)
    events: list[Event] = []
    manager.hub.subscribe(events.append)  # list.append: atomic, from the core thread
    scheduler = Scheduler(manager)
    yield server, manager, scheduler, events
    scheduler.close()
    core.call(lambda: None)  # let the core loop run what close() handed it
    core.submit(manager.close_all()).result(5)
    core.stop()


async def open_echo(manager: ConnectionManager, url: str, **kw: object):  # type: ignore[no-untyped-def]
    conn = manager.add(
        ConnectionConfig(url + "/echo", heartbeat=HeartbeatConfig(interval=0), **kw),  # type: ignore[arg-type]
        connect=True,
    )
    await conn.wait_for_state(ConnState.OPEN, 5)
    return conn


def frames(events: list[Event], conn_id: int, direction: Direction) -> list[bytes]:
    return [e.payload for e in list(events) if type(e) is FrameEvent and e.conn_id == conn_id
            and e.direction is direction and e.is_data]  # fmt: skip


def progress(events: list[Event], schedule_id: int) -> list[ScheduleChanged]:
    return [e for e in list(events) if type(e) is ScheduleChanged and e.schedule_id == schedule_id]


async def test_100_messages_at_50_per_second_arrive_100_times(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    started = time.monotonic()
    schedule = scheduler.start(conn.id, [TextMessage("tick")], Pace(0.02, count=100), label="tick")
    await schedule.wait(15)
    took = time.monotonic() - started
    await until(lambda: len(frames(events, conn.id, Direction.IN)) >= 100)
    await asyncio.sleep(0.3)  # a 101st echo would be here by now
    assert frames(events, conn.id, Direction.IN) == [b"tick"] * 100
    assert frames(events, conn.id, Direction.OUT) == [b"tick"] * 100
    assert took > 1.5  # paced: 99 intervals of 20 ms, not a burst
    seen = progress(events, schedule.id)
    assert seen[0].running and seen[0].sent == 0 and seen[0].total == 100
    assert seen[-1].running is False and seen[-1].sent == 100 and seen[-1].error is None
    assert [e.sent for e in seen] == sorted(e.sent for e in seen)
    assert len(seen) <= 4 + took / 0.25 + 2  # a few a second, not one per message
    assert scheduler.schedules() == []


async def test_a_stopped_schedule_sends_no_more(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    schedule = scheduler.start(conn.id, [TextMessage("x")], Pace(0.01))  # until stopped
    await until(lambda: len(frames(events, conn.id, Direction.IN)) >= 20)
    scheduler.stop(schedule.id)
    await schedule.wait(5)
    sent = len(frames(events, conn.id, Direction.OUT))
    assert schedule.sent == sent and not schedule.running
    await asyncio.sleep(0.5)  # 50 more slots at this pace
    assert len(frames(events, conn.id, Direction.OUT)) == sent
    last = progress(events, schedule.id)[-1]
    assert (last.running, last.error, last.total, last.sent) == (False, None, None, sent)


async def test_variables_are_resolved_for_every_send_and_a_list_is_cycled(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    messages = [TextMessage('{"kind": "a", "n": {{$seq}}}'), TextMessage('{"kind": "b"}')]
    schedule = scheduler.start(conn.id, messages, Pace(0.005, jitter=0.5, count=10),
                               resolve=Resolver())  # fmt: skip
    await schedule.wait(10)
    await until(lambda: len(frames(events, conn.id, Direction.IN)) == 10)
    echoed = [json.loads(p) for p in frames(events, conn.id, Direction.IN)]
    assert [m["kind"] for m in echoed] == ["a", "b"] * 5
    assert [m["n"] for m in echoed if m["kind"] == "a"] == [1, 2, 3, 4, 5]


async def test_a_variable_that_does_not_resolve_stops_it_with_the_error(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    messages = [TextMessage("ok {{$seq}}"), TextMessage("bad {{nope}}")]
    schedule = scheduler.start(conn.id, messages, Pace(0.01, count=5), resolve=Resolver())
    await schedule.wait(5)
    assert schedule.sent == 1
    last = progress(events, schedule.id)[-1]
    assert not last.running and last.error is not None and "{{nope}}" in last.error
    assert frames(events, conn.id, Direction.OUT) == [b"ok 1"]


async def test_prepared_payloads_go_first_then_the_messages_are_resolved(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    resolve = Resolver()
    messages = [TextMessage("a{{$seq}}"), TextMessage("b{{$seq}}")]
    prepared = [m.payload(resolve) for m in messages]  # as the GUI thread builds them
    schedule = scheduler.start(conn.id, messages, Pace(0.005, count=5), resolve, "", prepared)
    await schedule.wait(10)
    await until(lambda: len(frames(events, conn.id, Direction.IN)) == 5)
    assert frames(events, conn.id, Direction.IN) == [b"a1", b"b2", b"a3", b"b4", b"a5"]
    with pytest.raises(ValueError, match="prepared"):
        scheduler.start(conn.id, messages[:1], Pace(1.0), resolve, "", prepared)


async def test_it_stops_when_the_connection_closes_or_is_removed(env) -> None:
    server, manager, scheduler, events = env
    a = await open_echo(manager, server.url)
    b = await open_echo(manager, server.url)
    slow = Pace(30.0)  # sleeping for its next slot when the connection goes
    first = scheduler.start(a.id, [TextMessage("a")], slow)
    second = scheduler.start(b.id, [TextMessage("b")], slow)
    await until(lambda: first.sent == 1 and second.sent == 1)
    await a.disconnect()
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
        manager.remove(b.id), manager.loop))  # type: ignore[arg-type]  # fmt: skip
    await first.wait(5)
    await second.wait(5)
    assert progress(events, first.id)[-1].error == "stopped: the connection closed"
    assert progress(events, second.id)[-1].error in (
        "stopped: the connection closed",
        "stopped: the connection was removed",
    )
    with pytest.raises(ValueError, match="no connection"):
        scheduler.start(b.id, [TextMessage("b")], slow)


async def test_limits_and_bad_settings_are_refused_in_words(env) -> None:
    server, manager, scheduler, _ = env
    conn = await open_echo(manager, server.url)
    for _ in range(MAX_PER_CONNECTION):
        scheduler.start(conn.id, [TextMessage("x")], Pace(60.0))
    with pytest.raises(ValueError, match="stop one first"):
        scheduler.start(conn.id, [TextMessage("x")], Pace(60.0))
    with pytest.raises(ValueError, match="empty"):
        scheduler.start(conn.id, [], Pace(1.0))
    with pytest.raises(ValueError, match="interval"):
        Pace(0.0)
    with pytest.raises(ValueError, match="jitter"):
        Pace(1.0, jitter=0.9)
    with pytest.raises(ValueError, match="count"):
        Pace(1.0, count=0)
    scheduler.stop_connection(conn.id)
    await until(lambda: not scheduler.schedules(), 5)


async def test_it_pauses_while_the_server_is_down_and_goes_on_after(env, embedded_server) -> None:
    server, manager, scheduler, events = env
    port = server.port
    conn = await open_echo(manager, server.url, reconnect=FAST)
    schedule = scheduler.start(conn.id, [TextMessage("p")], Pace(0.02, count=60))
    await until(lambda: schedule.sent >= 5)
    server.stop()
    await until(lambda: schedule.waiting)
    paused_at = schedule.sent
    await asyncio.sleep(0.3)
    assert schedule.sent == paused_at and len(conn.queue) <= 1  # not filling the offline queue
    embedded_server(auth=False, port=port)
    await schedule.wait(15)
    assert schedule.sent == 60 and schedule.error is None
    assert any(e.waiting for e in progress(events, schedule.id))


async def test_the_core_thread_ending_ends_its_schedules(embedded_server) -> None:
    server = embedded_server(auth=False)
    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    scheduler = Scheduler(manager)
    try:
        conn = await open_echo(manager, server.url)
        schedule = scheduler.start(conn.id, [TextMessage("z")], Pace(0.01))
        await until(lambda: schedule.sent >= 5)
    finally:
        await asyncio.to_thread(core.stop)  # as at shutdown: what still runs is cancelled
    assert schedule.done.done() and not schedule.running and scheduler.schedules() == []
    assert progress(events, schedule.id)[-1].running is False


@dataclass(frozen=True)
class SlowMessage:
    """Takes 30 ms to build: a schedule that slept one interval after each send would fall
    30 ms further behind every time."""

    def payload(self, resolve: object = None) -> tuple[bytes, bool]:
        time.sleep(0.03)
        return b"slow", True


async def test_the_pace_does_not_drift_with_the_time_each_send_takes(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    schedule = scheduler.start(conn.id, [SlowMessage()], Pace(0.05, count=12))
    await schedule.wait(10)
    times = [e.time for e in list(events) if type(e) is FrameEvent
             and e.direction is Direction.OUT and e.conn_id == conn.id]  # fmt: skip
    assert len(times) == 12
    off_grid = max(abs(t - times[0] - i * 0.05) for i, t in enumerate(times))
    assert off_grid < 0.15  # drifting, the last would be 11 x 30 ms = 0.33 s behind


async def test_a_collection_is_repeated_with_its_variables_resolved_each_time(env) -> None:
    server, manager, scheduler, events = env
    conn = await open_echo(manager, server.url)
    collection = Collection("smoke", [
        SavedMessage("hello", '{"to": "{{who}}", "n": {{$seq}}}', "json"),
        SavedMessage("raw", "00 ff", "hex"),
        SavedMessage("note", "id {{$uuid}}"),
    ])  # fmt: skip
    resolve = Resolver(Environment("dev", [Variable("who", "ada")]))
    schedule = scheduler.start(
        conn.id, collection.messages, Pace(0.005, count=6), resolve, collection.name
    )
    await schedule.wait(10)
    await until(lambda: len(frames(events, conn.id, Direction.IN)) == 6)
    got = frames(events, conn.id, Direction.IN)
    assert [json.loads(got[i]) for i in (0, 3)] == [{"to": "ada", "n": 1}, {"to": "ada", "n": 2}]
    assert got[1] == got[4] == b"\x00\xff"
    assert got[2] != got[5] and got[2].startswith(b"id ") and len(got[2]) == 3 + 36
    assert progress(events, schedule.id)[-1].label == "smoke"
