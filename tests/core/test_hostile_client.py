"""The client against hostile servers written here: each attack ends in a clear, specific
message in the connection's status and in the recording, with memory bounded and no retry storm."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import tracemalloc
import zlib
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.events import Event, StateChanged
from core.hub import EventHub
from core.recorder import Recorder
from core.recording import Recording
from core.states import ConnState
from tests.rawws import frame, handshake, raw_server

ONCE = ReconnectPolicy(enabled=False)
NO_PING = HeartbeatConfig(interval=0)
MiB = 1024 * 1024


async def run_until_closed(url: str, tmp_path: Path | None = None, **fields: object
                           ) -> tuple[Connection, list[Event]]:
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    recorder = Recorder(tmp_path / "rec.sqlite", hub) if tmp_path else None
    fields.setdefault("reconnect", ONCE)
    fields.setdefault("heartbeat", NO_PING)
    conn = Connection(ConnectionConfig(url, **fields), hub)  # type: ignore[arg-type]
    conn.connect()
    await conn.wait_for_state(ConnState.CLOSED, 15)
    if recorder is not None:
        recorder.close()
        with Recording(tmp_path / "rec.sqlite") as rec:  # type: ignore[operator]
            recorded = [s.error for s in rec.states() if s.error]
        assert recorded and recorded[-1] == conn.last_error  # the recording says it too
    return conn, events


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


async def test_decompression_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = deflate(b"\0" * (64 * MiB))  # ~64 KiB on the wire

    async def bomber(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        writer.write(frame(0x1, bomb, rsv=4))  # RSV1: compressed
        await writer.drain()
        await reader.read(65536)

    tracemalloc.start()
    try:
        async with raw_server(bomber) as port:
            conn, _ = await run_until_closed(f"ws://127.0.0.1:{port}", tmp_path, max_size=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "1009 message too big" in (conn.last_error or "")
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert conn.metrics.msgs_in == 0


async def test_masked_server_frames_are_a_protocol_error(tmp_path: Path) -> None:
    async def masked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(bytes([0x81, 0x82]) + b"abcd" + bytes([ord("h") ^ 0x61, ord("i") ^ 0x62]))
        await writer.drain()
        await reader.read(65536)

    async with raw_server(masked) as port:
        conn, _ = await run_until_closed(f"ws://127.0.0.1:{port}", tmp_path)
    assert "1002 protocol error" in (conn.last_error or "")
    assert "mask" in (conn.last_error or "")


async def test_close_mid_fragment_loses_only_the_partial_message(tmp_path: Path) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(frame(0x1, b"whole") + frame(0x1, b"half of a mess", fin=False))
        await writer.drain()
        writer.transport.abort()  # TCP gone mid-message, no close frame

    async with raw_server(cut) as port:
        conn, _ = await run_until_closed(f"ws://127.0.0.1:{port}", tmp_path)
    assert conn.last_error == "Connection lost without a close frame (1006)"
    assert conn.metrics.msgs_in == 1  # "whole" kept, the half message never delivered


async def test_redirect_loop_is_named_and_not_retried(tmp_path: Path) -> None:
    hits = 0

    def loop(connection: ServerConnection, request: object) -> Response:
        nonlocal hits
        hits += 1
        response = connection.respond(302, "")
        response.headers["Location"] = "/again"
        return response

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=loop) as srv:
        conn, _ = await run_until_closed(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}",
                                         tmp_path, reconnect=ReconnectPolicy(initial=0.01))
    assert (conn.last_error or "").startswith("Redirect loop: the server redirected more than")
    assert hits == 10  # websockets' own cap, once: no retry


async def test_wss_to_ws_redirect_is_refused(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))

    def downgrade(connection: ServerConnection, request: object) -> Response:
        return Response(302, "Found", Headers({"Location": "ws://127.0.0.1:9/",
                                               "Content-Length": "0"}), b"")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context,
                     process_request=downgrade) as srv:
        conn, _ = await run_until_closed(f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}",
                                         tmp_path, cafile=str(cafile))
    assert (conn.last_error or "").startswith("Refused a redirect from wss:// to insecure ws://")


async def test_expired_certificate_is_named(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(days=1)
                  ).configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context) as srv:
        conn, _ = await run_until_closed(f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}",
                                         tmp_path, cafile=str(cafile))
    assert "TLS failure" in (conn.last_error or "") and "expired" in (conn.last_error or "")


async def test_flapping_server_gets_backoff_not_a_storm() -> None:
    accepted = 0

    async def flap(ws: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        await ws.close(1011, "flapping")

    policy = ReconnectPolicy(initial=0.05, factor=2.0, max_delay=0.4, jitter=0.0,
                             stable_after=5.0, max_attempts=6)
    async with serve(flap, "127.0.0.1", 0) as srv:
        conn, events = await run_until_closed(
            f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}", reconnect=policy)
    delays = [e.retry_in for e in events
              if isinstance(e, StateChanged) and e.new is ConnState.WAITING]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert accepted == 6
    assert "1011 internal server error: flapping" in (conn.last_error or "")


@pytest.mark.parametrize("size", [2 * MiB])
async def test_oversized_frame_header_is_refused_before_reading_it(size: int) -> None:
    async def declares(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(bytes([0x82, 127]) + (100 * MiB).to_bytes(8, "big") + b"\0" * size)
        await writer.drain()
        await reader.read(65536)

    async with raw_server(declares) as port:
        conn, _ = await run_until_closed(f"ws://127.0.0.1:{port}", max_size=MiB)
    assert "1009 message too big" in (conn.last_error or "")
