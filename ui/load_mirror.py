"""Samples of a load run in the inspector: a few ordinary monitored connections with the run's
connection settings (its profile, URL and on-open sequence), opened through the facade like any
other, so their frames show in the inspector beside the app's own; removed when the run ends."""

from __future__ import annotations

from dataclasses import replace

from core.facade import Commands, LoadPlan
from ui.bridge import CoreBridge

MAX_MIRRORS = 10


class Mirrors:
    def __init__(self, bridge: CoreBridge) -> None:
        self.bridge = bridge
        self.ids: list[int] = []

    @property
    def commands(self) -> Commands:
        return self.bridge.commands

    def open(self, plan: LoadPlan, count: int) -> list[int]:
        """`count` connections named "<scenario> sample N", connecting at once."""
        config = plan.config()
        for n in range(1, min(count, MAX_MIRRORS) + 1):
            sample = replace(config, name=f"{plan.name} sample {n}")
            self.ids.append(self.commands.add(sample, connect=True))
        return list(self.ids)

    def close(self) -> None:
        """Remove them (on the core's loop; a failure is a status-bar line)."""
        ids, self.ids = self.ids, []
        known = set(self.commands.ids())
        for conn_id in ids:
            if conn_id in known:
                self.bridge.run(self.commands.remove(conn_id), "Remove a load sample")
