"""SocketScope's embedded test server: the room protocol of PROTOCOL.md on plain asyncio.

`RoomServer` runs on the caller's loop; `EmbeddedServer` gives it a thread of its own. No Qt here.

The names below are imported from their modules when first used (PEP 562), so that importing
one of them, or `core.server.config`, does not pull in websockets, msgpack and PyJWT (with
cryptography) at once: the desktop app shows its window before it needs any of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import RoomServer
    from .config import ServerConfig
    from .events import RoomSnapshot, ServerLogEntry, ServerSnapshot
    from .thread import EmbeddedServer, ServerStartError
    from .tokens import TokenError, make_token, verify_token

_WHERE = {
    "EmbeddedServer": "thread",
    "RoomServer": "app",
    "RoomSnapshot": "events",
    "ServerConfig": "config",
    "ServerLogEntry": "events",
    "ServerSnapshot": "events",
    "ServerStartError": "thread",
    "TokenError": "tokens",
    "make_token": "tokens",
    "verify_token": "tokens",
}

__all__ = [
    "EmbeddedServer",
    "RoomServer",
    "RoomSnapshot",
    "ServerConfig",
    "ServerLogEntry",
    "ServerSnapshot",
    "ServerStartError",
    "TokenError",
    "make_token",
    "verify_token",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
