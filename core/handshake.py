"""What an opening handshake negotiated, as a `HandshakeInfo` with every secret masked.

Built from the wire's `request` and `response`, its protocol's `subprotocol`, and
for wss:// from the transport's `ssl_object` (TLS version, peer certificate). The same builder
serves a rejected handshake (HTTP 401 ...), whose response the user also wants to see.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from websockets.datastructures import Headers

from core.events import HandshakeInfo

if TYPE_CHECKING:
    from core.wire import Wire

MASK = "•••"
# Header values that carry credentials, or (the key) nothing a user needs to read.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "sec-websocket-key"}
)


def handshake_info(
    conn_id: int, url: str, ws: Wire, secrets: Iterable[str] = ()
) -> HandshakeInfo:
    """The handshake of `ws` (its response may be a rejection); `secrets` (a token) are masked
    wherever they appear, besides the query's token and the secret headers."""
    secrets = tuple(s for s in secrets if s)
    response = ws.response
    response_headers = response.headers if response is not None else Headers()
    request_headers = ws.request.headers if ws.request is not None else Headers()
    transport = ws.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    tls_version, certificate = tls_summary(ssl_object)
    return HandshakeInfo(
        conn_id=conn_id,
        time=time.time(),
        url=mask_url(url, secrets),
        status=response.status_code if response is not None else None,
        request_headers=mask_headers(request_headers.raw_items(), secrets),
        response_headers=mask_headers(response_headers.raw_items(), secrets),
        subprotocol=ws.protocol.subprotocol,
        extensions=extensions_of(response_headers),
        tls_version=tls_version,
        peer_certificate=certificate,
    )


def mask_url(url: str, secrets: Iterable[str] = ()) -> str:
    """The URL with its `token=` value and any password masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _mask_text(url, secrets)
    query = "&".join(  # segment by segment, so the rest stays exactly as connected
        f"{field.partition('=')[0]}={MASK}"
        if unquote_plus(field.partition("=")[0]) == "token" else field
        for field in parts.query.split("&")
    )
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return _mask_text(urlunsplit(parts._replace(netloc=netloc, query=query)), secrets)


def mask_headers(
    items: Iterable[tuple[str, str]], secrets: Iterable[str] = ()
) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, MASK if name.lower() in SECRET_HEADERS else _mask_text(value, secrets))
        for name, value in items
    )


def extensions_of(headers: Headers) -> tuple[str, ...]:
    """The server's Sec-WebSocket-Extensions, one header-like string per extension (a
    handshake that succeeded means the client accepted them all)."""
    return tuple(
        part.strip()
        for value in headers.get_all("Sec-WebSocket-Extensions")
        for part in value.split(",")
        if part.strip()
    )


def tls_summary(ssl_object: Any) -> tuple[str | None, str | None]:
    """(TLS version, one line about the peer certificate) of an `ssl.SSLObject`, or Nones."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None, None
    cert = ssl_object.getpeercert()
    if not cert:  # empty when it was not verified (insecure mode): Python does not parse it
        return ssl_object.version(), "not verified (insecure mode): details unavailable"
    subject = _name(cert.get("subject", ())) or _first_alt_name(cert) or "?"
    issuer = _name(cert.get("issuer", ())) or "?"
    return ssl_object.version(), (
        f"subject {subject}; issuer {issuer}; valid until {cert.get('notAfter', '?')}"
    )


def _name(rdns: Any) -> str:
    """The CN of a certificate name, else its organisation (and unit)."""
    fields = dict(pair for rdn in rdns for pair in rdn)
    if "commonName" in fields:
        return f"CN={fields['commonName']}"
    parts = [f"{key}={fields[name]}" for name, key in
             (("organizationName", "O"), ("organizationalUnitName", "OU")) if name in fields]
    return ", ".join(parts)


def _first_alt_name(cert: dict[str, Any]) -> str:
    names = cert.get("subjectAltName", ())
    return f"{names[0][0]}:{names[0][1]}" if names else ""


def _mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def handshake_to_json(event: HandshakeInfo) -> str:
    """How a handshake note's detail is stored: every field by name, tuples as JSON lists."""
    return json.dumps(asdict(event), ensure_ascii=False)


def handshake_from_json(conn_id: int, time: float, detail: str) -> HandshakeInfo:
    """A handshake note's detail as the event again; fields a later version added are ignored,
    missing or malformed ones take their defaults (a note is never a reason to fail a read)."""
    try:
        data: Any = json.loads(detail)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    known = {f.name for f in fields(HandshakeInfo)} - {"conn_id", "time"}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("request_headers", "response_headers"):
        values[name] = _pairs(values.get(name))
    values["extensions"] = tuple(str(e) for e in values.get("extensions") or ())
    values["url"] = str(values.get("url") or "")
    values.setdefault("status", None)
    values.setdefault("subprotocol", None)
    return HandshakeInfo(conn_id=conn_id, time=time, **values)


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple((str(p[0]), str(p[1])) for p in value if isinstance(p, list) and len(p) == 2)
