"""What the room browser reads from traffic, without Qt: the marker search over joined payloads,
`rooms` replies parsed defensively, rooms inferred from a `room` field, and what is known of each
connection's server."""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate, count
from operator import add
from typing import Any

from core.codecs import parse_object
from core.events import FrameEvent, Opcode

MAX_INFERRED_ROOMS = 1_000
MAX_INFERRED_MEMBERS = 500
ID_FIELDS = ("clientId", "from", "userId", "sender", "user")
NAME_FIELDS = ("name", "username", "user", "nick")
COUNT_FIELDS = ("members", "memberCount", "count", "size")  # a room's size when not a list


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


def infer_room(frame: FrameEvent, info: ConnRooms) -> None:
    """Note the room (and sender) of a message that carries a `room` field."""
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


def prime_at_least(n: int) -> int:
    while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
        n += 1
    return n


def is_data(frame: FrameEvent) -> bool:
    op = frame.opcode
    return op is Opcode.TEXT or op is Opcode.BINARY


class Joined:
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


def member_count(value: Any) -> int | None:
    """A member count as a server gives it: a number, or a list of members."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return len(value) if isinstance(value, list) else None


def parse_rooms(
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
