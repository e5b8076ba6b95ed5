"""The composer's Repeat row, {{variables}}, Save to collection and the offline-queue line, against
the embedded server's /echo path, the connections on a core thread as in the app."""

from __future__ import annotations

import asyncio
import json

import pytest
from PySide6.QtCore import Qt

from core.config import ConnectionConfig, HeartbeatConfig
from core.connection import Connection
from core.events import Direction, Event, FrameEvent
from core.states import ConnState
from core.workspace import Collection, Environment, Resolver, SavedMessage, Variable
from tests.helpers_ui import dispose, make_bridge, shown, until
from ui.composer_panel import MODE_HEX, MODE_TEXT, ComposerPanel


def resolver(values: dict[str, str]) -> Resolver:
    """The workspace's resolver over an environment named "test" holding `values`."""
    return Resolver(Environment("test", [Variable(k, v) for k, v in values.items()]))


@pytest.fixture
async def env(qtbot, embedded_server):  # type: ignore[no-untyped-def]
    server = embedded_server(auth=False)
    bridge = make_bridge()
    composer = ComposerPanel(bridge)
    qtbot.addWidget(composer)
    events: list[Event] = []
    bridge.manager.hub.subscribe(events.append)  # list.append: atomic, from the core thread
    yield server, bridge, composer, events
    composer.scheduler.close()
    await bridge.manager.close_all()
    bridge.stop()
    dispose(composer, bridge)


async def echo_connection(bridge, server, connect: bool = True) -> Connection:  # type: ignore[no-untyped-def]
    config = ConnectionConfig(server.url + "/echo", name="echo",
                              heartbeat=HeartbeatConfig(interval=0))  # fmt: skip
    conn = bridge.manager.add(config, connect=connect)
    if connect:
        await conn.wait_for_state(ConnState.OPEN, 5)
        await shown(bridge, conn.id, ConnState.OPEN)
    return conn


def data(events: list[Event], direction: Direction) -> list[bytes]:
    return [e.payload for e in list(events)
            if type(e) is FrameEvent and e.direction is direction and e.is_data]  # fmt: skip


async def test_repeat_sends_100_at_50_a_second_and_shows_progress(env) -> None:
    server, bridge, composer, events = env
    conn = await echo_connection(bridge, server)
    composer.set_connections([conn.id])
    composer.set_resolver(resolver({}))
    composer.load('{"n": {{$seq}}}')
    assert composer.check_label.text() == "✓ valid JSON object (1 variable, resolved when sent)"
    composer.repeat_button.click()
    assert not composer.repeat_box.isHidden()
    composer.repeat_box.set_pace(0.02, count=100)
    composer.repeat_box.start_button.click()
    assert composer.repeat_box.stop_button.isEnabled()
    shown: set[str] = set()

    def finished() -> bool:
        shown.add(composer.repeat_box.progress.text())
        return composer.repeat_box.progress.text() == "echo: sent 100/100, done"

    await until(finished, 10, "the repeat to finish")
    assert any(text.startswith("echo: sent ") and "/100" in text and "done" not in text
               for text in shown)  # progress while it ran  # fmt: skip
    await until(lambda: len(data(events, Direction.IN)) >= 100, 5, "100 echoes")
    await asyncio.sleep(0.3)  # a 101st would be here by now
    assert [json.loads(p)["n"] for p in data(events, Direction.IN)] == list(range(1, 101))
    assert not composer.repeat_box.stop_button.isEnabled()
    assert composer.history[0] == ('{"n": {{$seq}}}', MODE_TEXT)  # as typed


async def test_stop_stops_a_repeat_until_stopped(env) -> None:
    server, bridge, composer, events = env
    conn = await echo_connection(bridge, server)
    composer.set_connections([conn.id])
    composer.load("again")
    composer.repeat_box.set_pace(0.01, count=None)
    assert composer.repeat_messages([], "nothing") is False  # an empty list is refused
    assert "empty" in composer.status.text()
    composer.start_repeat()
    await until(lambda: len(data(events, Direction.IN)) >= 10, 5, "10 echoes")
    assert "(until stopped)" in composer.repeat_box.progress.text()
    composer.repeat_box.stop_button.click()
    await until(lambda: composer.repeat_box.progress.text().endswith(", stopped"), 5, "stopped")
    sent = len(data(events, Direction.OUT))
    await asyncio.sleep(0.4)  # 40 more slots at this pace
    assert len(data(events, Direction.OUT)) == sent
    assert composer.repeat_box.progress.text() == f"echo: sent {sent:,}, stopped"


