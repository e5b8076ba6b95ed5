"""A python-socketio AsyncServer served by uvicorn: namespaces "/" and "/chat", an event that
acks, a binary event that echoes its attachment, and rooms.

Events (both namespaces):
- `chat` (data) -> ack `{"ok": true, "echo": data}`; also emitted as `chat` to the sender's rooms;
- `join` (room) -> enters the room, ack `{"joined": room}`, and emits `joined` to the room;
- `upload` (bytes) -> ack `{"size": n}` and emits `download` with the same bytes back (binary);
- `echo` (data) -> ack with the data as it came.
`SocketIOServer.connects`/`disconnects` count namespace connections (every namespace).
"""

from __future__ import annotations

from typing import Any

from tests.servers.common import Endpoint, UvicornThread

NAMESPACES = ("/", "/chat")


class Counts:
    connects = 0
    disconnects = 0


def make_app(ping_interval: float, ping_timeout: float, counts: Counts) -> Any:
    import socketio

    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=ping_interval,
                               ping_timeout=ping_timeout, cors_allowed_origins="*")

    for namespace in NAMESPACES:
        register(sio, namespace, counts)
    return socketio.ASGIApp(sio)


def register(sio: Any, namespace: str, counts: Counts) -> None:
    async def connect(sid: str, environ: dict, auth: Any = None) -> None:
        counts.connects += 1
        await sio.enter_room(sid, "lobby", namespace=namespace)

    async def disconnect(sid: str, *reason: Any) -> None:
        counts.disconnects += 1

    async def echo(sid: str, data: Any = None) -> Any:
        return data

    async def chat(sid: str, data: Any) -> dict:
        await sio.emit("chat", data, room="lobby", skip_sid=sid, namespace=namespace)
        return {"ok": True, "echo": data}

    async def join(sid: str, room: str) -> dict:
        await sio.enter_room(sid, room, namespace=namespace)
        await sio.emit("joined", {"room": room, "sid": sid}, room=room, namespace=namespace)
        return {"joined": room}

    async def upload(sid: str, data: bytes) -> dict:
        await sio.emit("download", data, to=sid, namespace=namespace)
        return {"size": len(data)}

    sio.on("connect", connect, namespace=namespace)
    sio.on("disconnect", disconnect, namespace=namespace)
    sio.on("echo", echo, namespace=namespace)
    sio.on("chat", chat, namespace=namespace)
    sio.on("join", join, namespace=namespace)
    sio.on("upload", upload, namespace=namespace)


class SocketIOServer(Counts):
    def __init__(self, ping_interval: float = 25.0, ping_timeout: float = 20.0) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.thread = UvicornThread(make_app(ping_interval, ping_timeout, self),
                                    "python-socketio")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.thread.port}/socket.io/?EIO=4&transport=websocket"

    def start(self) -> Endpoint:
        startup = self.thread.start()
        return Endpoint(self.url, None, "python-socketio", startup,
                        {"ping_interval": self.ping_interval, "ping_timeout": self.ping_timeout})

    def stop(self) -> None:
        self.thread.stop()


def running(ping_interval: float = 25.0, ping_timeout: float = 20.0) -> SocketIOServer:
    """A started server (stop() it), for tests that want its counts beside the URL."""
    server = SocketIOServer(ping_interval, ping_timeout)
    server.start()
    return server
