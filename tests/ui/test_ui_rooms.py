"""The room browser against the real embedded server and a plain websockets echo server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, Qt
from websockets.asyncio.server import serve

from core.config import ConnectionConfig, ReconnectPolicy
from core.events import Direction, Event, FrameEvent
from core.manager import ConnectionManager
from core.states import ConnState
from tests.rawws import frame, handshake, raw_server, read_frame
from ui.bridge import CoreBridge
from ui.room_browser import INFERRED, NO_PROTOCOL, RoomBrowser, _Joined
from ui.rooms_model import COL_ID, COL_MEMBERS, COL_NAME, RoomsModel

FAST = ReconnectPolicy(initial=0.05, max_delay=0.3, jitter=0.1, stable_after=0.5)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def members(model: RoomsModel, room: str) -> dict[str, str]:
    found = model.room(room)
    return {m.client_id: m.name for m in found.members} if found else {}


def incoming(events: list[Event], conn_id: int) -> list[dict]:
    return [
        json.loads(e.payload)
        for e in events
        if isinstance(e, FrameEvent)
        and e.conn_id == conn_id
        and e.direction is Direction.IN
        and e.is_data
    ]


@pytest.fixture
def setup(qtbot):
    """A manager, a bridge and a room browser; everything closed at the end."""
    manager = ConnectionManager()
    bridge = CoreBridge(manager)
    browser = RoomBrowser(bridge)
    qtbot.addWidget(browser)
    browser.resize(600, 400)
    browser.show()
    yield manager, bridge, browser
    bridge.stop()
    for obj in (browser, bridge):  # deleted now, in the GUI thread
        if shiboken6.isValid(obj):
            shiboken6.delete(obj)


def test_model_passes_modeltester(qtmodeltester) -> None:
    model = RoomsModel()
    qtmodeltester.check(model)  # stays attached: every change below is checked too
    model.set_rooms([("lobby", [("a", "ann"), ("b", "bob")]), ("dev", [("a", "ann")])])
    model.set_self_id("a")
    model.member_joined("lobby", "c", "cy")
    model.member_joined("new", "d", "dee")
    model.member_left("lobby", "b")
    model.member_left("new", "d")  # an empty room disappears
    assert model.room_names() == ["dev", "lobby"]
    model.set_rooms([("lobby", [("c", "cy"), ("e", "eve")]), ("zoo", [])])
    assert model.room_names() == ["lobby", "zoo"]
    assert list(members(model, "lobby")) == ["c", "e"]
    model.note_inferred("alpha", 3, [("u1", "uma")])
    model.note_inferred("alpha", 4, [("u1", "uma"), ("u2", "ugo")])
    alpha = model.room_index("alpha")
    assert "inferred" in model.index(alpha.row(), COL_NAME).data()
    assert model.index(alpha.row(), COL_MEMBERS).data() == 2
    assert model.rowCount(alpha) == 2
    child = model.index(0, COL_ID, alpha)
    assert child.data() == "u1" and model.parent(child) == alpha
    qtmodeltester.check(model)
    model.clear()
    assert model.rowCount(QModelIndex()) == 0


async def test_lists_demo_rooms_with_bots(setup, embedded_server, qtmodeltester) -> None:
    manager, _bridge, browser = setup
    qtmodeltester.check(browser.model)
    srv = embedded_server(auth=False, demo_bots=3, demo_rate=5)
    # The bots join as the server starts: on a slow machine after a list_rooms sent at once would
    # have been answered, and the next poll comes 5 s later. The browser is not what waits here.
    await until(lambda: any(r.name == "lobby" and len(r.members) >= 3
                            for r in srv.snapshot().rooms))
    conn = manager.add(ConnectionConfig(srv.url, name="alice"), connect=True)
    browser.set_connections([conn.id])
    try:
        await until(lambda: len(members(browser.model, "lobby")) >= 3)
        names = members(browser.model, "lobby").values()
        assert sum(name.endswith("-bot") for name in names) == 3  # every bot is in the lobby
        lobby = browser.model.room_index("lobby")
        assert browser.model.index(lobby.row(), COL_MEMBERS).data() == 3
        info = browser.info()
        assert info is not None and info.protocol and info.client_id
        assert "you are" in browser.note.text()
        assert not browser.error.isVisible()
        qtmodeltester.check(browser.model)
    finally:
        await manager.close_all()


async def test_presence_join_leave_broadcast_private(setup, embedded_server) -> None:
    manager, _bridge, browser = setup
    srv = embedded_server(auth=False, demo_bots=3, demo_rate=5)
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    alice = manager.add(ConnectionConfig(srv.url, name="alice"), connect=True)
    bob = manager.add(ConnectionConfig(srv.url, name="bob"), connect=True)
    browser.set_connections([alice.id])
    browser.poll_timer.stop()  # no periodic refresh: what follows must come from presence events
    try:
        await until(lambda: "lobby" in browser.model.room_names())
        await until(lambda: browser.info(bob.id) and browser.info(bob.id).client_id)
        me = browser.info().client_id
        bob_id = browser.info(bob.id).client_id

        assert await browser.join_room("lobby") is True
        await until(lambda: me in members(browser.model, "lobby"))
        assert browser.model.is_member("lobby", me)

        menu = browser.build_menu(browser.model.room_index("lobby"))
        enabled = {a.text(): a.isEnabled() for a in menu.actions() if a.text()}
        assert enabled["Leave room lobby"] and not enabled["Join room lobby"]
        assert enabled["Broadcast to room…"]
        dev = browser.model.room("dev") or browser.model.room("random")
        if dev is not None and not browser.model.is_member(dev.name, me):
            menu = browser.build_menu(browser.model.room_index(dev.name))
            enabled = {a.text(): a.isEnabled() for a in menu.actions() if a.text()}
            assert enabled[f"Join room {dev.name}"] and not enabled[f"Leave room {dev.name}"]
        lobby = browser.model.room_index("lobby")
        bot_row = next(
            i for i, m in enumerate(browser.model.room("lobby").members) if m.client_id != me
        )
        menu = browser.build_menu(browser.model.index(bot_row, 0, lobby))
        assert any(
            a.text().startswith("Private message to") and a.isEnabled() for a in menu.actions()
        )

        reply = await bob.request({"type": "join_room", "room": "lobby"})
        assert reply.message["type"] == "ack"
        await until(lambda: bob_id in members(browser.model, "lobby"))  # presence, no refresh

        assert await browser.broadcast_to_room("lobby", '{"hello": "room"}') is True
        await until(
            lambda: any(
                m.get("type") == "broadcast" and m.get("data") == {"hello": "room"}
                for m in incoming(events, bob.id)
            )
        )
        assert await browser.private_message(bob_id, "psst") is True
        await until(
            lambda: any(
                m.get("type") == "private_message" and m.get("data") == "psst"
                for m in incoming(events, bob.id)
            )
        )

        await bob.request({"type": "leave_room", "room": "lobby"})
        await until(lambda: bob_id not in members(browser.model, "lobby"))

        assert await browser.leave_room("lobby") is True
        await until(lambda: me not in members(browser.model, "lobby"))

        # Errors are shown in words: leaving a room we are not in.
        assert await browser.leave_room("lobby") is False
        assert "Not a member" in browser.error.text()
    finally:
        await manager.close_all()


async def test_reconnect_reloads_rooms(setup, embedded_server) -> None:
    manager, _bridge, browser = setup
    srv = embedded_server(auth=False, demo_bots=2, demo_rate=2)
    conn = manager.add(ConnectionConfig(srv.url, reconnect=FAST), connect=True)
    browser.set_connections([conn.id])
    try:
        await until(lambda: browser.info() and browser.info().client_id)
        first = browser.info().client_id
        conn.reconnect_now()
        await until(lambda: browser.info().client_id != first)
        await conn.wait_for_state(ConnState.OPEN, 5)
        await until(lambda: "lobby" in browser.model.room_names())
        browser.set_connections([])
        assert browser.model.rowCount() == 0
        assert "Select a connection" in browser.note.text()
    finally:
        await manager.close_all()


async def test_inferred_rooms_and_the_no_rooms_note(setup, embedded_server) -> None:
    manager, _bridge, browser = setup

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        plain = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}", name="echo"), connect=True)
        srv = embedded_server(auth=False)
        quiet = manager.add(ConnectionConfig(srv.url + "/echo", name="quiet"), connect=True)
        try:
            await plain.wait_for_state(ConnState.OPEN, 5)
            await quiet.wait_for_state(ConnState.OPEN, 5)
            browser.set_connections([plain.id])
            await until(lambda: browser.note.text() == NO_PROTOCOL)
            await plain.send(json.dumps({"type": "chat", "room": "alpha", "from": "u1"}))
            await plain.send(json.dumps({"type": "chat", "room": "beta", "user": "ulla"}))
            await plain.send(json.dumps({"type": "chat", "room": "alpha", "from": "u2"}))
            await until(lambda: browser.model.room_names() == ["alpha", "beta"])
            alpha = browser.model.room_index("alpha")
            assert alpha.data() == "alpha (inferred)"
            await until(lambda: set(members(browser.model, "alpha")) == {"u1", "u2"})
            assert browser.note.text() == INFERRED

            # Refresh probes with list_rooms: the echo is not a rooms reply, so no protocol.
            task = browser.refresh()
            assert task is not None
            await task
            assert browser.info().protocol is False
            assert browser.join_room("alpha") is None  # refused, in words
            assert "does not speak" in browser.error.text()

            # A server with no rooms in its traffic gets the plain note.
            await quiet.send(json.dumps({"type": "chat", "text": "no rooms here"}))
            browser.set_connections([quiet.id])
            assert browser.model.rowCount() == 0
            assert browser.note.text() == NO_PROTOCOL
            # Switching back shows what was inferred meanwhile, without new traffic.
            browser.set_connections([plain.id])
            assert browser.model.room_names() == ["alpha", "beta"]
            flags = browser.model.index(0, 0).data(Qt.ItemDataRole.FontRole)
            assert flags is not None and flags.italic()
        finally:
            await manager.close_all()


async def _flood_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        blob: bytes) -> None:
    await handshake(reader, writer)
    writer.write(blob)
    await writer.drain()
    while (await read_frame(reader))[0] != 0x8:  # until the client closes
        pass
    writer.write(frame(0x8, (1000).to_bytes(2, "big")))
    await writer.drain()


async def test_greeting_and_presence_found_in_a_flood(setup) -> None:
    """A protocol server that greets (its first message), then floods: the greeting, and a
    presence event in the middle of 20,000 frames, are found although a tick never visits
    every frame."""
    manager, _bridge, browser = setup
    chat = [
        json.dumps({"type": "chat", "room": "alpha", "from": f"u{i % 50}", "n": i}).encode()
        for i in range(20_000)
    ]
    chat.insert(12_345, json.dumps(
        {"type": "presence", "room": "lobby", "clientId": "bob-7", "event": "join",
         "name": "bob"}).encode())
    blob = frame(0x9, b"first")  # a ping (and our pong) before the greeting
    blob += frame(0x1, b'{"type":"connected","clientId":"me-1","timestamp":1}')
    blob += b"".join(frame(0x1, payload) for payload in chat)

    async with raw_server(lambda r, w: _flood_server(r, w, blob)) as port:
        conn = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}", name="flood"))
        browser.set_connections([conn.id])
        browser.poll_timer.stop()
        conn.connect()
        try:
            await until(lambda: conn.metrics.msgs_in >= len(chat) + 1, 20)
            await until(lambda: "bob-7" in members(browser.model, "lobby"))
            info = browser.info()
            assert info is not None and info.protocol and info.client_id == "me-1"
            assert members(browser.model, "lobby") == {"bob-7": "bob"}
            assert "alpha" not in browser.model.room_names()  # a protocol server: no inference
        finally:
            await manager.close_all()


async def test_rooms_inferred_from_a_flood(setup) -> None:
    """A server without the protocol floods 30,000 messages in two rooms: both are inferred
    from the frames sampled each tick, members included."""
    manager, _bridge, browser = setup
    blob = b"".join(
        frame(0x1, json.dumps({"type": "chat", "room": ("alpha", "beta")[i % 2],
                               "from": f"u{i % 4}", "pad": "x" * (i % 300)}).encode())
        for i in range(30_000)
    )
    async with raw_server(lambda r, w: _flood_server(r, w, blob)) as port:
        conn = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}", name="flood"))
        browser.set_connections([conn.id])
        conn.connect()
        try:
            await until(lambda: conn.metrics.msgs_in >= 30_000, 20)
            await until(lambda: browser.model.room_names() == ["alpha", "beta"])
            await until(lambda: set(members(browser.model, "alpha")) == {"u0", "u2"})
            await until(lambda: set(members(browser.model, "beta")) == {"u1", "u3"})
            assert browser.note.text() == INFERRED
        finally:
            await manager.close_all()


def test_joined_payloads_find_every_hit() -> None:
    payloads = [b"", b"room", b"xroomx", b"ro", b"om", b"\x00room\x00", b"rooms", b"no"]
    joined = _Joined(payloads)
    assert joined.hits(b"room", 100) == [1, 2, 5, 6]  # never across two payloads
    assert joined.hits(b"room", 2) == [1, 2]
    assert joined.hits(b"rooms", 100) == [6]
    assert joined.hits(b"absent", 100) == []
    assert _Joined([]).hits(b"room", 10) == []


async def test_no_list_rooms_polling_after_one_went_unanswered(
    setup, embedded_server, monkeypatch
) -> None:
    """A server that greets like a protocol server but never answers `list_rooms` is asked
    once; the embedded server, which answers, is still polled."""
    import ui.room_browser as room_browser

    manager, bridge, browser = setup
    monkeypatch.setattr(room_browser, "REQUEST_TIMEOUT", 0.4)
    browser.poll_timer.setInterval(200)  # the poll: every 5 s in the app
    received: list[str] = []

    async def greets_then_echoes(ws) -> None:
        await ws.send(json.dumps({"type": "connected", "clientId": "c-1"}))
        async for message in ws:
            received.append(message)
            if "list_rooms" not in message:  # echoes all but what it does not know
                await ws.send(message)

    sent: list[tuple[int, bytes]] = []
    bridge.tick.connect(lambda batch: sent.extend(
        (f.conn_id, f.payload) for f in batch.frames
        if f.direction is Direction.OUT and b"list_rooms" in f.payload))
    async with serve(greets_then_echoes, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        plain = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}", name="plain"))
        browser.set_connections([plain.id])
        plain.connect()
        try:
            await plain.wait_for_state(ConnState.OPEN, 5)
            await until(lambda: browser.info().protocol is True)  # the greeting
            await until(lambda: len(received) == 1)  # ... makes it ask once
            await until(lambda: browser.info().silent, 3)  # unanswered
            await asyncio.sleep(1.5)  # seven poll intervals
            assert sum("list_rooms" in m for m in received) == 1
            assert [c for c, _ in sent] == [plain.id]
            assert "did not answer" in browser.error.text()
            browser.set_connections([])  # selecting it again does not ask again either
            browser.set_connections([plain.id])
            await asyncio.sleep(0.5)
            assert sum("list_rooms" in m for m in received) == 1

            srv = embedded_server(auth=False)  # a server that answers: polled
            talker = manager.add(ConnectionConfig(srv.url + "/", name="talker"), connect=True)
            await talker.wait_for_state(ConnState.OPEN, 5)
            browser.set_connections([talker.id])
            await until(lambda: browser.info().answered, 3)
            await until(lambda: sum(c == talker.id for c, _ in sent) >= 4, 5)
        finally:
            await manager.close_all()


async def test_own_join_on_another_server_trusts_its_reply(setup) -> None:
    """A server of another make: its join reply says `members: 1` and its room list gives
    counts, not member lists. The browser shows the room with 1 member, that one being us."""
    manager, _bridge, browser = setup
    rooms: dict[str, int] = {}

    async def other_make(ws) -> None:
        await ws.send(json.dumps({"type": "connected", "clientId": "me-7"}))
        async for raw in ws:
            msg = json.loads(raw)
            rid = msg.get("requestId")
            if msg.get("type") == "join_room":
                rooms[msg["room"]] = rooms.get(msg["room"], 0) + 1
                await ws.send(json.dumps({"type": "joined", "room": msg["room"],
                                          "members": rooms[msg["room"]], "requestId": rid}))
            elif msg.get("type") == "leave_room":
                rooms.pop(msg["room"], None)
                await ws.send(json.dumps({"type": "left", "requestId": rid}))
            elif msg.get("type") == "list_rooms":
                await ws.send(json.dumps({"type": "rooms", "requestId": rid, "rooms": [
                    {"name": name, "members": n} for name, n in rooms.items()]}))

    async with serve(other_make, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = manager.add(ConnectionConfig(f"ws://127.0.0.1:{port}/", name="other"))
        browser.set_connections([conn.id])
        conn.connect()
        try:
            await conn.wait_for_state(ConnState.OPEN, 5)
            await until(lambda: browser.info().answered)  # greeted, and answered list_rooms
            assert browser.model.room_names() == []
            task = browser.join_room("alpha")
            assert task is not None and await task
            room = browser.model.index(0, COL_MEMBERS)
            assert browser.model.room_names() == ["alpha"]
            assert room.data() == 1
            you = browser.model.index(0, COL_NAME, browser.model.room_index("alpha"))
            assert you.data().endswith("(you)") and "me-7" in you.data()
            # the refresh after the join lists the room with a count: both stay
            refreshed = browser.refresh()
            assert refreshed is not None
            await refreshed
            await asyncio.sleep(0.3)  # the reply frame is applied on a tick
            assert browser.model.index(0, COL_MEMBERS).data() == 1
            assert members(browser.model, "alpha") == {"me-7": "me-7"}

            task = browser.leave_room("alpha")
            assert task is not None and await task
            assert browser.model.room_names() == []
        finally:
            await manager.close_all()
