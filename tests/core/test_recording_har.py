"""HAR in and out: a real session exported and imported back, Chrome's format, bad files."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
from pathlib import Path

import pytest

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.events import (
    ConnectionAdded,
    Direction,
    FrameEvent,
    HandshakeInfo,
    Opcode,
    StateChanged,
)
from core.hub import EventHub
from core.recorder import Recorder
from core.recording import (
    HarError,
    Recording,
    export_events_har,
    export_recording_har,
    import_har,
    profile_from_har,
)
from core.states import ConnState


def data_frames(rec: Recording) -> list[tuple[Direction, Opcode, bytes, float]]:
    return [(f.direction, f.opcode, f.payload, f.time) for f in rec.frames() if f.is_data]


async def record_echo_session(url: str, path: Path) -> None:
    """A real session against the embedded /echo: text, binary, empty and non-ASCII payloads."""
    hub = EventHub()
    recorder = Recorder(path, hub)
    conn = Connection(ConnectionConfig(url, name="echo here",
                                       heartbeat=HeartbeatConfig(interval=0.05),
                                       reconnect=ReconnectPolicy(enabled=False)), hub)
    hub.publish(ConnectionAdded(conn.id, time.time(), url, "echo here"))
    conn.connect()
    await conn.wait_for_state(ConnState.OPEN, 5)
    payloads: list[str | bytes] = ['{"n": 1, "text": "héllo ✓"}', b"\x00\x01\xfe\xff" * 50,
                                   "", b"", "plain text"]
    payloads += [f"msg-{i}" if i % 2 else bytes([i]) * i for i in range(40)]
    for payload in payloads:
        await conn.send(payload)
    for _ in range(500):
        if conn.metrics.msgs_in >= len(payloads):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.12)  # a ping or two, which a HAR leaves out
    await conn.disconnect()
    recorder.close()


async def test_a_recorded_session_survives_export_and_import(embedded_server, tmp_path) -> None:
    server = embedded_server(auth=False)
    recorded = tmp_path / "session.sqlite"
    await record_echo_session(server.url + "/echo", recorded)
    har_path = tmp_path / "session.har"
    with Recording(recorded) as rec, har_path.open("w", encoding="utf-8") as out:
        assert export_recording_har(rec, out) == 1
        original = data_frames(rec)
        assert any(not f.is_data for f in rec.frames())  # pings and the close were recorded
    assert len(original) == 2 * 45
    assert {op for _, op, _, _ in original} == {Opcode.TEXT, Opcode.BINARY}

    har = json.loads(har_path.read_text(encoding="utf-8"))
    (entry,) = har["log"]["entries"]
    assert har["log"]["version"] == "1.2"
    assert entry["_resourceType"] == "websocket"
    assert entry["request"]["method"] == "GET" and entry["request"]["url"].endswith("/echo")
    assert entry["response"]["status"] == 101
    assert entry["_webSocketClose"]["code"] == 1000
    messages = entry["_webSocketMessages"]
    assert {m["opcode"] for m in messages} == {1, 2}  # no control frames
    binary = next(m for m in messages if m["opcode"] == 2 and m["data"])
    assert base64.b64decode(binary["data"]) == b"\x00\x01\xfe\xff" * 50
    assert messages[0] == {"type": "send", "time": original[0][3], "opcode": 1,
                           "data": '{"n": 1, "text": "héllo ✓"}'}

    imported = tmp_path / "imported.sqlite"
    result = import_har(har_path, imported)
    assert (result.connections, result.frames, result.skipped_by_type) == (1, 90, {})
    with Recording(imported) as rec:
        again = data_frames(rec)
        assert [c.name for c in rec.connections()] == ["echo here"]
        assert [(s.new, s.close_code) for s in rec.states()] == [
            (ConnState.OPEN, None), (ConnState.CLOSED, 1000)]
        (shake,) = rec.handshakes()
        assert shake.status == 101
    assert [(d, o, p) for d, o, p, _ in again] == [(d, o, p) for d, o, p, _ in original]
    for (*_, before), (*_, after) in zip(original, again, strict=True):
        assert abs(before - after) < 0.001


def test_export_of_live_events_carries_the_handshake_and_close(tmp_path) -> None:
    """The UI's export of its live view: events in memory, two connections interleaved."""
    shake = HandshakeInfo(
        7, 100.0, "ws://example.test/feed?token=***", 101,
        (("Host", "example.test"), ("Sec-WebSocket-Protocol", "json"), ("X-Team", "blue"),
         ("Authorization", "Bearer ***")),
        (("Upgrade", "websocket"), ("Sec-WebSocket-Protocol", "json")), "json", ())
    frames = [
        FrameEvent(7, 100.5, Direction.OUT, Opcode.TEXT, b'{"op":"sub"}'),
        FrameEvent(9, 100.6, Direction.IN, Opcode.TEXT, b"other connection"),
        FrameEvent(7, 100.7, Direction.IN, Opcode.BINARY, b"\x80\x81"),
        FrameEvent(7, 100.8, Direction.IN, Opcode.PING, b""),
        FrameEvent(7, 100.9, Direction.IN, Opcode.CLOSE, (4001).to_bytes(2, "big") + b"bye"),
    ]
    out = io.StringIO()
    count = export_events_har(out, [ConnectionAdded(7, 99.0, "ws://example.test/feed", "feed")],
                              frames, handshakes=[shake])
    assert count == 2
    entries = json.loads(out.getvalue())["log"]["entries"]
    first = entries[0]
    assert first["comment"] == "feed"
    assert first["request"]["url"] == "ws://example.test/feed?token=***"
    assert {"name": "X-Team", "value": "blue"} in first["request"]["headers"]
    assert [m["type"] for m in first["_webSocketMessages"]] == ["send", "receive"]
    assert first["_webSocketMessages"][1]["data"] == base64.b64encode(b"\x80\x81").decode()
    assert first["_webSocketClose"] == {"code": 4001, "reason": "bye", "time": 100.9}
    assert entries[1]["_webSocketMessages"][0]["data"] == "other connection"

    har_path = tmp_path / "live.har"
    har_path.write_text(out.getvalue(), encoding="utf-8")
    profile = profile_from_har(har_path)
    assert profile.url == "ws://example.test/feed"  # the masked token is not kept
    assert profile.name == "feed" and profile.subprotocols == ["json"]
    assert profile.headers == [("X-Team", "blue")]  # no handshake headers, no secrets
    with pytest.raises(HarError, match="no WebSocket connection #5"):
        profile_from_har(har_path, 5)


