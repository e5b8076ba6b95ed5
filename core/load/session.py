"""A load run on a thread of its own, for a watcher that must not block (the GUI's load panel):
`start()`, `drain()` the stats that arrived since the last call on each UI tick, `stop()`.
The runners themselves work in subprocesses; this thread only waits on them."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from core.load.local_run import LocalRunError, run_local
from core.load.locust_run import LocustCluster, LocustError, LocustOptions, run_locust
from core.load.plan import LoadPlan
from core.load.stats import LoadStats

MAX_PENDING = 3600  # undrained seconds of stats kept (an hour); older ones are dropped, counted


@dataclass
class LoadSession:
    plan: LoadPlan
    local: bool = False
    options: LocustOptions = field(default_factory=LocustOptions)
    final: LoadStats | None = None
    error: str | None = None
    remote_worker_command: str | None = None  # once the Locust workers are ready
    web_ui: str | None = None
    dropped: int = 0

    def __post_init__(self) -> None:
        self._pending: deque[LoadStats] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-session", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the run early; its final figures still arrive."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def drain(self) -> list[LoadStats]:
        with self._lock:
            stats = list(self._pending)
            self._pending.clear()
        return stats

    def _push(self, stats: LoadStats) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(stats)

    def _ready(self, cluster: LocustCluster) -> None:
        self.remote_worker_command = cluster.remote_worker_command()
        self.web_ui = cluster.api

    def _run(self) -> None:
        try:
            if self.local:
                self.final = run_local(self.plan, self._push, stop=self._stop)
            else:
                self.final = run_locust(self.plan, self.options, self._push,
                                        on_ready=self._ready, stop=self._stop)
        except (LocalRunError, LocustError, OSError) as exc:
            self.error = str(exc)
