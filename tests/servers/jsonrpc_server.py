"""JSON-RPC 2.0 over WebSocket: jsonrpcserver dispatching each text message (single or batch)
behind a plain `websockets` server, subprotocol `jsonrpc` (or none, when none is offered).

Methods: `add(a, b)`, `echo(value)`, `fail(code, message)` (an error reply with that code);
a notification (no id) gets no reply, as the spec says; the server also sends a `tick`
notification after `subscribe_ticks(n)` so server-to-client notifications are seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from typing import Any

with warnings.catch_warnings():  # jsonrpcserver 5 reads its schema with a deprecated call
    warnings.simplefilter("ignore", DeprecationWarning)
    import jsonrpcserver

from tests.servers.common import HOST, Endpoint

SUBPROTOCOL = "jsonrpc"


def make_methods(sent: list[Any]) -> dict[str, Any]:
    from jsonrpcserver import Error, Result, Success

    async def add(a: float, b: float) -> Result:
        return Success(a + b)

    async def echo(value: Any) -> Result:
        return Success(value)

    async def fail(code: int = -32000, message: str = "failed on purpose") -> Result:
        return Error(code, message)

    async def subscribe_ticks(n: int = 2) -> Result:
        sent.append(min(int(n), 100))
        return Success({"ticks": min(int(n), 100)})

    return {"add": add, "echo": echo, "fail": fail, "subscribe_ticks": subscribe_ticks}


async def handle(websocket: Any) -> None:
    import json

    ticks: list[int] = []
    methods = make_methods(ticks)
    async for message in websocket:
        reply = await jsonrpcserver.async_dispatch(message, methods=methods)
        if reply:
            await websocket.send(reply)
        while ticks:
            for i in range(ticks.pop()):
                note = {"jsonrpc": "2.0", "method": "tick", "params": {"n": i + 1}}
                await websocket.send(json.dumps(note))


def select(connection: Any, offered: Any) -> Any:
    """`jsonrpc` when offered; without a subprotocol otherwise (as many JSON-RPC servers run),
    so detection from the first frames can be shown too."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class JsonRpcServer:
    """A `websockets` server on its own thread and loop, on a free port."""

    def __init__(self) -> None:
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="jsonrpc-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self.loop = asyncio.get_running_loop()
        self.stopped = asyncio.Event()
        async with serve(handle, HOST, 0, select_subprotocol=select) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopped.wait()

    def start(self, timeout: float = 10.0) -> Endpoint:
        began = time.monotonic()
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"jsonrpcserver did not start: {self.error!r}")
        return Endpoint(f"ws://{HOST}:{self.port}/rpc", SUBPROTOCOL, "jsonrpcserver",
                        time.monotonic() - began)

    def stop(self) -> None:
        if self.loop is not None and self.stopped is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            raise RuntimeError("jsonrpcserver's websockets server did not stop within 10 s")