def chrome_har() -> dict:
    """A HAR as Chrome DevTools saves it (the fields it writes, trimmed of the page's others)."""
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "pages": [{"startedDateTime": "2024-05-01T10:00:00.000Z", "id": "page_1",
                               "title": "https://example.test/", "pageTimings": {}}],
                    "entries": [
        {"startedDateTime": "2024-05-01T10:00:00.100Z", "time": 12.5,
         "request": {"method": "GET", "url": "https://example.test/app.js",
                     "httpVersion": "HTTP/1.1", "headers": [], "queryString": [],
                     "cookies": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                      "headers": [], "cookies": [], "content": {"size": 0, "mimeType": "x"},
                      "redirectURL": "", "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}},
        {"_resourceType": "websocket", "startedDateTime": "2024-05-01T10:00:01.000Z",
         "time": 3.1,
         "request": {"method": "GET", "url": "wss://example.test/live?room=7",
                     "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Origin", "value": "https://example.test"},
                                 {"name": "Sec-WebSocket-Key", "value": "abc=="},
                                 {"name": "Sec-WebSocket-Protocol", "value": "v2.live, v1"},
                                 {"name": "Cookie", "value": "sid=secret"},
                                 {"name": "X-Client", "value": "web"}],
                     "queryString": [{"name": "room", "value": "7"}], "cookies": [],
                     "headersSize": -1, "bodySize": 0},
         "response": {"status": 101, "statusText": "Switching Protocols",
                      "httpVersion": "HTTP/1.1",
                      "headers": [{"name": "Sec-WebSocket-Protocol", "value": "v2.live"}],
                      "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"},
                      "redirectURL": "", "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
         "_webSocketMessages": [
             {"type": "send", "time": 1714557601.25, "opcode": 1, "data": '{"join":7}'},
             {"type": "receive", "time": 1714557601.3, "opcode": 1, "data": '{"ok":true}'},
             {"type": "receive", "time": 1714557601.5, "opcode": 2,
              "data": base64.b64encode(bytes(range(256))).decode()},
             {"type": "receive", "time": 1714557601.6, "opcode": 9, "data": ""},
             {"type": "frame", "time": 1714557601.7, "opcode": 1, "data": "?"},
             {"type": "send", "time": 1714557602, "opcode": 1},
         ]},
    ]}}


