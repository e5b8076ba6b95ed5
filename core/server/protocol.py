"""The room protocol of PROTOCOL.md: decode a client message, act on it, return the replies.

`Hub.handle()` does no I/O of its own: it returns the replies for the sender (the connection
handler sends them, with backpressure) and hands messages for others to `Fanout.deliver()`.
Demo bots use the same `join`/`leave`/`broadcast` methods as clients do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import msgpack

from . import jsonsafe
from .dedup import SeenIds
from .fanout import EncodeError, Fanout
from .rooms import Member, Rooms, valid_room_name

ECHO_LIMIT = 64  # Errors never quote more of the client's input than this.
MAX_ID_LENGTH = 256
MAX_SAFE_INT = 2**53

Reply = dict[str, Any]

INVALID_FORMAT = "Invalid message format"
RATE_LIMITED = "Rate limit exceeded"


class Rejected(Exception):
    """A request the server refuses; the message becomes the error reply."""


def now_ms() -> int:
    return int(time.time() * 1000)


def clip(text: str) -> str:
    return text[:ECHO_LIMIT]


def error(message: str, request_id: Any = None) -> Reply:
    if request_id is None:
        return {"type": "error", "message": message}
    return {"type": "error", "requestId": request_id, "message": message, "error": message}


def _valid_request_id(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= ECHO_LIMIT
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT
    return isinstance(value, float) and math.isfinite(value)


def _valid_message_id(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_ID_LENGTH
    return isinstance(value, int | float) and not isinstance(value, bool)


def decode(raw: str | bytes, binary: bool) -> Any:
    """A message as Python data, or None when it is not JSON (or MessagePack on binary)."""
    try:
        if isinstance(raw, str):
            return jsonsafe.loads(raw)
        if binary:
            return msgpack.unpackb(raw, raw=False)
        return jsonsafe.loads(raw.decode("utf-8"))
    except Exception:  # ValueError, RecursionError, and msgpack's several kinds.
        return None


class Hub:
    """Rooms, exactly-once ids and the message handlers."""

    def __init__(self, rooms: Rooms, seen: SeenIds, fanout: Fanout, max_rooms: int) -> None:
        self.rooms = rooms
        self.seen = seen
        self.fanout = fanout
        self.max_rooms = max_rooms
        self._queries: dict[str, Callable[[Member, dict[str, Any]], Reply]] = {
            "ping": lambda _m, _msg: {"type": "pong", "timestamp": now_ms()},
            "list_rooms": lambda _m, _msg: {"type": "rooms", "rooms": self.rooms.list_rooms()},
            "list_clients": lambda _m, _msg: {
                "type": "clients",
                "clients": self.rooms.list_clients(),
            },
        }
        self._actions: dict[str, Callable[[Member, dict[str, Any]], None]] = {
            "join_room": lambda m, msg: self.join(m, msg.get("room")),
            "leave_room": lambda m, msg: self.leave(m, msg.get("room")),
            "broadcast": lambda m, msg: self.broadcast(m, msg.get("room"), msg.get("data")),
            "private_message": lambda m, msg: self.private_message(
                m, msg.get("targetId"), msg.get("data")
            ),
        }

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, member: Member, raw: str | bytes) -> list[Reply]:
        """Act on one client message; returns the replies to send back to it."""
        msg = decode(raw, member.msgpack)
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return [error(INVALID_FORMAT)]
        request_id = msg.get("requestId")
        if request_id is not None and not _valid_request_id(request_id):
            return [error("Invalid requestId: a string of at most 64 characters or a number")]
        kind: str = msg["type"]
        query = self._queries.get(kind)
        if query is not None:
            reply = query(member, msg)
            if request_id is not None:
                reply["requestId"] = request_id
            return [reply]
        action = self._actions.get(kind)
        if action is None:
            return [error(f"Unknown message type: {clip(kind)}", request_id)]
        msg_id = msg.get("id")
        if msg_id is not None and not _valid_message_id(msg_id):
            return [error("Invalid id: a string of at most 256 characters or a number", request_id)]
        if msg_id is None or not self.seen.seen(member.dedup_key, msg_id):
            try:
                action(member, msg)
            except Rejected as exc:
                return [error(str(exc), request_id)]
            if msg_id is not None:
                self.seen.remember(member.dedup_key, msg_id)
        if request_id is None:
            return []
        return [{"type": "ack", "requestId": request_id}]

    # -- actions (also used by demo bots) -------------------------------------------------------

    def connect(self, member: Member) -> None:
        self.rooms.add(member)

    def disconnect(self, member: Member) -> None:
        """Leave every room (others get presence leave) and unregister."""
        for room, others in self.rooms.remove(member):
            self._presence(others, room, member, "leave")

    def join(self, member: Member, room: object) -> None:
        room = self._room_name(room)
        if room in member.rooms:
            return
        if len(member.rooms) >= self.max_rooms:
            raise Rejected(f"Room limit reached: at most {self.max_rooms} rooms per client")
        others = self.rooms.join(member, room)
        self._presence(others, room, member, "join")

    def leave(self, member: Member, room: object) -> None:
        room = self._room_name(room)
        if room not in member.rooms:
            raise Rejected(f"Not a member of room: {clip(room)}")
        others = self.rooms.leave(member, room)
        self._presence(others, room, member, "leave")

    def broadcast(self, member: Member, room: object, data: Any) -> None:
        room = self._room_name(room)
        if room not in member.rooms:
            raise Rejected(f"Not a member of room: {clip(room)}")
        others = [m for m in self.rooms.members(room) if m is not member]
        message = {
            "type": "broadcast",
            "room": room,
            "data": data,
            "from": member.client_id,
            "timestamp": now_ms(),
        }
        self._deliver(others, message)

    def private_message(self, member: Member, target_id: object, data: Any) -> None:
        if not isinstance(target_id, str):
            raise Rejected("Invalid targetId: expected a client id string")
        target = self.rooms.clients.get(target_id)
        if target is None:
            raise Rejected(f"Unknown target: {clip(target_id)}")
        message = {
            "type": "private_message",
            "data": data,
            "from": member.client_id,
            "timestamp": now_ms(),
        }
        self._deliver([target], message)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _room_name(room: object) -> str:
        if not valid_room_name(room):
            raise Rejected("Invalid room name: 1 to 64 printable characters required")
        assert isinstance(room, str)
        return room

    def _presence(self, others: list[Member], room: str, member: Member, event: str) -> None:
        if others:
            message = {
                "type": "presence",
                "room": room,
                "clientId": member.client_id,
                "name": member.name,
                "event": event,
            }
            self.fanout.deliver(others, message)

    def _deliver(self, members: list[Member], message: Reply) -> None:
        try:
            self.fanout.deliver(members, message)
        except EncodeError as exc:
            raise Rejected(str(exc)) from None
