"""Reaching a server through the HTTP proxy the environment names, as websockets' connect() did.

Corporate networks often reach the outside only through a proxy, and `connect()` honoured
`http_proxy` / `https_proxy` / `all_proxy` and `no_proxy`; so does this, read by urllib's
`getproxies()` and `proxy_bypass()`. ws:// goes through the http proxy and wss:// through the
https one, by an HTTP CONNECT tunnel in which TLS then runs end to end. Only http:// proxies
(with optional user:password) are spoken; any other scheme is refused in words.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_RESPONSE = 64 * 1024  # bytes of a proxy's answer to CONNECT before it is refused


class ProxyError(OSError):
    """The proxy could not be reached or would not open the tunnel (the message says which)."""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None  # a Proxy-Authorization value
    shown: str  # the proxy's URL without its password, for messages


def proxy_for(host: str, secure: bool) -> Proxy | None:
    """The proxy to reach `host` through, or None for a direct connection."""
    proxies = urllib.request.getproxies()
    url = proxies.get("https" if secure else "http") or proxies.get("all")
    if not url or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    shown = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    if parts.scheme != "http" or not parts.hostname:
        raise ProxyError(f"The proxy {shown} from the environment is not an http:// proxy, the "
                         "only kind SocketScope speaks: unset it or add the host to no_proxy")
    authorization = None
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(parts.hostname, parts.port or 80, authorization, shown)


async def tunnel(proxy: Proxy, host: str, port: int) -> socket.socket:
    """A socket connected through `proxy` to host:port, ready for the WebSocket handshake."""
    loop = asyncio.get_running_loop()
    try:
        sock = await asyncio.to_thread(socket.create_connection, (proxy.host, proxy.port))
    except OSError as exc:
        raise ProxyError(f"Cannot reach the proxy {proxy.shown}: {exc.strerror or exc}") from exc
    try:
        sock.setblocking(False)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if proxy.authorization:
            request += f"Proxy-Authorization: {proxy.authorization}\r\n"
        await loop.sock_sendall(sock, (request + "\r\n").encode())
        status = await _status(loop, sock, proxy)
        if not 200 <= status[0] < 300:
            raise ProxyError(f"The proxy {proxy.shown} refused the tunnel to {target}: "
                             f"HTTP {status[0]} {status[1]}".rstrip())
        return sock
    except BaseException:
        sock.close()
        raise


async def _status(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, proxy: Proxy
) -> tuple[int, str]:
    """The status of the proxy's answer, read to the end of its header block and no further (the
    server says nothing before our handshake, so nothing of it is read here)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk or len(answer) > MAX_RESPONSE:
            raise ProxyError(f"The proxy {proxy.shown} closed or garbled the tunnel's answer")
        answer += chunk
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    fields = line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProxyError(f"The proxy {proxy.shown} answered CONNECT with {line[:60]!r}")
    return int(fields[1]), fields[2] if len(fields) > 2 else ""
