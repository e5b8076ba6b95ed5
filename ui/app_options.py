"""The desktop app's command line: `main.py [URL]... [connection flags] [--profile NAME]...`.

The connection flags are those of `main.py connect` (core/cli.py) and apply to every URL given;
`--profile` opens saved connections of the workspace (`--workspace FILE`, else the default one).
Parsing imports nothing but the standard library and core.config, so the window can show first.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from core.config import ConnectionConfig

READY_TIMEOUT = 10.0  # --screenshot without --after waits at most this long for live panels
DEMO_BOTS = 6
DEMO_RATE = 2.0  # messages per second per bot
MAX_DEMO_BOTS = 500  # the server panel's limits
MAX_DEMO_RATE = 1000.0


@dataclass(frozen=True)
class Options:
    urls: list[str]
    screenshot: str | None
    after: float | None
    size: tuple[int, int]
    demo: bool
    demo_bots: int = DEMO_BOTS
    demo_rate: float = DEMO_RATE
    embedded: bool = False  # start the embedded server also when URLs are given
    embedded_paths: tuple[str, ...] = ()  # more connections to the embedded server
    record: str | None = None  # the session's recording file; None: one in the data directory
    no_record: bool = False
    # connection flags, as for `main.py connect`; they apply to every URL
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    token: str | None = None
    token_mode: Literal["query", "bearer"] = "query"
    origin: str | None = None
    cafile: str | None = None
    insecure: bool = False
    profiles: tuple[str, ...] = ()  # saved connections to open, by name
    workspace: str | None = None  # None: the default workspace
    show: tuple[str, ...] = ()  # panels brought to the front of their tab group at start

    @property
    def start_server(self) -> bool:
        return self.demo and (self.embedded or not (self.urls or self.profiles))

    @property
    def reopen_last(self) -> bool:
        """The last session's connections come back when nothing was asked for by name."""
        return not (self.urls or self.profiles or self.screenshot)

    def url_configs(self) -> list[ConnectionConfig]:
        """One connection per URL, with the flags; a `?token=` in a URL stays out of every list
        and title (the connection puts it back on the wire), unless --token/--bearer is given."""
        from core.config import ConnectionConfig
        from ui.connection_dialog import split_token

        configs = []
        for url in self.urls:
            plain_url, url_token = split_token(url)
            configs.append(ConnectionConfig(
                url=plain_url,
                headers=list(self.headers),
                subprotocols=list(self.subprotocols),
                token=self.token or url_token,
                token_mode=self.token_mode if self.token else "query",
                origin=self.origin,
                cafile=self.cafile,
                insecure=self.insecure,
            ))
        return configs


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 1280x800, not {text!r}"
        ) from None
    if not (200 <= w <= 10_000 and 200 <= h <= 10_000):
        raise argparse.ArgumentTypeError("width and height must be between 200 and 10000")
    return w, h


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _bots(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 0 <= value <= MAX_DEMO_BOTS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DEMO_BOTS}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected messages per second, not {text!r}") from None
    if not 0 <= value <= MAX_DEMO_RATE:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DEMO_RATE:g}")
    return value


def _header(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not of the form 'Name: value'")
    return key.strip(), value.strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socketscope",
        description="SocketScope desktop app. With no URL or profile it starts an embedded demo "
        "server and connects to it, and reopens the connections of the last session.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="ws:// or wss:// URLs to open")
    _connection_flags(p)
    p.add_argument("--profile", action="append", default=[], metavar="NAME",
                   help="open this saved connection of the workspace (repeatable)")
    p.add_argument("--workspace", metavar="FILE",
                   help="the workspace file (default: workspace.toml in the user config dir)")
    p.add_argument("--screenshot", metavar="PATH", help="save the window as PNG and exit")
    p.add_argument(
        "--after", type=_seconds, metavar="SECONDS",
        help="with --screenshot: take it after this many seconds (default: once panels are "
        f"filled, at most {READY_TIMEOUT:g} s)",
    )
    p.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH",
                   help="window size (default 1280x800)")
    p.add_argument("--show", action="append", default=[], metavar="PANEL",
                   help="bring this panel to the front of its tab group at start, e.g. topics, "
                   "pairs, collections (repeatable)")
    p.add_argument("--no-demo", action="store_true",
                   help="do not start the embedded demo server when no URL is given")
    p.add_argument("--embedded", action="store_true",
                   help="start the embedded demo server and connect to it also when URLs are given")
    p.add_argument("--embedded-path", action="append", default=[], metavar="PATH",
                   help="also open a connection to this path of the embedded server, e.g. /echo "
                   "(repeatable)")
    p.add_argument("--demo-bots", type=_bots, metavar="N",
                   help=f"demo bots on the embedded server (default {DEMO_BOTS})")
    p.add_argument("--demo-rate", type=_rate, metavar="R",
                   help=f"messages per second of each demo bot (default {DEMO_RATE:g})")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", metavar="FILE",
                     help="record the session to this SQLite file (default: a new file in the "
                     "user data directory, listed under File > Recordings)")
    rec.add_argument("--no-record", action="store_true", help="do not record this session")
    return p


