"""What the window's shutdown stops besides the connections: a running load run (its Locust or
local-runner subprocesses) and the embedded server, or every instance of the server panel's local
cluster and its redis-server. Each waits on a worker thread, never on the GUI thread."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def stop_load(window: MainWindow) -> asyncio.Future[None] | None:
    """The load run's stop, started now (it may take seconds: it runs beside the rest of the
    shutdown); None when no run goes."""
    panel = window.panels.get("load")
    session = getattr(panel, "session", None)  # None: a placeholder, or no run yet
    if panel is None or session is None or not session.running:
        return None

    async def stop() -> None:
        try:
            await panel.stop_run()
        except Exception:
            log.exception("stopping the load run failed")

    return asyncio.ensure_future(stop())


async def stop_server(window: MainWindow) -> None:
    cluster = getattr(window.panels.get("server"), "cluster", None)
    server = window.bridge.server if window.bridge is not None else None
    stop = cluster.stop if cluster is not None else server.stop if server is not None else None
    if stop is None:
        return
    try:
        await asyncio.to_thread(stop)
    except Exception:
        log.exception("stopping the embedded server failed")