def test_a_chrome_har_imports_and_skips_what_it_does_not_know(tmp_path) -> None:
    har_path = tmp_path / "chrome.har"
    har_path.write_text(json.dumps(chrome_har()), encoding="utf-8")
    result = import_har(har_path, tmp_path / "chrome.sqlite")
    assert (result.connections, result.frames, result.skipped_entries) == (1, 4, 1)
    assert result.skipped_by_type == {"opcode 9 (ping)": 1, "type frame": 1}
    with Recording(tmp_path / "chrome.sqlite") as rec:
        (conn,) = rec.connections()
        assert conn.url == "wss://example.test/live?room=7"
        frames = list(rec.frames())
        assert [(f.direction, f.opcode, f.payload) for f in frames] == [
            (Direction.OUT, Opcode.TEXT, b'{"join":7}'),
            (Direction.IN, Opcode.TEXT, b'{"ok":true}'),
            (Direction.IN, Opcode.BINARY, bytes(range(256))),
            (Direction.OUT, Opcode.TEXT, b""),  # data missing: empty
        ]
        assert [f.time for f in frames] == [1714557601.25, 1714557601.3, 1714557601.5,
                                            1714557602.0]
        assert rec.info().started == pytest.approx(1714557601.0)
        (shake,) = rec.handshakes()
        assert shake.subprotocol == "v2.live"
        assert ("X-Client", "web") in shake.request_headers
    profile = profile_from_har(har_path)
    assert profile.url == "wss://example.test/live?room=7"
    assert profile.subprotocols == ["v2.live", "v1"]
    assert profile.origin == "https://example.test"
    assert profile.headers == [("X-Client", "web")]


def _entry_with(message: dict) -> dict:
    har = chrome_har()
    har["log"]["entries"][1]["_webSocketMessages"].append(message)
    return har


@pytest.mark.parametrize(("content", "expected"), [
    (json.dumps(chrome_har())[:-40], r"not valid JSON at line 1, column \d+"),
    (json.dumps({"log": {"entries": {}}}), r"log\.entries: expected a list, got an object"),
    (json.dumps({"entries": []}), "log: missing: not a HAR file"),
    (json.dumps([1, 2]), "top level: expected an object, got a list: not a HAR file"),
    (json.dumps(_entry_with({"type": "send", "time": 1.0, "opcode": "text", "data": "x"})),
     r'log\.entries\[1\]\._webSocketMessages\[6\]\.opcode: expected 1 or 2, got the string '
     r'"text"'),
    (json.dumps(_entry_with({"type": "send", "time": "noon", "opcode": 1})),
     r"_webSocketMessages\[6\]\.time: expected a number \(epoch seconds\)"),
    (json.dumps(_entry_with({"type": "receive", "time": 2.0, "opcode": 2, "data": "%%%"})),
     r"_webSocketMessages\[6\]\.data: a binary message \(opcode 2\) must be base64"),
    (json.dumps(_entry_with({"type": "receive", "time": 2.0, "opcode": 1, "data": 5})),
     r"_webSocketMessages\[6\]\.data: expected a string, got the number 5"),
])
def test_a_malformed_har_gets_one_clear_error_and_writes_nothing(
    tmp_path, content, expected
) -> None:
    har_path = tmp_path / "bad.har"
    har_path.write_text(content, encoding="utf-8")
    with pytest.raises(HarError, match=expected) as caught:
        import_har(har_path, tmp_path / "out.sqlite")
    assert str(caught.value).startswith("bad.har: ")
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.har"]


def test_fifty_megabytes_of_garbage_is_not_a_har(tmp_path) -> None:
    garbage = tmp_path / "garbage.har"
    with garbage.open("wb") as out:
        for _ in range(50):
            out.write(os.urandom(2**20))
    with pytest.raises(HarError, match=r"garbage\.har: not (UTF-8 text|valid JSON)"):
        import_har(garbage, tmp_path / "out.sqlite")
    text = tmp_path / "text.har"
    text.write_text("x" * (50 * 2**20))
    with pytest.raises(HarError, match=r"text\.har: not valid JSON at line 1, column 1"):
        import_har(text, tmp_path / "out.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.har", "text.har"]


def test_an_existing_recording_is_never_replaced(tmp_path) -> None:
    har_path = tmp_path / "chrome.har"
    har_path.write_text(json.dumps(chrome_har()), encoding="utf-8")
    target = tmp_path / "there.sqlite"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        import_har(har_path, target)
    assert target.read_bytes() == b"precious"


def test_state_closes_give_the_close_code_when_no_close_frame_was_kept() -> None:
    states = [StateChanged(1, 5.0, ConnState.OPEN, ConnState.CLOSED, 1, close_code=1001,
                           close_reason="going away")]
    out = io.StringIO()
    export_events_har(out, [ConnectionAdded(1, 1.0, "ws://h/", "")], [], states)
    (entry,) = json.loads(out.getvalue())["log"]["entries"]
    assert entry["_webSocketMessages"] == []
    assert entry["_webSocketClose"] == {"code": 1001, "reason": "going away", "time": 5.0}
    assert "comment" not in entry
