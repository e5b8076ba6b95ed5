"""The opening handshake as an event: what was negotiated (subprotocol, extensions, TLS and the
peer certificate), the status and headers of a rejection, secrets masked everywhere, recorded
and read back unchanged."""

from __future__ import annotations

import dataclasses
import io
import json
import sqlite3
import ssl
from pathlib import Path

import trustme
from websockets.asyncio.server import serve

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.events import Event, HandshakeInfo, StateChanged
from core.handshake import MASK, mask_url
from core.manager import ConnectionManager
from core.recorder import Recorder
from core.recording import Recording
from core.server import make_token
from core.states import ConnState

SECRET = "handshake-test-secret-0123456789abcdef"
ONCE = ReconnectPolicy(enabled=False)
NO_PING = HeartbeatConfig(interval=0)


def of(events: list[Event], conn_id: int) -> list[Event]:
    return [e for e in events if getattr(e, "conn_id", None) == conn_id]


def handshakes(events: list[Event]) -> list[HandshakeInfo]:
    return [e for e in events if isinstance(e, HandshakeInfo)]


def headers(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


async def test_embedded_server_handshake_is_published_masked_and_recorded(
    embedded_server, tmp_path: Path
) -> None:
    server = embedded_server(secret=SECRET)
    manager = ConnectionManager()
    events: list[Event] = []
    manager.hub.subscribe(events.append)
    recorder = Recorder(tmp_path / "rec.sqlite", manager.hub)
    token = make_token(SECRET, sub="ana")
    query = manager.add(ConnectionConfig(server.url + "?room=a%20b", token=token,
                                         subprotocols=["msgpack"], heartbeat=NO_PING),
                        connect=True)
    bearer = manager.add(ConnectionConfig(server.url, token=token, token_mode="bearer",
                                          headers=[("Cookie", "session=abc")],
                                          heartbeat=NO_PING), connect=True)
    try:
        for conn in (query, bearer):
            await conn.wait_for_state(ConnState.OPEN, 10)
    finally:
        await manager.close_all()
        recorder.close()
    published = handshakes(events)
    assert len(published) == 2
    for conn in (query, bearer):
        mine = of(events, conn.id)
        first_open = next(i for i, e in enumerate(mine)
                          if isinstance(e, StateChanged) and e.new is ConnState.OPEN)
        assert isinstance(mine[first_open - 1], HandshakeInfo)  # right before the OPEN
    by_id = {h.conn_id: h for h in published}
    shake = by_id[query.id]
    assert shake.status == 101 and shake.subprotocol == "msgpack"
    assert shake.url == f"{server.url}?room=a+b&token={MASK}"  # as connected
    assert shake.extensions and shake.extensions[0].startswith("permessage-deflate")
    assert headers(shake.request_headers)["sec-websocket-key"] == MASK
    assert headers(shake.request_headers)["sec-websocket-protocol"] == "msgpack"
    assert headers(shake.response_headers)["upgrade"].lower() == "websocket"
    assert shake.tls_version is None and shake.peer_certificate is None
    other = by_id[bearer.id]
    assert other.subprotocol is None and other.url == server.url
    assert headers(other.request_headers)["authorization"] == MASK
    assert headers(other.request_headers)["cookie"] == MASK
    for info in published:
        assert token not in repr(info) and "session=abc" not in repr(info)
    with Recording(tmp_path / "rec.sqlite") as rec:
        assert list(rec.handshakes()) == sorted(published, key=lambda h: h.time)
        out = io.StringIO()
        rec.export_ndjson(out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    exported = [r for r in records if r["event"] == "handshake"]
    assert {r["conn"] for r in exported} == {query.id, bearer.id}
    assert [r["url"] for r in exported if r["conn"] == query.id] == [shake.url]
    times = [r["time"] for r in records if r["event"] in ("handshake", "state", "frame")]
    assert times == sorted(times)
    for path in tmp_path.iterdir():
        assert token.encode() not in path.read_bytes(), path


def test_recorded_handshake_is_the_event_field_for_field(tmp_path: Path) -> None:
    """The storage contract others read (HAR export): a note of kind "handshake" whose detail
    is the dataclass's fields as JSON, tuples as lists."""
    info = HandshakeInfo(7, 1234.5, f"wss://h/?token={MASK}", 101, (("Host", "h"),),
                         (("Upgrade", "websocket"),), "chat", ("permessage-deflate",),
                         "TLSv1.3", "subject CN=h; issuer CN=ca; valid until never")
    recorder = Recorder(tmp_path / "r.sqlite")
    recorder.push(info)
    recorder.close()
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        [(kind, detail)] = db.execute("SELECT kind, detail FROM notes").fetchall()
    db.close()
    assert kind == "handshake"
    assert json.loads(detail) == json.loads(json.dumps(dataclasses.asdict(info)))
    assert json.loads(detail)["request_headers"] == [["Host", "h"]]
    with Recording(tmp_path / "r.sqlite") as rec:
        assert list(rec.handshakes()) == [info]


async def test_rejected_handshake_shows_its_status_and_headers(embedded_server) -> None:
    server = embedded_server(secret=SECRET)
    events: list[Event] = []
    wrong = "not-a-valid-token-0123456789"
    conn = Connection(ConnectionConfig(server.url, token=wrong, reconnect=ONCE,
                                       heartbeat=NO_PING))
    conn.hub.subscribe(events.append)
    conn.connect()
    await conn.wait_for_state(ConnState.CLOSED, 10)
    [shake] = handshakes(events)
    assert shake.status == 401 and shake.subprotocol is None and shake.extensions == ()
    assert shake.response_headers and shake.url.endswith(f"token={MASK}")
    assert wrong not in repr(shake)
    closed = events.index(shake) + 1
    assert isinstance(events[closed], StateChanged) and "HTTP 401" in (events[closed].error or "")


async def test_tls_version_and_peer_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", common_name="scope-test").configure_cert(context)
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context) as srv:
        port = srv.sockets[0].getsockname()[1]
        got: dict[str, HandshakeInfo] = {}
        for name, fields in (("verified", {"cafile": str(cafile)}), ("insecure",
                                                                     {"insecure": True})):
            events: list[Event] = []
            conn = Connection(ConnectionConfig(f"wss://127.0.0.1:{port}/", reconnect=ONCE,
                                               heartbeat=NO_PING, **fields))  # type: ignore[arg-type]
            conn.hub.subscribe(events.append)
            conn.connect()
            await conn.wait_for_state(ConnState.OPEN, 10)
            await conn.disconnect()
            [got[name]] = handshakes(events)
    verified = got["verified"]
    assert verified.status == 101 and (verified.tls_version or "").startswith("TLSv1.")
    assert verified.peer_certificate is not None
    assert verified.peer_certificate.startswith("subject CN=scope-test; issuer O=trustme")
    assert "valid until Jan  1 00:00:00 3000 GMT" in verified.peer_certificate
    insecure = got["insecure"]
    assert (insecure.tls_version or "").startswith("TLSv1.")
    assert "not verified" in (insecure.peer_certificate or "")


def test_url_masking_keeps_the_rest_as_connected() -> None:
    assert mask_url("ws://h:1/p?a=1&token=s3cr3t&b=x%20y") == f"ws://h:1/p?a=1&token={MASK}&b=x%20y"
    assert mask_url("wss://u:pw@h/?t=1") == f"wss://u:{MASK}@h/?t=1"
    assert mask_url("ws://h/s3cr3t/path", ["s3cr3t"]) == f"ws://h/{MASK}/path"
