"""A private RabbitMQ node with the Web-STOMP plugin (Debian's `rabbitmq-server`), started as a
subprocess in a temporary directory: its own node name, ports, epmd, data, logs and cookie, so
it never meets a system broker. Web-STOMP listens on ws://127.0.0.1:<port>/ws; user guest/guest
is allowed from loopback (the default, said explicitly)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from tests.servers.common import HOST, Endpoint, free_port, stop_process, tail, wait_for_port

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
SUBPROTOCOL = "v12.stomp"
STARTUP_TIMEOUT = 60.0  # typically 5-10 s; CI machines are slower and shared


def missing() -> str | None:
    """Why the broker cannot run here (None when it can)."""
    if not Path(RABBITMQ_SERVER).exists():
        return "RabbitMQ is not installed (apt-get install rabbitmq-server; .ci/run does)"
    if shutil.which("epmd") is None:
        return "Erlang's epmd is not on PATH (it comes with rabbitmq-server's erlang-base)"
    return None


class RabbitStomp:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.ports = {name: free_port() for name in ("amqp", "dist", "epmd", "stomp")}
        self.node = f"ss-{secrets.token_hex(4)}@localhost"
        self.epmd: subprocess.Popen[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "broker.out"

    def environment(self) -> dict[str, str]:
        base = self.base
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{self.ports['amqp']}\n"
            f"web_stomp.tcp.port = {self.ports['stomp']}\n"
            f"web_stomp.tcp.ip = {HOST}\n"
            "loopback_users.guest = true\n")
        (base / "enabled_plugins").write_text("[rabbitmq_web_stomp].\n")
        (base / "env.conf").write_text("")
        (base / ".erlang.cookie").write_text(secrets.token_hex(16))
        (base / ".erlang.cookie").chmod(0o400)
        env = dict(os.environ)
        env.update({
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.ports["amqp"]),
            "RABBITMQ_DIST_PORT": str(self.ports["dist"]),
            "ERL_EPMD_PORT": str(self.ports["epmd"]),
            "ERL_EPMD_ADDRESS": HOST,
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
            "RABBITMQ_PID_FILE": str(base / "broker.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
        })
        return env

    def start(self) -> Endpoint:
        """Starts epmd (ours, on a private port) and the node; waits for Web-STOMP."""
        env = self.environment()
        began = time.monotonic()
        out = self.log.open("wb")
        # Our own epmd in the foreground, so it is ours to stop (Erlang would daemonise one).
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.ports["epmd"])], env=env,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for_port(self.ports["epmd"], 10.0, self._epmd_dead, "epmd")
        self.proc = subprocess.Popen([RABBITMQ_SERVER], env=env, cwd=self.base,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        try:
            wait_for_port(self.ports["stomp"], STARTUP_TIMEOUT, self._broker_dead,
                          "RabbitMQ Web-STOMP")
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- broker output ---\n{tail(self.log)}") from None
        return Endpoint(f"ws://{HOST}:{self.ports['stomp']}/ws", SUBPROTOCOL,
                        "rabbitmq-web-stomp", time.monotonic() - began,
                        {"login": "guest", "passcode": "guest", "host": "/"})

    def _epmd_dead(self) -> str | None:
        code = self.epmd.poll() if self.epmd else None
        return None if code is None else f"exit code {code}"

    def _broker_dead(self) -> str | None:
        code = self.proc.poll() if self.proc else None
        return None if code is None else f"exit code {code}"

    def stop(self) -> None:
        """The node first (SIGTERM makes Erlang stop cleanly), then our epmd."""
        if self.proc is not None:
            stop_process(self.proc, grace=20.0)
        if self.epmd is not None:
            stop_process(self.epmd, grace=5.0)
