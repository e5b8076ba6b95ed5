"""The composer against a real embedded server: validation, sending, requests, offline queue."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction
from core.manager import ConnectionManager
from core.states import ConnState
from tests.helpers_ui import shown
from ui.bridge import CoreBridge
from ui.composer_panel import (
    HISTORY_LIMIT,
    MODE_BASE64,
    MODE_HEX,
    MODE_MSGPACK,
    MODE_TEXT,
    ComposerPanel,
    check,
    wrap_envelope,
)
from ui.inspector_panel import InspectorPanel
from ui.templates import TEMPLATES

CLIENT_TYPES = {
    "ping", "join_room", "leave_room", "broadcast", "private_message", "list_rooms", "list_clients"
}  # fmt: skip


async def until(pred: Callable[[], object], timeout: float = 8.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def config(url: str, name: str, **kw: object) -> ConnectionConfig:
    return ConnectionConfig(url=url, name=name, heartbeat=HeartbeatConfig(interval=0), **kw)  # type: ignore[arg-type]


@pytest.fixture
def env(qtbot):  # type: ignore[no-untyped-def]
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    composer = ComposerPanel(bridge)
    inspector = InspectorPanel(bridge)
    qtbot.addWidget(composer)
    qtbot.addWidget(inspector)
    yield manager, bridge, composer, inspector
    bridge.stop()


def test_json_error_position_and_modes(env) -> None:
    _, _, composer, _ = env
    composer.load('{\n  "type": "broadcast",\n  "room": "lobby"\n  "data": 1\n}')
    assert composer.check_label.text().startswith("Expecting ',' delimiter at line 4, column 3")
    assert composer.editor.extraSelections()  # the error spot is marked
    composer.load('{"type": "ping"}')
    assert composer.check_label.text() == '✓ valid JSON object, type "ping", 16 bytes'
    assert not composer.editor.extraSelections()

    assert check("hello there", MODE_TEXT).ok  # any text may be sent
    assert not check('{"a":', MODE_MSGPACK).ok
    assert check('{"a": 1}', MODE_MSGPACK).payload == b"\x81\xa1a\x01"
    assert check("00 ff 0x", MODE_HEX).message == "not hex: 'x' at digit 6"
    assert check("0f f", MODE_HEX).message == "odd number of hex digits (3)"
    assert check("0x00ff\n10", MODE_HEX).payload == b"\x00\xff\x10"
    assert not check("@@@", MODE_BASE64).ok
    assert check(base64.b64encode(b"\x01\x02").decode(), MODE_BASE64).payload == b"\x01\x02"

    composer.set_mode(MODE_HEX)
    composer.load("zz")
    composer.send()
    assert composer.status.text().startswith("not sent: not hex")


def test_templates_envelope_pretty(env) -> None:
    _, _, composer, _ = env
    assert {t.name for t in TEMPLATES} == CLIENT_TYPES
    actions = composer.template_menu.actions()
    assert len(actions) == len(TEMPLATES)
    for action, tpl in zip(actions, TEMPLATES, strict=True):
        action.trigger()
        assert json.loads(composer.editor.toPlainText())["type"] == tpl.name
        assert composer.checked.ok and composer.checked.is_json

    composer.load('{"type":"broadcast","room":"lobby","data":{"n":1}}')
    composer.wrap_in_envelope()
    obj = json.loads(composer.editor.toPlainText())
    assert list(obj) == ["id", "type", "room", "data", "timestamp"]
    assert obj["type"] == "broadcast" and len(obj["id"]) == 36
    assert abs(obj["timestamp"] - time.time() * 1000) < 60_000
    again = json.loads(wrap_envelope(composer.editor.toPlainText()))
    assert again["id"] == obj["id"]  # an existing id is kept (resends stay exactly-once)
    plain = json.loads(wrap_envelope("just text"))
    assert plain["type"] == "message" and plain["data"] == "just text"
    with pytest.raises(ValueError, match="line 1"):
        wrap_envelope('{"broken": ')

    composer.load('{"a":[1,2],"b":{}}')
    composer.pretty_print()
    assert composer.editor.toPlainText() == json.dumps({"a": [1, 2], "b": {}}, indent=2)
    composer.set_mode(MODE_HEX)
    composer.load("00" * 20)
    composer.pretty_print()
    assert composer.editor.toPlainText().splitlines()[1] == "00 00 00 00"


async def test_broadcast_from_composer_reaches_the_other_connection(env, embedded_server) -> None:
    manager, _, composer, inspector = env
    srv = embedded_server(auth=False)
    a = manager.add(config(srv.url, "A"), connect=True)
    b = manager.add(config(srv.url, "B"), connect=True)
    try:
        await a.wait_for_state(ConnState.OPEN, 5)
        await shown(composer.bridge, a.id, ConnState.OPEN)
        await b.wait_for_state(ConnState.OPEN, 5)
        await shown(composer.bridge, b.id, ConnState.OPEN)
        for conn in (a, b):
            reply = await conn.request({"type": "join_room", "room": "ops"})
            assert reply.message["type"] == "ack"
        composer.set_connections([a.id])
        assert composer.target_label.text() == "A (open)"
        assert composer.target_combo.isHidden()
        next(act for act in composer.template_menu.actions() if "broadcast" in act.text()).trigger()
        text = composer.editor.toPlainText().replace('"lobby"', '"ops"')
        composer.load(text.replace('"hello, room"', '"from the composer"'))
        composer.send()
        model = inspector.model

        def arrived() -> bool:
            for row in range(model.rowCount()):
                event = model.frame(row)
                if event.conn_id == b.id and event.direction is Direction.IN:
                    obj = json.loads(event.payload)
                    if obj.get("type") == "broadcast" and obj["data"] == {
                        "text": "from the composer"
                    }:
                        return True
            return False

        await until(arrived, what="the broadcast at B")
        await until(lambda: composer.status.text().startswith("sent "), what="sent note")
        assert composer.status.text().endswith("to A")
        assert composer.history_list.count() == 1
        composer.load("")
        composer.history_list.itemClicked.emit(composer.history_list.item(0))
        assert json.loads(composer.editor.toPlainText())["room"] == "ops"
    finally:
        await manager.close_all()


async def test_request_shows_reply_and_round_trip(env, embedded_server) -> None:
    manager, _, composer, _ = env
    srv = embedded_server(auth=False, demo_bots=2, demo_rate=1)
    conn = manager.add(config(srv.url, "req"), connect=True)
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await shown(composer.bridge, conn.id, ConnState.OPEN)
        composer.set_connections([])  # none selected: the combo picks the target
        assert not composer.target_combo.isHidden()
        assert composer.target_combo.currentData() == conn.id
        composer.load('{"type": "list_rooms"}')
        composer.send_request()
        await until(lambda: "reply" in composer.status.text(), what="the reply")
        assert composer.status.text().startswith("req: reply rooms in ")
        assert composer.status.text().endswith(" ms")
        assert composer.last_reply.message["type"] == "rooms"
        assert composer.last_reply.rtt > 0

        composer.load('{"type": "no_such_thing"}')
        composer.send_request()
        await until(lambda: "reply error" in composer.status.text(), what="the error reply")
        assert "Unknown message type" in composer.status.text()
    finally:
        await manager.close_all()


async def test_request_without_reply_times_out(env, embedded_server) -> None:
    manager, _, composer, _ = env
    srv = embedded_server(auth=False)
    conn = manager.add(config(srv.url + "/echo", "mirror", request_timeout=0.3), connect=True)
    try:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await shown(composer.bridge, conn.id, ConnState.OPEN)
        composer.set_connections([conn.id])
        await manager.disconnect(conn.id)  # the request waits in the offline queue, unanswered
        composer.load('{"type": "ping"}')
        composer.send_request()
        await until(lambda: "no reply within 0.3 s" in composer.status.text(), what="timeout")
    finally:
        await manager.close_all()


async def test_send_while_disconnected_is_queued(env, embedded_server) -> None:
    manager, _, composer, inspector = env
    srv = embedded_server(auth=False)
    conn = manager.add(config(srv.url, "later"))  # not connected yet
    try:
        composer.set_connections([conn.id])
        for n in (1, 2, 3):
            composer.load(json.dumps({"type": "ping", "n": n}))
            composer.send()
            await until(lambda n=n: f"({n} queued)" in composer.status.text(), what="queued note")
        assert composer.status.text() == (
            "queued offline: will be sent when connection later opens (3 queued)"
        )
        conn.connect()
        model = inspector.model

        def pongs() -> int:
            return sum(
                1
                for r in range(model.rowCount())
                if model.frame(r).direction is Direction.IN and b'"pong"' in model.frame(r).payload
            )

        await until(lambda: pongs() == 3, what="the queued pings answered")
        assert not conn.queue
    finally:
        await manager.close_all()


def test_history_is_bounded(env) -> None:
    _, _, composer, _ = env
    assert composer.history_list.count() == 0 and "appear here" in composer.history_list.hint
    for i in range(HISTORY_LIMIT + 30):
        composer._remember(f'{{"n": {i}}}', MODE_TEXT)
    assert composer.history_list.count() == HISTORY_LIMIT == len(composer.history)
    assert composer.history_list.item(0).text().endswith(f'{{"n": {HISTORY_LIMIT + 29}}}')


def test_ctrl_enter_sends(env) -> None:
    _, _, composer, _ = env
    composer.load('{"type": "ping"}')
    press = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    QApplication.sendEvent(composer.editor, press)
    assert composer.status.text() == "not sent: no connection (add one in the connections panel)"
    assert not composer.status.isHidden()  # the outcome line appears with its first text
    assert composer.editor.toPlainText() == '{"type": "ping"}'  # no newline typed
