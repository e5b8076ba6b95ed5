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


async def stop_load(window: MainWindow) -> None:
    stop_run = getattr(window.panels.get("load"), "stop_run", None)  # None: a placeholder
    if stop_run is None:
        return
    try:
        await stop_run()
    except Exception:
        log.exception("stopping the load run failed")


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
