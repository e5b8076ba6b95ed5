"""TLS: verification is on by default; a CA file or an explicit insecure opt-in admits a
self-signed server; the refusal is explained in words."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import serve

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.states import ConnState

ONCE = ReconnectPolicy(enabled=False)
NO_PING = HeartbeatConfig(interval=0)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


async def attempt(port: int, **fields: object) -> Connection:
    conn = Connection(ConnectionConfig(f"wss://127.0.0.1:{port}", reconnect=ONCE,
                                       heartbeat=NO_PING, **fields))  # type: ignore[arg-type]
    conn.connect()
    async with asyncio.timeout(10):
        while conn.state not in (ConnState.OPEN, ConnState.CLOSED):
            await asyncio.sleep(0.01)
    return conn


async def test_self_signed_is_refused_by_default_and_accepted_on_request(
    ca: trustme.CA, tmp_path: Path
) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0,
                     ssl=server_context(ca, "127.0.0.1")) as srv:
        port = srv.sockets[0].getsockname()[1]
        refused = await attempt(port)
        assert refused.state is ConnState.CLOSED
        assert (refused.last_error or "").startswith("TLS failure: the certificate of 127.0.0.1")
        assert "not retrying" not in (refused.last_error or "")

        trusted = await attempt(port, cafile=str(cafile))
        assert trusted.state is ConnState.OPEN
        await trusted.disconnect()

        insecure = await attempt(port, insecure=True)
        assert insecure.state is ConnState.OPEN
        await insecure.disconnect()


async def test_wrong_host_certificate_is_refused_even_with_the_ca(
    ca: trustme.CA, tmp_path: Path
) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0,
                     ssl=server_context(ca, "other.example")) as srv:
        conn = await attempt(srv.sockets[0].getsockname()[1], cafile=str(cafile))
    assert conn.state is ConnState.CLOSED
    assert "TLS failure" in (conn.last_error or "") and "mismatch" in (conn.last_error or "")
