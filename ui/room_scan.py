"""The room browser's reading of each tick's traffic: greetings, presence events and `rooms`
replies of the connection shown, and rooms inferred from other servers' messages.

A tick never visits every frame in Python: payloads are joined into one bytes object and searched
for the markers in C, and only the frames with a hit are looked at. A greeting is looked for only
in the first message a connection receives after it opens; room events only while the shown
connection speaks the protocol (or a `list_rooms` reply is awaited); inference looks at a bounded
sample of each tick's frames (room names repeat).
"""

from __future__ import annotations

import asyncio
import random
from bisect import bisect_left
from itertools import accumulate
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from core.codecs import parse_object
from core.events import Direction, FrameEvent
from core.states import ConnState
from ui.bridge import TickBatch
from ui.room_traffic import (
    ConnRooms,
    Joined,
    infer_room,
    is_data,
    member_count,
    parse_rooms,
    prime_at_least,
)
from ui.rooms_model import RoomsModel

INFER_BUDGET = 500  # frames parsed per tick to infer rooms (room names repeat; skipping is fine)
INFER_SCAN_FRAMES = 500  # frames (spread over the tick's batch) searched for a `room` field
INFER_SCAN_BYTES = 64 * 1024  # and about this many of their payload bytes
GREETING_MAX = 512  # a `connected` greeting is small; bigger frames are not scanned for it
GREETING_WINDOW = 5.0  # s after a connection opens (arrival times) that its first message may come

_payload = attrgetter("payload")
_conn_id = attrgetter("conn_id")


