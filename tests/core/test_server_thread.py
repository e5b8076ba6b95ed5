"""EmbeddedServer: a RoomServer on its own thread, driven from a plain (GUI-like) thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from core.server import EmbeddedServer, ServerConfig, ServerStartError, make_token
from tests.core.test_server_support import SECRET


def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02) + 1):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    embedded = EmbeddedServer(ServerConfig(port=0, secret=SECRET, ping_interval=0))
    try:
        embedded.start()
        yield embedded
    finally:
        embedded.stop()


def test_start_on_a_free_port_and_stop(server: EmbeddedServer) -> None:
    assert server.running and server.port > 0
    assert server.url == f"ws://127.0.0.1:{server.port}"
    names = [t.name for t in threading.enumerate()]
    assert "socketscope-server" in names
    server.stop()
    assert not server.running
    assert "socketscope-server" not in [t.name for t in threading.enumerate()]
    server.start()  # Restartable.
    assert server.running


def test_snapshot_shows_clients_rooms_and_totals(server: EmbeddedServer) -> None:
    url = f"{server.url}/?token={make_token(SECRET, 'alice')}"
    with connect(url) as ws:
        ws.recv()
        ws.send(json.dumps({"type": "join_room", "room": "lobby", "requestId": 1}))
        assert json.loads(ws.recv())["type"] == "ack"
        _until(lambda: server.snapshot().clients == 1 and bool(server.snapshot().rooms))
        snap = server.snapshot()
        assert [(r.name, r.members) for r in snap.rooms] == [("lobby", ("alice",))]
        assert snap.messages_in >= 1 and snap.messages_out >= 2
    _until(lambda: server.snapshot().clients == 0)
    assert server.snapshot().rooms == ()


def test_log_reports_401_without_the_token(server: EmbeddedServer) -> None:
    bad = make_token("wrong-secret-but-long-enough-1234567890", "mallory")
    with pytest.raises(InvalidStatus) as info, connect(f"{server.url}/?token={bad}"):
        pass
    assert info.value.response.status_code == 401
    _until(lambda: server.snapshot().rejections == 1)
    entries = server.drain_log()
    rejected = [e for e in entries if e.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].text.startswith("401 ")
    assert rejected[0].level == "warning" and rejected[0].time > 0
    assert all(bad not in e.text and "token=" not in e.text for e in entries)
    assert server.drain_log() == []  # Drained.


def test_port_in_use_is_a_clear_error(server: EmbeddedServer) -> None:
    other = EmbeddedServer(ServerConfig(port=server.port))
    with pytest.raises(ServerStartError, match="already in use"):
        other.start()
    assert not other.running
    other.stop()  # Harmless.


def test_set_demo_from_another_thread(server: EmbeddedServer) -> None:
    server.set_demo(3, 0.0)
    _until(lambda: server.snapshot().bots == 3)
    lobby = next(r for r in server.snapshot().rooms if r.name == "lobby")
    assert len(lobby.members) == 3
    server.set_demo(0, 0.0)
    _until(lambda: server.snapshot().bots == 0 and server.snapshot().rooms == ())


def test_log_is_bounded_and_counts_drops() -> None:
    embedded = EmbeddedServer(ServerConfig(port=0, auth=True, log_capacity=3))
    try:
        embedded.start()
        for _ in range(5):
            with pytest.raises(InvalidStatus), connect(embedded.url):
                pass
        _until(lambda: embedded.snapshot().rejections == 5)
        assert len(embedded.drain_log()) == 3
        assert embedded.log_dropped >= 4  # listening + weak-secret warning + 5 rejections
    finally:
        embedded.stop()
