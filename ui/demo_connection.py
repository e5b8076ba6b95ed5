"""The demo connection to the embedded server, for File > Connect to embedded server and the
app's start-up connection. The core is imported only when called (the skeleton imports this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import ConnectionConfig
    from core.facade import EmbeddedServer
    from ui.bridge import CoreBridge

DEMO_ROOMS = ("lobby", "dev")
DEMO_USER = "you"


def embedded_connection_config(server: EmbeddedServer, name: str = "demo (embedded)",
                               user: str = DEMO_USER, path: str = "/") -> ConnectionConfig:
    """A connection to the embedded server: its token, a 1 s heartbeat so the charts move."""
    from core.config import ConnectionConfig, HeartbeatConfig
    from core.facade import make_token

    cfg = server.config
    return ConnectionConfig(
        url=server.url + path,
        name=name,
        token=make_token(cfg.secret, user, None) if cfg.auth else None,
        heartbeat=HeartbeatConfig(interval=1.0, timeout=5.0),
    )


def join_rooms(bridge: CoreBridge, conn_id: int, rooms: tuple[str, ...] = DEMO_ROOMS) -> None:
    """Ask to join demo rooms; sent before the connection opens it waits in the offline queue."""
    import json

    for room in rooms:
        message = json.dumps({"type": "join_room", "room": room})
        bridge.run(bridge.commands.send(conn_id, message), f"Join {room}")
