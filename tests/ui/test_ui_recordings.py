"""Every app session is recorded; past sessions are listed, browsed with the inspector's
filters, and exported as NDJSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.events import Direction
from core.recording import Recording
from tests.helpers_ui import dispose, until
from ui.app import Options, open_window, parse_args
from ui.recordings_window import RecordingsWindow


@pytest.fixture
def no_quit_on_close(qapp):  # type: ignore[no-untyped-def]
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


def test_record_flags() -> None:
    assert parse_args(["--record", "x.sqlite"]).record == "x.sqlite"
    assert parse_args(["--no-record"]).no_record
    with pytest.raises(SystemExit):
        parse_args(["--record", "x.sqlite", "--no-record"])


async def test_app_session_is_recorded_and_browsable(qtbot, tmp_path: Path, monkeypatch,
                                                     no_quit_on_close) -> None:
    monkeypatch.setenv("SOCKETSCOPE_CONFIG_DIR", str(tmp_path / "config"))
    path = tmp_path / "recordings" / "session.sqlite"
    window = open_window(Options([], None, None, (1280, 800), True, record=str(path)))
    (conn,) = window.bridge.manager.list()
    try:
        await until(lambda: conn.metrics.msgs_in >= 10, 10, "demo traffic")
    finally:
        await window.shutdown()
        dispose(window, window.bridge)
    with Recording(path) as rec:
        frames = list(rec.frames())
        assert [c.name for c in rec.connections()] == [conn.config.label]
        states = [s.new.value for s in rec.states()]
    data_in = [f for f in frames if f.direction is Direction.IN and f.is_data]
    assert len(data_in) == conn.metrics.msgs_in  # nothing lost, clean exit
    assert states[:2] == ["connecting", "open"] and states[-1] == "closed"

    browser = RecordingsWindow(directory=path.parent)
    try:
        assert browser.list.count() == 1
        browser.open(path)
        inspector = browser.inspector
        assert inspector is not None
        await until(lambda: inspector.model.rowCount() == len(frames), 5, "replayed rows")
        inspector.dir_combo.setCurrentIndex(2 - 1)  # "↓ in"
        await until(lambda: inspector.model.rowCount() == sum(
            1 for f in frames if f.direction is Direction.IN), 3, "the direction filter")
        lines = browser.export(tmp_path / "out.ndjson")
        records = [json.loads(line) for line in (tmp_path / "out.ndjson").read_text().splitlines()]
        assert len(records) == lines
        assert sum(1 for r in records if r["event"] == "frame") == len(frames)
    finally:
        browser.close()
        dispose(browser)
