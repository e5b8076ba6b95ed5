"""Rooms and their members as a two-level tree: an adapter between plain room data and Qt.

Room rows are top level; member rows hang under them. Updates are incremental: `set_rooms()`
diffs a full list (from a `rooms` reply) against what is shown and inserts or removes only the
rows that changed; `member_joined()` / `member_left()` apply one `presence` event. The model is
reset only by `clear()` (when the browser switches connection).

Internal ids: a room row carries id 0; a member row carries the stable key of its room, so
`parent()` finds the room without Python objects in internal pointers.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

MAX_ROOMS = 5_000
MAX_MEMBERS = 5_000  # per room
NAME_LIMIT = 80  # characters of a server-supplied name shown in a cell

COL_NAME, COL_ID, COL_MEMBERS = range(3)
HEADERS = ("Room / member", "Client ID", "Members")

Index = QModelIndex | QPersistentModelIndex


def _clean(value: Any) -> str:
    """A server-supplied string made safe for a single-line cell."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)
    return text if len(text) <= NAME_LIMIT else text[:NAME_LIMIT] + "…"


@dataclass(slots=True)
class MemberRow:
    client_id: str
    name: str


@dataclass(slots=True)
class RoomRow:
    key: int
    name: str
    inferred: bool = False
    seen: int = 0  # messages that mentioned an inferred room
    members: list[MemberRow] = field(default_factory=list)
    count: int | None = None  # members as the server counted them, when it gave no list

    def size(self) -> int:
        """How many members the room has: the server's count, else the rows known."""
        return self.count if self.count is not None else len(self.members)

    def member_row(self, client_id: str) -> int:
        for row, member in enumerate(self.members):
            if member.client_id == client_id:
                return row
        return -1


