"""The real app, offscreen, for benchmarks: built the way ui/app.py builds it.

`open_app()` mirrors `ui.app.open_window()` for a list of URLs (no embedded server): one
ConnectionManager, the session `core.recorder.Recorder` on its hub (ui/app.py records every
session; here to a temporary SQLite file), a CoreBridge ticking every 50 ms, and the MainWindow
with every panel docked and shown (inspector, charts, rooms, composer, server, status bar).
It is built here rather than through open_window() so that a benchmark can add its connections
once the window has settled.
`TickProbe` is a 10 ms precise QTimer on the GUI thread: the gaps between its timeouts are how long
the UI could not run.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TMP = Path(tempfile.mkdtemp(prefix="socketscope-bench-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)  # a 1 KiB flood records ~250 MB
os.environ.setdefault("SOCKETSCOPE_CONFIG_DIR", str(_TMP / "config"))
os.environ.setdefault("SOCKETSCOPE_DATA_DIR", str(_TMP / "data"))

PROBE_MS = 10


def run_qt(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run `main()` on a qasync loop the way ui.app.main() does (quiet Qt noise, GC only on the
    GUI thread every 500 ms)."""
    import gc

    import PySide6.QtWidgets as qt  # PySide6 before qasync
    import qasync

    from bench.common import raise_fd_limit

    raise_fd_limit()
    app = qt.QApplication.instance() or qt.QApplication(["socketscope-bench"])
    app.setQuitOnLastWindowClosed(False)
    import ui.app as ui_app

    if hasattr(ui_app, "_quiet_qt_noise"):
        ui_app._quiet_qt_noise()
    collector = ui_app.tune_interpreter(app)  # the app's GIL turns and collector, as main()
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(main())
    finally:
        collector.stop()
        gc.enable()


@dataclass
class AppSession:
    manager: Any
    bridge: Any
    window: Any
    recorder: Any | None
    record_path: Path | None
    frame_events: list[int] = field(default_factory=lambda: [0])  # FrameEvents on the hub

    @property
    def inspector_model(self) -> Any:
        return self.window.panels["inspector"].model

    async def close(self) -> None:
        self.window.hide()
        await self.window.shutdown()
        if self.recorder is not None:
            self.recorder.close()
        self.window.deleteLater()


def open_app(configs: list[Any], record: bool = True, size: tuple[int, int] = (1280, 800),
             manager: Any = None) -> AppSession:
    """The window of `main.py URL...`, shown, with a recorder on the hub (call on the loop)."""
    from core.events import FrameEvent
    from core.loopthread import LoopThread
    from core.manager import ConnectionManager
    from core.recorder import Recorder
    from ui.bridge import CoreBridge
    from ui.main_window import MainWindow

    core = LoopThread()  # as ui/app.py: the connections run on a core thread
    manager = manager or ConnectionManager(loop=core.loop)
    counter = [0]

    def count(event: object) -> None:
        if type(event) is FrameEvent:
            counter[0] += 1

    manager.hub.subscribe(count)
    path = recorder = None
    if record and not os.environ.get("SOCKETSCOPE_BENCH_NO_RECORDER"):  # for decomposing a profile
        path = _TMP / "session.sqlite"
        recorder = Recorder(path, manager.hub)
    bridge = CoreBridge(manager, None, core=core)
    window = MainWindow(bridge, remember_layout=False)
    window.resize(*size)
    for config in configs:
        window.connections.add_connection(config)
    window.show()
    return AppSession(manager, bridge, window, recorder, path, counter)


class TickProbe:
    """A precise 10 ms QTimer; `gaps` are the intervals between its timeouts (ms) while on."""

    def __init__(self, interval_ms: int = PROBE_MS,
                 on_tick: Callable[[float], None] | None = None) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.active = False
        self._last = 0.0
        self._on_tick = on_tick
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._fire)
        self.timer.start()

    def _fire(self) -> None:
        now = time.perf_counter()
        if self.active and self._last:
            self.gaps.append((now - self._last) * 1000)
        self._last = now
        if self._on_tick is not None:
            self._on_tick(now)

    def start(self) -> None:
        self.gaps.clear()
        self._last = 0.0
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.timer.stop()
        self.timer.deleteLater()


async def until(predicate: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


async def stdin_line() -> str:
    """One line from the orchestrator, read off the GUI thread."""
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def tmp_dir() -> Path:
    return _TMP
