"""What the server tells its host: frozen snapshots and a bounded, thread-safe event log.

The server thread writes, a GUI thread reads; both types are immutable and the log is guarded by a
lock, so nothing here needs the server's event loop. A full log drops its oldest entries and
counts them rather than growing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

INFO = "info"
WARNING = "warning"
ERROR = "error"


@dataclass(frozen=True)
class ServerLogEntry:
    """One server event in plain words, e.g. kind "rejected", text "401 Unauthorized ..."."""

    time: float  # time.time() when it happened.
    level: str  # "info", "warning" or "error".
    kind: str  # "listening", "handshake", "rejected", "closed", "terminated", "limit", ...
    text: str  # Never contains a token.


@dataclass(frozen=True)
class RoomSnapshot:
    name: str
    members: tuple[str, ...]  # Display names, in join order.


@dataclass(frozen=True)
class ServerSnapshot:
    """Counts and rooms at one moment, cheap to pass across threads."""

    clients: int = 0  # Real WebSocket connections on both paths.
    bots: int = 0  # Simulated demo clients.
    rooms: tuple[RoomSnapshot, ...] = ()
    messages_in: int = 0
    messages_out: int = 0
    rejections: int = 0  # Handshakes refused (401/403/404/429).
    taken_at: float = 0.0


@dataclass
class Stats:
    """Running totals, written only on the server's loop."""

    messages_in: int = 0
    messages_out: int = 0
    rejections: int = 0


class ServerLog:
    """A bounded, thread-safe queue of ServerLogEntry with a count of what overflow dropped."""

    def __init__(self, capacity: int = 2000) -> None:
        self._entries: deque[ServerLogEntry] = deque(maxlen=max(1, capacity))
        self._lock = threading.Lock()
        self._dropped = 0

    def add(self, level: str, kind: str, text: str) -> None:
        entry = ServerLogEntry(time.time(), level, kind, text)
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self._dropped += 1
            self._entries.append(entry)

    def drain(self) -> list[ServerLogEntry]:
        """Everything logged since the last drain, oldest first."""
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
        return entries

    @property
    def dropped(self) -> int:
        return self._dropped
