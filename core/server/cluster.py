"""The room protocol on several instances: the local `Hub`, plus what the backplane carries.

Sockets and membership stay local. Clients of other instances are `remote` members of the local
`Rooms` (no socket, no inbox: local delivery skips them), so `list_rooms`, `list_clients` and the
target check of `private_message` answer for the whole cluster without a round trip. They are
kept from the other instances' events on the channel and re-read from their presence hashes every
heartbeat, which also removes the clients of a crashed instance once its hash expired.

Each local action is delivered locally at once and published once; other instances deliver it to
their own members. Message ids handled for a token subject are written to Redis and loaded when a
client of that subject connects, so a resend after reconnecting to another instance is
recognised (PROTOCOL.md's exactly-once).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Hashable, Iterator
from typing import Any

from .backplane import Backplane, Record, View, pack
from .config import ServerConfig
from .dedup import SeenIds
from .events import WARNING, ServerLog
from .fanout import EncodeError, Fanout
from .protocol import Hub, Rejected, Reply
from .rooms import Member, Rooms

__all__ = ["ClusterHub"]


class ClusterHub(Hub):
    """A `Hub` whose rooms span every instance of the cluster; `await start()`, `await stop()`."""

    def __init__(
        self, rooms: Rooms, seen: SeenIds, fanout: Fanout, config: ServerConfig, log: ServerLog
    ) -> None:
        super().__init__(rooms, seen, fanout, config.max_rooms_per_client)
        self.instance = config.cluster_instance or secrets.token_hex(4)
        self._log = log
        self._window_ms = int(config.dedup_window * 1000)
        self._max_ids = config.dedup_max
        self._remote: dict[str, dict[str, Member]] = {}  # instance -> client id -> member
        self._malformed = 0
        self.backplane = Backplane(
            config, log, self.instance, self._apply, self._resync, self._local_records
        )
        seen.on_remember = self._share_seen
        self._queries["health"] = lambda _m, _msg: {
            "type": "health",
            "status": "ok" if self.backplane.up else "degraded",
            **self.backplane.health(),
        }

    async def start(self) -> None:
        await self.backplane.start()

    async def stop(self) -> None:
        await self.backplane.stop()

    async def admit(self, member: Member) -> None:
        """Before a client's first message: the ids its name had handled on any instance."""
        if member.dedup_key == member.client_id:
            return  # No token subject: nothing can come back under this key.
        for msg_id in await self.backplane.load_seen(member.dedup_key):
            if isinstance(msg_id, Hashable):
                self.seen.remember(member.dedup_key, msg_id, notify=False)

    # -- local actions, then published ----------------------------------------------------------

    def connect(self, member: Member) -> None:
        member.instance = self.instance
        super().connect(member)
        self._announce(member, {"k": "c", "c": member.client_id, "n": member.name})

    def disconnect(self, member: Member) -> None:
        super().disconnect(member)
        if not member.remote:
            self.backplane.publish(
                {"k": "d", "c": member.client_id},
                ("HDEL", self.backplane.key(self.instance), member.client_id),
            )

    def join(self, member: Member, room: object) -> None:
        before = len(member.rooms)
        super().join(member, room)
        if len(member.rooms) != before:
            self._announce(member, {"k": "j", "c": member.client_id, "n": member.name, "r": room})

    def leave(self, member: Member, room: object) -> None:
        super().leave(member, room)
        self._announce(member, {"k": "l", "c": member.client_id, "r": room})

    def _deliver(self, members: list[Member], message: Reply) -> None:
        super()._deliver(members, message)
        if message["type"] == "broadcast":
            event = {"k": "b", "r": message["room"], "m": message}
        elif members and members[0].remote:
            event = {"k": "p", "to": members[0].client_id, "m": message}
        else:
            return
        try:
            self.backplane.publish(event)
        except ValueError as exc:
            raise Rejected(str(exc)) from None

    def _announce(self, member: Member, event: dict[str, Any]) -> None:
        record = pack((member.name, list(member.rooms)))
        key = self.backplane.key(self.instance)
        self.backplane.publish(event, ("HSET", key, member.client_id, record))

    def _share_seen(self, name: str, msg_id: Hashable) -> None:
        if name in self.rooms.clients:
            return  # A client id, not a token subject: no other connection can reuse it.
        now = int(time.time() * 1000)
        key = self.backplane.seen_key(name)
        self.backplane.store(
            ("ZADD", key, now + self._window_ms, pack(msg_id)),
            ("ZREMRANGEBYSCORE", key, "-inf", now),
            ("ZREMRANGEBYRANK", key, 0, -self._max_ids - 1),
            ("PEXPIRE", key, self._window_ms),
        )

    def _local_records(self) -> Iterator[tuple[str, Record]]:
        for member in self.rooms.clients.values():
            if not member.remote:
                yield member.client_id, (member.name, list(member.rooms))

    # -- what other instances did ---------------------------------------------------------------

    def _apply(self, event: dict[str, Any]) -> None:
        """One event from another instance, delivered to our members."""
        try:
            origin, kind = str(event["o"]), event["k"]
            if kind == "b":
                room = event["r"]
                local = [m for m in self.rooms.members(room) if not m.remote]
                self._deliver_local(local, event["m"])
            elif kind == "p":
                target = self.rooms.clients.get(event["to"])
                if target is not None and not target.remote:
                    self._deliver_local([target], event["m"])
            elif kind in ("c", "j"):
                ghost = self._ghost(origin, str(event["c"]), str(event.get("n", "?")))
                if kind == "j":
                    self._remote_join(ghost, str(event["r"]))
            elif kind == "l":
                gone = self._remote.get(origin, {}).get(str(event["c"]))
                if gone is not None:
                    self._remote_leave(gone, str(event["r"]))
            elif kind == "d":
                self._drop(origin, str(event["c"]))
            elif kind == "x":
                for client_id in list(self._remote.get(origin, {})):
                    self._drop(origin, client_id)
        except (KeyError, TypeError, ValueError):
            self._malformed += 1
            if self._malformed == 1:
                self._log.add(WARNING, "cluster", "ignored a malformed event on the channel")

    def _resync(self, view: View, racing: set[str]) -> None:
        """Make the remote members match the instances' presence hashes."""
        for origin in list(self._remote):
            if origin not in view:
                for client_id in list(self._remote[origin]):
                    self._drop(origin, client_id)
                self._remote.pop(origin, None)
        for origin, clients in view.items():
            if origin in racing:
                continue  # An event came in during the read: the next heartbeat decides.
            for client_id in list(self._remote.get(origin, {})):
                if client_id not in clients:
                    self._drop(origin, client_id)
            for client_id, (name, rooms) in clients.items():
                ghost = self._ghost(origin, client_id, name)
                for room in [r for r in ghost.rooms if r not in rooms]:
                    self._remote_leave(ghost, room)
                for room in rooms:
                    self._remote_join(ghost, room)

    def _ghost(self, origin: str, client_id: str, name: str) -> Member:
        known = self._remote.setdefault(origin, {})
        ghost = known.get(client_id)
        if ghost is None:
            ghost = Member(client_id, name, "", instance=origin, remote=True)
            known[client_id] = ghost
            if client_id not in self.rooms.clients:
                self.rooms.add(ghost)
        return ghost

    def _remote_join(self, ghost: Member, room: str) -> None:
        if room not in ghost.rooms:
            self._presence(self.rooms.join(ghost, room), room, ghost, "join")

    def _remote_leave(self, ghost: Member, room: str) -> None:
        if room in ghost.rooms:
            self._presence(self.rooms.leave(ghost, room), room, ghost, "leave")

    def _drop(self, origin: str, client_id: str) -> None:
        ghost = self._remote.get(origin, {}).pop(client_id, None)
        if ghost is None:
            return
        for room in list(ghost.rooms):
            self._remote_leave(ghost, room)
        if self.rooms.clients.get(client_id) is ghost:
            self.rooms.clients.pop(client_id)

    def _deliver_local(self, members: list[Member], message: Any) -> None:
        """Each format on its own: bytes from a msgpack client reach our msgpack members even
        when JSON ones cannot take them (the sender, elsewhere, can no longer be told)."""
        if not isinstance(message, dict):
            return
        for binary in (True, False):
            group = [m for m in members if m.msgpack is binary]
            if group:
                with contextlib.suppress(EncodeError):
                    self.fanout.deliver(group, message)
