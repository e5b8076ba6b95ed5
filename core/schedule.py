"""Scheduled sends: repeat a message, or a list of messages, on one connection at a steady pace.

Each schedule is one task on the connections' loop. Its timing comes from `loop.time()`
deadlines (slot n is due at start + n * interval, jitter applied to each slot alone), so it does
not drift with the time each send takes. Every message is resolved again for every send, so
`{{$seq}}` or `{{$uuid}}` change each time. A schedule pauses while its connection reconnects,
and stops when it is stopped, when the connection closes for good or is removed, when the
loop ends (shutdown), or when a message fails to resolve or encode (with that error).
Progress is published as `ScheduleChanged`, a few times a second at most.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.connection import Connection
from core.events import ConnectionRemoved, Event, ScheduleChanged, StateChanged
from core.manager import ConnectionManager
from core.states import ConnState

Resolve = Callable[[str], str]

MAX_PER_CONNECTION = 4  # schedules running at once on one connection
MIN_INTERVAL = 0.001  # seconds: a thousand sends a second at most per schedule
MAX_INTERVAL = 86_400.0
MAX_JITTER = 0.5  # fraction of the interval; below 1/2 the slots keep their order
MAX_COUNT = 1_000_000_000
PROGRESS_EVERY = 0.25  # seconds between two progress events of one schedule
_OPEN_POLL = 0.5  # seconds between two looks at a reconnecting connection's state


class Message(Protocol):
    """What a schedule sends: `core.workspace.SavedMessage` is one; the composer has its own."""

    def payload(self, resolve: Resolve | None = None) -> tuple[bytes, bool]:
        """(bytes to send, is_text), variables resolved through `resolve`; ValueError when it
        cannot be built."""
        ...


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text message sent as typed, `{{variables}}` resolved."""

    body: str

    def payload(self, resolve: Resolve | None = None) -> tuple[bytes, bool]:
        return (resolve(self.body) if resolve is not None else self.body).encode(), True


@dataclass(frozen=True, slots=True)
class Pace:
    """`count` is the number of sends in all (a list of messages is cycled through in order);
    None sends until stopped. `jitter` moves each send by up to +/- that fraction of the
    interval."""

    interval: float
    jitter: float = 0.0
    count: int | None = None

    def __post_init__(self) -> None:
        if not MIN_INTERVAL <= self.interval <= MAX_INTERVAL:
            raise ValueError(
                f"the interval must be between {MIN_INTERVAL * 1000:g} ms and "
                f"{MAX_INTERVAL / 3600:g} hours, not {self.interval:g} s"
            )
        if not 0 <= self.jitter <= MAX_JITTER:
            raise ValueError(f"the jitter must be between 0 and {MAX_JITTER:.0%} of the interval")
        if self.count is not None and not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"the count must be between 1 and {MAX_COUNT:,} (or until stopped)")


class _Stop(Exception):
    """Ends a schedule early with a reason in words."""