async def test_repeat_on_a_closed_connection_or_with_a_bad_variable_says_why(env) -> None:
    server, bridge, composer, events = env
    closed = await echo_connection(bridge, server, connect=False)
    composer.set_connections([closed.id])
    composer.load("x")
    composer.start_repeat()
    assert composer.status.text() == (
        "echo: not started: the connection is closed (connect it first)"
    )
    conn = await echo_connection(bridge, server)
    composer.set_connections([conn.id])
    composer.set_resolver(resolver({}))
    composer.load("hello {{nobody}}")
    composer.repeat_box.set_pace(0.01, count=5)
    composer.start_repeat()  # the first round is built now: the error is shown at once
    assert composer.status.text() == (
        "not started: unknown variable {{nobody}} (environment 'test')"
    )
    assert composer.repeat_box.running == [] and composer.scheduler.schedules() == []
    await asyncio.sleep(0.2)
    assert data(events, Direction.OUT) == []


async def test_a_variable_is_sent_resolved_and_an_unknown_one_is_not_sent(env) -> None:
    server, bridge, composer, events = env
    conn = await echo_connection(bridge, server)
    composer.set_connections([conn.id])
    composer.set_resolver(resolver({"name": "Ada", "who": "zz"}))
    composer.load('{"hello": "{{name}}"}')
    composer.send()
    await until(lambda: data(events, Direction.IN), 5, "the echo")
    assert data(events, Direction.IN) == [b'{"hello": "Ada"}']
    assert data(events, Direction.OUT) == [b'{"hello": "Ada"}']
    assert composer.history[0] == ('{"hello": "{{name}}"}', MODE_TEXT)

    composer.load('{"hello": "{{nobody}}"}')
    composer.send()
    assert composer.status.text() == ("not sent: unknown variable {{nobody}} (environment 'test')")
    assert "color: #c01c28" in composer.status.styleSheet()
    composer.set_mode(MODE_HEX)
    composer.load("00 {{who}}")  # hex with a variable: resolved, then checked
    composer.send()
    assert composer.status.text() == "not sent: not hex: 'z' at digit 3"
    await asyncio.sleep(0.2)
    assert len(data(events, Direction.OUT)) == 1  # neither went out

    composer.set_resolver(None)  # no resolver: the text goes as typed
    composer.set_mode(MODE_TEXT)
    composer.load("{{name}}")
    composer.send()
    await until(lambda: len(data(events, Direction.IN)) == 2, 5, "the second echo")
    assert data(events, Direction.IN)[1] == b"{{name}}"


async def test_the_queued_offline_line_clears_once_delivered(env) -> None:
    server, bridge, composer, events = env
    conn = await echo_connection(bridge, server, connect=False)
    composer.set_connections([conn.id])
    composer.load('{"type": "ping"}')
    composer.send()
    await until(lambda: "queued offline" in composer.status.text(), 5, "the queued line")
    assert "color: #c01c28" in composer.status.styleSheet()
    conn.connect()
    await until(lambda: "queued offline" not in composer.status.text(), 5, "the line cleared")
    assert composer.status.text() == "the queued messages were delivered to echo"
    assert "#c01c28" not in composer.status.styleSheet()
    assert data(events, Direction.IN) == [b'{"type": "ping"}']


def test_save_to_collection_from_the_editor_and_the_history(qtbot) -> None:
    bridge = make_bridge()
    composer = ComposerPanel(bridge)
    qtbot.addWidget(composer)
    saved: list[tuple[str, str, bool]] = []
    composer.save_requested.connect(lambda *args: saved.append(args))
    try:
        composer.load('{"type": "ping", "id": "{{$uuid}}"}')
        actions = composer.save_menu.actions()
        assert [a.text() for a in actions] == [
            "Save to collection…",
            "Save to collection as a request…",
        ]
        actions[1].trigger()
        composer._remember("deadbeef", MODE_HEX)
        item = composer.history_list.item(0)
        menu = composer.history_list.context_menu(item)
        texts = [a.text() for a in menu.actions() if not a.isSeparator()]
        assert texts == ["Load in the editor", "Save to collection…",
                         "Save to collection as a request…"]  # fmt: skip
        next(a for a in menu.actions() if a.text() == "Save to collection…").trigger()
        assert saved == [('{"type": "ping", "id": "{{$uuid}}"}', MODE_TEXT, True),
                         ("deadbeef", MODE_HEX, False)]  # fmt: skip
        menu.actions()[0].trigger()
        assert (composer.editor.toPlainText(), composer.mode) == ("deadbeef", MODE_HEX)
        assert item.data(Qt.ItemDataRole.UserRole) == ("deadbeef", MODE_HEX)
    finally:
        composer.scheduler.close()
        bridge.stop()
        dispose(composer, bridge)


