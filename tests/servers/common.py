"""What every server fixture shares: the endpoint it yields, free ports, bounded waits, and
stopping what it started (a thread running uvicorn, or a subprocess and its process group)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    """Where a test server listens: connect to `url` offering `subprotocol` (None: offer none)."""

    url: str
    subprotocol: str | None
    name: str
    startup: float  # seconds from start to accepting connections, for the report
    options: dict[str, Any] | None = None  # server settings a story may rely on (ping interval)

    @property
    def subprotocols(self) -> list[str] | None:
        """For `websockets.connect(url, subprotocols=...)`."""
        return [self.subprotocol] if self.subprotocol else None


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free port, handed to an in-process server (no race)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float, alive: Callable[[], str | None] | None = None,
                  what: str = "server") -> float:
    """Seconds until `port` accepts a connection; RuntimeError when `timeout` passes or
    `alive()` says (with its reason) the server died first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if port_open(port):
            return time.monotonic() - start
        dead = alive() if alive else None
        if dead:
            raise RuntimeError(f"{what} exited before listening on {HOST}:{port}: {dead}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {HOST}:{port} within {timeout:.0f} s")


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for a start-up failure message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process group we started (start_new_session=True), SIGKILL after `grace`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children left in the group after the leader exited (an Erlang port program, say).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class UvicornThread:
    """An ASGI app served by uvicorn on its own thread and loop, on a pre-bound free port."""

    def __init__(self, app: Any, name: str) -> None:
        import uvicorn

        self.name = name
        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio",
                                ws_ping_interval=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{name}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by start()
            self.error = exc

    def start(self, timeout: float = 10.0) -> float:
        began = time.monotonic()
        self.thread.start()
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"{self.name} (uvicorn) failed to start: {self.error!r}")
            if time.monotonic() - began > timeout:
                self.stop()
                raise RuntimeError(f"{self.name} (uvicorn) did not start within {timeout:.0f} s")
            time.sleep(0.02)
        return time.monotonic() - began

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"{self.name} (uvicorn) did not stop within 10 s")
