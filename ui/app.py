"""Start the desktop app: parse arguments, check for a display, run the window on qasync.

With no URL the app starts its embedded demo server and connects to it, so the first thing a user
sees is live traffic. `--screenshot PNG` starts the same way, waits for the panels to fill (or
`--after` seconds), saves the window as a PNG and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt is imported only once a display is known to exist
    from PySide6.QtCore import QObject, QTimer

    from core.server import ServerConfig
    from ui.main_window import MainWindow

NO_DISPLAY = (
    "SocketScope needs a display: set DISPLAY, run under xvfb-run, or use "
    "QT_QPA_PLATFORM=offscreen (e.g. with --screenshot)"
)
READY_TIMEOUT = 10.0  # --screenshot without --after waits at most this long for live panels
MIN_FRAMES = 15
MIN_RTT_SAMPLES = 2
DEMO_BOTS = 6
DEMO_RATE = 2.0  # messages per second per bot


@dataclass(frozen=True)
class Options:
    urls: list[str]
    screenshot: str | None
    after: float | None
    size: tuple[int, int]
    demo: bool


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 1280x800, not {text!r}"
        ) from None
    if not (200 <= w <= 10_000 and 200 <= h <= 10_000):
        raise argparse.ArgumentTypeError("width and height must be between 200 and 10000")
    return w, h


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socketscope",
        description="SocketScope desktop app. With no URL it starts an embedded demo server "
        "and connects to it.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="ws:// or wss:// URLs to open")
    p.add_argument("--screenshot", metavar="PATH", help="save the window as PNG and exit")
    p.add_argument(
        "--after", type=_seconds, metavar="SECONDS",
        help="with --screenshot: take it after this many seconds (default: once panels are "
        f"filled, at most {READY_TIMEOUT:g} s)",
    )
    p.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH",
                   help="window size (default 1280x800)")
    p.add_argument("--no-demo", action="store_true",
                   help="do not start the embedded demo server when no URL is given")
    return p


def parse_args(argv: list[str]) -> Options:
    from ui.connection_dialog import validate_url

    p = parser()
    ns = p.parse_args(argv)
    for url in ns.urls:
        problem = validate_url(url)
        if problem:
            p.error(f"{url}: {problem}")
    if ns.after is not None and not ns.screenshot:
        p.error("--after only makes sense with --screenshot")
    return Options(ns.urls, ns.screenshot, ns.after, ns.size, not ns.no_demo)


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

    import PySide6.QtWidgets  # PySide6 before qasync
    import qasync

    qt = PySide6.QtWidgets
    app = qt.QApplication.instance() or qt.QApplication(sys.argv[:1] or ["socketscope"])
    assert isinstance(app, qt.QApplication)
    app.setApplicationName("SocketScope")
    app.setOrganizationName("SocketScope")
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when the loop ends
    _quiet_qt_noise()
    collector = _collect_garbage_on_gui_thread(app)
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(run(options))
    finally:
        collector.stop()
        gc.enable()


def _collect_garbage_on_gui_thread(app: QObject) -> QTimer:
    """Run Python's cyclic GC only here, on the GUI thread.

    Left automatic, a collection may run on the embedded server's thread or a worker and destroy
    Qt objects there, which Qt does not allow (their timers cannot be stopped: a later crash)."""
    from PySide6.QtCore import QTimer

    def collect() -> None:
        counts, limits = gc.get_count(), gc.get_threshold()
        if counts[0] > limits[0]:
            generation = 2 if counts[2] > limits[2] else 1 if counts[1] > limits[1] else 0
            gc.collect(generation)

    gc.disable()
    timer = QTimer(app)
    timer.setInterval(500)
    timer.timeout.connect(collect)
    timer.start()
    return timer


QT_NOISE = ("This plugin does not support propagateSizeHints",)  # offscreen/minimal platforms


def _quiet_qt_noise() -> None:
    """Drop Qt warnings that say nothing to a user; pass every other message on to stderr."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind == QtMsgType.QtDebugMsg or any(noise in message for noise in QT_NOISE):
            return
        print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def open_window(options: Options) -> MainWindow:
    """Start the session (embedded server or the given URLs) and show the window; call with the
    qasync loop running. The caller ends it with `await window.shutdown()`."""
    from core.config import ConnectionConfig
    from core.manager import ConnectionManager
    from core.server import EmbeddedServer, ServerStartError
    from ui.bridge import CoreBridge
    from ui.connection_dialog import split_token
    from ui.main_window import MainWindow, embedded_connection_config, join_rooms

    manager = ConnectionManager()
    server: EmbeddedServer | None = None
    start_error = ""
    if not options.urls and options.demo:
        server = EmbeddedServer(demo_server_config())
        try:
            server.start()
        except ServerStartError as exc:
            start_error = f"Embedded server: {exc}"
            server = None
    bridge = CoreBridge(manager, server)
    window = MainWindow(bridge, remember_layout=options.screenshot is None)
    if not window.layout_restored:
        window.resize(*options.size)

    if server is not None:
        conn = window.connections.add_connection(embedded_connection_config(server))
        if conn is not None:
            join_rooms(bridge, conn)
    for url in options.urls:
        plain_url, token = split_token(url)  # a ?token= stays out of every list and title
        window.connections.add_connection(ConnectionConfig(url=plain_url, token=token))
    if start_error:
        bridge.message.emit(start_error)
    elif server is not None:
        bridge.message.emit(
            f"Embedded demo server at {server.url} with {server.config.demo_bots} bots; "
            "connected as 'you' and joined #lobby and #dev"
        )
    window.show()
    return window


def demo_server_config() -> ServerConfig:
    from core.server import ServerConfig
    from ui.server_panel import new_secret

    return ServerConfig(
        port=0, auth=True, secret=new_secret(), demo_bots=DEMO_BOTS, demo_rate=DEMO_RATE,
        ping_interval=5.0,
    )


async def run(options: Options) -> int:
    """The whole app session on the running qasync loop."""
    window = open_window(options)
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    window.closed.connect(lambda: closed.done() or closed.set_result(None))
    try:
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
    conns = window.bridge.manager.list()
    if not conns:
        return True
    from core.states import ConnState

    if any(c.state is not ConnState.OPEN for c in conns):
        return False
    frames = sum(c.metrics.msgs_in for c in conns)
    rtts = max(len(c.metrics.rtt) for c in conns)
    return frames >= MIN_FRAMES and rtts >= MIN_RTT_SAMPLES


async def _screenshot(window: MainWindow, options: Options) -> int:
    started = time.monotonic()
    if options.after is not None:
        await asyncio.sleep(options.after)
    else:
        while time.monotonic() - started < READY_TIMEOUT and not panels_ready(window):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # one more tick or two so every panel has drawn the latest
    pixmap = window.grab()
    path = options.screenshot or ""
    if pixmap.isNull() or not pixmap.save(path, "PNG"):
        print(f"SocketScope: could not save the screenshot to {path}", file=sys.stderr)
        return 1
    print(f"Screenshot saved to {path} ({pixmap.width()}x{pixmap.height()})")
    return 0
