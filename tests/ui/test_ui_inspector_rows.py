"""The inspector's rows beyond frames, against real servers: the byte bound and payloads read
back from a real recording (or said to be lost with recording off), the rows' context menu and
its signals, connection events as rows with the handshake view, and a filter that hides the
selected frame clearing the detail pane."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint
from PySide6.QtWidgets import QApplication

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.events import Direction, FrameEvent, HandshakeInfo, Opcode, StateChanged
from core.recorder import Recorder
from core.recording import Recording
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.bridge import TickBatch
from ui.conn_rows import ConnectionRow
from ui.inspector_filter import FrameFilter
from ui.inspector_menu import HAR, NDJSON
from ui.inspector_model import COL_DIR, COL_PREVIEW, EVENT_LABEL, InspectorModel
from ui.inspector_panel import InspectorPanel
from ui.payload_store import PREVIEW_BYTES, FramePreview, PayloadReader, Status

BIG = 64 * 1024


def config(url: str, name: str = "echo", **kw: object) -> ConnectionConfig:
    return ConnectionConfig(url=url, name=name, heartbeat=HeartbeatConfig(interval=0), **kw)


def big(i: int) -> bytes:
    return i.to_bytes(2, "big") + os.urandom(BIG - 2)


@pytest.fixture
def setup(qtbot, tmp_path):  # type: ignore[no-untyped-def]
    """A bridge on a core thread, a recorder on a file in tmp_path, a panel bound to 256 KiB."""
    bridge = make_bridge()
    recorder = Recorder(tmp_path / "session.sqlite", bridge.manager.hub)
    panel = InspectorPanel(bridge, max_bytes=256 * 1024)
    panel.set_recorder(recorder)
    panel.resize(1100, 700)
    yield bridge, recorder, panel
    recorder.close()
    bridge.stop()
    dispose(panel)


def select_only(panel: InspectorPanel, row: int) -> None:
    """Select this one row whatever keyboard modifiers Qt believes are held (a modifier left
    "down" by an earlier test's key event would make selectRow() extend the selection)."""
    flags = QItemSelectionModel.SelectionFlag
    panel.view.selectionModel().setCurrentIndex(
        panel.model.index(row, 0), flags.ClearAndSelect | flags.Rows)


def frame_rows(panel: InspectorPanel) -> list[int]:
    model = panel.model
    return [r for r in range(model.rowCount()) if not isinstance(model.frame(r), ConnectionRow)]


async def echo_big(bridge, srv, n: int):  # type: ignore[no-untyped-def]
    """n binary messages of 64 KiB sent to /echo; returns (connection, payloads)."""
    conn = bridge.manager.add(config(srv.url + "/echo"), connect=True)
    await until(lambda: conn.state is ConnState.OPEN, 5, "open")
    payloads = [big(i) for i in range(n)]
    for p in payloads:
        await bridge.run(conn.send(p, text=False))
    return conn, payloads


async def test_byte_bound_keeps_previews_and_reads_the_rest_back(setup, embedded_server) -> None:
    bridge, recorder, panel = setup
    srv = embedded_server(auth=False, rate=100_000, burst=100_000)
    _conn, payloads = await echo_big(bridge, srv, 12)
    model = panel.model
    await until(lambda: model.received >= 24, 10, "24 frames")  # 12 out, 12 echoed
    assert model.payload_bytes <= 256 * 1024 and model.shrunk >= 20 and model.dropped == 0
    rows = frame_rows(panel)
    first = model.frame(rows[0])
    assert isinstance(first, FramePreview) and first.size == BIG
    assert len(first.payload) == PREVIEW_BYTES and model.data(model.index(rows[0], 4)) == "64.0 KiB"
    newest = model.frame(rows[-1])
    assert not isinstance(newest, FramePreview) and newest.payload == payloads[-1]

    # the reader finds it in the recording by connection, time, direction, size and prefix
    recorder.flush(10)
    with Recording(recorder.path) as rec:
        assert rec.payload_of(first.conn_id, first.time, first.direction, BIG,
                              first.payload) == payloads[0]
        assert rec.payload_of(first.conn_id, first.time, first.direction, BIG - 1) is None

    # the oldest row opened: the whole payload, from the recording
    select_only(panel, rows[0])
    detail = panel.detail
    await until(lambda: detail.current is not None and detail.current.payload == payloads[0],
                10, "the full payload")
    assert detail.copy_button.isEnabled() and not detail.notice.isVisible()
    detail.copy_payload()
    assert QApplication.clipboard().text() == payloads[0].hex()

    # recording off: the start only, and the pane says why
    panel.set_recorder(None)
    select_only(panel, rows[1])
    assert len(detail.current.payload) == PREVIEW_BYTES
    assert "not kept because recording is off" in detail.notice.text()
    assert not detail.notice.isHidden() and not detail.copy_button.isEnabled()
    await bridge.manager.close_all()


def test_a_row_not_written_yet_is_pending_then_missing(qtbot, tmp_path) -> None:
    bridge = make_bridge()
    recorder = Recorder(tmp_path / "s.sqlite")
    try:
        ghost = FramePreview(FrameEvent(7, 1.5, Direction.IN, Opcode.TEXT, b"x" * 5000))
        reader = PayloadReader(lambda: recorder)
        assert reader.full(ghost).status is Status.PENDING
        assert "still being written" in reader.full(ghost).text
        assert PayloadReader(lambda: None).full(ghost).status is Status.NOT_KEPT
        whole = FrameEvent(7, 1.5, Direction.IN, Opcode.TEXT, b"y")
        assert reader.full(whole).status is Status.FULL and reader.full(whole).event is whole
        reader.close()
    finally:
        recorder.close()
        bridge.stop()


async def test_context_menu_copies_and_emits_full_frames(
    setup, embedded_server, monkeypatch
) -> None:
    bridge, _recorder, panel = setup
    srv = embedded_server(auth=False, rate=100_000, burst=100_000)
    conn, payloads = await echo_big(bridge, srv, 8)
    await bridge.run(conn.send("hello ✓", text=True))
    model = panel.model
    await until(lambda: model.received >= 18, 10, "18 frames")
    emitted: dict[str, list[object]] = {"resend": [], "compose": [], "save": [], "export": []}
    panel.resend_requested.connect(emitted["resend"].append)
    panel.compose_requested.connect(emitted["compose"].append)
    panel.save_requested.connect(emitted["save"].append)
    panel.export_requested.connect(lambda frames, fmt: emitted["export"].append((frames, fmt)))
    menu = panel.row_menu
    rows = frame_rows(panel)
    clipboard = QApplication.clipboard()

    # the text echo (the newest row): copy row, payload and JSON
    select_only(panel, rows[-1])
    menu.popup(QPoint(0, 0))
    assert all(a.isEnabled() for a in menu.menu.actions() if not a.isSeparator())
    menu.menu.hide()
    menu.copy_row.trigger()
    cells = clipboard.text().split("\t")
    assert cells[1:4] == ["echo", "↓ in", "text"] and cells[COL_PREVIEW] == "hello ✓"
    menu.copy_payload.trigger()
    assert clipboard.text() == "hello ✓"
    menu.copy_json.trigger()
    obj = json.loads(clipboard.text())
    assert obj["payload"] == "hello ✓" and obj["encoding"] == "text"
    assert (obj["connection"], obj["direction"], obj["opcode"], obj["size"]) == (
        "echo", "in", "text", len("hello ✓".encode()))

    # the oldest (a preview): every action carries its full payload, read back
    select_only(panel, rows[0])
    assert isinstance(model.frame(rows[0]), FramePreview)
    for action in (menu.resend, menu.compose, menu.save):
        action.trigger()
    await until(lambda: all(emitted[k] for k in ("resend", "compose", "save")), 10, "signals")
    for key in ("resend", "compose", "save"):
        sent = emitted[key][0]
        assert isinstance(sent, FrameEvent) and not isinstance(sent, FramePreview)
        assert sent.payload == payloads[0] and sent.opcode is Opcode.BINARY
    menu.copy_json.trigger()
    await until(lambda: '"base64"' in clipboard.text(), 10, "JSON of the preview's frame")
    assert base64.b64decode(json.loads(clipboard.text())["payload"]) == payloads[0]

    # multi-selection: rows 0..3 copied and exported whole
    select_only(panel, rows[0])
    for r in rows[1:4]:
        panel.view.selectionModel().select(
            model.index(r, 0), panel.view.selectionModel().SelectionFlag.Select
            | panel.view.selectionModel().SelectionFlag.Rows)
    assert panel.selected_rows() == rows[:4]
    menu.copy_row.trigger()
    assert len(clipboard.text().splitlines()) == 5  # a header and four rows
    menu.copy_payload.trigger()
    await until(lambda: len(clipboard.text().splitlines()) == 4, 10, "four payloads")
    expect = [payloads[int.from_bytes(model.frame(r).payload[:2], "big")] for r in rows[:4]]
    assert clipboard.text().splitlines() == [p.hex() for p in expect]
    menu.export_har.trigger()
    menu.export_ndjson.trigger()
    await until(lambda: len(emitted["export"]) == 2, 10, "two exports")
    (har, fmt1), (nd, fmt2) = emitted["export"]  # type: ignore[misc]
    assert (fmt1, fmt2) == (HAR, NDJSON)
    assert [f.payload for f in har] == [f.payload for f in nd] == expect
    assert [f.direction for f in nd] == [model.frame(r).direction for r in rows[:4]]

    # more than the clipboard's bound: refused, and told
    monkeypatch.setattr("ui.inspector_menu.COPY_LIMIT", 3 * BIG)
    told: list[str] = []
    bridge.message.connect(told.append)
    clipboard.setText("before")
    menu.copy_payload.trigger()
    assert clipboard.text() == "before" and "more than" in told[-1]
    await bridge.manager.close_all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_events_are_rows_not_frames(setup, embedded_server) -> None:
    bridge, _recorder, panel = setup
    srv = embedded_server(auth=False)
    conn = bridge.manager.add(config(srv.url + "/echo"), connect=True)
    await until(lambda: conn.state is ConnState.OPEN, 5, "open")
    await bridge.run(conn.send("one", text=True))
    model = panel.model
    await until(lambda: model.received >= 2, 5, "the echo")
    await bridge.manager.close_all()
    await until(lambda: any(getattr(model.frame(r), "kind", "") == "closed"
                            for r in range(model.rowCount())), 5, "the closed row")
    items = [model.frame(r) for r in range(model.rowCount())]
    events = [i for i in items if isinstance(i, ConnectionRow)]
    assert [e.kind for e in events] == ["connecting", "open", "closed"]
    assert "normal closure" in events[-1].summary.lower() or "1000" in events[-1].summary
    assert model.frames_shown == model.received == len(items) - 3
    assert panel.counter.text().startswith(f"rows: {model.received},")
    open_row = items.index(events[1])
    assert model.data(model.index(open_row, COL_DIR)) == EVENT_LABEL

    # selected, a connection event shows the handshake view, not the frame pane
    hs = events[1].handshake
    assert hs is not None and hs.status == 101 and hs.url.startswith(srv.url)
    select_only(panel, open_row)
    assert panel.details.currentWidget() is panel.handshake
    text = panel.handshake.text.toPlainText()
    assert "Status:        101" in text and "Response headers:" in text
    assert any(name.lower() == "upgrade" for name, _ in hs.response_headers)
    # the toggle hides them; frames counted the same
    panel.events_box.setChecked(False)
    assert model.rowCount() == model.received == model.frames_shown
    assert panel.handshake.current is None  # the selected event is hidden: the pane is cleared
    panel.events_box.setChecked(True)
    assert model.rowCount() == model.received + 3

    # a refused port: retries with the error, as rows
    port = _free_port()
    refused = bridge.manager.add(config(
        f"ws://127.0.0.1:{port}", "nowhere",
        reconnect=ReconnectPolicy(initial=0.05, max_delay=0.1, max_attempts=2)), connect=True)
    await until(lambda: sum(getattr(model.frame(r), "kind", "") == "retry"
                            for r in range(model.rowCount())) >= 1, 10, "a retry row")
    retry = next(model.frame(r) for r in range(model.rowCount())
                 if getattr(model.frame(r), "kind", "") == "retry")
    assert retry.conn_id == refused.id and "attempt 1 failed" in retry.summary
    await bridge.manager.close_all()


def test_handshake_view_shows_what_was_negotiated(qtbot) -> None:
    bridge = make_bridge()
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    try:
        hs = HandshakeInfo(
            3, 10.0, "wss://example.test/ws", 101,
            (("Sec-WebSocket-Protocol", "graphql-ws"), ("Authorization", "Bearer ***")),
            (("Upgrade", "websocket"), ("Sec-WebSocket-Extensions", "permessage-deflate")),
            "graphql-ws", ("permessage-deflate",), "TLSv1.3", "CN=example.test, issuer R3")
        # the handshake arrives a tick before its state change: it waits for it
        bridge.tick.emit(TickBatch(time.time(), handshakes=[hs]))
        bridge.tick.emit(TickBatch(time.time(), states=[
            StateChanged(3, 10.001, ConnState.CONNECTING, ConnState.OPEN, 1)]))
        row = panel.model.frame(0)
        assert isinstance(row, ConnectionRow) and row.handshake is hs
        assert "subprotocol graphql-ws" in row.summary and "permessage-deflate" in row.summary
        select_only(panel, 0)
        text = panel.handshake.text.toPlainText()
        for needle in ("Status:        101", "TLSv1.3", "CN=example.test", "Bearer ***",
                       "Upgrade: websocket", "Subprotocol:   graphql-ws"):
            assert needle in text
        assert panel.model.frames_shown == 0 and panel.model.received == 0
    finally:
        bridge.stop()


def test_a_filter_that_hides_the_selected_frame_clears_the_detail(qtbot) -> None:
    bridge = make_bridge()
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    try:
        frames = [FrameEvent(1, 100 + i, Direction.IN, Opcode.TEXT,
                             json.dumps({"type": "a" if i % 2 else "b", "n": i}).encode())
                  for i in range(10)]
        bridge.tick.emit(TickBatch(time.time(), frames=frames))
        select_only(panel, 3)
        assert panel.detail.current is frames[3]
        selected: list[object] = []
        panel.frame_selected.connect(selected.append)
        panel.search.setText('"b"')  # frame 3 is of type "a": hidden
        panel.apply_filter()
        assert panel.detail.current is None and selected == [None]
        assert not panel.view.selectionModel().hasSelection()
        panel.search.setText("")  # visible again: selected again
        panel.apply_filter()
        assert panel.detail.current is frames[3]
    finally:
        bridge.stop()


def test_byte_bound_holds_while_paused_and_keeps_json_types(qtmodeltester) -> None:
    bound = 160 * 1024  # 60 previews fit, 20 whole frames do not
    model = InspectorModel(max_bytes=bound)
    qtmodeltester.check(model)

    def frame(i: int, kind: str) -> FrameEvent:
        body = json.dumps({"type": kind, "n": i, "pad": "x" * 10_000}).encode()
        return FrameEvent(1, i, Direction.IN, Opcode.TEXT, body)

    model.add_frames([frame(i, "early") for i in range(20)])
    assert model.payload_bytes <= bound and model.shrunk >= 5
    assert isinstance(model.frame(0), FramePreview) and model.frame(0).size > 10_000
    model.set_paused(True)
    for i in range(20, 60):
        model.add_frames([frame(i, "late")])
        assert model.pending_bytes <= bound
    model.set_paused(False)
    assert model.total == 60 and model.dropped == 0 and model.payload_bytes <= bound
    # the type of a frame cut to a preview was worked out before the cut
    model.set_filter(FrameFilter(json_type="early"))
    assert model.rowCount() == 20
    # a bound smaller than the previews themselves: the oldest rows go, counted
    model.set_filter(FrameFilter())
    model.set_max_bytes(8 * PREVIEW_BYTES)
    assert model.payload_bytes <= 8 * PREVIEW_BYTES and model.dropped > 0
    assert model.received == model.total + model.dropped
    with pytest.raises(ValueError):
        model.set_max_bytes(100)


async def test_the_window_gives_the_inspector_its_recording(qtbot, tmp_path, config_dir) -> None:
    from ui.main_window import MainWindow

    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    inspector = window.panels["inspector"]
    assert isinstance(inspector, InspectorPanel)
    recorder = Recorder(tmp_path / "app.sqlite", bridge.manager.hub)
    try:
        assert inspector.recorder() is None and not inspector.payloads.recording_on
        window.recorder = recorder  # as the app does when it opens the session
        assert inspector.recorder() is recorder
        window.docks["inspector"].setFloating(True)  # a floating dock: still the window's
        assert inspector.recorder() is recorder
    finally:
        window.recorder = None
        recorder.close()
        bridge.stop()
        dispose(window)


async def test_a_refused_handshake_is_shown_with_its_status(setup, embedded_server) -> None:
    bridge, _recorder, panel = setup
    srv = embedded_server(auth=True)  # no token given: HTTP 401
    bridge.manager.add(config(srv.url, "locked"), connect=True)
    model = panel.model

    def refused() -> ConnectionRow | None:
        for r in range(model.rowCount()):
            row = model.frame(r)
            if isinstance(row, ConnectionRow) and row.kind in ("retry", "closed"):
                return row
        return None

    await until(refused, 10, "the refused attempt's row")
    row = refused()
    assert row is not None and row.handshake is not None and row.handshake.status == 401
    assert "HTTP 401" in row.summary
    panel.view.selectRow(model.row_of_seq(next(
        model.seq_at(r) for r in range(model.rowCount()) if model.frame(r) is row)))
    assert "Status:        401" in panel.handshake.text.toPlainText()
    await bridge.manager.close_all()
