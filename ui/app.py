"""Start the desktop app: parse arguments, check for a display, run the window on qasync.

The command line is parsed in ui/app_options.py. The workspace (`--workspace FILE`, else the
default one) is loaded with the session; `--profile NAME` opens its saved connections. With no URL
and no profile the app reopens the connections of the last session (saved in the workspace when
the window closes) and, beside them (or with `--embedded`), starts its embedded demo server and
connects to it, so the first thing a user sees is live traffic; `--demo-bots`/`--demo-rate` size
its crowd and `--embedded-path` opens more connections to it. `--screenshot PNG` starts the same
way (but reopens and remembers no session), waits for the panels to fill (or `--after` seconds),
selects the newest incoming JSON frame so the detail pane shows one, saves the window as a PNG
and exits.

Start-up order: the window is shown first, as a skeleton (docks with placeholders, menus, the
saved layout) before asyncio, numpy, websockets, the server or pyqtgraph are imported; after its
first paint `start_session()` imports the rest a module per event-loop turn, starts the embedded
server, the recorder and the bridge, builds the panels that must see the first frames, opens the
connections, and builds the others (the charts last: pyqtgraph alone takes ~0.2 s).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ui.app_options import DEMO_BOTS, DEMO_RATE, READY_TIMEOUT, Options, parse_args, parser

__all__ = [
    "NO_DISPLAY",
    "Options",
    "main",
    "open_window",
    "parse_args",
    "parser",
    "show_window",
    "start_session",
]

if TYPE_CHECKING:  # Qt is imported only once a display is known to exist
    from PySide6.QtCore import QObject, QTimer

    from core.events import FrameEvent
    from core.facade import ConnectionManager, Recorder, ServerConfig
    from ui.main_window import MainWindow

NO_DISPLAY = (
    "SocketScope needs a display: set DISPLAY, run under xvfb-run, or use "
    "QT_QPA_PLATFORM=offscreen (e.g. with --screenshot)"
)
MIN_FRAMES = 15
MIN_RTT_SAMPLES = 2


def has_display(env: Mapping[str, str] = os.environ) -> bool:
    """X11/Wayland systems need DISPLAY or WAYLAND_DISPLAY unless a Qt platform is forced;
    macOS and Windows always have one."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True
    return any(env.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def main(argv: list[str] | None = None) -> int:
    """Run the GUI; returns the process exit code (2 on bad arguments or no display)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    import PySide6.QtWidgets

    qt = PySide6.QtWidgets
    app = qt.QApplication.instance() or qt.QApplication(sys.argv[:1] or ["socketscope"])
    assert isinstance(app, qt.QApplication)
    app.setApplicationName("SocketScope")
    app.setOrganizationName("SocketScope")
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when the loop ends
    from ui import theme

    theme.apply(app)  # the app icon; the scheme's window colours if SOCKETSCOPE_THEME forces one
    _quiet_qt_noise()
    collector = tune_interpreter(app)
    try:
        window = show_window(options)  # before asyncio and the rest: start_session() follows
        app.processEvents()  # its first paint, now
        import asyncio

        import qasync  # after PySide6

        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(run(options, window))
    finally:
        collector.stop()
        gc.enable()


def tune_interpreter(app: QObject) -> QTimer:
    """The desktop process's interpreter-wide settings, made here at its start and nowhere
    else: short GIL turns (SWITCH_INTERVAL), and the cyclic collector on the GUI thread only
    (stopped with the returned timer)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    return _collect_garbage_on_gui_thread(app)


def _collect_garbage_on_gui_thread(app: QObject) -> QTimer:
    """Turn the automatic collector off and step `ui.collector.Collector` every 500 ms here."""
    from PySide6.QtCore import QTimer

    from ui.collector import Collector

    collector = Collector()
    gc.disable()
    timer = QTimer(app)
    timer.setInterval(500)
    timer.timeout.connect(collector.step)
    timer.start()
    return timer


# Python hands the GIL to a waiting thread after this long (default 5 ms). The GUI thread takes
# the GIL anew for every call Qt makes into Python (each pyqtgraph item's paint and bounding
# rect, each slot); while the network thread floods, each of those waits up to this long, so a
# chart repaint of ~100 such calls stalled the window for 100+ ms at 1 ms. A pong read while
# the GUI runs Python waits at most this long too. Measured on ingest: 0.2 ms halves the tick
# gaps of 1 ms for about a tenth of the throughput.
SWITCH_INTERVAL = 0.0002
QT_NOISE = ("This plugin does not support propagateSizeHints",)  # offscreen/minimal platforms


def _quiet_qt_noise() -> None:
    """Drop Qt warnings that say nothing to a user; pass every other message on to stderr."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind == QtMsgType.QtDebugMsg or any(noise in message for noise in QT_NOISE):
            return
        print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def _new_window(options: Options) -> MainWindow:
    from ui.main_window import MainWindow
    from ui.theme import app_icon

    window = MainWindow(None, remember_layout=options.screenshot is None)
    window.setWindowIcon(app_icon())
    if not window.layout_restored:
        window.resize(*options.size)
    return window


def show_window(options: Options) -> MainWindow:
    """The window as a skeleton (docks with placeholders, menus, the saved layout), shown; it
    imports nothing but Qt and ui.main_window. `start_session()` fills it."""
    window = _new_window(options)
    window.show()
    return window


def open_window(options: Options) -> MainWindow:
    """Start the session (embedded server or the given URLs) and show the window with every
    panel built, all at once; call with the qasync loop running. The caller ends it with
    `await window.shutdown()`. (The app shows its window first: `show_window()`, then
    `start_session()`.)"""
    window = _new_window(options)
    _open_session(window, options)
    window.show()
    return window


# Imported one per event-loop turn after the first paint, so the window stays responsive: what
# the session and PANELS_FIRST need (numpy ~0.1 s, websockets ~0.05 s, PyJWT with cryptography
# ~0.05 s, the server, the UI modules). PANELS_FIRST are built before the connections open, as
# they must see every event from the first (the inspector lists every frame, the room browser
# reads the server's greeting); LATE_PANELS after, the charts last (pyqtgraph alone is ~0.2 s).
SESSION_MODULES = (
    "numpy", "websockets.asyncio.client", "core.connection", "core.manager", "core.recorder",
    "core.server.tokens", "core.server.thread", "ui.bridge", "ui.status_bar",
    "ui.connections_panel", "ui.inspector_panel", "ui.room_browser", "core.workspace",
    "ui.workspace_session", "ui.workspace_controller",
)  # fmt: skip
PANELS_FIRST = ("connections", "inspector", "rooms")
LATE_PANELS = (  # (modules to import first, panel key)
    (("ui.composer_panel",), "composer"),
    (("ui.server_panel",), "server"),
    (("ui.collections_panel",), "collections"),
    (("ui.charts_panel",), "charts"),  # with pyqtgraph, bound to PySide6 there
)
FIRST_PAINT_WAIT = 0.3  # s: a platform that does not paint the window does not hold the start


async def start_session(window: MainWindow, options: Options) -> None:
    """Fill the skeleton of `show_window()`: once it has painted, import the rest a module per
    loop turn, start the session (`_open_session()`) with PANELS_FIRST, then build the others
    one per turn. Each step is one import or one panel (the longest, pyqtgraph, ~0.2 s); the
    window paints and takes input in between."""
    import asyncio

    if not window.has_painted:
        painted = asyncio.get_running_loop().create_future()
        window.painted.connect(lambda: painted.done() or painted.set_result(None))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(painted, FIRST_PAINT_WAIT)
    for module in SESSION_MODULES:
        _preload(module)
        await asyncio.sleep(0)
    _open_session(window, options, PANELS_FIRST)
    for modules, key in LATE_PANELS:
        for module in modules:
            await asyncio.sleep(0)
            _preload(module)
        await asyncio.sleep(0)
        window.attach(window.bridge, [key])
        _drop_sources()
    window.attach(window.bridge)  # any panel not named above
    _drop_sources()
    for key in options.show:
        window.docks[key].show()
        window.docks[key].raise_()


def _preload(module: str) -> None:
    """Import ahead of use; a failure is left to the use, which reports it where it belongs (a
    panel's dock says why it is missing)."""
    import importlib

    with contextlib.suppress(Exception):
        importlib.import_module(module)
    _drop_sources()


def _drop_sources() -> None:
    """Empty the standard library's linecache (it reads files again when a traceback needs
    them). PySide6 reads the source of each module imported after it (its `__feature__` import
    hook looks for "PySide6" in it with inspect.getsource), and linecache keeps every line: 18 MiB
    once the session is up. Emptied after each start-up step, its memory serves the next import
    instead of growing the heap."""
    import linecache

    linecache.clearcache()


def _open_session(
    window: MainWindow, options: Options, panels: Iterable[str] | None = None
) -> None:
    """The core thread, the connection manager, the embedded server, the recorder and the
    bridge; `panels` (default: every one) built on it; then the connections added and opened."""
    from core.facade import ConnectionManager, EmbeddedServer, LoopThread, ServerStartError
    from ui.bridge import CoreBridge
    from ui.main_window import embedded_connection_config, join_rooms
    from ui.workspace_session import WorkspaceSession

    core = LoopThread()
    manager = ConnectionManager(loop=core.loop)
    server: EmbeddedServer | None = None
    start_error = ""
    if options.start_server:
        server = EmbeddedServer(demo_server_config(options.demo_bots, options.demo_rate))
        try:
            server.start()
        except ServerStartError as exc:
            start_error = f"Embedded server: {exc}"
            server = None
    recorder, record_error = _start_recorder(options, manager)
    bridge = CoreBridge(manager, server, core=core)
    window.recorder = recorder
    window.attach(bridge, panels)
    workspace = WorkspaceSession.load(options.workspace)
    window.set_workspace(workspace, remember_session=options.screenshot is None)

    if server is not None:
        conn = window.connections.add_connection(embedded_connection_config(server))
        if conn is not None:
            join_rooms(bridge, conn)
        for n, path in enumerate(options.embedded_paths, start=2):
            config = embedded_connection_config(
                server, name=f"embedded {path}", user=f"you-{n}", path=path
            )
            extra = window.connections.add_connection(config, select=False)
            if extra is not None and path == "/":  # the room protocol is spoken on / only
                join_rooms(bridge, extra)
    for config in options.url_configs():  # with --embedded its connection stays selected
        window.connections.add_connection(config, select=server is None)
    for name in options.profiles:
        window.open_profile(name, select=server is None)
    if options.reopen_last and window.workspace_controller is not None:
        window.workspace_controller.reopen_last()
    if workspace.problem:  # said last, so it stays in view
        bridge.message.emit(f"Workspace not loaded: {workspace.problem}")
    elif record_error:
        bridge.message.emit(record_error)
    elif start_error:
        bridge.message.emit(start_error)
    elif server is not None:
        bridge.message.emit(
            f"Embedded demo server at {server.url} with {server.config.demo_bots} bots; "
            "connected as 'you' and joined #lobby and #dev"
        )


def _start_recorder(options: Options, manager: ConnectionManager) -> tuple[Recorder | None, str]:
    """Every session is recorded unless asked otherwise; a recorder that cannot start is
    reported, and the app runs on without it."""
    from core.facade import Recorder, new_recording_path

    if options.no_record:
        return None, ""
    path = options.record or new_recording_path()
    try:
        return Recorder(path, manager.hub), ""
    except Exception as exc:
        return None, f"Recording is off: cannot write {path} ({exc})"


def demo_server_config(bots: int = DEMO_BOTS, rate: float = DEMO_RATE) -> ServerConfig:
    from core.facade import ServerConfig
    from ui.server_panel import new_secret

    return ServerConfig(
        port=0, auth=True, secret=new_secret(), demo_bots=bots, demo_rate=rate,
        ping_interval=5.0,
    )


async def run(options: Options, window: MainWindow | None = None) -> int:
    """The whole app session on the running qasync loop; `window` from `show_window()`."""
    import asyncio
    import signal

    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def close(*_: object) -> None:
        if not closed.done():
            closed.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl+C in the terminal ends the session
        signal.signal(sig, close)  # runs at the next Python tick (the GC timer's at the latest)
    if window is None:
        window = show_window(options)
    window.closed.connect(close)
    try:
        await start_session(window, options)
        if options.screenshot:
            return await _screenshot(window, options)
        await closed
        return 0
    finally:
        window.hide()
        await window.shutdown()
        window.deleteLater()


def panels_ready(window: MainWindow) -> bool:
    """Connections open, frames in, RTT points: what a screenshot should show."""
    bridge = window.bridge
    conns = bridge.commands.ids()
    if not conns:
        return True
    from core.states import ConnState

    if any(bridge.state_of(c) is not ConnState.OPEN for c in conns):
        return False
    latest = [bridge.series.latest(c) for c in conns]
    frames = sum(snap.msgs_in for snap in latest if snap is not None)
    rtts = max(len(entry.rtt) if (entry := bridge.series.get(c)) else 0 for c in conns)
    return frames >= MIN_FRAMES and rtts >= MIN_RTT_SAMPLES


def _incoming_json(event: FrameEvent) -> bool:
    from core.codecs import parse_object
    from core.events import Direction

    return (
        event.direction is Direction.IN
        and event.is_data
        and isinstance(parse_object(event.opcode, event.payload), dict)
    )


async def _screenshot(window: MainWindow, options: Options) -> int:
    import asyncio

    from PySide6.QtCore import QCoreApplication, QEvent

    from ui.inspector_panel import InspectorPanel

    started = time.monotonic()
    if options.after is not None:
        await asyncio.sleep(options.after)
    else:
        while time.monotonic() - started < READY_TIMEOUT and not panels_ready(window):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # one more tick or two so every panel has drawn the latest
    # The detail pane shows real JSON, not its empty hint: the newest incoming JSON frame, of the
    # selected connection if it has one. Grabbed at once, before new rows scroll it away.
    inspector = window.panels.get("inspector")
    if isinstance(inspector, InspectorPanel):
        selected = set(window.connections.selected_ids())
        if not inspector.select_newest(lambda e: e.conn_id in selected and _incoming_json(e)):
            inspector.select_newest(_incoming_json)
        # lay out the new header now; a loop turn would also add rows (a tick)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    pixmap = window.grab()
    path = options.screenshot or ""
    if pixmap.isNull() or not pixmap.save(path, "PNG"):
        print(f"SocketScope: could not save the screenshot to {path}", file=sys.stderr)
        return 1
    print(f"Screenshot saved to {path} ({pixmap.width()}x{pixmap.height()})")
    return 0
