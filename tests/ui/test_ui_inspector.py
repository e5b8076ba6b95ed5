"""The inspector against real connections to a real embedded server: rows, bound, filters,
pause, and the detail pane; plus the models through qtmodeltester."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import msgpack
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction, FrameEvent, Opcode
from core.manager import ConnectionManager
from core.states import ConnState
from ui.bridge import CoreBridge, TickBatch
from ui.frame_detail import TAB_HEX, TAB_JSON, TAB_TEXT, TAB_TREE, FrameDetail
from ui.inspector_filter import FrameFilter, InvalidFilter
from ui.inspector_model import (
    COL_CONN,
    COL_DIR,
    COL_PREVIEW,
    COL_TIME,
    EVENT_LABEL,
    HEADERS,
    InspectorModel,
)
from ui.inspector_panel import InspectorPanel
from ui.json_tree import JsonTreeModel


async def until(pred: Callable[[], object], timeout: float = 8.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def config(url: str, name: str) -> ConnectionConfig:
    return ConnectionConfig(url=url, name=name, heartbeat=HeartbeatConfig(interval=0))


async def opened(manager: ConnectionManager, url: str, name: str):  # type: ignore[no-untyped-def]
    conn = manager.add(config(url, name), connect=True)
    await conn.wait_for_state(ConnState.OPEN, 5)
    return conn


def previews(panel: InspectorPanel) -> list[str]:
    model = panel.model
    return [model.data(model.index(r, COL_PREVIEW)) for r in range(model.rowCount())]


def frame(i: int, conn: int = 1, direction: Direction = Direction.IN, kind: str = "chat"):  # type: ignore[no-untyped-def]
    body = json.dumps({"type": kind, "n": i, "text": f"message number {i}"}).encode()
    return FrameEvent(conn, 1_700_000_000 + i / 1000, direction, Opcode.TEXT, body)


@pytest.fixture
def env(qtbot):  # type: ignore[no-untyped-def]
    """A manager, a bridge and an inspector panel; connections closed and bridge stopped after."""
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    yield manager, bridge, panel
    bridge.stop()


async def test_real_frames_appear_with_json_type(env, embedded_server) -> None:
    manager, _, panel = env
    srv = embedded_server(auth=False, demo_bots=3, demo_rate=20, demo_rooms=("lobby",))
    conn = await opened(manager, srv.url, "alpha")
    try:
        await conn.send(json.dumps({"type": "join_room", "room": "lobby"}))
        await until(
            lambda: any(p.startswith("[broadcast] {") for p in previews(panel)),
            what="a bot broadcast",
        )
        rows = previews(panel)
        model = panel.model
        hello = next(r for r, p in enumerate(rows) if p.startswith("[connected] {"))
        assert model.data(model.index(hello, COL_CONN)) == "alpha"
        assert model.data(model.index(hello, COL_DIR)) == "↓ in"
        assert model.data(model.index(hello, COL_TIME)).count(":") == 2
        out_row = next(r for r, p in enumerate(rows) if p.startswith("[join_room]"))
        assert model.data(model.index(out_row, COL_DIR)) == "↑ out"
        # the connection's events are rows of their own, not frames
        kinds = [model.data(model.index(r, COL_DIR)) for r in range(model.rowCount())]
        assert kinds.count(EVENT_LABEL) == model.rowCount() - model.frames_shown >= 2
        assert model.received == model.frames_shown + model.dropped
        assert f"rows: {model.frames_shown}," in panel.counter.text()
    finally:
        await manager.close_all()


async def test_bound_holds_through_a_real_echo(qtbot, embedded_server) -> None:
    srv = embedded_server(auth=False, rate=100_000, burst=100_000)
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge, max_rows=500)
    qtbot.addWidget(panel)
    conn = await opened(manager, srv.url + "/echo", "echo")
    try:
        for i in range(700):
            await conn.send(f"echo {i}")
        model = panel.model
        await until(lambda: model.received >= 1400, what="1400 frames")  # 700 out, 700 echoed
        assert model.rowCount() <= 500
        assert model.dropped > 0
        assert model.received == model.frames_shown + model.dropped
        assert panel.dropped == model.dropped
        assert f"dropped: {model.dropped:,}" in panel.counter.text()
        assert previews(panel)[-1] == "echo 699"  # the newest rows are the ones kept
    finally:
        await manager.close_all()
        bridge.stop()


def test_bound_trims_in_chunks_and_counts(qtmodeltester) -> None:
    model = InspectorModel(max_rows=1000)  # chunk: 100 rows
    removals: list[int] = []
    model.rowsRemoved.connect(lambda _p, first, last: removals.append(last - first + 1))
    fed = 0
    for start in range(0, 1500, 300):
        model.add_frames([frame(i) for i in range(start, start + 300)])
        fed += 300
        assert model.rowCount() <= 1000
        assert model.received == fed == model.rowCount() + model.dropped
    assert model.rowCount() == 1000
    assert removals == [200, 300]  # one removal per batch, never row by row
    model.add_frames([frame(1500)])  # a small overflow still trims a whole chunk
    assert model.rowCount() == 901 and removals[-1] == 100
    assert model.received == model.rowCount() + model.dropped
    assert json.loads(model.frame(model.rowCount() - 1).payload)["n"] == 1500
    model.add_frames([frame(i) for i in range(2000, 3500)])  # a batch larger than the bound
    assert model.rowCount() == 1000
    assert model.received == model.rowCount() + model.dropped
    qtmodeltester.check(model)
    model.set_filter(FrameFilter(text="number 33"))
    qtmodeltester.check(model)
    model.clear()
    assert (model.rowCount(), model.dropped, model.received) == (0, 0, 0)


def test_filter_keeps_up_with_trims_and_appends(qtmodeltester) -> None:
    model = InspectorModel(max_rows=100)
    model.set_filter(FrameFilter(direction=Direction.OUT))
    model.add_frames(
        [frame(i, direction=Direction.OUT if i % 2 else Direction.IN) for i in range(250)]
    )
    assert model.total == 100 and model.rowCount() == 50  # the filtered half of what is kept
    assert all(model.frame(r).direction is Direction.OUT for r in range(model.rowCount()))
    assert model.received == model.total + model.dropped
    qtmodeltester.check(model)
    model.set_filter(FrameFilter())
    assert model.rowCount() == 100


def test_filters_direction_regex_type_connection(qtbot) -> None:
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    frames = [
        frame(0, conn=1, direction=Direction.OUT, kind="join_room"),
        frame(1, conn=1, kind="presence"),
        frame(2, conn=2, kind="broadcast"),
        frame(3, conn=2, direction=Direction.OUT, kind="broadcast"),
        FrameEvent(2, time.time(), Direction.IN, Opcode.TEXT, b"plain Text 42"),
        FrameEvent(
            1,
            time.time(),
            Direction.IN,
            Opcode.BINARY,
            msgpack.packb({"type": "presence", "room": "x"}),
        ),
    ]
    bridge.tick.emit(TickBatch(time.time(), frames=frames))
    model = panel.model
    assert model.rowCount() == 6

    panel.dir_combo.setCurrentIndex(panel.dir_combo.findText("↑ out"))
    assert model.rowCount() == 2
    panel.dir_combo.setCurrentIndex(0)

    panel.regex_box.setChecked(True)
    panel.search.setText(r"number [23]\b")
    panel.apply_filter()
    assert [json.loads(model.frame(r).payload)["n"] for r in range(model.rowCount())] == [2, 3]
    panel.search.setText("Te[x]t")  # case-insensitive by default
    panel.apply_filter()
    assert model.rowCount() == 5
    panel.case_box.setChecked(True)
    assert model.rowCount() == 1 and model.frame(0).payload == b"plain Text 42"
    panel.case_box.setChecked(False)

    panel.search.setText("broken[")  # invalid: reported inline, the last good filter stays
    panel.apply_filter()
    assert panel.error_label.isVisibleTo(panel)
    assert "invalid regular expression" in panel.error_label.text()
    assert model.rowCount() == 5
    panel.search.setText("")
    panel.apply_filter()
    assert not panel.error_label.isVisibleTo(panel)
    assert model.rowCount() == 6
    with pytest.raises(InvalidFilter):
        model.set_filter(FrameFilter(text="(", regex=True))

    panel.refresh_types()
    types = [panel.type_combo.itemText(i) for i in range(1, panel.type_combo.count())]
    assert types == ["broadcast", "join_room", "presence"]
    panel.type_combo.setCurrentIndex(panel.type_combo.findText("presence"))
    assert model.rowCount() == 2  # the JSON one and the MessagePack one
    panel.type_combo.setCurrentIndex(0)

    manager.add(config("ws://127.0.0.1:9", "one"))
    manager.add(config("ws://127.0.0.1:9", "two"))
    panel.conn_combo.showPopup()
    panel.conn_combo.hidePopup()
    panel.conn_combo.setCurrentIndex(panel.conn_combo.findText("two"))
    assert model.rowCount() == 3
    assert model.data(model.index(0, COL_CONN)) == "two"
    panel.set_connections([1])
    panel.conn_combo.setCurrentIndex(panel.conn_combo.findData("selected"))
    assert model.rowCount() == 3 and all(model.frame(r).conn_id == 1 for r in range(3))

    bridge.tick.emit(TickBatch(time.time(), frames=[frame(9, conn=1), frame(10, conn=2)]))
    assert model.rowCount() == 4  # appended rows are filtered on arrival
    bridge.stop()


async def test_pause_keeps_capturing(env, embedded_server) -> None:
    manager, _, panel = env
    srv = embedded_server(auth=False, rate=100_000, burst=100_000)
    conn = await opened(manager, srv.url + "/echo", "echo")
    model = panel.model
    try:
        await conn.send("before")
        await until(lambda: model.rowCount() >= 2, what="the echo")  # out, in
        shown = model.rowCount()
        panel.pause_button.click()
        assert panel.pause_button.text() == "Resume"
        for i in range(20):
            await conn.send(f"while paused {i}")
        await until(lambda: model.pending >= 40, what="frames captured while paused")
        assert model.rowCount() == shown  # the view is frozen
        assert f"paused: {model.pending:,} new" in panel.counter.text()
        panel.pause_button.click()
        assert model.rowCount() == shown + 40 and model.pending == 0
        assert "paused" not in panel.counter.text()
        assert previews(panel)[-1] == "while paused 19"
    finally:
        await manager.close_all()


async def test_detail_pane_json_tree_hex_msgpack(env, embedded_server, qtmodeltester) -> None:
    manager, _, panel = env
    srv = embedded_server(auth=False)
    conn = await opened(manager, srv.url + "/echo", "echo")
    model, detail = panel.model, panel.detail
    try:
        doc = {"type": "order", "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}]}
        await conn.send(json.dumps(doc))
        packed = msgpack.packb({"type": "tick", "price": 1.25, "raw": b"\x00\x01"})
        await conn.send(packed, text=False)
        await conn.send(b"\x00\xffnot msgpack\x01", text=False)
        await until(lambda: model.rowCount() >= 6, what="3 echoed messages")

        def select(pred: Callable[[FrameEvent], bool]) -> FrameEvent:
            row = next(r for r in range(model.rowCount()) if pred(model.frame(r)))
            panel.view.selectRow(row)
            return model.frame(row)

        def is_in(payload: bytes) -> Callable[[FrameEvent], bool]:
            return lambda e: e.direction is Direction.IN and e.payload == payload

        select(is_in(json.dumps(doc).encode()))
        detail.tabs.setCurrentIndex(TAB_JSON)
        assert detail.json_edit.toPlainText() == json.dumps(doc, indent=2)
        assert "↓ in" in detail.header.text() and "echo" in detail.header.text()
        assert "text" in detail.header.text()
        detail.tabs.setCurrentIndex(TAB_TREE)
        tree = detail.tree.tree_model
        root = tree.index(0, 0)
        keys = [tree.index(r, 0, root).data() for r in range(tree.rowCount(root))]
        assert keys == ["type", "items"]
        items = tree.index(1, 0, root)
        assert tree.index(1, 1, root).data() == "[2]"
        assert tree.index(0, 1, tree.index(0, 0, items)).data() == '"A-1"'
        qtmodeltester.check(tree)
        detail.tabs.setCurrentIndex(TAB_TEXT)
        assert detail.text_edit.toPlainText() == json.dumps(doc)

        select(is_in(packed))
        assert detail.format == "msgpack"
        detail.tabs.setCurrentIndex(TAB_JSON)
        shown = json.loads(detail.json_edit.toPlainText())
        assert shown["type"] == "tick" and shown["price"] == 1.25
        assert "MessagePack" in detail.decoded.text()
        detail.tabs.setCurrentIndex(TAB_TREE)
        assert detail.tree.tree_model.rowCount(detail.tree.tree_model.index(0, 0)) == 3

        event = select(is_in(b"\x00\xffnot msgpack\x01"))
        detail.tabs.setCurrentIndex(TAB_HEX)
        hexdump = detail.hex_view.toPlainText()
        assert hexdump.startswith("00000000  00 ff 6e 6f 74")
        assert hexdump.rstrip().endswith("..not msgpack.")
        assert detail.format == ""
        detail.copy_payload()
        assert QApplication.clipboard().text() == event.payload.hex()
        row_preview = model.data(model.index(panel.view.currentIndex().row(), COL_PREVIEW))
        assert row_preview.startswith("00 ff 6e")
    finally:
        await manager.close_all()


def test_selection_survives_refilter_and_clear(qtbot) -> None:
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    bridge.tick.emit(TickBatch(time.time(), frames=[frame(i, kind=f"k{i % 3}") for i in range(30)]))
    panel.view.selectRow(10)
    chosen = panel.model.frame(10)
    panel.regex_box.setChecked(True)
    panel.search.setText('"k1"')
    panel.apply_filter()
    current = panel.view.currentIndex()
    assert current.isValid() and panel.model.frame(current.row()) is chosen
    assert panel.detail.current is chosen
    panel.clear()
    assert panel.model.rowCount() == 0 and panel.detail.current is None
    assert panel.counter.text().startswith("rows: 0")
    bridge.stop()


def test_json_tree_caps_nodes(qtmodeltester) -> None:
    model = JsonTreeModel(max_nodes=50)
    model.set_value({"big": list(range(5000)), "other": {"a": 1}})
    root = model.index(0, 0)
    big = model.index(0, 0, root)
    assert model.rowCount(big) <= 50
    last = model.index(model.rowCount(big) - 1, 1, big)
    assert "more not shown" in last.data() or "limit" in last.data()
    assert model.capped
    qtmodeltester.check(model)
    assert not model.index(0, 0, QModelIndex()).flags() & Qt.ItemFlag.ItemIsEditable


def test_detail_pane_limits_and_control_frames(qtbot) -> None:
    detail = FrameDetail()
    qtbot.addWidget(detail)
    big = b'"' + b"x" * (2 * 1024 * 1024) + b'"'
    detail.tabs.setCurrentIndex(TAB_TEXT)
    detail.show_frame(FrameEvent(1, time.time(), Direction.IN, Opcode.TEXT, big), "c")
    shown = detail.text_edit.toPlainText()
    assert len(shown.replace("\n", "")) == 1024 * 1024  # cut, and long lines split for Qt
    assert "cut at 1.0 MiB" in detail.pages[TAB_TEXT].note.text()
    assert "shown split" in detail.pages[TAB_TEXT].note.text()
    close = FrameEvent(
        1, time.time(), Direction.IN, Opcode.CLOSE, (1008).to_bytes(2, "big") + b"bye"
    )
    detail.show_frame(close, "c")
    assert detail.text_edit.toPlainText().startswith("1008")
    detail.show_frame(FrameEvent(1, time.time(), Direction.IN, Opcode.TEXT, b"{oops"), "c")
    detail.tabs.setCurrentIndex(TAB_JSON)
    assert "not JSON" in detail.decoded.text() and "line 1, column 2" in detail.decoded.text()


def test_autoscroll_only_at_bottom_and_trims_keep_the_rows_in_sight(qtbot) -> None:
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge, max_rows=1000)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    count = 0

    def feed(n: int) -> None:
        nonlocal count
        bridge.tick.emit(TickBatch(time.time(), frames=[frame(i) for i in range(count, count + n)]))
        count += n
        QApplication.processEvents()

    def top_n() -> int:
        index = panel.view.indexAt(panel.view.viewport().rect().topLeft())
        return json.loads(panel.model.frame(index.row()).payload)["n"]

    bar = panel.view.verticalScrollBar()
    feed(400)
    feed(400)
    assert bar.value() == bar.maximum() > 0  # followed the new rows
    bar.setValue(300)
    feed(100)
    assert bar.value() == 300 and top_n() == 300  # a reader who scrolled up is left alone
    feed(300)  # trims 100 rows above the reader
    assert top_n() == 300
    bar.setValue(bar.maximum())
    feed(50)
    assert bar.value() == bar.maximum()
    bridge.stop()


def test_select_newest_and_empty_hints(qtbot) -> None:
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    detail = panel.detail
    assert "Select a frame" in detail.json_edit.placeholderText()  # not a blank box
    frames = [frame(i, conn=1 + i % 2) for i in range(10)]
    frames.append(frame(10, direction=Direction.OUT))
    bridge.tick.emit(TickBatch(time.time(), frames=frames))
    assert panel.select_newest(lambda e: e.direction is Direction.IN and e.conn_id == 1)
    assert detail.current is frames[8]
    assert json.loads(detail.json_edit.toPlainText())["n"] == 8
    assert not panel.select_newest(lambda e: e.conn_id == 3)
    assert detail.current is frames[8]  # nothing found: the selection stays
    detail.show_frame(FrameEvent(1, time.time(), Direction.IN, Opcode.TEXT, b"plain"), "c")
    assert "Text or Hex" in detail.json_edit.placeholderText()
    bridge.stop()


def _mixed_frames() -> list[FrameEvent]:
    """Frames that catch shortcuts: escaped and non-ASCII types, letters that casefold() turns
    into ASCII ones (long s, Kelvin sign), binary frames searched as hex, MessagePack, control
    frames."""
    kinds = ["chat", "Chat", "ſtar", "a\"b", "é", "x\\y", "ss", "K"]
    texts = ["hello", "HeLLo", "ſ", "K", "straße", "6c", "6c 6c"]
    out: list[FrameEvent] = []
    for i in range(400):
        kind, text = kinds[i % len(kinds)], texts[i % len(texts)]
        direction = Direction.IN if i % 3 else Direction.OUT
        conn = 1 + i % 3
        if i % 5 == 0:
            op, payload = Opcode.BINARY, msgpack.packb({"type": kind, "text": text})
        elif i % 7 == 0:
            op, payload = Opcode.BINARY, bytes([i % 256, 0x6C, 0xFF])
        elif i % 11 == 0:
            op, payload = Opcode.PING, text.encode()
        else:
            body = json.dumps({"type": kind, "text": text}, ensure_ascii=bool(i % 2))
            op, payload = Opcode.TEXT, body.encode()
        out.append(FrameEvent(conn, 1_700_000_000 + i, direction, op, payload))
    return out


def shown_table(qtbot, model: InspectorModel):  # type: ignore[no-untyped-def]
    """A plain QTableView of `model`, shown and exposed."""
    from PySide6.QtWidgets import QTableView

    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(700, 300)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_cells_are_painted_with_two_calls_into_python(qtbot) -> None:
    """Painting a cell calls index() and multiData() only: no data() per role, no rowCount()
    or columnCount() per cell, no flags() (every call from Qt into Python has to take the GIL
    from the network thread). multiData() answers as data() does."""
    from PySide6.QtCore import QModelRoleData, QModelRoleDataSpan

    calls: dict[str, int] = {}

    class Counting(InspectorModel):
        pass

    def counting(name: str):  # type: ignore[no-untyped-def]
        base = getattr(InspectorModel, name)

        def counted(self, *args):  # type: ignore[no-untyped-def]
            calls[name] = calls.get(name, 0) + 1
            return base(self, *args)

        return counted

    for name in ("data", "multiData", "index", "rowCount", "columnCount", "headerData"):
        setattr(Counting, name, counting(name))
    model = Counting()
    frames = _mixed_frames()
    model.add_frames(frames)
    view = shown_table(qtbot, model)
    calls.clear()
    view.viewport().grab()
    cells = calls.get("multiData", 0)
    assert cells > 20
    assert calls.get("index", 0) == cells
    assert calls.get("data", 0) == 0
    assert calls.get("rowCount", 0) + calls.get("columnCount", 0) < 5

    roles = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole,
             Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.FontRole,
             Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.DecorationRole,
             Qt.ItemDataRole.CheckStateRole]
    for row in range(0, len(frames), 7):
        for col in range(len(HEADERS)):
            index = model.index(row, col)
            for role in roles:
                item = QModelRoleData(role)
                model.multiData(index, QModelRoleDataSpan(item))
                assert item.data() == model.data(index, role), (row, col, role)
    # and the table looks exactly as it does when Qt asks data() role by role
    class RoleByRole(InspectorModel):
        def multiData(self, index, span):  # type: ignore[no-untyped-def]
            for item in span:
                item.setData(self.data(index, item.role()))

    plain = RoleByRole()
    plain.add_frames(frames)
    other = shown_table(qtbot, plain)
    for first in (0, 200, len(frames) - 1):
        view.scrollTo(model.index(first, 0))
        other.scrollTo(plain.index(first, 0))
        assert view.viewport().grab().toImage() == other.viewport().grab().toImage()

    assert model.data(model.index(3, 4), Qt.ItemDataRole.ToolTipRole).endswith(" bytes")
    assert model.data(model.index(3, 0), Qt.ItemDataRole.UserRole) is frames[3]
    assert model.index(len(frames), 0).isValid() is False
    assert model.index(0, len(HEADERS)).isValid() is False


def test_frame_table_paints_like_a_table_view_in_one_call(qtbot) -> None:
    """The inspector's own table paints in one call into Python (no index() or multiData()
    per cell from Qt) and draws exactly what a QTableView draws: alternating rows, the
    selected row, the current cell with focus, colours, fonts, alignment, elided previews."""
    from PySide6.QtCore import QItemSelectionModel
    from PySide6.QtWidgets import QTableView

    from ui.inspector_panel import FrameTable

    calls: list[str] = []

    class Counting(InspectorModel):
        def multiData(self, index, span):  # type: ignore[no-untyped-def]
            calls.append("multiData")
            super().multiData(index, span)

        def data(self, index, role=Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
            calls.append("data")
            return super().data(index, role)

    frames = _mixed_frames()
    frames.append(FrameEvent(1, 1_700_000_999, Direction.IN, Opcode.TEXT, b"z" * 3000))
    views = []
    for table in (FrameTable, QTableView):
        model = Counting()
        model.add_frames(frames)
        model.set_preview_chars(60)
        view = table()
        qtbot.addWidget(view)
        view.setModel(model)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setShowGrid(False)
        view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        view.verticalHeader().hide()
        view.horizontalHeader().setStretchLastSection(True)
        view.resize(760, 320)
        view.show()
        qtbot.waitExposed(view)
        views.append((view, model))

    def same() -> bool:
        (mine, _), (theirs, _) = views
        return mine.viewport().grab().toImage() == theirs.viewport().grab().toImage()

    mine = views[0][0]
    calls.clear()
    mine.viewport().grab()
    assert calls == []  # no call into Python per cell
    assert same()
    for row in (3, 150, len(frames) - 1):
        for view, model in views:
            flags = (
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows
            )
            view.selectionModel().setCurrentIndex(model.index(row, 2), flags)
            view.scrollTo(model.index(row, 0))
            view.setFocus()
        assert same(), row
    for view, _ in views:
        view.clearFocus()
        view.scrollToBottom()
    assert same()


def test_flood_ticks_are_shown_together(qtbot, monkeypatch) -> None:
    """Ticks of more than FLOOD_FRAMES frames soon after the last shown ones are held back and
    shown together: on the next small or empty tick, on pause, or by the timer; Clear drops
    them. Counters only count what the model was given, so received = shown + dropped holds."""
    import ui.inspector_panel as inspector_panel

    # held until told otherwise
    monkeypatch.setattr(inspector_panel, "SHOW_EVERY_MS", ((inspector_panel.FLOOD_FRAMES, 60_000),))
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    bridge._timer.stop()  # only the ticks emitted here
    panel = InspectorPanel(bridge, max_rows=5_000)
    qtbot.addWidget(panel)
    model = panel.model
    big = inspector_panel.FLOOD_FRAMES + 1
    count = 0

    def tick(n: int) -> None:
        nonlocal count
        bridge.tick.emit(TickBatch(time.time(), frames=[frame(i) for i in range(count, count + n)]))
        count += n

    def newest() -> int:
        return json.loads(model.frame(model.rowCount() - 1).payload)["n"]

    tick(big)  # nothing shown for a while: shown at once
    assert model.received == model.rowCount() == big
    tick(big)
    tick(big)
    assert model.received == big  # held
    tick(3)  # a small tick shows what was held, in order
    assert model.received == 3 * big + 3 == model.rowCount() + model.dropped
    assert newest() == count - 1
    assert [json.loads(model.frame(r).payload)["n"] for r in range(model.rowCount())] == list(
        range(count - model.rowCount(), count)
    )
    tick(big)
    tick(0)  # an empty tick too
    assert model.received == count
    panel._last_shown = time.monotonic()
    tick(big)
    panel.pause_button.click()  # held frames are shown before the view freezes
    assert model.received == count and model.pending == 0 and newest() == count - 1
    tick(big)
    assert model.pending == big  # paused: captured, not shown
    panel.pause_button.click()
    assert model.pending == 0 and newest() == count - 1
    panel._last_shown = time.monotonic()
    tick(big)
    panel.clear()
    tick(0)
    assert model.received == 0 and model.rowCount() == 0
    assert model.received == model.rowCount() + model.dropped
    bridge.stop()


def test_busy_ticks_are_shown_at_most_five_times_a_second(qtbot) -> None:
    """More than 50 frames a tick (1,000/s: 1,000 heartbeating connections) within 200 ms of the
    last shown frames wait for the next tick that may show them; quiet traffic never waits."""
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    bridge._timer.stop()
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    model = panel.model

    def tick(start: int, n: int) -> None:
        bridge.tick.emit(TickBatch(time.time(), frames=[frame(i) for i in range(start, start + n)]))

    panel._last_shown = time.monotonic()
    tick(0, 60)
    assert model.received == 0  # held: shown less than 200 ms ago
    tick(60, 10)  # a quiet tick shows everything, in order
    assert model.received == model.rowCount() == 70
    panel._last_shown = time.monotonic() - 0.3
    tick(70, 60)
    assert model.received == 130  # more than 200 ms since: at once
    panel._last_shown = time.monotonic()
    tick(130, 50)
    assert model.received == 180  # 50 a tick is not busy
    bridge.stop()


async def test_held_flood_frames_are_shown_by_the_timer(qtbot) -> None:
    import ui.inspector_panel as inspector_panel

    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    bridge._timer.stop()  # no empty ticks: only the timer can show what is held
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    big = inspector_panel.FLOOD_FRAMES + 1
    for start in range(0, 5 * big, big):
        frames = [frame(i) for i in range(start, start + big)]
        bridge.tick.emit(TickBatch(time.time(), frames=frames))
    await until(lambda: panel.model.received == 5 * big, what="the held frames")
    assert panel.model.rowCount() == 5 * big
    bridge.stop()


def test_previews_are_cut_to_what_the_column_shows(qtbot) -> None:
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    long_text = json.dumps({"type": "big", "text": "y" * 5000}).encode()
    bridge.tick.emit(TickBatch(time.time(), frames=[
        FrameEvent(1, time.time(), Direction.IN, Opcode.TEXT, long_text)]))
    model = panel.model
    panel.resize(800, 400)  # the Message column takes 180 px
    panel.show()
    qtbot.waitExposed(panel)
    narrow = model.preview_chars
    assert 40 < narrow < 300
    shown = model.data(model.index(0, COL_PREVIEW))
    assert shown.startswith("[big] {") and shown.endswith("…")
    assert len(shown) == len("[big] ") + narrow + 1
    panel.resize(1600, 400)
    QApplication.processEvents()
    assert model.preview_chars > narrow
    assert len(model.data(model.index(0, COL_PREVIEW))) == len("[big] ") + model.preview_chars + 1
    bridge.stop()
