"""A cluster on this machine: a throwaway `redis-server` and N embedded servers sharing it.

For the server panel and quick tries; real deployments run `main.py serve --redis URL` on each
machine (docs/scaling.md). Redis runs as a child process on a free loopback port without
persistence and is stopped with the cluster. Blocking calls: run them off the GUI thread's
hot paths (they take a second or two).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import replace

from .config import ServerConfig
from .thread import EmbeddedServer, ServerStartError

__all__ = ["LocalCluster"]

MAX_INSTANCES = 8


class LocalCluster:
    """`start()` a Redis child and `instances` servers; `stop()` all of them."""

    def __init__(self, config: ServerConfig, instances: int, binary: str = "redis-server") -> None:
        if not 1 <= instances <= MAX_INSTANCES:
            raise ValueError(f"a local cluster has 1 to {MAX_INSTANCES} instances")
        self.config = config
        self.instances = instances
        self.binary = binary
        self.servers: list[EmbeddedServer] = []
        self.redis_url = ""
        self._redis: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> list[EmbeddedServer]:
        """Redis, then the instances (on consecutive ports from `config.port`, or free ones when
        it is 0); raises ServerStartError in plain words and leaves nothing running."""
        atexit.register(self.stop)  # Never leave a redis-server behind the app.
        try:
            self.redis_url = self._start_redis(timeout)
            for i in range(self.instances):
                port = self.config.port + i if self.config.port else 0
                config = replace(
                    self.config, port=port, redis_url=self.redis_url, cluster_instance=f"#{i + 1}",
                    demo_bots=self.config.demo_bots if i == 0 else 0,  # One crowd, not N.
                )
                server = EmbeddedServer(config)
                server.start(timeout)
                self.servers.append(server)
        except BaseException:
            self.stop()
            raise
        return self.servers

    @property
    def redis_running(self) -> bool:
        return self._redis is not None and self._redis.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        atexit.unregister(self.stop)
        for server in self.servers:
            server.stop(timeout)
        self.servers.clear()
        redis, self._redis = self._redis, None
        if redis is not None:
            redis.terminate()
            try:
                redis.wait(timeout)
            except subprocess.TimeoutExpired:
                redis.kill()
                redis.wait(timeout)

    def _start_redis(self, timeout: float) -> str:
        binary = shutil.which(self.binary)
        if binary is None:
            raise ServerStartError(
                f"{self.binary} is not installed: a local cluster needs Redis "
                "(e.g. apt-get install redis-server)"
            )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        self._redis = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._redis.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", port), timeout=0.5
            ) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        raise ServerStartError(f"{self.binary} did not answer on port {port}")
