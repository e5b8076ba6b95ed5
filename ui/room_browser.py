"""The room browser: rooms and members of the selected connection's server, kept live.

For servers that speak PROTOCOL.md (they greet with `{"type":"connected","clientId":...}` or
answer `list_rooms`) the tree comes from `list_rooms` and is then patched from the `presence`
events in the connection's traffic, plus a periodic refresh. For any other server, rooms are
inferred from observed messages that carry a `room` field. Frames are parsed lazily: only those
whose payload contains the few marker words below.

A tick never visits every frame in Python: payloads are joined into one bytes object and searched
for the markers in C, and only the frames with a hit are looked at. A greeting is looked for only
in the first message a connection receives after it opens; room events only while the shown
connection speaks the protocol (or a `list_rooms` reply is awaited); inference looks at a bounded
sample of each tick's frames (room names repeat).
"""

from __future__ import annotations

import asyncio
import json
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate, count
from operator import add, attrgetter
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from core.codecs import parse_object
from core.connection import Connection, NotOpen, RequestTimeout
from core.events import Direction, FrameEvent, Opcode
from core.states import ConnState
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.connections_model import display_name
from ui.elided_label import ElidedLabel
from ui.rooms_model import COL_ID, COL_MEMBERS, COL_NAME, RoomsModel

REFRESH_MS = 5_000  # periodic list_rooms while a protocol connection is shown
RECHECK_MS = 1_500  # second list_rooms after a greeting
REQUEST_TIMEOUT = 5.0
INFER_BUDGET = 500  # frames parsed per tick to infer rooms (room names repeat; skipping is fine)
MAX_INFERRED_ROOMS = 1_000
MAX_INFERRED_MEMBERS = 500
INFER_SCAN_FRAMES = 500  # frames (spread over the tick's batch) searched for a `room` field
INFER_SCAN_BYTES = 64 * 1024  # and about this many of their payload bytes
GREETING_MAX = 512  # a `connected` greeting is small; bigger frames are not scanned for it
GREETING_WINDOW = 5.0  # s after a connection opens (arrival times) that its first message may come
ID_FIELDS = ("clientId", "from", "userId", "sender", "user")
NAME_FIELDS = ("name", "username", "user", "nick")

NO_PROTOCOL = "This server does not speak the SocketScope room protocol; no rooms seen in traffic."
INFERRED = (
    'Rooms inferred from traffic (messages carrying a "room" field). This server does not '
    "speak the SocketScope room protocol, so members and joins are not reported."
)


def valid_room(name: str) -> bool:
    return 0 < len(name) <= 64 and name.isprintable()


def message_data(text: str) -> Any:
    """What the user typed: a JSON value when it parses as one, else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(slots=True)
class InferredRoom:
    seen: int = 0
    members: dict[str, str] = field(default_factory=dict)  # clientId -> name
    shown_members: int = 0  # how many of `members` the model already has


@dataclass(slots=True)
class ConnRooms:
    """What the browser knows about one connection's server, kept for every connection."""

    protocol: bool | None = None  # None: not known yet
    answered: bool = False  # a `rooms` reply came: only then is the list polled
    silent: bool = False  # a `list_rooms` went unanswered: nothing is asked again unbidden
    own_rooms: set[str] = field(default_factory=set)  # joined, by the server's reply
    client_id: str | None = None
    inferred: dict[str, InferredRoom] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # inferred rooms changed since last shown


