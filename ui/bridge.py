"""The one place where core meets Qt: events are buffered in O(1) and handed out once per tick.

The connections publish on the core thread (`core.loopthread.LoopThread`) when there is one;
the buffer is a deque, whose append and popleft are atomic, so nothing here takes a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from PySide6.QtCore import QAbstractEventDispatcher, QObject, QTimer, Signal

from core.events import (
    Event,
    FrameEvent,
    HandshakeInfo,
    LatencySample,
    MessagesDecoded,
    MetricsSnapshot,
    PairsMatched,
    ProtocolDetected,
    StateChanged,
)
from core.facade import Commands, ConnectionManager, EmbeddedServer, LoopThread
from core.states import ConnState
from ui.series import SeriesStore

log = logging.getLogger(__name__)

TICK_MS = 50
BUFFER_LIMIT = 200_000  # events held between two ticks; beyond it the oldest are dropped
# Payload bytes held between two ticks; frames beyond it wait for nothing: they are dropped (and
# counted) until the next tick. With recording on, the recorder's hold slows the reads long
# before this; with it off, a stalled window would otherwise hold 200,000 frames of any size.
BUFFER_BYTES = 64 * 2**20
# During a flood the panels' heavy redraws (a chart plot, the inspector's new rows) and their
# paints start at least this far apart: each takes ~15-30 ms while the GUI thread shares the
# GIL, and two in one pass of the event loop froze the window for 60+ ms.
TURN_MS = 40
_PAYLOAD = attrgetter("payload")
FLOOD_FRAMES = 1_000  # frames in one tick from which the panels count it a flood
CLAIM_S = 0.05  # the longest the core threads wait for a panel to paint after its turn


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Everything that happened since the previous tick, sorted by kind for the models."""

    time: float
    frames: list[FrameEvent] = field(default_factory=list)
    states: list[StateChanged] = field(default_factory=list)
    latencies: list[LatencySample] = field(default_factory=list)
    handshakes: list[HandshakeInfo] = field(default_factory=list)  # one per open or rejection
    # the decoders' events (core.decoders via the connections); `others` carries them too
    protocols: list[ProtocolDetected] = field(default_factory=list)
    decoded: list[MessagesDecoded] = field(default_factory=list)
    pairs: list[PairsMatched] = field(default_factory=list)
    snapshots: list[MetricsSnapshot] = field(default_factory=list)  # a few a second each
    others: list[Event] = field(default_factory=list)
    dropped: int = 0  # events the bridge buffer dropped since the previous tick


class _Buffer:
    """The events between two ticks, bounded in count and in payload bytes. A plain object, not
    the QObject: its push runs for every frame on the core thread, where an attribute of a Qt
    object costs several times one of a slotted Python object."""

    __slots__ = ("_drain_mark", "_dropped", "_events", "_pushed_bytes")

    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=BUFFER_LIMIT)
        self._dropped = 0  # counted by the publishing thread only; the tick reads the increase
        # payload bytes accepted (written by the publishing thread only), and their count when
        # the last tick began (by the GUI thread only): what the buffer holds is the difference
        self._pushed_bytes = self._drain_mark = 0

    def push(self, event: Event) -> None:
        if type(event) is FrameEvent:
            size = len(event.payload)
            held = self._pushed_bytes - self._drain_mark
            if held and held + size > BUFFER_BYTES:  # (one frame of any size always fits)
                self._dropped += 1
                return
            self._pushed_bytes += size
        events = self._events
        if len(events) == BUFFER_LIMIT:
            self._dropped += 1
        events.append(event)

    def push_frames(self, frames: list[FrameEvent]) -> None:
        """One read's data frames (EventHub.publish_frames): in one step when they fit."""
        size = sum(map(len, map(_PAYLOAD, frames)))
        held = self._pushed_bytes - self._drain_mark
        events = self._events
        if held + size <= BUFFER_BYTES and len(events) + len(frames) <= BUFFER_LIMIT:
            self._pushed_bytes += size
            events.extend(frames)
            return
        for frame in frames:  # at a bound: each one is kept or dropped as push() decides
            self.push(frame)

    def take(self) -> tuple[list[Event], int]:
        """The events so far (what arrives meanwhile waits for the next take), and the count of
        all drops since the start."""
        self._drain_mark = self._pushed_bytes  # before the pops: a later push counts till next
        events = self._events
        pop = events.popleft
        return [pop() for _ in range(len(events))], self._dropped