class RoomScan:
    """The traffic half of RoomBrowser (a mixin): it reads the tick, the widget presents."""

    model: RoomsModel
    conn_id: int | None
    _info: dict[int, ConnRooms]
    _greeting_until: dict[int, float]  # conn_id -> arrival time; see GREETING_WINDOW
    _random: random.Random  # picks the frames searched for rooms in a flood
    _inflight: asyncio.Task[Any] | None
    _inflight_key: tuple[int, str | None] | None
    _recheck: QTimer

    if TYPE_CHECKING:  # the widget's, used here

        def refresh(self) -> asyncio.Task[Any] | None: ...

        def _update_header(self) -> None: ...

    def _on_tick(self, batch: TickBatch) -> None:
        current = self.conn_id
        for event in batch.states:
            if event.new is ConnState.OPEN:  # (re)connected: a protocol server greets now
                self._greeting_until[event.conn_id] = event.time + GREETING_WINDOW
        if batch.frames:
            self._scan(batch.frames)
        for event in batch.states:
            if event.conn_id == current:
                self._update_header()
                break
        if current is not None:
            info = self._info.get(current)
            if info is not None and not info.protocol and info.dirty:
                self._show_inferred(info)

    def _scan(self, frames: list[FrameEvent]) -> None:
        """Greetings, room events and inferred rooms of one tick's frames, in three passes; each
        searches joined payloads in C and handles only the frames with a hit."""
        self._scan_greetings(frames)
        payloads = self._scan_room_events(frames)
        self._scan_inferred(frames, payloads)

    def _scan_greetings(self, frames: list[FrameEvent]) -> None:
        """1. greetings: a protocol server's first message on a new connection"""
        waiting = self._greeting_until
        if waiting:
            first = frames[0].time  # a batch is in arrival order
            for conn_id in [c for c, until in waiting.items() if until < first]:
                del waiting[conn_id]
        if waiting:
            ids = list(map(_conn_id, frames))
            first_of = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))
            for conn_id in [c for c in waiting if c in first_of]:
                self._first_message(conn_id, frames, ids, first_of[conn_id])

    def _scan_room_events(self, frames: list[FrameEvent]) -> list[bytes] | None:
        """2. presence and rooms replies of the connection shown, while it speaks the protocol;
        the payloads when it had to list them (for the next pass), else None"""
        payloads: list[bytes] | None = None
        current = self.conn_id
        info = self._info.get(current) if current is not None else None
        if info is not None and (info.protocol or self._awaiting_rooms(current)):
            payloads = list(map(_payload, frames))
            joined = Joined(payloads)
            found = set(joined.hits(b"presence", len(frames)))
            found.update(joined.hits(b"rooms", len(frames)))
            for i in sorted(found):
                frame = frames[i]
                if (
                    frame.conn_id == current
                    and frame.direction is Direction.IN
                    and is_data(frame)
                    and info.protocol is not False
                ):
                    self._room_event(frame, info)
        return payloads

    def _scan_inferred(self, frames: list[FrameEvent], payloads: list[bytes] | None) -> None:
        """3. rooms inferred from a `room` field (servers without the protocol): all of a small
        batch; of a big one (a flood) every k-th frame from a random first one, k a prime (so
        that a room that comes every other message is not missed), at most INFER_SCAN_BYTES"""
        sample = frames
        if len(frames) > INFER_SCAN_FRAMES:
            step = prime_at_least(max(3, -(-len(frames) // INFER_SCAN_FRAMES)))
            sample = frames[self._random.randrange(step) :: step]
        scan = list(map(_payload, sample)) if sample is not frames or payloads is None else payloads
        sizes = list(accumulate(map(len, scan)))
        if sizes[-1] > INFER_SCAN_BYTES:  # from a random point on, wrapping around
            start = self._random.randrange(len(sample))
            sample = sample[start:] + sample[:start]
            scan = scan[start:] + scan[:start]
            sizes = list(accumulate(map(len, scan)))
            scan = scan[: bisect_left(sizes, INFER_SCAN_BYTES) + 1]
        budget = INFER_BUDGET
        for i in Joined(scan).hits(b"room", INFER_BUDGET):
            frame = sample[i]
            if not is_data(frame):
                continue
            conn_info = self._info_for(frame.conn_id)
            if not conn_info.protocol and budget > 0:
                budget -= 1
                infer_room(frame, conn_info)

    def _first_message(
        self, conn_id: int, frames: list[FrameEvent], ids: list[int], i: int
    ) -> None:
        """Look at the first incoming data frame of a connection that just opened: a greeting,
        or no greeting will come. Without one in this batch, keep waiting."""
        for _ in range(64):  # sent frames, pings and pongs may come first
            frame = frames[i]
            if frame.direction is Direction.IN and is_data(frame):
                del self._greeting_until[conn_id]
                payload = frame.payload
                if len(payload) <= GREETING_MAX and b"connected" in payload:
                    self._greeting(frame, self._info_for(conn_id))
                return
            try:
                i = ids.index(conn_id, i + 1)
            except ValueError:
                return

    def _awaiting_rooms(self, conn_id: int) -> bool:
        """A `list_rooms` of this connection is in flight (its reply may say it is a protocol
        server)."""
        task = self._inflight
        key = self._inflight_key
        return task is not None and not task.done() and key is not None and key[0] == conn_id

    def _greeting(self, frame: FrameEvent, info: ConnRooms) -> bool:
        """True when the frame is a PROTOCOL.md greeting (and was taken as one)."""
        obj = parse_object(frame.opcode, frame.payload)
        if not obj or obj.get("type") != "connected":
            return False
        client_id = obj.get("clientId")
        if not isinstance(client_id, str | int):
            return False
        info.protocol = True
        info.client_id = str(client_id)
        if frame.conn_id == self.conn_id:
            self.model.set_self_id(info.client_id)
            self._update_header()
            if not info.silent:
                self.refresh()
            # After a reconnect the server may not have dropped our previous incarnation yet,
            # and nobody sends us its presence leave: look again shortly.
            self._recheck.start()
        return True

    def _room_event(self, frame: FrameEvent, info: ConnRooms) -> None:
        obj = parse_object(frame.opcode, frame.payload)
        if not obj:
            return
        kind = obj.get("type")
        if kind == "presence":
            room, client_id = obj.get("room"), obj.get("clientId")
            if not isinstance(room, str) or not isinstance(client_id, str | int):
                return
            if obj.get("event") == "join":
                name = obj.get("name")
                self.model.member_joined(
                    room, str(client_id), name if isinstance(name, str) else str(client_id)
                )
            elif obj.get("event") == "leave":
                self.model.member_left(room, str(client_id))
            self._update_header()
        elif kind == "rooms" and isinstance(obj.get("rooms"), list):
            info.answered = True
            if not info.protocol:
                info.protocol = True
                self.model.clear()  # inferred rooms give way to the server's own list
            rooms, counts = parse_rooms(obj["rooms"])
            self.model.set_rooms(rooms, counts)
            me = info.client_id
            for room in info.own_rooms & counts.keys() if me else ():  # counted, not listed:
                self.model.member_joined(room, me, me, counted=False)  # we are one of them
            self._update_header()

    def _show_inferred(self, info: ConnRooms) -> None:
        had_rooms = self.model.rowCount() > 0
        for room in sorted(info.dirty):
            entry = info.inferred.get(room)
            if entry is None:
                continue
            members = list(entry.members.items())
            self.model.note_inferred(room, entry.seen, members)
        info.dirty.clear()
        if had_rooms != (self.model.rowCount() > 0):
            self._update_header()

    def _info_for(self, conn_id: int) -> ConnRooms:
        info = self._info.get(conn_id)
        if info is None:
            info = self._info[conn_id] = ConnRooms()
        return info

    def _own_move(self, kind: str, room: str, reply: dict[str, Any]) -> None:
        """Show our own join or leave as the server's reply says, at once: a server may
        answer `members: 1` and list rooms differently (or not at all)."""
        info = self._info_for(self.conn_id) if self.conn_id is not None else None
        if info is None:
            return
        if info.client_id is None:  # no greeting told us who we are: the reply may
            client_id = reply.get("clientId")
            info.client_id = str(client_id) if isinstance(client_id, str | int) else "you"
            self.model.set_self_id(info.client_id)
        if kind == "leave_room":
            info.own_rooms.discard(room)
            self.model.member_left(room, info.client_id)
        else:
            info.own_rooms.add(room)
            name = reply.get("name")
            count = member_count(reply.get("members"))
            self.model.joined(room, info.client_id,
                              name if isinstance(name, str) else info.client_id, count)
        self._update_header()
