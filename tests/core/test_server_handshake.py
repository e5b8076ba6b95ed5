"""Before the upgrade: paths, tokens (query and bearer), origins, per-IP cap; and /echo, TLS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from core.server import TokenError, make_token, verify_token
from tests.core.test_server_support import SECRET, WAIT, running, token, url_with_token, wait_for


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _signed(header: object, payload: object, digest: Any) -> str:
    """A token signed with SECRET whatever the header claims (PyJWT would refuse HS512 here)."""
    signing_input = f"{_b64(header)}.{_b64(payload)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "malformed": "not-a-jwt",
        "garbage segments": "a.b.c",
        "expired": make_token(SECRET, "alice", ttl=-5),
        "not yet valid": make_token(SECRET, "alice", nbf=now + 600),
        "wrong secret": make_token("another-secret-also-32-bytes-long!!", "alice"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'alice'})}.",
        "alg HS512": _signed({"alg": "HS512", "typ": "JWT"}, {"sub": "alice"}, hashlib.sha512),
        "not an object": f"{_b64({'alg': 'HS256'})}.{_b64([1])}.sig",
    }


async def _status(url: str, **kwargs: object) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=WAIT, **kwargs):  # type: ignore[arg-type]
            pass
    response = info.value.response
    return response.status_code, response.body


def test_tokens_round_trip_and_fail_with_one_error_type() -> None:
    claims = verify_token(make_token(SECRET, "zoe", role="admin"), SECRET)
    assert claims["sub"] == "zoe" and claims["role"] == "admin" and "exp" in claims
    assert "exp" not in verify_token(make_token(SECRET, "zoe", ttl=None), SECRET)
    hs256 = _signed({"alg": "HS256", "typ": "JWT"}, {"sub": "x"}, hashlib.sha256)
    assert verify_token(hs256, SECRET) == {"sub": "x"}  # So HS512 below fails for its alg.
    for why, bad in _bad_tokens().items():
        with pytest.raises(TokenError) as info:
            verify_token(bad or "", SECRET)
        assert bad is None or bad not in str(info.value), why


async def test_every_bad_token_is_401_with_the_same_body_and_no_token_in_the_log() -> None:
    async with running() as server:
        bodies = set()
        for why, bad in _bad_tokens().items():
            for path in ("/", "/echo"):
                query = f"?token={bad}" if bad else ""
                status, body = await _status(server.url + path + query)
                assert status == 401, why
                bodies.add(bytes(body))
            if bad:
                status, body = await _status(
                    server.url, additional_headers={"Authorization": f"Bearer {bad}"}
                )
                assert status == 401, why
        assert bodies == {b"401 Unauthorized: a valid token is required\n"}
        log = server.log.drain()
        rejected = [e for e in log if e.kind == "rejected"]
        assert rejected and all(e.text.startswith("401 ") for e in rejected)
        text = "\n".join(e.text for e in log)
        for bad in _bad_tokens().values():
            assert not bad or bad not in text
        assert server.stats.rejections == len(rejected)


async def test_token_by_query_or_bearer_header_and_name_from_sub_or_name() -> None:
    async with running() as server:
        async with connect(url_with_token(server, "query-user")) as ws:
            assert json.loads(await ws.recv())["name"] == "query-user"
        headers = {"Authorization": f"Bearer {token('header-user')}"}
        async with connect(server.url, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["name"] == "header-user"
        named = make_token(SECRET, "", name="Display Name")
        async with connect(f"{server.url}?token={named}") as ws:
            assert json.loads(await ws.recv())["name"] == "Display Name"


async def test_unknown_path_is_404_before_auth() -> None:
    async with running() as server:
        assert (await _status(server.url + "/nope"))[0] == 404
        assert (await _status(url_with_token(server, path="/chat")))[0] == 404


async def test_echo_mirrors_text_and_binary_frames() -> None:
    async with running() as server, connect(url_with_token(server, path="/echo")) as ws:
        for message in ("hello <b>", "", b"\x00\x01\xff", b"", "日本 🙂"):
            await ws.send(message)
            assert await ws.recv() == message  # Same value, same frame type.


async def test_origin_allow_list_is_403() -> None:
    async with running(origins=("https://good.example",)) as server:
        url = url_with_token(server)
        status, body = await _status(url, origin="https://evil.example")
        assert status == 403 and b"origin" in body
        async with connect(url, origin="https://good.example") as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
        async with connect(url) as ws:  # No Origin at all: not a browser, allowed.
            assert json.loads(await ws.recv())["type"] == "connected"
        assert any(e.text.startswith("403 ") for e in server.log.drain())


async def test_per_ip_connection_cap_is_429_and_frees_slots() -> None:
    async with running(max_conns_per_ip=2) as server:
        url = url_with_token(server)
        async with connect(url) as first, connect(url):
            assert (await _status(url))[0] == 429
            await first.close()
            await wait_for(lambda: server.snapshot().clients == 1)
            async with connect(url) as third:
                assert json.loads(await third.recv())["type"] == "connected"
        assert any(e.text.startswith("429 ") for e in server.log.drain())


async def test_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with running(tls_cert=str(cert_file), tls_key=str(key_file)) as server:
        assert server.url.startswith("wss://")
        async with connect(url_with_token(server), ssl=client_ctx) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
