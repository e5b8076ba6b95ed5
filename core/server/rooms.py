"""Who is connected and who is in which room; no I/O.

A `Member` is a real connection, a demo bot (then `conn` is None), or in a cluster a client of
another instance (`remote`: no conn, no inbox, so local delivery skips it). Rooms are created on
first join and disappear when their last member leaves. Dicts keep insertion order, so member lists
come out in join order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_ROOM_NAME = 64


def valid_room_name(name: object) -> bool:
    """1-64 printable characters."""
    return isinstance(name, str) and 0 < len(name) <= MAX_ROOM_NAME and name.isprintable()


@dataclass(eq=False)
class Member:
    """A client of the room protocol; compared by identity."""

    client_id: str
    name: str
    dedup_key: str  # Token subject when auth is on, else the client id.
    conn: Any = None  # The connection's `Wire`; None for a bot.
    msgpack: bool = False  # Negotiated the "msgpack" subprotocol: binary frames.
    inbox: Callable[[dict[str, Any]], None] | None = None  # A bot's ear; must not send inline.
    rooms: dict[str, None] = field(default_factory=dict)  # Ordered set.
    instance: str = ""  # In a cluster: the instance holding its socket.
    remote: bool = False  # In a cluster: a client of another instance, known from Redis.

    @property
    def label(self) -> str:
        """The display name, and in a cluster the instance it is on."""
        return f"{self.name} @{self.instance}" if self.instance else self.name

    @property
    def is_bot(self) -> bool:
        return self.conn is None and not self.remote


class Rooms:
    """The membership registry."""

    def __init__(self) -> None:
        self.clients: dict[str, Member] = {}
        self.rooms: dict[str, dict[str, Member]] = {}

    def add(self, member: Member) -> None:
        self.clients[member.client_id] = member

    def remove(self, member: Member) -> list[tuple[str, list[Member]]]:
        """Unregister and leave every room; returns (room, remaining members) per room left."""
        left = [(room, self.leave(member, room)) for room in list(member.rooms)]
        self.clients.pop(member.client_id, None)
        return left

    def join(self, member: Member, room: str) -> list[Member]:
        """Add to `room`; returns the other members (empty when it was already a member)."""
        members = self.rooms.setdefault(room, {})
        if member.client_id in members:
            return []
        others = list(members.values())
        members[member.client_id] = member
        member.rooms[room] = None
        return others

    def leave(self, member: Member, room: str) -> list[Member]:
        """Remove from `room`; returns the remaining members. An empty room disappears."""
        members = self.rooms.get(room)
        member.rooms.pop(room, None)
        if members is None or members.pop(member.client_id, None) is None:
            return []
        if not members:
            del self.rooms[room]
        return list(members.values())

    def members(self, room: str) -> list[Member]:
        return list(self.rooms.get(room, {}).values())

    def is_member(self, member: Member, room: str) -> bool:
        return room in member.rooms

    def list_rooms(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "members": [{"clientId": m.client_id, "name": m.name} for m in members.values()],
            }
            for name, members in sorted(self.rooms.items())
        ]

    def list_clients(self) -> list[dict[str, Any]]:
        return [
            {"clientId": m.client_id, "name": m.name, "rooms": list(m.rooms)}
            | ({"instance": m.instance} if m.instance else {})
            for m in self.clients.values()
        ]
