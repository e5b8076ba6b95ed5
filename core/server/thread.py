"""Runs a RoomServer on a thread and event loop of its own, so what it serves never stalls a GUI.

Every method here is called from the host's thread. Reads (`snapshot`, `drain_log`) touch only
immutable or lock-guarded data; changes (`set_demo`, `stop`) are handed to the server's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from core.loopthread import close_loop

from .app import RoomServer
from .config import ServerConfig
from .events import ServerLog, ServerLogEntry, ServerSnapshot

__all__ = ["EmbeddedServer", "ServerStartError"]


class ServerStartError(RuntimeError):
    """The server could not listen (port in use, bad TLS files, ...)."""


class EmbeddedServer:
    """A RoomServer on a background thread: `start()`, use `url`, `stop()`."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self._log = ServerLog(self.config.log_capacity)
        self._server: RoomServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # Serialises start() and stop().

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start and block until listening; raises ServerStartError if it cannot."""
        with self._lock:
            if self.running:
                return
            ready = threading.Event()
            failure: list[BaseException] = []
            server = RoomServer(self.config, self._log)
            thread = threading.Thread(
                target=self._run,
                args=(server, ready, failure),
                name="socketscope-server",
                daemon=True,
            )
            thread.start()
            if not ready.wait(timeout):
                self._shutdown(server, thread, timeout)
                raise ServerStartError(f"the server did not start within {timeout:g} s")
            if failure:
                thread.join(timeout)
                raise ServerStartError(self._explain(failure[0])) from failure[0]
            self._server, self._thread = server, thread

    def stop(self, timeout: float = 10.0) -> None:
        """Close every client with 1001, stop listening and end the thread."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is not None and thread is not None:
                self._shutdown(server, thread, timeout)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return self._server is not None and thread is not None and thread.is_alive()

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return self._server.url

    def snapshot(self) -> ServerSnapshot:
        """Clients, rooms and totals as of at most ~0.1 s ago; never blocks on the server."""
        server = self._server
        return server.latest if server is not None else ServerSnapshot()

    def drain_log(self) -> list[ServerLogEntry]:
        """Server events since the last drain, oldest first."""
        return self._log.drain()

    @property
    def log_dropped(self) -> int:
        """Entries lost because nobody drained the log in time."""
        return self._log.dropped

    def set_demo(self, bots: int, rate: float) -> None:
        """Change the demo crowd: `bots` simulated clients sending `rate` messages/s each."""
        self.config.demo_bots, self.config.demo_rate = bots, rate
        server, loop = self._server, self._loop
        if server is not None and loop is not None:
            loop.call_soon_threadsafe(server.set_demo, bots, rate)

    # -- the server thread ----------------------------------------------------------------------

    def _run(
        self, server: RoomServer, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        loop = asyncio.SelectorEventLoop()  # never the policy's loop: a GUI app may replace it
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(server.start())
            except BaseException as exc:
                failure.append(exc)
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
        finally:
            ready.set()
            close_loop(loop)

    def _shutdown(self, server: RoomServer, thread: threading.Thread, timeout: float) -> None:
        loop = self._loop
        if loop is not None and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(server.stop(), loop)
            try:
                future.result(timeout)
            except FutureTimeout:
                future.cancel()
            finally:
                with contextlib.suppress(RuntimeError):  # The loop already closed.
                    loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None

    def _explain(self, exc: BaseException) -> str:
        where = f"{self.config.host}:{self.config.port}"
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            return f"could not start the server on {where}: the port is already in use"
        return f"could not start the server on {where}: {exc}"
