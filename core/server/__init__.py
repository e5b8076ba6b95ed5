"""SocketScope's embedded test server: the room protocol of PROTOCOL.md on plain asyncio.

`RoomServer` runs on the caller's loop; `EmbeddedServer` gives it a thread of its own. No Qt here.
"""

from .app import RoomServer
from .config import ServerConfig
from .events import RoomSnapshot, ServerLogEntry, ServerSnapshot
from .thread import EmbeddedServer, ServerStartError
from .tokens import TokenError, make_token, verify_token

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
