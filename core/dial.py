"""Opening a `Wire`: TCP (and TLS), the upgrade handshake, and the redirects a server asks for.

The same steps as websockets' `connect()`, built on its public sans-I/O pieces (`parse_uri`,
`ClientProtocol`, the permessage-deflate factory) because the connection it returns must be
ours (core/wire.py). Redirects follow websockets' rules: at most MAX_REDIRECTS, never from
wss:// to ws://, credentials dropped when the origin changes; the environment's HTTP proxy is
used as it did (core/proxy.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, SecurityError
from websockets.typing import Origin, Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from core.config import ConnectionConfig
from core.deflate import ClientDeflateFactory
from core.proxy import proxy_for, tunnel
from core.wire import Wire

MAX_REDIRECTS = 10
REDIRECTS = frozenset({300, 301, 302, 303, 307, 308})
CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass
class DialSettings:
    headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocols: Sequence[str] = ()
    origin: str | None = None
    compression: bool = True
    max_size: int | None = 2**20
    open_timeout: float = 10.0
    close_timeout: float = 10.0
    ssl: ssl.SSLContext | None = None
    user_agent: str = "SocketScope/0.1"


def resolved(cfg: ConnectionConfig, resolve: Callable[[str], str] | None) -> ConnectionConfig:
    """The settings for one attempt, with the {{variables}} resolved afresh (SettingsError for
    one without a value)."""
    if resolve is None:
        return cfg
    return dataclasses.replace(
        cfg,
        url=resolve(cfg.url),
        headers=[(name, resolve(value)) for name, value in cfg.headers],
        token=None if cfg.token is None else resolve(cfg.token),
        on_open=[resolve(text) for text in cfg.on_open],
        protocol_options={k: resolve(v) for k, v in cfg.protocol_options.items()},
    )


def url_and_headers(cfg: ConnectionConfig) -> tuple[str, list[tuple[str, str]]]:
    """The URL and headers with the token in them: in the query, or as a bearer header."""
    headers = list(cfg.headers)
    url = cfg.url
    if cfg.token and cfg.token_mode == "bearer":
        headers.append(("Authorization", f"Bearer {cfg.token}"))
    elif cfg.token:
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"]
        query.append(("token", cfg.token))
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return url, headers


def dial_settings(cfg: ConnectionConfig) -> tuple[str, DialSettings]:
    """The URL to dial and how."""
    url, headers = url_and_headers(cfg)
    return url, DialSettings(
        headers=headers, subprotocols=cfg.subprotocols, origin=cfg.origin,
        compression=cfg.compression, max_size=cfg.max_size,
        open_timeout=cfg.open_timeout, close_timeout=cfg.close_timeout,
        ssl=_ssl_context(cfg) if urlsplit(url).scheme == "wss" else None,
    )


def _ssl_context(cfg: ConnectionConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cfg.cafile)
    if cfg.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def dial(
    url: str, settings: DialSettings, on_attempt: Callable[[Wire], None] | None = None
) -> Wire:
    """The open connection, within `open_timeout` for the whole chain of redirects.
    `on_attempt` sees each attempt's wire (a rejected one holds the response that says why)."""
    headers = list(settings.headers)
    async with asyncio.timeout(settings.open_timeout):
        for _ in range(MAX_REDIRECTS):
            uri = parse_uri(url)
            wire = await _attempt(uri, headers, settings, on_attempt)
            try:
                await wire.handshake(headers, settings.user_agent)
            except InvalidStatus as exc:
                wire.abort()
                location = exc.response.headers.get("Location")
                if exc.response.status_code not in REDIRECTS or location is None:
                    raise
                new_url = urljoin(url, location)
                headers = _redirected_headers(uri, parse_uri(new_url), headers, new_url)
                url = new_url
                continue
            except BaseException:
                wire.abort()
                raise
            return wire
    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")


async def _attempt(
    uri: WebSocketURI, headers: list[tuple[str, str]], settings: DialSettings,
    on_attempt: Callable[[Wire], None] | None,
) -> Wire:
    protocol = ClientProtocol(
        uri,
        origin=Origin(settings.origin) if settings.origin else None,
        extensions=[ClientDeflateFactory()] if settings.compression else None,
        subprotocols=[Subprotocol(p) for p in settings.subprotocols] or None,
        max_size=settings.max_size,
    )
    loop = asyncio.get_running_loop()
    context = settings.ssl if uri.secure else None
    if uri.secure and context is None:
        context = ssl.create_default_context()
    hostname = uri.host if context is not None else None
    proxy = proxy_for(uri.host, uri.secure)
    if proxy is None:
        _, wire = await loop.create_connection(
            lambda: Wire(protocol, settings.close_timeout), uri.host, uri.port, ssl=context,
            server_hostname=hostname,
        )
    else:
        sock = await tunnel(proxy, uri.host, uri.port)
        _, wire = await loop.create_connection(
            lambda: Wire(protocol, settings.close_timeout), sock=sock, ssl=context,
            server_hostname=hostname,
        )
    if on_attempt is not None:
        on_attempt(wire)
    return wire


def _redirected_headers(
    old: WebSocketURI, new: WebSocketURI, headers: list[tuple[str, str]], new_url: str
) -> list[tuple[str, str]]:
    if old.secure and not new.secure:
        raise SecurityError(f"cannot follow redirect to non-secure URI {new_url}")
    if (old.secure, old.host, old.port) != (new.secure, new.host, new.port):
        return [(name, value) for name, value in headers if name.lower() not in CREDENTIALS]
    return headers
