"""MQTT over WebSocket brokers, each a subprocess on a free port of 127.0.0.1 (subprotocol `mqtt`):

- amqtt (MQTT 3.1.1), from its own virtualenv `.venv-amqtt` (made by `make .venv-amqtt`): its
  release pins websockets 15, which the app's websockets 17 excludes, so it cannot share ours;
- Debian's mosquitto (MQTT 3.1.1 and 5), with a websockets listener: amqtt speaks no MQTT 5, so
  the v5 stories run against mosquitto.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.servers.common import HOST, Endpoint, free_port, stop_process, tail, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent
AMQTT = ROOT / ".venv-amqtt" / "bin" / "amqtt"
MOSQUITTO = "/usr/sbin/mosquitto"
SUBPROTOCOL = "mqtt"
STARTUP_TIMEOUT = 30.0


def amqtt_missing() -> str | None:
    if not AMQTT.exists():
        return (f"amqtt's virtualenv is missing ({AMQTT}); `make .venv-amqtt/.installed` makes it "
                "(`make test` does)")
    return None


def mosquitto_missing() -> str | None:
    if not Path(MOSQUITTO).exists() and shutil.which("mosquitto") is None:
        return "mosquitto is not installed (apt-get install mosquitto; .ci/run does)"
    return None


class Broker:
    """One broker subprocess: a config file in `base`, started in its own process group."""

    name = "broker"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / f"{self.name}.out"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Endpoint:
        began = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command(), cwd=self.base, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        try:
            wait_for_port(self.port, STARTUP_TIMEOUT, self._dead, self.name)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- {self.name} output ---\n{tail(self.log)}") from None
        return Endpoint(f"ws://{HOST}:{self.port}/mqtt", SUBPROTOCOL, self.name,
                        time.monotonic() - began)

    def _dead(self) -> str | None:
        code = self.proc.poll() if self.proc else None
        return None if code is None else f"exit code {code}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=10.0)


class Amqtt(Broker):
    name = "amqtt"

    def command(self) -> list[str]:
        config = self.base / "amqtt.yaml"
        config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: ws\n"
            f"    bind: {HOST}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n")
        return [str(AMQTT), "-c", str(config)]


class Mosquitto(Broker):
    name = "mosquitto"

    def command(self) -> list[str]:
        config = self.base / "mosquitto.conf"
        config.write_text(
            "per_listener_settings false\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stdout\n"
            # 2.0.11 exits ("Unable to start any listening sockets") with a websockets
            # listener alone; a plain TCP one beside it, also loopback only, avoids that.
            f"listener {free_port()} {HOST}\n"
            f"listener {self.port} {HOST}\n"
            "protocol websockets\n")
        return [shutil.which("mosquitto") or MOSQUITTO, "-c", str(config)]
