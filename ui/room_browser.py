"""The room browser: rooms and members of the selected connection's server, kept live.

For servers that speak PROTOCOL.md (they greet with `{"type":"connected","clientId":...}` or
answer `list_rooms`) the tree comes from `list_rooms` and is then patched from the `presence`
events in the connection's traffic, plus a periodic refresh. For any other server, rooms are
inferred from observed messages that carry a `room` field. Frames are parsed lazily: only those
whose payload contains the few marker words below.

The reading of traffic is ui/room_scan.py's; the parsing, ui/room_traffic.py's.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
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

from core.facade import NotOpen, RequestTimeout
from core.states import ConnState
from ui import theme
from ui.bridge import CoreBridge
from ui.connection_text import display_name
from ui.elided_label import ElidedLabel
from ui.room_menu import room_menu
from ui.room_scan import RoomScan
from ui.room_traffic import ConnRooms, Joined, message_data, valid_room
from ui.rooms_model import COL_ID, COL_MEMBERS, COL_NAME, RoomsModel

REFRESH_MS = 5_000  # periodic list_rooms while a protocol connection is shown
RECHECK_MS = 1_500  # second list_rooms after a greeting
REQUEST_TIMEOUT = 5.0

NO_PROTOCOL = "This server does not speak the SocketScope room protocol; no rooms seen in traffic."
INFERRED = (
    'Rooms inferred from traffic (messages carrying a "room" field). This server does not '
    "speak the SocketScope room protocol, so members and joins are not reported."
)
_Joined = Joined  # the name the tests know it by


class RoomBrowser(RoomScan, QWidget):
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

        self._build_header()
        self._build_tree()
        self._build_layout()
        self._build_timers()
        bridge.tick.connect(self._on_tick)
        self._update_header()

    def _build_header(self) -> None:
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

    def _build_tree(self) -> None:
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

    def _build_layout(self) -> None:
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

    def _build_timers(self) -> None:
        self.poll_timer = QTimer(self)  # list_rooms, for servers that answered one
        self.poll_timer.setInterval(REFRESH_MS)
        self.poll_timer.timeout.connect(self._periodic)
        self.poll_timer.start()
        self._recheck = QTimer(self)
        self._recheck.setSingleShot(True)
        self._recheck.setInterval(RECHECK_MS)
        self._recheck.timeout.connect(self._periodic)

    # ----- selection -----------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        """Show the first selected connection (none: an empty browser with a hint)."""
        conn_id = conn_ids[0] if conn_ids else None
        if conn_id == self.conn_id:
            return
        live = set(self.bridge.commands.ids())
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

    def connection(self) -> int | None:
        """The connection shown, while it exists."""
        conn_id = self.conn_id
        return conn_id if conn_id is not None and conn_id in self.bridge.commands.ids() else None

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
        info = self._info_for(conn)
        key = (conn, info.client_id)  # the client id changes with every reconnect
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

    async def _list_rooms(self, conn: int) -> None:
        info = self._info_for(conn)
        reply = await self._request(conn, {"type": "list_rooms"}, "List rooms")
        if reply is None:
            if self.bridge.state_of(conn) is ConnState.OPEN:  # unanswered (not cut off by a close)
                info.silent = True
            return
        if reply.get("type") == "rooms" and isinstance(reply.get("rooms"), list):
            # The tree is updated from the same reply frame in the tick, in order with presence.
            info.protocol = info.answered = True
            info.silent = False
            if conn == self.conn_id:
                self._set_error("")
        elif reply.get("type") == "error" and info.protocol:
            self._set_error(f"List rooms failed: {reply.get('message') or reply.get('error')}")
        else:
            info.protocol = False
            if conn == self.conn_id:
                self._set_error("")
                info.dirty = set(info.inferred)
                self._show_inferred(info)
        self._update_header()

    def _act(self, message: dict[str, Any], what: str) -> asyncio.Task[Any] | None:
        conn = self._open_connection(report=True)
        if conn is None:
            return None
        if not self._info_for(conn).protocol:
            self._set_error(f"{what}: this server does not speak the SocketScope room protocol.")
            return None
        return self.bridge.run(self._do(conn, message, what), what)

    async def _do(self, conn: int, message: dict[str, Any], what: str) -> bool:
        reply = await self._request(conn, message, what)
        if reply is None:
            return False
        if reply.get("type") == "error":
            self._set_error(f"{what} failed: {reply.get('message') or reply.get('error')}")
            return False
        self._set_error("")
        self.bridge.message.emit(f"{what}: done")
        if message["type"] in ("join_room", "leave_room") and conn == self.conn_id:
            self._own_move(message["type"], message["room"], reply)
            self.refresh()  # we get no presence event for our own join or leave
        return True

    async def _request(
        self, conn: int, message: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """The reply message, or None after showing why there is none, in words."""
        try:
            reply = await self.bridge.commands.request(conn, message, timeout=REQUEST_TIMEOUT)
        except RequestTimeout:
            error = f"{what}: the server did not answer within {REQUEST_TIMEOUT:g} s."
        except NotOpen as exc:
            error = f"{what}: not connected ({exc})."
        except (ConnectionError, OSError, KeyError) as exc:
            error = f"{what} failed: {exc}"
        else:
            return reply.message
        if conn == self.conn_id:
            self._set_error(error)
        self.bridge.message.emit(error)
        return None

    def _periodic(self) -> None:
        """Poll servers that answered a `list_rooms` before; a greeting alone is no promise."""
        info = self.info()
        if (info is not None and info.protocol and info.answered and not info.silent
                and self._open_connection() is not None):
            self.refresh()

    # ----- view helpers --------------------------------------------------------------------

    def _open_connection(self, report: bool = False) -> int | None:
        """The connection shown, when it is open (as the ticks told)."""
        conn = self.connection()
        if conn is None:
            if report:
                self._set_error("Select a connection first.")
            return None
        state = self.bridge.state_of(conn)
        if state is not ConnState.OPEN:
            if report:
                label = self.bridge.label_of(conn)
                self._set_error(f"{label} is not connected ({state.value}).")
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
        label = display_name(self.bridge.commands.config(conn))
        self.title.setText(f"Rooms on {label if len(label) <= 60 else label[:60] + '…'}")
        current = self.bridge.state_of(conn)
        state = "" if current is ConnState.OPEN else f"Not connected ({current.value}). "
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
        elif current is ConnState.OPEN or self._received(conn):
            self.note.setText(NO_PROTOCOL)
        else:
            self.note.setText(f"{state}Rooms appear once the connection is open.")

    def _received(self, conn_id: int) -> int:
        snap = self.bridge.series.latest(conn_id)
        return 0 if snap is None else snap.msgs_in

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
        return room_menu(self, index)
