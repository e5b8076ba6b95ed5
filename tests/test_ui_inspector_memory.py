"""Stress: the inspector's memory is bounded in bytes, not only in rows. A plain websockets
server sends 2 GiB as 2,048 binary messages of 1 MiB to the app's inspector with recording on;
the process stays under 600 MB, the recording holds every message, and the oldest row still
opens with its full payload (read back from the recording)."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
import time

import pytest
from websockets.sync.server import ServerConnection, serve

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction, FrameEvent, Opcode
from core.recorder import Recorder
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.inspector_panel import InspectorPanel
from ui.payload_store import FramePreview

MESSAGES = 2048
SIZE = 2**20
RSS_LIMIT = 600 * 10**6
BLOCK = random.Random(12).randbytes(SIZE - 4)


def message(i: int) -> bytes:
    return i.to_bytes(4, "big") + BLOCK


def rss() -> int:
    """Resident bytes of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Sender:
    """A plain websockets server on its own thread: every client gets the 2,048 messages."""

    def __init__(self) -> None:
        self.server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.sent = 0

    def _handle(self, ws: ServerConnection) -> None:
        for i in range(MESSAGES):
            ws.send(message(i))
            self.sent += 1
        for _ in ws:  # until the client closes
            pass

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.mark.timeout(150)
async def test_stress_2gib_of_1mib_messages_stay_under_600mb(qtbot, tmp_path) -> None:
    sender = Sender()
    bridge = make_bridge()
    recorder = Recorder(tmp_path / "session.sqlite", bridge.manager.hub)
    panel = InspectorPanel(bridge)
    panel.set_recorder(recorder)
    panel.resize(1100, 700)
    panel.show()
    peak = rss()
    try:
        conn = bridge.manager.add(ConnectionConfig(
            f"ws://127.0.0.1:{sender.port}", max_size=2 * SIZE, compression=False,
            heartbeat=HeartbeatConfig(interval=0)), connect=True)
        model = panel.model
        deadline = time.monotonic() + 120
        while model.received < MESSAGES:  # RSS looked at every 50 ms all along
            assert time.monotonic() < deadline, f"only {model.received} of {MESSAGES} arrived"
            peak = max(peak, rss())
            await asyncio.sleep(0.05)
        peak = max(peak, rss())
        print(f"\npeak RSS {peak / 1e6:.0f} MB; inspector payloads "
              f"{model.payload_bytes / 2**20:.0f} MiB, {model.shrunk} frames cut to previews")
        assert peak < RSS_LIMIT, f"RSS reached {peak / 1e6:.0f} MB"
        assert model.frames_stored == MESSAGES and model.dropped == 0
        assert model.payload_bytes <= model.max_bytes
        assert model.shrunk > 0

        recorder.flush(30)
        with sqlite3.connect(recorder.path) as db:
            count, low, high = db.execute(
                "SELECT count(*), min(size), max(size) FROM frames WHERE opcode = 2").fetchone()
        assert (count, low, high) == (MESSAGES, SIZE, SIZE)

        # the oldest frame: a preview in the table, its full payload in the detail pane
        row = next(r for r in range(model.rowCount()) if isinstance(model.frame(r), FrameEvent))
        first = model.frame(row)
        assert isinstance(first, FramePreview) and first.size == SIZE
        panel.view.selectRow(row)
        detail = panel.detail
        await until(lambda: detail.current is not None and len(detail.current.payload) == SIZE,
                    10, "the full payload read back")
        assert detail.current.payload == message(0)
        assert (detail.current.direction, detail.current.opcode) == (Direction.IN, Opcode.BINARY)
        assert not detail.notice.isVisible() and detail.copy_button.isEnabled()
        peak = max(peak, rss())
        assert peak < RSS_LIMIT, f"RSS reached {peak / 1e6:.0f} MB"
        assert conn.state is ConnState.OPEN and sender.sent == MESSAGES
    finally:
        await bridge.manager.close_all()
        recorder.close()
        bridge.stop()
        sender.stop()
        dispose(panel)