def _connection_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `main.py connect` that describe a connection; they apply to every URL."""
    group = p.add_argument_group("connection (applies to every URL, as for `main.py connect`)")
    group.add_argument("--header", action="append", default=[], type=_header, metavar="'K: V'",
                       help="extra handshake header (repeatable)")
    group.add_argument("--subprotocol", action="append", default=[], metavar="P",
                       help="offer this subprotocol (repeatable)")
    tok = group.add_mutually_exclusive_group()
    tok.add_argument("--token", metavar="T", help="token sent as ?token=")
    tok.add_argument("--bearer", metavar="T", help="token sent as Authorization: Bearer")
    group.add_argument("--origin", metavar="O", help="Origin header of the handshake")
    tls = group.add_mutually_exclusive_group()
    tls.add_argument("--cafile", metavar="F", help="trust this CA (PEM) for wss://")
    tls.add_argument("--insecure", action="store_true", help="skip TLS verification")


CONNECTION_FLAGS = ("header", "subprotocol", "token", "bearer", "origin", "cafile", "insecure")


def parse_args(argv: list[str]) -> Options:
    p = parser()
    ns = p.parse_args(argv)
    if ns.urls:  # (the dialog's module is not needed to show the window: imported when used)
        from ui.connection_dialog import validate_url

        for url in ns.urls:
            problem = validate_url(url)
            if problem:
                p.error(f"{url}: {problem}")
    given = [f"--{flag}" for flag in CONNECTION_FLAGS if getattr(ns, flag)]
    if given and not ns.urls:
        p.error(f"{', '.join(given)} apply to the URLs given on the command line: give a URL")
    for name in ns.profile:
        if not name.strip():
            p.error("--profile needs the name of a saved connection")
    if ns.show:  # (the window's module is not needed otherwise before the window shows)
        from ui.main_window import PANELS

        keys = [spec.key for spec in PANELS]
        for key in ns.show:
            if key not in keys:
                p.error(f"--show {key!r}: no such panel (one of {', '.join(keys)})")
    if ns.after is not None and not ns.screenshot:
        p.error("--after only makes sense with --screenshot")
    if ns.embedded and ns.no_demo:
        p.error("--embedded and --no-demo contradict each other")
    options = Options(
        ns.urls, ns.screenshot, ns.after, ns.size, not ns.no_demo,
        DEMO_BOTS if ns.demo_bots is None else ns.demo_bots,
        DEMO_RATE if ns.demo_rate is None else ns.demo_rate,
        ns.embedded, tuple(ns.embedded_path), ns.record, ns.no_record,
        headers=tuple(ns.header), subprotocols=tuple(ns.subprotocol),
        token=ns.bearer or ns.token, token_mode="bearer" if ns.bearer else "query",
        origin=ns.origin, cafile=ns.cafile, insecure=ns.insecure,
        profiles=tuple(ns.profile), workspace=ns.workspace, show=tuple(ns.show),
    )
    server_flags = ns.embedded_path or ns.demo_bots is not None or ns.demo_rate is not None
    if server_flags and not options.start_server:
        p.error("--embedded-path, --demo-bots and --demo-rate need the embedded server: "
                "give no URL, or add --embedded")
    for path in ns.embedded_path:
        if not path.startswith("/") or any(c.isspace() for c in path):
            p.error(f"--embedded-path {path!r}: a path starts with / and has no spaces")
    return options
