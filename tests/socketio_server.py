"""A real python-socketio server (ASGI, under uvicorn) on 127.0.0.1, on its own thread and loop.

Its event "echo" answers through the ack with the data it got; the Engine.IO ping interval and
timeout are short so a client that does not answer pings is dropped within seconds.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import socketio
import uvicorn


class SocketIOServer:
    def __init__(self, ping_interval: float = 1.0, ping_timeout: float = 1.0) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi", ping_interval=ping_interval,
                                        ping_timeout=ping_timeout)
        self.connects = 0
        self.disconnects = 0

        @self.sio.event
        async def connect(sid: str, environ: Any) -> None:
            self.connects += 1

        @self.sio.event
        async def disconnect(sid: str, *args: Any) -> None:
            self.disconnects += 1

        @self.sio.event
        async def echo(sid: str, data: Any) -> Any:
            return data

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(socketio.ASGIApp(self.sio), ws="websockets-sansio",
                                lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="socketio-server", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 10.0) -> SocketIOServer:
        self._thread.start()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                return self
            self._thread.join(0.02)
        raise TimeoutError("the python-socketio server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10.0)
        self._sock.close()