def test_progress_in_words() -> None:
    from core.events import ScheduleChanged
    from ui.repeat_box import describe

    def event(sent: int, total: int | None, running: bool, **kw: object) -> ScheduleChanged:
        return ScheduleChanged(1, 0.0, 1, sent, total, running, **kw)  # type: ignore[arg-type]

    assert describe(event(37, 100, True)) == "sent 37/100"
    assert describe(event(1200, None, True)) == "sent 1,200 (until stopped)"
    assert describe(event(3, 10, True, waiting=True)) == (
        "sent 3/10, waiting for the connection to open"
    )
    assert describe(event(10, 10, False)) == "sent 10/10, done"
    assert describe(event(4, 10, False)) == "sent 4/10, stopped"
    assert describe(event(4, 10, False, error="stopped: the connection closed")) == (
        "sent 4/10, stopped: the connection closed"
    )


def test_checking_while_typing_does_not_resolve(qtbot) -> None:
    bridge = make_bridge()
    composer = ComposerPanel(bridge)
    qtbot.addWidget(composer)
    calls: list[str] = []
    composer.set_resolver(lambda text: calls.append(text) or text)
    try:
        composer.load('{"n": {{$seq}}, "who": "{{ name }}", "t": "{{#each}}"}')
        composer.validate()
        assert calls == []  # {{$seq}} would count up on every keystroke
        assert composer.check_label.text() == (
            "✓ valid JSON object (2 variables, resolved when sent)"
        )
        composer.set_mode(MODE_HEX)
        composer.load("0a {{byte}}")
        assert composer.check_label.text() == "✓ binary (1 variable, resolved when sent)"
        assert calls == []
    finally:
        composer.scheduler.close()
        bridge.stop()
        dispose(composer, bridge)


async def test_the_queued_offline_line_says_so_when_its_connection_is_removed(env) -> None:
    server, bridge, composer, _ = env
    conn = await echo_connection(bridge, server, connect=False)
    composer.set_connections([conn.id])
    composer.load("later")
    composer.send()
    await until(lambda: "queued offline" in composer.status.text(), 5, "the queued line")
    await bridge.manager.remove(conn.id)
    await until(lambda: "queued offline" not in composer.status.text(), 5, "the line replaced")
    assert composer.status.text() == (
        "the connection was removed: its queued messages were not sent"
    )


async def test_repeat_a_collection_from_the_workspace(env) -> None:
    server, bridge, composer, events = env
    conn = await echo_connection(bridge, server)
    collections = [
        Collection("smoke", [SavedMessage("hi", '{"to": "{{who}}"}', "json"),
                             SavedMessage("raw", "0a0b", "hex")]),
    ]  # fmt: skip
    composer.set_collections(lambda: collections)
    composer.set_resolver(resolver({"who": "ada"}))
    composer.set_connections([conn.id])
    composer.repeat_button.click()
    sources = [composer.repeat_box.source.itemText(i)
               for i in range(composer.repeat_box.source.count())]  # fmt: skip
    assert sources == ["this message", "collection smoke (2)"]
    composer.repeat_box.choose("smoke")
    composer.repeat_box.set_pace(0.01, count=4)
    composer.repeat_box.start_button.click()
    await until(lambda: composer.repeat_box.progress.text().endswith("sent 4/4, done"), 5, "done")
    await until(lambda: len(data(events, Direction.IN)) == 4, 5, "4 echoes")
    assert data(events, Direction.IN) == [b'{"to": "ada"}', b"\n\x0b"] * 2
    collections.clear()  # the workspace changed under the row
    composer.repeat_box.start_button.click()
    assert composer.status.text() == (
        "not started: the collection 'smoke' is no longer in the workspace"
    )