class RoomBrowser(QWidget):
    """Rooms -> members tree of the first selected connection, with join/leave/broadcast/PM."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = RoomsModel(self)
        self.conn_id: int | None = None
        self._info: dict[int, ConnRooms] = {}
        self._greeting_until: dict[int, float] = {}  # conn_id -> arrival time; see GREETING_WINDOW
        self._random = random.Random(0)  # picks the frames searched for rooms in a flood
        self._inflight: asyncio.Task[Any] | None = None
        self._inflight_key: tuple[int, str | None] | None = None
        self._error = ""

        self.title = ElidedLabel("Rooms", min_chars=4)  # a long name is cut with "…"
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Ask the server for its rooms (list_rooms)")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.join_button = QPushButton("Join room…")
        self.join_button.setToolTip("Join a room by name (join_room)")
        self.join_button.clicked.connect(lambda: self.join_room())

        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(theme.style("error_note"))
        self.error.hide()

        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_ID, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_MEMBERS, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_ID, 120)
        header.resizeSection(COL_MEMBERS, 64)
        self.model.rowsInserted.connect(self._expand_new_rooms)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.join_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addWidget(self.tree, 1)

        self.poll_timer = QTimer(self)  # list_rooms, for servers that answered one
        self.poll_timer.setInterval(REFRESH_MS)
        self.poll_timer.timeout.connect(self._periodic)
        self.poll_timer.start()
        self._recheck = QTimer(self)
        self._recheck.setSingleShot(True)
        self._recheck.setInterval(RECHECK_MS)
        self._recheck.timeout.connect(self._periodic)
        bridge.tick.connect(self._on_tick)
        self._update_header()

    # ----- selection -----------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        """Show the first selected connection (none: an empty browser with a hint)."""
        conn_id = conn_ids[0] if conn_ids else None
        if conn_id == self.conn_id:
            return
        live = {conn.id for conn in self.bridge.manager.list()}
        for gone in [key for key in self._info if key not in live]:
            del self._info[gone]  # removed connections
        self.conn_id = conn_id
        self._error = ""
        self.model.clear()
        info = self._info_for(conn_id) if conn_id is not None else None
        self.model.set_self_id(info.client_id if info else None)
        if info is not None:
            if info.protocol:
                if not info.silent and self._open_connection() is not None:
                    self.refresh()
            else:
                info.dirty = set(info.inferred)
                self._show_inferred(info)
        self._update_header()

    def connection(self) -> Connection | None:
        if self.conn_id is None:
            return None
        try:
            return self.bridge.manager.get(self.conn_id)
        except KeyError:
            return None

    def info(self, conn_id: int | None = None) -> ConnRooms | None:
        """What is known of a connection's server (protocol spoken, own clientId, inferred)."""
        key = self.conn_id if conn_id is None else conn_id
        return self._info.get(key) if key is not None else None

    # ----- actions (slots; each returns the task it started, or None) ----------------------

    def refresh(self) -> asyncio.Task[Any] | None:
        """Ask the server for its rooms; the reply updates the tree when it arrives."""
        conn = self._open_connection(report=True)
        if conn is None:
            return None
        info = self._info_for(conn.id)
        key = (conn.id, info.client_id)  # the client id changes with every reconnect
        if self._inflight is not None and not self._inflight.done():
            if key == self._inflight_key:
                return self._inflight
            self._inflight.cancel()  # asked on a previous connection: its reply never comes
        self._inflight_key = key
        self._inflight = self.bridge.run(self._list_rooms(conn), "List rooms")
        return self._inflight

    def join_room(self, room: str | None = None) -> asyncio.Task[Any] | None:
        if room is None:
            room, ok = QInputDialog.getText(self, "Join room", "Room name (1-64 characters):")
            if not ok:
                return None
        room = room.strip()
        if not valid_room(room):
            self._set_error("A room name has 1 to 64 printable characters.")
            return None
        return self._act({"type": "join_room", "room": room}, f"Join room {room!r}")

    def leave_room(self, room: str | None = None) -> asyncio.Task[Any] | None:
        room = room if room is not None else self._selected_room()
        if not room:
            self._set_error("Select a room to leave.")
            return None
        return self._act({"type": "leave_room", "room": room}, f"Leave room {room!r}")

    def broadcast_to_room(
        self, room: str | None = None, text: str | None = None
    ) -> asyncio.Task[Any] | None:
        room = room if room is not None else self._selected_room()
        if not room:
            self._set_error("Select a room to broadcast to.")
            return None
        if text is None:
            text, ok = QInputDialog.getMultiLineText(
                self, "Broadcast to room", f"Message to everyone in {room} (text or JSON):"
            )
            if not ok:
                return None
        message = {"type": "broadcast", "room": room, "data": message_data(text)}
        return self._act(message, f"Broadcast to {room!r}")

    def private_message(
        self, client_id: str | None = None, text: str | None = None
    ) -> asyncio.Task[Any] | None:
        if client_id is None:
            member = self.model.member_at(self.tree.currentIndex())
            client_id = member.client_id if member else None
        if not client_id:
            self._set_error("Select a member to message.")
            return None
        if text is None:
            text, ok = QInputDialog.getMultiLineText(
                self, "Private message", f"Message to {client_id} (text or JSON):"
            )
            if not ok:
                return None
        message = {"type": "private_message", "targetId": client_id, "data": message_data(text)}
        return self._act(message, f"Private message to {client_id}")

    # ----- requests ------------------------------------------------------------------------

    async def _list_rooms(self, conn: Connection) -> None:
        info = self._info_for(conn.id)
        reply = await self._request(conn, {"type": "list_rooms"}, "List rooms")
        if reply is None:
            if conn.state is ConnState.OPEN:  # unanswered (not cut off by a close)
                info.silent = True
            return
        if reply.get("type") == "rooms" and isinstance(reply.get("rooms"), list):
            # The tree is updated from the same reply frame in the tick, in order with presence.
            info.protocol = info.answered = True
            info.silent = False
            if conn.id == self.conn_id:
                self._set_error("")
        elif reply.get("type") == "error" and info.protocol:
            self._set_error(f"List rooms failed: {reply.get('message') or reply.get('error')}")
        else:
            info.protocol = False
            if conn.id == self.conn_id:
                self._set_error("")
                info.dirty = set(info.inferred)
                self._show_inferred(info)
        self._update_header()

    def _act(self, message: dict[str, Any], what: str) -> asyncio.Task[Any] | None:
        conn = self._open_connection(report=True)
        if conn is None:
            return None
        if not self._info_for(conn.id).protocol:
            self._set_error(f"{what}: this server does not speak the SocketScope room protocol.")
            return None
        return self.bridge.run(self._do(conn, message, what), what)

    async def _do(self, conn: Connection, message: dict[str, Any], what: str) -> bool:
        reply = await self._request(conn, message, what)
        if reply is None:
            return False
        if reply.get("type") == "error":
            self._set_error(f"{what} failed: {reply.get('message') or reply.get('error')}")
            return False
        self._set_error("")
        self.bridge.message.emit(f"{what}: done")
        if message["type"] in ("join_room", "leave_room") and conn.id == self.conn_id:
            self._own_move(message["type"], message["room"], reply)
            self.refresh()  # we get no presence event for our own join or leave
        return True

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
            count = _member_count(reply.get("members"))
            self.model.joined(room, info.client_id,
                              name if isinstance(name, str) else info.client_id, count)
        self._update_header()

    async def _request(
        self, conn: Connection, message: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """The reply message, or None after showing why there is none, in words."""
        try:
            reply = await conn.request(message, timeout=REQUEST_TIMEOUT)
        except RequestTimeout:
            error = f"{what}: the server did not answer within {REQUEST_TIMEOUT:g} s."
        except NotOpen as exc:
            error = f"{what}: not connected ({exc})."
        except (ConnectionError, OSError) as exc:
            error = f"{what} failed: {exc}"
        else:
            return reply.message
        if conn.id == self.conn_id:
            self._set_error(error)
        self.bridge.message.emit(error)
        return None

    def _periodic(self) -> None:
        """Poll servers that answered a `list_rooms` before; a greeting alone is no promise."""
        info = self.info()
        if (info is not None and info.protocol and info.answered and not info.silent
                and self._open_connection() is not None):
            self.refresh()

    # ----- traffic -------------------------------------------------------------------------

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
        payloads: list[bytes] | None = None
        # 1. greetings: a protocol server's first message on a new connection
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
        # 2. presence and rooms replies of the connection shown, while it speaks the protocol
        current = self.conn_id
        info = self._info.get(current) if current is not None else None
        if info is not None and (info.protocol or self._awaiting_rooms(current)):
            if payloads is None:
                payloads = list(map(_payload, frames))
            joined = _Joined(payloads)
            found = set(joined.hits(b"presence", len(frames)))
            found.update(joined.hits(b"rooms", len(frames)))
            for i in sorted(found):
                frame = frames[i]
                if (
                    frame.conn_id == current
                    and frame.direction is Direction.IN
                    and _is_data(frame)
                    and info.protocol is not False
                ):
                    self._room_event(frame, info)
        # 3. rooms inferred from a `room` field (servers without the protocol): all of a small
        # batch; of a big one (a flood) every k-th frame from a random first one, k a prime (so
        # that a room that comes every other message is not missed), at most INFER_SCAN_BYTES
        sample = frames
        if len(frames) > INFER_SCAN_FRAMES:
            step = _prime_at_least(max(3, -(-len(frames) // INFER_SCAN_FRAMES)))
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
        for i in _Joined(scan).hits(b"room", INFER_BUDGET):
            frame = sample[i]
            if not _is_data(frame):
                continue
            conn_info = self._info_for(frame.conn_id)
            if not conn_info.protocol and budget > 0:
                budget -= 1
                self._infer(frame, conn_info)

    def _first_message(
        self, conn_id: int, frames: list[FrameEvent], ids: list[int], i: int
    ) -> None:
        """Look at the first incoming data frame of a connection that just opened: a greeting,
        or no greeting will come. Without one in this batch, keep waiting."""
        for _ in range(64):  # sent frames, pings and pongs may come first
            frame = frames[i]
            if frame.direction is Direction.IN and _is_data(frame):
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
            rooms, counts = _parse_rooms(obj["rooms"])
            self.model.set_rooms(rooms, counts)
            me = info.client_id
            for room in info.own_rooms & counts.keys() if me else ():  # counted, not listed:
                self.model.member_joined(room, me, me, counted=False)  # we are one of them
            self._update_header()

    def _infer(self, frame: FrameEvent, info: ConnRooms) -> None:
        obj = parse_object(frame.opcode, frame.payload)
        room = obj.get("room") if obj else None
        if not isinstance(room, str) or not valid_room(room):
            return
        entry = info.inferred.get(room)
        if entry is None:
            if len(info.inferred) >= MAX_INFERRED_ROOMS:
                return
            entry = info.inferred[room] = InferredRoom()
        entry.seen += 1
        assert obj is not None
        sender = next((obj[k] for k in ID_FIELDS if isinstance(obj.get(k), str | int)), None)
        if sender is not None and len(entry.members) < MAX_INFERRED_MEMBERS:
            sender = str(sender)
            if sender not in entry.members:
                name = next((obj[k] for k in NAME_FIELDS if isinstance(obj.get(k), str)), sender)
                entry.members[sender] = name
        info.dirty.add(room)

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

    # ----- view helpers --------------------------------------------------------------------

    def _info_for(self, conn_id: int) -> ConnRooms:
        info = self._info.get(conn_id)
        if info is None:
            info = self._info[conn_id] = ConnRooms()
        return info

    def _open_connection(self, report: bool = False) -> Connection | None:
        conn = self.connection()
        if conn is None:
            if report:
                self._set_error("Select a connection first.")
            return None
        if conn.state is not ConnState.OPEN:
            if report:
                self._set_error(f"{conn.config.label} is not connected ({conn.state.value}).")
            return None
        return conn

    def _selected_room(self) -> str | None:
        room = self.model.room_at(self.tree.currentIndex())
        return room.name if room else None

    def _set_error(self, text: str) -> None:
        self._error = text
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _update_header(self) -> None:
        conn = self.connection()
        info = self.info()
        protocol = bool(info and info.protocol)
        self.join_button.setEnabled(protocol and conn is not None)
        self.refresh_button.setEnabled(conn is not None)
        if conn is None:
            self.title.setText("Rooms")
            self.note.setText("Select a connection to browse its rooms.")
            return
        label = display_name(conn.config)
        self.title.setText(f"Rooms on {label if len(label) <= 60 else label[:60] + '…'}")
        state = "" if conn.state is ConnState.OPEN else f"Not connected ({conn.state.value}). "
        if protocol:
            assert info is not None
            rooms = self.model.rowCount()
            you = f"; you are {info.client_id}" if info.client_id else ""
            stale = "showing the last known rooms. " if state and rooms else ""
            self.note.setText(
                f"{state}{stale}{rooms} room{'s' if rooms != 1 else ''}{you}. "
                "Right-click a room or member for actions."
            )
        elif self.model.rowCount():
            self.note.setText(state + INFERRED)
        elif conn.state is ConnState.OPEN or conn.metrics.msgs_in:
            self.note.setText(NO_PROTOCOL)
        else:
            self.note.setText(f"{state}Rooms appear once the connection is open.")

    def _expand_new_rooms(self, parent: QModelIndex, first: int, last: int) -> None:
        if parent.isValid() or self.model.rowCount() > 50:
            return
        for row in range(first, last + 1):
            self.tree.expand(self.model.index(row, 0))

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.build_menu(self.tree.indexAt(pos))
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def build_menu(self, index: QModelIndex) -> QMenu:
        """The context menu for a room row, a member row or empty space."""
        room = self.model.room_at(index)
        member = self.model.member_at(index)
        info = self.info()
        protocol = bool(info and info.protocol)
        menu = QMenu(self)
        if room is not None:
            joined = self.model.is_member(room.name, info.client_id if info else None)
            shown = room.name.replace("&", "&&")  # not a mnemonic
            join = menu.addAction(f"Join room {shown}")
            join.setEnabled(protocol and not joined)
            join.triggered.connect(lambda: self.join_room(room.name))
            leave = menu.addAction(f"Leave room {shown}")
            leave.setEnabled(protocol and joined)
            leave.triggered.connect(lambda: self.leave_room(room.name))
            hint = "" if joined or not protocol else " (join first)"
            cast = menu.addAction(f"Broadcast to room…{hint}")
            cast.setEnabled(protocol and joined)
            cast.triggered.connect(lambda: self.broadcast_to_room(room.name))
        if member is not None:
            menu.addSeparator()
            pm = menu.addAction(f"Private message to {member.name.replace('&', '&&')}…")
            pm.setEnabled(protocol and member.client_id != (info.client_id if info else None))
            pm.triggered.connect(lambda: self.private_message(member.client_id))
            copy = QAction("Copy client ID", menu)
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(member.client_id))
            menu.addAction(copy)
        if room is None:
            menu.addAction("Join room…").triggered.connect(lambda: self.join_room())
            menu.actions()[-1].setEnabled(protocol)
        menu.addSeparator()
        menu.addAction("Refresh").triggered.connect(lambda: self.refresh())
        return menu


_payload = attrgetter("payload")
_conn_id = attrgetter("conn_id")


def _prime_at_least(n: int) -> int:
    while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
        n += 1
    return n


def _is_data(frame: FrameEvent) -> bool:
    op = frame.opcode
    return op is Opcode.TEXT or op is Opcode.BINARY


class _Joined:
    """Payloads joined into one bytes object, to find which of them hold a marker at C speed:
    Python runs only for the hits. No marker holds a NUL byte, so a hit never spans two."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads
        self._blob: bytes | None = None
        self._ends: list[int] | None = None

    def hits(self, marker: bytes, limit: int) -> list[int]:
        """Indices of the payloads that contain `marker`, ascending, at most `limit`."""
        if not self.payloads or limit <= 0:
            return []
        if self._blob is None:
            self._blob = b"\0".join(self.payloads)
        blob = self._blob
        pos = blob.find(marker)
        if pos < 0:
            return []
        if self._ends is None:  # where payload i ends in the blob (the separator after it)
            self._ends = list(map(add, accumulate(map(len, self.payloads)), count()))
        ends = self._ends
        out: list[int] = []
        while pos >= 0 and len(out) < limit:
            i = bisect_left(ends, pos)
            out.append(i)
            pos = blob.find(marker, ends[i] + 1)
        return out


COUNT_FIELDS = ("members", "memberCount", "count", "size")  # a room's size when not a list


def _member_count(value: Any) -> int | None:
    """A member count as a server gives it: a number, or a list of members."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return len(value) if isinstance(value, list) else None


def _parse_rooms(
    rooms: list[Any],
) -> tuple[list[tuple[str, list[tuple[str, str]]]], dict[str, int]]:
    """The `rooms` array of a reply, defensively (malformed entries are skipped): each room
    with its members, and the counts of rooms given with a number instead of a list."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    counts: dict[str, int] = {}
    for room in rooms:
        if not isinstance(room, dict) or not isinstance(room.get("name"), str):
            continue
        members = []
        raw = room.get("members")
        if not isinstance(raw, list):  # a number, under one name or another
            for key in COUNT_FIELDS:
                value = room.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    counts[room["name"]] = max(value, 0)
                    break
        for member in raw if isinstance(raw, list) else []:
            if isinstance(member, dict) and isinstance(member.get("clientId"), str | int):
                client_id = str(member["clientId"])
                name = member.get("name")
                members.append((client_id, name if isinstance(name, str) else client_id))
        out.append((room["name"], members))
    return out, counts
