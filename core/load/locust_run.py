"""Distributed runs on Locust: a master and N workers as subprocesses (Locust is gevent-based
and never runs inside our asyncio or qasync process), driven through the master's web API on
127.0.0.1 (/swarm, /stop, /stats/requests), polled once a second. Locust's own CSV and JSON
results are written into the run's output directory."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.load.locustfile import write_locustfile
from core.load.plan import LoadPlan
from core.load.stats import LoadStats, RateMeter, from_locust

START_TIMEOUT = 60.0  # for the master's web API and every worker to report in
SETTLE_TIMEOUT = 20.0  # after /stop, for the workers' last reports
STEADY = 6.0  # unchanged this long after stopping: final (reports every 3 s, API cache 2 s)
# LOCUST_PYTHON: an interpreter with locust and websocket-client, when ours has neither.
PYTHON_ENV = "LOCUST_PYTHON"


class LocustError(RuntimeError):
    """Locust could not be started or driven, in one line (with its log's last line)."""


@dataclass
class LocustOptions:
    workers: int = 1
    out_dir: Path = Path("load-results")
    python: str = field(default_factory=lambda: os.environ.get(PYTHON_ENV) or sys.executable)
    bind_host: str = "127.0.0.1"  # where workers reach the master; another host's address
    master_port: int = 0  # 0 picks a free one
    extra_workers: int = 0  # started by hand on other machines; the run waits for them too


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LocustCluster:
    """The processes of one run; a context manager that always stops every one of them."""

    def __init__(self, plan: LoadPlan, options: LocustOptions) -> None:
        self.plan, self.options = plan, options
        self.out = Path(options.out_dir)
        self.locustfile = self.out / "locustfile.py"
        self.web_port = free_port()
        self.master_port = options.master_port or free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.api = f"http://127.0.0.1:{self.web_port}"

    # ---- processes ---------------------------------------------------------------------------

    def __enter__(self) -> LocustCluster:
        self.out.mkdir(parents=True, exist_ok=True)
        write_locustfile(self.plan, self.locustfile)
        try:
            self._spawn("master", [
                "--master", "--master-bind-host", self.options.bind_host,
                "--master-bind-port", str(self.master_port),
                "--web-host", "127.0.0.1", "--web-port", str(self.web_port),
                "--csv", str(self.out / "locust"), "--json-file", str(self.out / "locust"),
                "--stop-timeout", "0"])
            for i in range(self.options.workers):
                self._spawn(f"worker{i + 1}", [
                    "--worker", "--master-host", "127.0.0.1",
                    "--master-port", str(self.master_port)])
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.out / f"{name}.log"
        command = [self.options.python, "-m", "locust", "-f", str(self.locustfile),
                   "--loglevel", "INFO", *args]
        with log.open("wb") as f:
            self.processes[name] = subprocess.Popen(
                command, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.out)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master first: it writes its JSON results and tells the workers."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
            if process.poll() is None:
                process.kill()
                process.wait(timeout)
        self.processes.clear()

    def remote_worker_command(self, host: str | None = None) -> str:
        """What to run on another machine (with locust and websocket-client): the locustfile
        comes from the master. The master must listen on an address that machine reaches."""
        where = host or self.options.bind_host
        if where in ("0.0.0.0", "*", "::"):
            where = socket.gethostname()
        return shlex.join(["python", "-m", "locust", "-f", "-", "--worker",
                           "--master-host", where, "--master-port", str(self.master_port)])

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise LocustError(f"the Locust {name} ended early (exit {process.returncode}): "
                                  f"{self._last_error(name)} (logs in {self.out})")

    def _last_error(self, name: str) -> str:
        lines = [ln.strip() for ln in
                 (self.out / f"{name}.log").read_text(errors="replace").splitlines()
                 if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        return errors[-1][:300] if errors else "it wrote nothing"

    # ---- the web API -------------------------------------------------------------------------

    def request(self, path: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with urllib.request.urlopen(self.api + path, data=data, timeout=10) as reply:
            doc: dict[str, Any] = json.loads(reply.read())
            return doc

    def wait_ready(self, timeout: float = START_TIMEOUT,
                   stop: threading.Event | None = None) -> None:
        expected = self.options.workers + self.options.extra_workers
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                raise LocustError("stopped before the workers were ready")
            self.check_alive()
            with contextlib.suppress(OSError, ValueError):
                seen = int(self.request("/stats/requests").get("worker_count", 0))
                if seen >= expected:
                    return
            time.sleep(0.25)
        raise LocustError(f"only {seen} of {expected} Locust workers reported in "
                          f"within {timeout:g} s (logs in {self.out})")

    def stats(self, t: float) -> LoadStats:
        return from_locust(self.request("/stats/requests"), t)


def run_locust(
    plan: LoadPlan, options: LocustOptions, on_stats: Callable[[LoadStats], None],
    on_ready: Callable[[LocustCluster], None] | None = None, interval: float = 1.0,
    stop: threading.Event | None = None,
) -> LoadStats:
    """Starts the cluster, swarms, polls every `interval`, stops after the plan's duration (or
    once `stop` is set) and returns the final figures (those Locust's JSON results also hold)."""
    stop = stop or threading.Event()
    with LocustCluster(plan, options) as cluster:
        cluster.wait_ready(stop=stop)
        if on_ready is not None:
            on_ready(cluster)
        meter = RateMeter()
        reply = cluster.request("/swarm", {"user_count": plan.users,
                                           "spawn_rate": plan.spawn_rate})
        if not reply.get("success"):
            raise LocustError(f"Locust did not start the run: {reply.get('message')}")
        started = time.monotonic()
        for t in _ticks(started, plan.duration, interval, stop):
            cluster.check_alive()
            on_stats(meter.update(cluster.stats(t)))
        cluster.request("/stop", {})
        return _settle(cluster, started, meter, on_stats, interval)


def _ticks(started: float, duration: float, interval: float,
           stop: threading.Event) -> Iterator[float]:
    tick = started
    while True:
        tick += interval
        now = time.monotonic()
        if tick - started > duration:
            stop.wait(max(0.0, started + duration - now))
            return
        if stop.wait(max(0.0, tick - now)):
            return
        yield time.monotonic() - started


def _settle(cluster: LocustCluster, started: float, meter: RateMeter,
            on_stats: Callable[[LoadStats], None], interval: float) -> LoadStats:
    """After /stop the workers' last samples arrive with their next report, and the API caches
    its answer for 2 s: the figures are final once stopped and steady for STEADY seconds."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: tuple[Any, ...] | None = None
    steady_since = time.monotonic()
    while True:
        time.sleep(interval)
        stats = meter.update(cluster.stats(time.monotonic() - started))
        figures = (stats.state, stats.connect, stats.send, stats.reply)
        now = time.monotonic()
        if figures != last:
            last, steady_since = figures, now
        done = stats.state == "stopped" and now - steady_since >= STEADY
        if done or now > deadline:
            on_stats(stats)
            return stats
        on_stats(stats)
