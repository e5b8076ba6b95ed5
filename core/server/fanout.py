"""Sending one message to many members without letting a slow one stall the rest.

The message is encoded once per frame type (JSON text, MessagePack binary) and queued to each
connection without waiting (`Wire.queue()`: what one turn of the loop queues to a
connection leaves in one write). A member whose unsent bytes exceed `max_write_buffer` is aborted
instead of buffering without bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from . import jsonsafe
from .events import WARNING, ServerLog, Stats
from .rooms import Member


class EncodeError(ValueError):
    """The message holds a value one of the wire formats cannot carry."""


def encode(obj: dict[str, Any], binary: bool) -> str | bytes:
    """One message in a member's format: MessagePack bytes or escaped JSON text."""
    try:
        return msgpack.packb(obj, use_bin_type=True) if binary else jsonsafe.dumps(obj)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise EncodeError("Message data cannot be encoded") from exc


class Fanout:
    """Delivers to members: bots through their inbox, connections through `Wire.queue()`."""

    def __init__(self, stats: Stats, log: ServerLog, max_write_buffer: int) -> None:
        self._stats = stats
        self._log = log
        self._max_write_buffer = max_write_buffer

    def deliver(self, members: Iterable[Member], obj: dict[str, Any]) -> None:
        """Send `obj` to every member; raises EncodeError before sending anything."""
        text: list[Member] = []
        binary: list[Member] = []
        bots: list[Member] = []
        for member in members:
            if member.conn is None:
                if member.inbox is not None:
                    bots.append(member)
            else:
                (binary if member.msgpack else text).append(member)
        frames = [(group, encode(obj, group is binary)) for group in (text, binary) if group]
        for group, frame in frames:
            data = frame.encode() if isinstance(frame, str) else frame
            for member in group:
                member.conn.queue(data, group is text)
            self._stats.messages_out += len(group)
            self._drop_slow(group)
        for bot in bots:
            assert bot.inbox is not None
            bot.inbox(obj)  # Must not send synchronously (bots reply via call_later).

    def _drop_slow(self, members: list[Member]) -> None:
        for member in members:
            transport = member.conn.transport
            if transport.is_closing():
                continue
            if member.conn.unsent() > self._max_write_buffer:
                self._log.add(
                    WARNING,
                    "limit",
                    f"dropped slow client {member.client_id} ({member.name}): more than "
                    f"{self._max_write_buffer} bytes waiting to be sent",
                )
                transport.abort()
