"""HAR in and out of the desktop app, and replay with its diff, against real servers."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox, QWidget
from websockets.asyncio.server import ServerConnection, serve

from core.events import Direction, Opcode
from core.recording import read_har
from tests.helpers_ui import dispose, until
from ui import theme
from ui.har_actions import export_recording, import_har_path
from ui.recordings_window import RecordingsWindow
from ui.replay_dialog import ReplayDialog
from ui.replay_model import COL_PATHS, COL_STATUS

T0 = 1_765_000_000.0
REQUESTS = [{"requestId": f"r{i}", "op": "put", "n": i, "data": {"ts": 5, "v": [i, i]}}
            for i in range(4)]
BINARY = bytes(range(256)) * 3


def chrome_har(gap: float = 0.1) -> dict:
    """A HAR as Chrome DevTools writes it: a plain HTTP entry, then one WebSocket entry whose
    replies are the echoes of what it sent (and a ping, which a HAR import skips)."""
    messages = []
    t = T0 + 0.5
    for request in REQUESTS:
        text = json.dumps(request)
        messages.append({"type": "send", "time": t, "opcode": 1, "data": text})
        messages.append({"type": "receive", "time": t + 0.002, "opcode": 1, "data": text})
        t += gap
    data = base64.b64encode(BINARY).decode("ascii")
    messages.append({"type": "send", "time": t, "opcode": 2, "data": data})
    messages.append({"type": "receive", "time": t + 0.003, "opcode": 2, "data": data})
    messages.append({"type": "receive", "time": t + 0.004, "opcode": 9, "data": ""})
    http = {"startedDateTime": "2025-12-06T05:46:40.000Z", "time": 3,
            "request": {"method": "GET", "url": "https://example.test/app.js", "headers": []},
            "response": {"status": 200, "headers": []}}
    ws = {"startedDateTime": "2025-12-06T05:46:40.100Z", "time": 0, "_resourceType": "websocket",
          "request": {"method": "GET", "url": "wss://example.test/socket", "headers": [
              {"name": "Sec-WebSocket-Key", "value": "abc"}]},
          "response": {"status": 101, "statusText": "Switching Protocols", "headers": []},
          "_webSocketMessages": messages}
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "pages": [], "entries": [http, ws]}}


def data_messages(har: dict) -> list[dict]:
    messages = har["log"]["entries"][1]["_webSocketMessages"]
    return [m for m in messages if m["opcode"] in (1, 2)]


def write_har(path: Path, har: dict) -> Path:
    path.write_text(json.dumps(har), encoding="utf-8")
    return path


@pytest.fixture
def host(qtbot):  # type: ignore[no-untyped-def]
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def browser(tmp_path, no_quit_on_close):  # type: ignore[no-untyped-def]
    window = RecordingsWindow(directory=tmp_path / "recordings")
    (tmp_path / "recordings").mkdir()
    yield window
    for dialog in window.findChildren(ReplayDialog):
        dispose(dialog)
    dispose(window)


async def test_a_chrome_har_is_imported_and_browsed_with_its_frames(host, browser, tmp_path
                                                                    ) -> None:
    har = chrome_har()
    directory = tmp_path / "recordings"
    imported = import_har_path(host, write_har(tmp_path / "devtools.har", har), directory)
    assert imported is not None and imported.parent == directory
    assert not host.findChildren(QMessageBox)

    browser.refresh()
    assert browser.list.count() == 1
    assert "devtools" in browser.list.item(0).text()
    browser.open(imported)
    inspector = browser.inspector
    assert inspector is not None
    expected = data_messages(har)
    await until(lambda: inspector.model.rowCount() == len(expected), 5, "the imported rows")
    shown = sorted((inspector.model.frame(row) for row in range(len(expected))),
                   key=lambda f: f.time)
    for frame, message in zip(shown, expected, strict=True):
        assert frame.direction is (Direction.OUT if message["type"] == "send" else Direction.IN)
        assert int(frame.opcode) == message["opcode"]
        assert abs(frame.time - message["time"]) < 0.001
    binary = [f for f in shown if f.opcode is Opcode.BINARY]
    assert [f.payload for f in binary] == [BINARY, BINARY]
    assert "10 frames, 1 connections" in browser.status.text()


async def test_a_recording_exported_as_har_reads_back_the_same(browser, tmp_path) -> None:
    har = chrome_har()
    imported = browser.import_har(write_har(tmp_path / "in.har", har))
    assert imported is not None
    assert "Imported in.har: 10 messages in 1 connection; skipped 1 opcode 9" \
        in browser.status.text()

    out = tmp_path / "out.har"
    assert browser.export(out) == 1
    (conn,) = read_har(out).connections
    assert conn.url == "wss://example.test/socket"
    expected = data_messages(har)
    assert [(f.direction, int(f.opcode), f.payload, round(f.time, 3)) for f in conn.frames] == [
        (Direction.OUT if m["type"] == "send" else Direction.IN, m["opcode"],
         base64.b64decode(m["data"]) if m["opcode"] == 2 else m["data"].encode(),
         round(m["time"], 3)) for m in expected]
    assert "HAR" in browser.status.text()

    lines = browser.export(tmp_path / "out.ndjson")
    records = [json.loads(line) for line in (tmp_path / "out.ndjson").read_text().splitlines()]
    assert len(records) == lines
    assert sum(1 for r in records if r["event"] == "frame") == len(expected)


def test_export_does_not_replace_the_target_when_the_recording_is_unreadable(tmp_path) -> None:
    target = tmp_path / "keep.har"
    target.write_text("old")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not sqlite" * 100)
    with pytest.raises(Exception, match="database"):
        export_recording(bad, target, "har")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sqlite", "keep.har"]


MALFORMED: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_text(json.dumps(chrome_har())[:-300]),
    "wrong type": lambda p: p.write_text(json.dumps(chrome_har()).replace(
        '"opcode": 2, "data"', '"opcode": "two", "data"', 1)),
    "garbage": lambda p: p.write_bytes(os.urandom(200_000)),
}
WHERE = {"truncated": "not valid JSON at line 1",
         "wrong type": "log.entries[1]._webSocketMessages[8].opcode: expected 1 or 2",
         "garbage": "not"}


@pytest.mark.parametrize("kind", MALFORMED)
async def test_a_malformed_har_shows_one_error_and_creates_no_file(browser, tmp_path, kind
                                                                   ) -> None:
    bad = tmp_path / "bad.har"
    MALFORMED[kind](bad)
    assert browser.import_har(bad) is None
    boxes = browser.findChildren(QMessageBox)
    assert len(boxes) == 1
    assert "bad.har" in boxes[0].text() and WHERE[kind] in boxes[0].text()
    assert list((tmp_path / "recordings").iterdir()) == []
    assert browser.list.count() == 0 and browser.inspector is None
    boxes[0].close()


async def run_replay(dialog: ReplayDialog, url: str, ignore: str = "") -> None:
    dialog.show()
    dialog.url_edit.setText(url)
    dialog.ignore_edit.setText(ignore)
    dialog.timeout_spin.setValue(1.0)
    task = dialog.start()
    assert task is not None and dialog.running
    assert not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    await until(lambda: not dialog.running, 30, "the replay to end")
    assert dialog.start_button.isEnabled() and not dialog.stop_button.isEnabled()


def statuses(dialog: ReplayDialog) -> list[str]:
    model = dialog.model
    return [model.index(row, COL_STATUS).data() for row in range(model.rowCount())]


async def test_replay_against_the_embedded_echo_shows_no_change(browser, tmp_path,
                                                                embedded_server) -> None:
    server = embedded_server(auth=False)
    browser.import_har(write_har(tmp_path / "echo.har", chrome_har()))
    dialog = browser.replay()
    assert dialog is not None
    assert dialog.url_edit.text() == "wss://example.test/socket"  # the recorded URL
    done: list[object] = []
    dialog.replay_done.connect(done.append)
    await run_replay(dialog, server.url + "/echo")
    assert dialog.error == ""
    assert done == [dialog.result]
    assert statuses(dialog) == ["same"] * 5  # one row per recorded reply
    assert dialog.summary.text().startswith("5 same, 0 changed, 0 missing, 0 extra")
    assert "5 sent on 1 connection" in dialog.summary.text()
    assert dialog.progress.value() == dialog.progress.maximum() == 5


@asynccontextmanager
async def changed_server(alter: Callable[[dict], dict]) -> AsyncIterator[str]:
    """Echoes JSON after `alter`, anything else unchanged."""

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            try:
                await ws.send(json.dumps(alter(json.loads(message))))
            except ValueError:
                await ws.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def alter(message: dict) -> dict:
    if message.get("n") == 2:
        message["n"] = 20
        message["data"]["v"][1] = "x"
    message["data"]["ts"] = time.time()  # a timestamp: differs on every run, ignored below
    return message


async def test_replay_against_a_changed_server_shows_the_change(browser, tmp_path) -> None:
    browser.import_har(write_har(tmp_path / "echo.har", chrome_har()))
    dialog = browser.replay()
    assert dialog is not None
    async with changed_server(alter) as url:
        await run_replay(dialog, url, ignore="ts")
    assert dialog.error == ""
    assert sorted(statuses(dialog)) == ["changed", "same", "same", "same", "same"]
    assert dialog.summary.text().startswith("4 same, 1 changed, 0 missing, 0 extra")
    row = statuses(dialog).index("changed")
    assert dialog.model.index(row, COL_PATHS).data() == "n, data.v.1"
    # the changed row is selected and shown side by side, its differing lines marked
    assert dialog.table.currentIndex().row() == row
    assert dialog.panes.paths_label.text() == "Differs at: n, data.v.1  (greyed: ignored fields)"
    assert '"n": 2,' in dialog.panes.left.toPlainText()
    assert '"n": 20,' in dialog.panes.right.toPlainText()
    for pane in (dialog.panes.left, dialog.panes.right):
        marked = {s.cursor.block().text().strip() for s in pane.extraSelections()
                  if s.format.background().color() == theme.color("diff_highlight")}
        assert marked == {'"n": 2,' if pane is dialog.panes.left else '"n": 20,',
                          "2" if pane is dialog.panes.left else '"x"'}
        greyed = [s.cursor.selectedText().strip() for s in pane.extraSelections()
                  if s.format.foreground().color() == theme.color("diff_ignored")]
        assert len(greyed) == 1 and greyed[0].startswith('"ts": ')
    shot = dialog.grab()
    assert not shot.isNull()
    shot.save(os.environ.get("SOCKETSCOPE_SHOT", str(tmp_path / "replay-dialog.png")))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_replay_without_a_server_says_so_in_the_dialog(browser, tmp_path) -> None:
    browser.import_har(write_har(tmp_path / "echo.har", chrome_har()))
    dialog = browser.replay()
    assert dialog is not None
    dialog.url_edit.setText("http://127.0.0.1/")
    assert dialog.start() is None
    assert "ws://" in dialog.status.text()
    await run_replay(dialog, f"ws://127.0.0.1:{closed_port()}")
    assert dialog.error.startswith("cannot connect to ws://127.0.0.1:")
    assert dialog.status.text() == dialog.error
    assert dialog.model.rowCount() == 0


async def test_a_replay_can_be_stopped_and_closing_ends_its_thread(host, tmp_path,
                                                                   embedded_server) -> None:
    server = embedded_server(auth=False)
    har = write_har(tmp_path / "slow.har", chrome_har(gap=2.0))
    dialog = ReplayDialog(host, har, server.url + "/echo")
    dialog.timing_combo.setCurrentIndex(dialog.timing_combo.findData("original"))
    dialog.show()
    task = dialog.start()
    assert task is not None
    await until(lambda: dialog.result is not None and dialog.result.sent >= 1, 10, "a send")
    dialog.stop()
    await until(lambda: task.done(), 5, "the task to end")
    assert task.cancelled() and not dialog.running
    assert dialog.status.text().startswith("Stopped")
    assert replay_threads() == 1
    dialog.close()
    assert replay_threads() == 0


def replay_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "socketscope-replay")


async def test_a_malformed_har_replayed_says_where_in_the_dialog(host, tmp_path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text(json.dumps(chrome_har())[:-300])
    dialog = ReplayDialog(host, bad, "ws://127.0.0.1:9/")
    await run_replay(dialog, f"ws://127.0.0.1:{closed_port()}")
    assert dialog.error.startswith("bad.har: not valid JSON at line 1")
    assert dialog.model.rowCount() == 0
    dialog.close()