class Schedule:
    """One schedule's state, O(1) besides the messages it was given. `sent`, `running`,
    `waiting` and `error` are written on the loop and may be read from any thread."""

    def __init__(
        self,
        schedule_id: int,
        loop: asyncio.AbstractEventLoop,
        conn: Connection,
        messages: tuple[Message, ...],
        pace: Pace,
        resolve: Resolve | None,
        label: str,
        prepared: tuple[tuple[bytes, bool], ...] = (),
    ) -> None:
        self.id = schedule_id
        self.loop = loop  # where it runs: the connections' loop
        self.conn = conn
        self.conn_id = conn.id
        self.messages = messages
        self.pace = pace
        self.resolve = resolve
        self.label = label
        self.prepared = prepared
        self.sent = 0
        self.running = True
        self.waiting = False  # for its connection to open again
        self.error: str | None = None
        self.stop_reason: str | None = None  # set by whoever cancels it
        self.done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._task: asyncio.Task[None] | None = None
        self._cancelled = False
        self._published_at = float("-inf")

    async def wait(self, timeout: float | None = None) -> None:
        """Return once the schedule has ended (from any thread's loop)."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(asyncio.wrap_future(self.done))

    def event(self) -> ScheduleChanged:
        return ScheduleChanged(
            self.conn_id, time.time(), self.id, self.sent, self.pace.count, self.running,
            self.error, self.waiting, self.label,
        )  # fmt: skip

    # ----- on the loop ----------------------------------------------------------------------

    def _begin(self, publish: Callable[[Event], None], rng: random.Random) -> None:
        if self._cancelled:
            self._finish(publish)
            return
        self._task = asyncio.get_running_loop().create_task(
            self._main(publish, rng), name=f"schedule-{self.id}"
        )
        # Not a `finally` in _main: a task cancelled before its first step never runs it.
        self._task.add_done_callback(lambda _: self._finish(publish))

    def _cancel(self) -> None:
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    async def _main(self, publish: Callable[[Event], None], rng: random.Random) -> None:
        publish(self.event())
        try:
            await self._run(publish, rng)
        except _Stop as stop:
            self.error = str(stop)
        except Exception as exc:  # a message that does not resolve or encode, a failed send
            self.error = f"stopped: {exc}"

    def _finish(self, publish: Callable[[Event], None]) -> None:
        if self._cancelled:
            self.error = self.stop_reason
        self.running = False
        self.waiting = False
        publish(self.event())
        if not self.done.done():
            self.done.set_result(None)

    async def _run(self, publish: Callable[[Event], None], rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        interval, jitter, count = self.pace.interval, self.pace.jitter, self.pace.count
        messages, conn = self.messages, self.conn
        start, slot = loop.time(), 0
        while count is None or self.sent < count:
            due = start + slot * interval
            if jitter and slot:
                due += rng.uniform(-jitter, jitter) * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if conn.state is not ConnState.OPEN:
                await self._wait_open(publish)
            if self.sent < len(self.prepared):
                payload, is_text = self.prepared[self.sent]
            else:
                payload, is_text = messages[self.sent % len(messages)].payload(self.resolve)
            await conn.send(payload, text=is_text)
            self.sent += 1
            slot += 1
            now = loop.time()
            if now - (start + slot * interval) > interval:
                start, slot = now, 0  # a pause or a stall: go on from now, not in a burst
            if now - self._published_at >= PROGRESS_EVERY:
                self._published_at = now
                publish(self.event())

    async def _wait_open(self, publish: Callable[[Event], None]) -> None:
        self.waiting = True
        publish(self.event())
        while self.conn.state is not ConnState.OPEN:
            if self.conn.state is ConnState.CLOSED:
                raise _Stop("stopped: the connection closed")
            with contextlib.suppress(TimeoutError):
                await self.conn.wait_for_state(ConnState.OPEN, _OPEN_POLL)
        self.waiting = False
        publish(self.event())


class Scheduler:
    """The schedules of one ConnectionManager; its methods may be called from any thread.
    `close()` stops them all (the connections' loop ending also does)."""

    def __init__(self, manager: ConnectionManager, rng: random.Random | None = None) -> None:
        self.manager = manager
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._schedules: dict[int, Schedule] = {}
        # the hub's observers run for every frame: this one only while a schedule runs
        self._unsubscribe: Callable[[], None] | None = None

    def start(
        self,
        conn_id: int,
        messages: Sequence[Message],
        pace: Pace,
        resolve: Resolve | None = None,
        label: str = "",
        prepared: Sequence[tuple[bytes, bool]] = (),
    ) -> Schedule:
        """Start sending; ValueError (in words) when it cannot start.

        `resolve` runs on the connections' thread. `prepared`: the payloads of the first sends,
        built by the caller on its own thread (at most one per message): the app builds the
        first round on the GUI thread, so a variable that does not resolve is an error before
        anything starts, and a secret the resolver must ask the user for is asked there."""
        if not messages:
            raise ValueError("nothing to send: the list of messages is empty")
        if len(prepared) > len(messages):
            raise ValueError("more prepared payloads than messages")
        try:
            conn = self.manager.get(conn_id)
        except KeyError:
            raise ValueError(f"no connection #{conn_id}") from None
        loop = self.manager.loop or asyncio.get_running_loop()
        with self._lock:
            running = sum(1 for s in self._schedules.values() if s.conn_id == conn_id)
            if running >= MAX_PER_CONNECTION:
                raise ValueError(
                    f"{conn.config.label} already runs {running} scheduled sends (the most "
                    f"at once): stop one first"
                )
            schedule = Schedule(
                next(self._ids), loop, conn, tuple(messages), pace, resolve, label,
                tuple(prepared),
            )  # fmt: skip
            self._schedules[schedule.id] = schedule
            if self._unsubscribe is None:
                self._unsubscribe = self.manager.hub.subscribe(self._on_event)
        schedule.done.add_done_callback(lambda _: self._forget(schedule.id))
        if not _on_loop(loop, lambda: schedule._begin(self.manager.hub.publish, self._rng)):
            self._forget(schedule.id)
            raise ValueError("the connections' event loop has ended")
        return schedule

    def stop(self, schedule_id: int, reason: str | None = None) -> None:
        """Stop one schedule (no-op when it already ended)."""
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            return
        schedule.stop_reason = reason
        if not _on_loop(schedule.loop, schedule._cancel):  # the loop ended, and the task with it
            self._forget(schedule_id)

    def stop_connection(self, conn_id: int, reason: str | None = None) -> None:
        for schedule in self.schedules(conn_id):
            self.stop(schedule.id, reason)

    def schedules(self, conn_id: int | None = None) -> list[Schedule]:
        """The schedules still running (of one connection, or all)."""
        with self._lock:
            found = list(self._schedules.values())
        return [s for s in found if conn_id is None or s.conn_id == conn_id]

    def close(self) -> None:
        for schedule in self.schedules():
            self.stop(schedule.id)
        with self._lock:
            self._stop_observing()

    def _forget(self, schedule_id: int) -> None:
        with self._lock:
            self._schedules.pop(schedule_id, None)
            if not self._schedules:
                self._stop_observing()

    def _stop_observing(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        """Every event passes here (the hub's callbacks are O(1)); two kinds end schedules."""
        kind = type(event)
        if kind is StateChanged:
            if event.new is ConnState.CLOSED and self._schedules:  # type: ignore[union-attr]
                self.stop_connection(event.conn_id, "stopped: the connection closed")
        elif kind is ConnectionRemoved and self._schedules:
            self.stop_connection(event.conn_id, "stopped: the connection was removed")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> bool:
    """Call `fn` on `loop`: now when that is the caller's loop, else soon (thread-safe).
    False when the loop has closed (nothing runs there any more)."""
    if _running_loop() is loop:
        fn()
        return True
    try:
        loop.call_soon_threadsafe(fn)
    except RuntimeError:
        return False
    return True