class RoomsModel(QAbstractItemModel):
    """Room -> members tree; rooms sorted by name, members in join order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rooms: list[RoomRow] = []  # sorted by name
        self._names: list[str] = []  # parallel to _rooms, for bisect
        self._by_key: dict[int, RoomRow] = {}
        self._keys = itertools.count(1)
        self.self_id: str | None = None  # our own clientId: shown in bold
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # ----- queries -------------------------------------------------------------------------

    def room_names(self) -> list[str]:
        return list(self._names)

    def room(self, name: str) -> RoomRow | None:
        row = self._room_row(name)
        return self._rooms[row] if row >= 0 else None

    def room_at(self, index: Index) -> RoomRow | None:
        """The room of a room row, or of a member row's parent."""
        if not index.isValid():
            return None
        key = index.internalId()
        if key == 0:
            return self._rooms[index.row()] if index.row() < len(self._rooms) else None
        return self._by_key.get(key)

    def member_at(self, index: Index) -> MemberRow | None:
        if not index.isValid() or index.internalId() == 0:
            return None
        room = self._by_key.get(index.internalId())
        if room is None or index.row() >= len(room.members):
            return None
        return room.members[index.row()]

    def room_index(self, name: str) -> QModelIndex:
        row = self._room_row(name)
        return self.createIndex(row, 0, 0) if row >= 0 else QModelIndex()

    def is_member(self, room: str, client_id: str | None) -> bool:
        found = self.room(room)
        return bool(found and client_id and found.member_row(client_id) >= 0)

    # ----- updates -------------------------------------------------------------------------

    def clear(self) -> None:
        if not self._rooms:
            return
        self.beginResetModel()
        self._rooms.clear()
        self._names.clear()
        self._by_key.clear()
        self.endResetModel()

    def set_rooms(
        self, rooms: list[tuple[str, list[tuple[str, str]]]], counts: dict[str, int] | None = None
    ) -> None:
        """Show exactly these (room, [(clientId, name)]) with the fewest row changes. A room in
        `counts` came with a member count instead of a list: its known members stay."""
        counts = {_clean(k): v for k, v in (counts or {}).items()}
        wanted: dict[str, list[tuple[str, str]]] = {}
        for name, members in rooms[:MAX_ROOMS]:
            wanted[_clean(name)] = [(_clean(c), _clean(n)) for c, n in members[:MAX_MEMBERS]]
        for row in range(len(self._rooms) - 1, -1, -1):
            if self._rooms[row].name not in wanted:
                self._remove_room(row)
        for name, members in wanted.items():
            row = self._room_row(name)
            if row < 0:
                row = self._insert_room(name, inferred=False)
            room = self._rooms[row]
            if room.inferred:
                room.inferred = False
                self._room_changed(row)
            count = counts.get(name)
            if count != room.count:
                room.count = count
                self._room_changed(row)
            if count is None:
                self._sync_members(row, members)

    def joined(self, room_name: str, client_id: str, name: str, count: int | None) -> None:
        """Our own join as the server's reply to it tells: the room (added if new) with us in
        it, and the member count the reply gave, if any."""
        self.member_joined(room_name, client_id, name)
        row = self._room_row(_clean(room_name))
        if row >= 0 and count is not None and self._rooms[row].count != count:
            self._rooms[row].count = max(count, 0)
            self._room_changed(row)

    def member_joined(
        self, room_name: str, client_id: str, name: str, counted: bool = True
    ) -> None:
        """A member in the room (added if new); `counted`: the server's count grows too."""
        room_name, client_id, name = _clean(room_name), _clean(client_id), _clean(name)
        row = self._room_row(room_name)
        if row < 0:
            if len(self._rooms) >= MAX_ROOMS:
                return
            row = self._insert_room(room_name, inferred=False)
        room = self._rooms[row]
        if room.member_row(client_id) >= 0 or len(room.members) >= MAX_MEMBERS:
            return
        if room.count is not None and counted:
            room.count += 1
        self._append_members(row, [MemberRow(client_id, name)])

    def member_left(self, room_name: str, client_id: str) -> None:
        row = self._room_row(_clean(room_name))
        if row < 0:
            return
        room = self._rooms[row]
        member = room.member_row(_clean(client_id))
        if member < 0:
            return
        parent = self.createIndex(row, 0, 0)
        self.beginRemoveRows(parent, member, member)
        del room.members[member]
        self.endRemoveRows()
        if room.count is not None:
            room.count = max(0, room.count - 1)
        if room.members or room.inferred or room.count:
            self._room_changed(row)
        else:
            self._remove_room(row)  # an empty room disappears, as on the server

    def note_inferred(self, room_name: str, seen: int, members: list[tuple[str, str]]) -> None:
        """An inferred room seen `seen` times, with the senders seen in it (when any)."""
        room_name = _clean(room_name)
        row = self._room_row(room_name)
        if row < 0:
            if len(self._rooms) >= MAX_ROOMS:
                return
            row = self._insert_room(room_name, inferred=True)
        room = self._rooms[row]
        if room.seen != seen:
            room.seen = seen
            self._room_changed(row)
        known = {m.client_id for m in room.members}
        fresh = [MemberRow(_clean(c), _clean(n)) for c, n in members if _clean(c) not in known][
            : MAX_MEMBERS - len(room.members)
        ]
        if fresh:
            self._append_members(row, fresh)

    def set_self_id(self, client_id: str | None) -> None:
        if client_id == self.self_id:
            return
        self.self_id = client_id
        if self._rooms:
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._rooms) - 1, COL_MEMBERS),
                [Qt.ItemDataRole.FontRole],
            )
            for row, room in enumerate(self._rooms):
                if room.members:
                    parent = self.createIndex(row, 0, 0)
                    self.dataChanged.emit(
                        self.index(0, 0, parent),
                        self.index(len(room.members) - 1, COL_MEMBERS, parent),
                        [Qt.ItemDataRole.FontRole],
                    )

    # ----- internals -----------------------------------------------------------------------

    def _room_row(self, name: str) -> int:
        row = bisect.bisect_left(self._names, name)
        return row if row < len(self._names) and self._names[row] == name else -1

    def _insert_room(self, name: str, inferred: bool) -> int:
        row = bisect.bisect_left(self._names, name)
        room = RoomRow(next(self._keys), name, inferred)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rooms.insert(row, room)
        self._names.insert(row, name)
        self._by_key[room.key] = room
        self.endInsertRows()
        return row

    def _remove_room(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        room = self._rooms.pop(row)
        del self._names[row]
        self._by_key.pop(room.key, None)
        self.endRemoveRows()

    def _append_members(self, row: int, members: list[MemberRow]) -> None:
        room = self._rooms[row]
        parent = self.createIndex(row, 0, 0)
        first = len(room.members)
        self.beginInsertRows(parent, first, first + len(members) - 1)
        room.members.extend(members)
        self.endInsertRows()
        self._room_changed(row)

    def _sync_members(self, row: int, members: list[tuple[str, str]]) -> None:
        room = self._rooms[row]
        wanted = dict(members)
        parent = self.createIndex(row, 0, 0)
        changed = False
        for member_row in range(len(room.members) - 1, -1, -1):
            if room.members[member_row].client_id not in wanted:
                self.beginRemoveRows(parent, member_row, member_row)
                del room.members[member_row]
                self.endRemoveRows()
                changed = True
        for member_row, member in enumerate(room.members):
            name = wanted[member.client_id]
            if member.name != name:
                member.name = name
                cell = self.index(member_row, COL_NAME, parent)
                self.dataChanged.emit(cell, cell)
        known = {m.client_id for m in room.members}
        fresh = [MemberRow(c, n) for c, n in wanted.items() if c not in known]
        if fresh:
            self._append_members(row, fresh)
        elif changed:
            self._room_changed(row)

    def _room_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, COL_MEMBERS))

    # ----- QAbstractItemModel --------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(HEADERS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self._rooms) else QModelIndex()
        if parent.internalId() != 0 or parent.column() != 0:
            return QModelIndex()  # members have no children; only column 0 has children
        if parent.row() >= len(self._rooms):
            return QModelIndex()
        room = self._rooms[parent.row()]
        if row >= len(room.members):
            return QModelIndex()
        return self.createIndex(row, column, room.key)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        room = self._by_key.get(index.internalId())
        if room is None:
            return QModelIndex()
        row = self._room_row(room.name)
        return self.createIndex(row, 0, 0) if row >= 0 else QModelIndex()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._rooms)
        if parent.internalId() != 0 or parent.column() != 0 or parent.row() >= len(self._rooms):
            return 0
        return len(self._rooms[parent.row()].members)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(HEADERS)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(HEADERS)
        ):
            return HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = index.column()
        if index.internalId() == 0:
            if index.row() >= len(self._rooms):
                return None
            return self._room_data(self._rooms[index.row()], col, role)
        member = self.member_at(index)
        if member is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                you = " (you)" if member.client_id == self.self_id else ""
                return member.name + you
            if col == COL_ID:
                return member.client_id
            return None
        if role == Qt.ItemDataRole.FontRole and member.client_id == self.self_id:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{member.name}\nclientId: {member.client_id}"
        return None

    def _room_data(self, room: RoomRow, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                return f"{room.name} (inferred)" if room.inferred else room.name
            if col == COL_MEMBERS:
                return room.size()
            if col == COL_ID and room.inferred:
                return f"{room.seen} msgs"
            return None
        if role == Qt.ItemDataRole.FontRole:
            if room.inferred:
                return self._italic
            if self.self_id and room.member_row(self.self_id) >= 0:
                return self._bold
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_MEMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if room.inferred:
                return (
                    f"{room.name}: inferred from {room.seen} messages carrying a 'room' field; "
                    "the server does not report rooms"
                )
            joined = self.self_id and room.member_row(self.self_id) >= 0
            state = "you are a member" if joined else "you are not a member"
            return f"{room.name}: {room.size()} members ({state})"
        return None