class CoreBridge(QObject):
    """Adapter between the asyncio core and the widgets. Its one state is `series`, the UI's own
    copy of the figures it was sent (ui.series), fed before each tick is handed out: the charts,
    the connections table and the status bar read that, never the core's buffers."""

    tick = Signal(object)  # TickBatch, exactly once per tick
    message = Signal(str)  # a line for the status bar (errors of UI-started actions)

    def __init__(
        self,
        manager: ConnectionManager,
        server: EmbeddedServer | None = None,
        interval_ms: int = TICK_MS,
        parent: QObject | None = None,
        core: LoopThread | None = None,
    ) -> None:
        """`core` is the thread the manager's connections run on; `stop()` ends it."""
        super().__init__(parent)
        self.manager = manager
        self.commands = Commands(manager)  # what widgets act through
        self.server = server
        self.core = core
        self.dropped_total = 0
        self._buffer = _Buffer()
        self.series = SeriesStore()
        self._turn_at = 0.0  # time.monotonic() of the last heavy redraw's turn
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe = manager.hub.subscribe(self._buffer.push, self._buffer.push_frames)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)
        self._timer.start()
        # started by the first tick: on the loop the GUI runs (the manager's, when it has none)
        self._stop_metrics: Callable[[], None] | None = None
        # the GUI thread's working spells, so that an RTT sample they may have delayed is left
        # out (core.priority.Priority.gui_awake); only when the connections run on a thread of
        # their own (`core`): on the GUI's own loop every read is a working spell of the GUI
        self._dispatcher = QAbstractEventDispatcher.instance() if core is not None else None
        if self._dispatcher is not None:
            priority = manager.hub.priority
            self._dispatcher.awake.connect(priority.gui_awake)
            self._dispatcher.aboutToBlock.connect(priority.gui_idle)

    def _drain(self) -> None:
        if self._stop_metrics is None:
            with contextlib.suppress(RuntimeError):  # no loop runs yet: the next tick tries
                self._stop_metrics = self.manager.publish_metrics(self._buffer.push)
        events, dropped_so_far = self._buffer.take()
        dropped = dropped_so_far - self.dropped_total
        self.dropped_total += dropped
        if list(map(type, events)).count(FrameEvent) == len(events):  # a flood: frames only
            self.series.feed((), (), (), ())
            self.tick.emit(TickBatch(time.time(), frames=events, dropped=dropped))
            return
        batch = TickBatch(time.time(), dropped=dropped)
        frames, states, latencies, handshakes, others = (
            batch.frames.append,
            batch.states.append,
            batch.latencies.append,
            batch.handshakes.append,
            batch.others.append,
        )
        for event in events:
            if type(event) is FrameEvent:
                frames(event)
            elif type(event) is StateChanged:
                states(event)
            elif type(event) is LatencySample:
                latencies(event)
            elif type(event) is HandshakeInfo:
                handshakes(event)
            elif type(event) is MessagesDecoded:
                batch.decoded.append(event)
            elif type(event) is PairsMatched:
                batch.pairs.append(event)
            elif type(event) is MetricsSnapshot:
                batch.snapshots.append(event)
            elif type(event) is ProtocolDetected:
                batch.protocols.append(event)
            else:
                others(event)
        self.feed_series(batch)
        self.tick.emit(batch)

    def feed_series(self, batch: TickBatch) -> None:
        """Bring `series` up to date with a batch (the tick does; tests handing a panel their
        own batches call it first)."""
        self.series.feed(batch.latencies, batch.states, batch.snapshots, batch.others,
                         batch.handshakes, batch.protocols)

    def state_of(self, conn_id: int) -> ConnState:
        """A connection's state as the ticks so far told it (CLOSED before any news)."""
        snap = self.series.latest(conn_id)
        return ConnState.CLOSED if snap is None else snap.state

    def protocol_of(self, conn_id: int) -> str | None:
        """The decoder a connection uses as the ticks so far told it (None: raw, or unknown)."""
        entry = self.series.get(conn_id)
        detected = None if entry is None else entry.protocol
        return None if detected is None else detected.protocol

    def label_of(self, conn_id: int) -> str:
        """A connection's label (its name, else its URL); "#id" once it is removed."""
        try:
            return self.commands.config(conn_id).label
        except KeyError:
            return f"#{conn_id}"

    def take_turn(self) -> float:
        """A panel about to redraw heavily during a flood asks for its turn: 0 (taken), or the
        ms to wait, so the event loop (input, timers) runs between two redraws. A turn taken
        claims priority over the core threads until the panel has painted (`redrawn()`)."""
        now = time.monotonic()
        wait = TURN_MS - (now - self._turn_at) * 1000
        if wait > 0:
            return wait
        self._turn_at = now
        self.manager.hub.priority.claim(CLAIM_S)
        return 0.0

    def redrawn(self) -> None:
        """A panel that redraws in turns has painted: the core threads go on."""
        self.manager.hub.priority.release()

    def run(self, coro: Coroutine[Any, Any, Any], what: str = "action") -> asyncio.Task[Any]:
        """Run a coroutine started by a widget; its failure becomes a status-bar message."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.warning("%s failed: %s", what, exc)
                self.message.emit(f"{what} failed: {exc}")

        task.add_done_callback(done)
        return task

    def stop(self) -> None:
        """Call after the connections are closed: it ends the core thread too."""
        self._timer.stop()
        if self._stop_metrics is not None:
            self._stop_metrics()
        if self._dispatcher is not None:
            priority = self.manager.hub.priority
            self._dispatcher.awake.disconnect(priority.gui_awake)
            self._dispatcher.aboutToBlock.disconnect(priority.gui_idle)
            priority.gui_idle()
            self._dispatcher = None
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        if self.core is not None:
            self.core.stop()
