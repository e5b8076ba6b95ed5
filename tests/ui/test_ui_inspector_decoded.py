"""The inspector's decoded side against real servers on 127.0.0.1: the Message column (the
embedded server through its lazy decoder, JSON-RPC 2.0 behind `websockets`, python-socketio
under uvicorn through the fed Socket.IO decoder), the Decoded tab, the filters on kind, name,
topic and heartbeats, and the decoder override from the Connection menu."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMenu
from websockets.asyncio.server import serve

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction, FrameEvent, Opcode
from core.manager import ConnectionManager
from core.states import ConnState
from tests.helpers_ui import dispose, until
from tests.servers.socketio_server import running
from ui.bridge import CoreBridge, TickBatch
from ui.connections_panel import ConnectionsPanel
from ui.frame_detail import TAB_DECODED
from ui.inspector_decoded import SETTLE_S
from ui.inspector_model import COL_MESSAGE, COL_PREVIEW
from ui.inspector_panel import InspectorPanel

SHOT = "/tmp/inspector-decoded.png"


@pytest.fixture
def env(qtbot):  # type: ignore[no-untyped-def]
    """A manager, a bridge, an inspector and a connections panel on the same bridge (the
    connections publish ProtocolDetected and MessagesDecoded from core.decoders.layer)."""
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    conns = ConnectionsPanel(bridge)
    qtbot.addWidget(panel)
    qtbot.addWidget(conns)
    panel.resize(1200, 700)
    yield manager, bridge, panel, conns
    bridge.stop()
    dispose(conns, panel)


async def opened(manager: ConnectionManager, url: str, name: str, **fields: Any):  # type: ignore[no-untyped-def]
    fields.setdefault("heartbeat", HeartbeatConfig(interval=0))
    conn = manager.add(ConnectionConfig(url=url, name=name, **fields), connect=True)
    await conn.wait_for_state(ConnState.OPEN, 5)
    return conn


def messages(panel: InspectorPanel) -> list[str]:
    model = panel.model
    return [model.data(model.index(r, COL_MESSAGE)) or "" for r in range(model.rowCount())]


def frame_rows(panel: InspectorPanel, accept: Callable[[FrameEvent], bool]) -> list[int]:
    model = panel.model
    return [r for r in range(model.rowCount())
            if isinstance(model.frame(r), FrameEvent) and accept(model.frame(r))]


def select(panel: InspectorPanel, row: int) -> None:
    panel.view.selectRow(row)
    panel.view.setCurrentIndex(panel.model.index(row, 0))


async def refiltered(panel: InspectorPanel) -> None:
    """The filter applied, and every row that arrived before judged (young rows wait)."""
    panel.apply_filter()
    await asyncio.sleep(SETTLE_S + 0.1)
    await until(lambda: not panel.model.scanning, what="the decoded filter's scan")


async def test_embedded_server_message_column_decoded_view_and_filters(env, embedded_server):
    manager, _, panel, _ = env
    srv = embedded_server(auth=False, demo_bots=2, demo_rate=20, demo_rooms=("lobby",))
    conn = await opened(manager, srv.url, "rooms", heartbeat=HeartbeatConfig(
        interval=0.2, timeout=5, app_template='{"type": "ping"}'))
    model = panel.model
    try:
        await conn.send(json.dumps({"type": "join_room", "room": "lobby", "requestId": "r1"}))
        await until(lambda: any(m.startswith("broadcast lobby") for m in messages(panel)),
                    what="a bot's broadcast in the Message column")
        shown = messages(panel)
        assert any(m.startswith("join_room lobby") and m.endswith("req r1") for m in shown)
        assert any(m.startswith("connected") for m in shown)
        # lazy: only rows asked about are decoded (nothing at tick time)
        assert model.decoded.cached <= model.rowCount()
        before = model.decoded.cached
        await until(lambda: model.rowCount() > before + 5, what="more rows")
        assert model.decoded.cached == before  # nobody painted the new rows

        # the Decoded tab of a broadcast
        row = next(r for r, m in enumerate(messages(panel)) if m.startswith("broadcast lobby"))
        select(panel, row)
        panel.detail.tabs.setCurrentIndex(TAB_DECODED)
        view = panel.detail.decoded_view
        assert [m.name for m in view.messages] == ["broadcast"]
        assert view.messages[0].topic == "lobby"
        text = view.text.toPlainText()
        assert text.startswith("SocketScope room protocol: 1 message")
        assert "topic: lobby" in text and "payload:" in text
        assert view.tree.tree_model.rowCount() == 1

        # filters: by kind, by name/topic, heartbeats hidden (app pings and WebSocket pings)
        await until(lambda: any(m.startswith("pong") for m in messages(panel)), what="a pong")
        panel.decoded_bar.kind_combo.setCurrentIndex(
            panel.decoded_bar.kind_combo.findData("subscribe"))
        await refiltered(panel)
        assert [m for m in messages(panel) if m] == [m for m in shown if m.startswith("join_room")]
        panel.decoded_bar.kind_combo.setCurrentIndex(0)
        panel.decoded_bar.name_edit.setText("LOBBY")
        await refiltered(panel)
        assert model.frames_shown > 0
        assert all("lobby" in m for m in messages(panel) if m)
        panel.decoded_bar.name_edit.setText("")
        panel.decoded_bar.heartbeats_box.setChecked(True)
        await refiltered(panel)
        hidden = model.frames_stored - model.frames_shown
        assert hidden > 0
        assert not any(m.startswith(("ping", "pong")) for m in messages(panel))
        assert not frame_rows(panel, lambda f: f.opcode in (Opcode.PING, Opcode.PONG))
        assert any(m.startswith("broadcast") for m in messages(panel))
        # rows arriving later are judged in turns, heartbeats still hidden
        count = model.frames_stored
        await until(lambda: model.frames_stored > count + 10 and not model.scanning,
                    what="more rows judged")
        assert not any(m.startswith(("ping", "pong")) for m in messages(panel))
        panel.decoded_bar.heartbeats_box.setChecked(False)
        await refiltered(panel)
        assert any(m.startswith("pong") for m in messages(panel))
    finally:
        await manager.close_all()


async def test_decoder_override_switches_the_column_to_raw_and_back(env, embedded_server):
    manager, _bridge, panel, conns = env
    srv = embedded_server(auth=False, demo_bots=2, demo_rate=25, demo_rooms=("lobby",))
    conn = await opened(manager, srv.url, "rooms")
    try:
        await conn.send(json.dumps({"type": "join_room", "room": "lobby"}))
        await until(lambda: any(m.startswith("broadcast") for m in messages(panel)),
                    what="a decoded broadcast")
        conns.select(conn.id)
        menu = conns.decoder_menu
        context = QMenu()
        conns.add_actions_to(context)  # the context menu and the Connection menu
        assert menu.menuAction() in context.actions()
        menu.refill()
        labels = [a.text() for a in menu.actions() if not a.isSeparator()]
        assert labels[:2] == ["Automatic", "Raw (no decoder)"]
        assert "SocketScope room protocol" in labels and "JSON-RPC 2.0" in "".join(labels)
        checked = [a.data() for a in menu.actions() if a.isChecked()]
        assert checked == ["auto"]

        def raw_action() -> Any:
            return next(a for a in menu.actions() if a.data() == "raw")

        switched = time.time()
        raw_action().trigger()

        def broadcasts_after(t: float) -> list[str]:
            rows = frame_rows(panel, lambda f: f.time > t + 0.3 and b'"broadcast"' in f.payload)
            return [messages(panel)[r] for r in rows]

        await until(lambda: len(broadcasts_after(switched)) >= 3, what="broadcasts after raw")
        assert broadcasts_after(switched) == [""] * len(broadcasts_after(switched))
        menu.refill()
        assert [a.data() for a in menu.actions() if a.isChecked()] == ["raw"]
        row = frame_rows(panel, lambda f: f.time > switched + 0.3)[0]
        select(panel, row)
        panel.detail.tabs.setCurrentIndex(TAB_DECODED)
        assert "raw frames" in panel.detail.decoded_view.text.placeholderText()

        back = time.time()
        next(a for a in menu.actions() if a.data() == "embedded").trigger()
        await until(lambda: len(broadcasts_after(back)) >= 3, what="broadcasts after the switch")
        assert all(m.startswith("broadcast lobby") for m in broadcasts_after(back))
        # the older rows keep what they were decoded with
        assert any(m.startswith("broadcast lobby") for m in messages(panel)[:5] + messages(
            panel)[: frame_rows(panel, lambda f: f.time > switched)[0]])
    finally:
        await manager.close_all()


async def jsonrpc_handler(ws: Any) -> None:
    async for text in ws:
        request = json.loads(text)
        method, params, ident = request.get("method"), request.get("params"), request.get("id")
        if method == "add":
            reply = {"jsonrpc": "2.0", "result": sum(params), "id": ident}
        else:
            reply = {"jsonrpc": "2.0", "id": ident,
                     "error": {"code": -32601, "message": "Method not found"}}
        await ws.send(json.dumps(reply))


async def test_jsonrpc_call_and_result_with_their_id(env):
    manager, _, panel, _ = env
    async with serve(jsonrpc_handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = await opened(manager, f"ws://127.0.0.1:{port}/rpc", "rpc")
        try:
            await conn.send(json.dumps({"jsonrpc": "2.0", "method": "add", "params": [2, 5],
                                        "id": 7}))
            await conn.send(json.dumps({"jsonrpc": "2.0", "method": "nope", "id": 8}))
            await until(lambda: sum(bool(m) for m in messages(panel)) >= 4,
                        what="call, result, call, error in the Message column")
            shown = [m for m in messages(panel) if m]
            print("JSON-RPC Message column:", shown)
            assert shown[0] == "call add [2,5] id 7"
            result = next(m for m in shown if m.startswith("result"))
            assert "id 7" in result and result.endswith(" 7")
            assert any(m.startswith("call nope") and m.endswith("id 8") for m in shown)
            error = next(m for m in shown if m.startswith("error"))
            assert "-32601" in error and "id 8" in error
            panel.decoded_bar.kind_combo.setCurrentIndex(
                panel.decoded_bar.kind_combo.findData("response"))
            await refiltered(panel)
            assert [m for m in messages(panel) if m] == [result]
            panel.decoded_bar.kind_combo.setCurrentIndex(0)
            panel.decoded_bar.name_edit.setText("add")
            await refiltered(panel)
            assert [m for m in messages(panel) if m] == ["call add [2,5] id 7", result]
        finally:
            await manager.close_all()


async def test_socketio_ack_and_hidden_engineio_pings(env):
    manager, _, panel, _ = env
    server = running(ping_interval=0.5, ping_timeout=2.0)
    try:
        conn = await opened(manager, server.url, "sio")
        await until(lambda: any(m.startswith("connect") for m in messages(panel)),
                    what="the namespace connected by the protocol client")
        await conn.send('421["echo",{"n":1}]')
        await until(lambda: any(m.startswith("ack echo 1") for m in messages(panel)),
                    what="the ack")
        shown = messages(panel)
        assert 'emit echo [{"n":1}] ack 1' in shown
        await until(lambda: sum(m.startswith(("ping", "pong")) for m in messages(panel)) >= 2,
                    what="Engine.IO pings answered")
        panel.decoded_bar.heartbeats_box.setChecked(True)
        await refiltered(panel)
        shown = messages(panel)
        assert not any(m.startswith(("ping", "pong")) for m in shown)
        assert 'emit echo [{"n":1}] ack 1' in shown
        row = shown.index('emit echo [{"n":1}] ack 1')
        select(panel, row)
        panel.detail.tabs.setCurrentIndex(TAB_DECODED)
        message = panel.detail.decoded_view.messages[0]
        assert (message.kind, message.name, message.correlation) == ("request", "echo", "ack:/:1")
        panel.resize(1280, 640)
        panel.show()
        QApplication.processEvents()
        panel.grab().save(SHOT)
    finally:
        await manager.close_all()
        server.stop()


def test_message_cells_are_decoded_only_when_painted_and_a_flood_stays_cheap(qtbot):
    """add_frames costs the same with decoding on (nothing is decoded at tick time); printed,
    not asserted (machines are noisy)."""
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    panel = InspectorPanel(bridge)
    qtbot.addWidget(panel)
    now = time.time()
    body = json.dumps({"type": "broadcast", "room": "lobby", "data": {"n": 1}}).encode()
    flood = [FrameEvent(1, now + i / 1e6, Direction.IN, Opcode.TEXT, body) for i in range(50_000)]
    start = time.perf_counter()
    panel.model.add_frames(flood)
    bare = time.perf_counter() - start
    panel.model.clear()
    from core.events import MessagesDecoded, ProtocolDetected

    detected = ProtocolDetected(1, now - 1, "embedded", "SocketScope room protocol", 21, False)
    bridge.tick.emit(TickBatch(now, protocols=[detected]))
    start = time.perf_counter()
    panel.model.add_frames(flood)
    decoded = time.perf_counter() - start
    print(f"add_frames of 50,000 frames: {bare * 1000:.1f} ms raw, "
          f"{decoded * 1000:.1f} ms with a lazy decoder")
    assert panel.model.decoded.cached == 0
    # a fed decoder's messages cost one map entry per frame at tick time
    from core.decoders.api import Kind, Message

    items = tuple((f.time, Message("socketio", Kind.EVENT, "emit chat {}", Direction.IN, "chat",
                                   "/", None, False, [], {"type": "EVENT"})) for f in flood)
    start = time.perf_counter()
    panel.model.decoded.messages_decoded(MessagesDecoded(2, now, items))
    print(f"MessagesDecoded of 50,000 messages taken in {(time.perf_counter() - start) * 1000:.1f}"
          " ms")
    assert panel.model.data(panel.model.index(3, COL_MESSAGE)) == 'broadcast lobby {"n":1}'
    assert panel.model.decoded.cached == 1
    assert panel.model.data(panel.model.index(3, COL_PREVIEW)).startswith("[broadcast]")
    bridge.stop()


def test_decoded_rows_are_bounded_in_entries_and_bytes() -> None:
    """Fed messages and the lazy cache both keep only the newest, by count and by size."""
    from core.decoders.api import Frame, Handshake
    from core.decoders.layer import default_registry
    from core.events import MessagesDecoded, ProtocolDetected
    from ui.decoded_cache import DecodedIndex

    registry = default_registry()
    session = registry.get("jsonrpc").session(Handshake(""))
    now = time.time()
    index = DecodedIndex(registry, fed_entries=100, fed_bytes=200_000, cache_entries=50,
                         cache_bytes=30_000)
    index.protocol_detected(ProtocolDetected(1, now, "jsonrpc", "JSON-RPC 2.0", 21, True))
    index.protocol_detected(ProtocolDetected(2, now, "embedded", "rooms", 21, False))
    items = []
    for i in range(1_000):
        body = json.dumps({"jsonrpc": "2.0", "method": "m", "params": ["x" * (i % 5 * 400)],
                           "id": i}).encode()
        for m in session.feed(Frame(Direction.OUT, Opcode.TEXT, body, now + i)):
            items.append((now + i, m))
    index.messages_decoded(MessagesDecoded(1, now, tuple(items)))
    assert index._fed.bytes <= 200_000 and len(index._fed.items) <= 100
    newest = FrameEvent(1, now + 999, Direction.OUT, Opcode.TEXT, b"{}")
    assert index.messages(0, newest)[0].correlation == "rpc:999"
    assert index.messages(1, FrameEvent(1, now, Direction.OUT, Opcode.TEXT, b"{}")) == ()
    for seq in range(500):
        body = json.dumps({"type": "broadcast", "room": "r", "data": "y" * (seq % 7 * 300)})
        event = FrameEvent(2, now + seq, Direction.IN, Opcode.TEXT, body.encode())
        assert index.summary(seq, event).startswith("broadcast r")
    assert index.cached <= 50 and index._cache.bytes <= 30_000


def test_connection_dialog_protocol_tab(qtbot) -> None:
    from ui.connection_dialog import ConnectionDialog

    config = ConnectionConfig(url="ws://127.0.0.1:1/x", decoder="jsonrpc", protocol_client=False,
                              protocol_options={"namespaces": "/chat"})
    dialog = ConnectionDialog(config, None, "Edit")
    qtbot.addWidget(dialog)
    tab = dialog.protocol
    assert tab.decoder_combo.currentData() == "jsonrpc"
    assert tab.client_combo.currentData() is False
    assert tab.options_edit.toPlainText() == "namespaces=/chat"
    tab.decoder_combo.setCurrentIndex(tab.decoder_combo.findData("raw"))
    tab.client_combo.setCurrentIndex(tab.client_combo.findData(True))
    tab.options_edit.setPlainText("keep-alive=30\n# a comment\nno equals sign")
    assert dialog.error() == ("Protocol options, line 3: expected key=value, "
                              "got 'no equals sign'")
    tab.options_edit.setPlainText("keep-alive = 30\n\ninit_payload={\"token\": \"{{token}}\"}")
    assert dialog.error() is None
    result = dialog.config()
    assert (result.decoder, result.protocol_client) == ("raw", True)
    assert result.protocol_options == {"keep-alive": "30", "init_payload": '{"token": "{{token}}"}'}
    # a decoder this machine does not have is kept as it is
    other = ConnectionDialog(ConnectionConfig(url="ws://127.0.0.1:1/", decoder="acme"), None, "x")
    qtbot.addWidget(other)
    assert other.protocol.decoder_combo.currentText() == "acme (not installed)"
    assert other.config().decoder == "acme"


async def test_binary_no_decoder_explains_is_read_by_the_payload_codecs(env, embedded_server):
    """A CBOR map echoed by the embedded /echo: the Decoded tab lists what MessagePack, CBOR and
    protobuf make of it; the CBOR reading is the map that was sent."""
    import cbor2

    manager, _bridge, panel, _conns = env
    srv = embedded_server(auth=False)
    conn = await opened(manager, srv.url + "/echo", "echo")
    sent = {"sensor": "t-1", "values": [1.5, 2.5], "ok": True}
    await conn.send(cbor2.dumps(sent), text=False)
    await until(lambda: frame_rows(panel, lambda f: f.direction.value == "in"
                                   and f.opcode.name == "BINARY"), what="the echo")
    select(panel, frame_rows(panel, lambda f: f.direction.value == "in"
                             and f.opcode.name == "BINARY")[0])
    panel.detail.tabs.setCurrentIndex(TAB_DECODED)
    view = panel.detail.decoded_view
    await until(lambda: "[CBOR]" in view.text.toPlainText(), what="the CBOR reading")
    text = view.text.toPlainText()
    assert '"sensor": "t-1"' in text and "MessagePack]" not in text  # not a MessagePack map
    await conn.disconnect()


def test_payload_readings_accept_only_whole_structured_values() -> None:
    import cbor2
    import msgpack
    from google.protobuf import struct_pb2

    from core.decoders.payloads import readings

    value = {"a": [1, 2, {"b": "c"}]}
    assert ("CBOR", value) in readings(cbor2.dumps(value))
    assert ("MessagePack", value) in readings(msgpack.packb(value))
    proto = struct_pb2.Value(string_value="hello").SerializeToString()
    assert [codec for codec, _ in readings(proto)] == ["protobuf wire (no schema: field numbers)"]
    assert readings(b"\x01") == [] and readings(msgpack.packb(7)) == []  # no lone scalars
    trailing = [codec for codec, _ in readings(cbor2.dumps(value) + b"\x00junk")]
    assert "CBOR" not in trailing  # one whole item or nothing
