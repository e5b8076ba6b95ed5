"""Stress: the inspector's memory is bounded in bytes, not only in rows. A plain websockets
server sends 2 GiB as 2,048 binary messages of 1 MiB to the app's inspector with recording on;
the process stays under 600 MB, the recording holds every message, and the oldest row still
opens with its full payload (read back from the recording).

The scenario runs in a fresh process, as the app does: in the test process, whatever the tests
before it left behind would be counted too (~60 MB after the inspector's other tests)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

MESSAGES = 2048
SIZE = 2**20
RSS_LIMIT = 600 * 10**6
BLOCK = random.Random(12).randbytes(SIZE - 4)
ROOT = Path(__file__).resolve().parents[2]


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


class Peak:
    """The highest RSS seen, sampled every 10 ms on a thread of its own (the GUI thread may be
    busy at the very moment memory peaks)."""

    def __init__(self) -> None:
        self.start = self.value = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.value = max(self.value, rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self.value = max(self.value, rss())
        return self.value


async def scenario(directory: Path) -> dict[str, Any]:
    """The flood through a real connection, recorder and inspector panel; what was seen."""
    from core.config import ConnectionConfig, HeartbeatConfig
    from core.events import FrameEvent
    from core.recorder import Recorder
    from tests.helpers_ui import dispose, make_bridge, until
    from ui.inspector_panel import InspectorPanel
    from ui.payload_store import FramePreview

    sender = Sender()
    bridge = make_bridge()
    recorder = Recorder(directory / "session.sqlite", bridge.manager.hub)
    panel = InspectorPanel(bridge)
    panel.set_recorder(recorder)
    panel.resize(1100, 700)
    panel.show()
    peak = Peak()
    out: dict[str, Any] = {"start_rss": peak.start}
    try:
        bridge.manager.add(ConnectionConfig(
            f"ws://127.0.0.1:{sender.port}", max_size=2 * SIZE, compression=False,
            heartbeat=HeartbeatConfig(interval=0)), connect=True)
        model = panel.model
        started = time.monotonic()
        await until(lambda: model.received >= MESSAGES, 100, f"{MESSAGES} messages")
        out["seconds"] = time.monotonic() - started
        out["flood_rss"] = peak.value
        out |= {"received": model.received, "stored": model.frames_stored,
                "dropped": model.dropped, "payload_bytes": model.payload_bytes,
                "max_bytes": model.max_bytes, "shrunk": model.shrunk}
        recorder.flush(30)
        with sqlite3.connect(recorder.path) as db:
            out["recorded"] = db.execute(
                "SELECT count(*), min(size), max(size) FROM frames WHERE opcode = 2").fetchone()
        # the oldest frame: a preview in the table, its full payload in the detail pane
        row = next(r for r in range(model.rowCount()) if isinstance(model.frame(r), FrameEvent))
        first = model.frame(row)
        out["first_is_preview"] = isinstance(first, FramePreview) and first.size == SIZE
        panel.view.selectRow(row)
        detail = panel.detail
        await until(lambda: detail.current is not None and len(detail.current.payload) == SIZE,
                    10, "the full payload read back")
        out["opened_sha256"] = hashlib.sha256(detail.current.payload).hexdigest()
        out["opened_notice"] = detail.notice.text()
        out["sent"] = sender.sent
    finally:
        out["peak_rss"] = peak.stop()
        await bridge.manager.close_all()
        recorder.close()
        bridge.stop()
        sender.stop()
        dispose(panel)
    return out


def _main(directory: str) -> None:
    from PySide6.QtWidgets import QApplication  # PySide6 before qasync
    from qasync import QEventLoop

    gc.disable()  # as in the tests: never collected on another thread (Qt objects)
    app = QApplication.instance() or QApplication([])
    with asyncio.Runner(loop_factory=lambda: QEventLoop(app)) as runner:
        result = runner.run(scenario(Path(directory)))
    print("RESULT " + json.dumps(result), flush=True)


@pytest.mark.timeout(180)
def test_stress_2gib_of_1mib_messages_stay_under_600mb(tmp_path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.stress.test_ui_inspector_memory", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=150,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"the scenario failed:\n{done.stderr[-3000:]}"
    r = json.loads(lines[-1][len("RESULT "):])
    print(f"\nRSS {r['start_rss'] / 1e6:.0f} MB at the start, {r['peak_rss'] / 1e6:.0f} MB at "
          f"most; {MESSAGES} MiB in {r['seconds']:.1f} s; payloads in memory "
          f"{r['payload_bytes'] / 2**20:.0f} MiB, {r['shrunk']} frames cut to previews")
    assert r["peak_rss"] < RSS_LIMIT, f"RSS reached {r['peak_rss'] / 1e6:.0f} MB"
    assert r["sent"] == r["received"] == r["stored"] == MESSAGES and r["dropped"] == 0
    assert r["payload_bytes"] <= r["max_bytes"] and r["shrunk"] > 0
    assert r["recorded"] == [MESSAGES, SIZE, SIZE]  # every message, whole
    assert r["first_is_preview"]
    assert r["opened_sha256"] == hashlib.sha256(message(0)).hexdigest()  # byte-exact
    assert r["opened_notice"] == ""  # whole: nothing to explain


if __name__ == "__main__":
    _main(sys.argv[1])
