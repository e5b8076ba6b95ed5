"""A flood faster than the screen can draw, and hostile content: the window stays responsive, the
inspector's bound holds with received = shown + dropped, the recording has every frame, and
payloads show as plain, truncated text."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from PySide6.QtCore import QTimer

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import FrameEvent
from core.recorder import Recorder
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from tests.rawws import frame, handshake, raw_server
from ui.inspector_model import COL_PREVIEW
from ui.main_window import MainWindow

FLOOD = 60_000
BOUND = 5_000


class TickProbe:
    """Largest gap between 10 ms timer ticks: how long the GUI thread was unavailable."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now


async def test_flood_keeps_window_responsive_and_recording_complete(qtbot, tmp_path: Path) -> None:
    blob = b"".join(
        frame(0x1, json.dumps({"type": "tick", "seq": i, "pad": "x" * 20}).encode())
        for i in range(FLOOD)
    )

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        for start in range(0, len(blob), 1 << 20):
            writer.write(blob[start : start + (1 << 20)])
            await writer.drain()
        await reader.read(65536)

    bridge = make_bridge()
    recorder = Recorder(tmp_path / "flood.sqlite", bridge.manager.hub)
    window = MainWindow(bridge, remember_layout=False)
    inspector = window.panels["inspector"]
    inspector.model.max_rows = BOUND  # type: ignore[attr-defined]
    window.resize(1280, 800)
    window.show()
    probe = TickProbe()
    try:
        async with raw_server(flood) as port:
            conn = bridge.manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}",
                                                       heartbeat=HeartbeatConfig(interval=0)),
                                      connect=True)
            await until(lambda: conn.metrics.msgs_in >= FLOOD, 40, "the whole flood")
            await until(lambda: inspector.model.received >= FLOOD, 5, "the inspector's tick")
            model = inspector.model  # type: ignore[attr-defined]
            assert model.rowCount() <= BOUND
            assert model.received == FLOOD
            assert model.received == model.rowCount() + model.dropped + model.pending
            assert conn.state is ConnState.OPEN
            await bridge.manager.close_all()
    finally:
        probe.timer.stop()
        recorder.close()
        bridge.stop()
        dispose(window)
    db = sqlite3.connect(tmp_path / "flood.sqlite")
    recorded = db.execute("SELECT count(*) FROM frames WHERE direction='in' AND opcode=1"
                          ).fetchone()[0]
    assert recorded == FLOOD
    assert db.execute("SELECT count(*) FROM gaps").fetchone()[0] == 0
    worst = max(probe.gaps)
    print(f"FIGURE flood {FLOOD} msgs: worst GUI gap {worst * 1e3:.0f} ms, "
          f"p99 {sorted(probe.gaps)[int(len(probe.gaps) * 0.99)] * 1e3:.0f} ms")
    assert worst < 2.0, f"the window froze for {worst:.2f} s"  # a frozen UI, not a slow machine


HOSTILE = {
    "html": b'<img src=x onerror=alert(1)><b>bold</b><script>alert(2)</script>',
    "ansi": b"\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J",
    "rtl": "file\u202egnp.exe \u2066isolate\u2069".encode(),
    "nul": b"before\x00after\x00",
    "huge": b"A" * (10 * 1024 * 1024),
}


async def test_hostile_content_is_plain_truncated_and_fast(qtbot) -> None:
    async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        for payload in HOSTILE.values():
            writer.write(frame(0x1, payload))
        await writer.drain()
        await reader.read(65536)

    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    inspector = window.panels["inspector"]
    window.resize(1280, 800)
    window.show()
    try:
        async with raw_server(hostile) as port:
            conn = bridge.manager.add(ConnectionConfig(
                f"ws://127.0.0.1:{port}", max_size=32 * 1024 * 1024,
                heartbeat=HeartbeatConfig(interval=0)), connect=True)
            await until(lambda: inspector.model.frames_shown >= len(HOSTILE), 10)
            model = inspector.model  # type: ignore[attr-defined]
            frames = [r for r in range(model.rowCount())  # not the connection's events
                      if isinstance(model.frame(r), FrameEvent)]
            previews = [model.data(model.index(r, COL_PREVIEW)) for r in frames]
            assert all(len(p) <= 301 for p in previews)  # 300 characters and an ellipsis
            assert not any(c in p for p in previews for c in "\x1b\x00\u202e\u2066")
            assert "<U+202E>" in previews[2]
            for row in range(model.rowCount()):
                started = time.perf_counter()
                inspector.view.selectRow(row)  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
                assert time.perf_counter() - started < 3.0, f"row {row} stalled the detail pane"
            await bridge.manager.close_all()
            assert conn.metrics.msgs_in == len(HOSTILE)
    finally:
        bridge.stop()
        dispose(window)
