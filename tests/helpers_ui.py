"""Small helpers for GUI tests that run on the qasync loop (never nest a Qt event loop there)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll `predicate` every 50 ms until it is truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def shown(bridge, conn_id: int, state: object, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Until the UI knows the connection's state (a tick told it): widgets act on what they
    were told, not on the core's objects."""
    await until(lambda: bridge.state_of(conn_id) is state, timeout, f"the UI shows {state}")


def make_bridge(server: object = None):  # type: ignore[no-untyped-def]
    """A CoreBridge over a fresh ConnectionManager whose connections run on a core thread, as
    in the app (and optionally an EmbeddedServer); `bridge.stop()` ends that thread."""
    from core.loopthread import LoopThread
    from core.manager import ConnectionManager
    from ui.bridge import CoreBridge

    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)
    return CoreBridge(manager, server, core=core)  # type: ignore[arg-type]


def dispose(*objects: object) -> None:
    """Delete Qt objects now, on this (the GUI) thread, timers stopped first.

    Left to Python's cyclic GC, a widget may be destroyed on whatever thread happens to collect
    (the embedded server's, a to_thread worker): Qt then cannot stop its timers ("Timers cannot
    be stopped from another thread") and a later timer event crashes the process."""
    import shiboken6
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QWidget

    for obj in objects:
        if not isinstance(obj, QObject) or not shiboken6.isValid(obj):
            continue
        for timer in obj.findChildren(QTimer):
            timer.stop()
        if isinstance(obj, QWidget):
            obj.close()
        shiboken6.delete(obj)
