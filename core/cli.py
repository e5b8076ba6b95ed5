"""The headless CLI: run the test server, mint tokens, probe any server with NDJSON output."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.atomic_file import replaced
from core.cli_load import add_load_parser, load
from core.cli_protocol import DecodedOutput
from core.cli_settings import CliError, connect_settings
from core.config import ConnectionConfig
from core.connection import Connection, RequestTimeout
from core.events import ConnectionAdded, StateChanged
from core.hub import EventHub
from core.recorder import Recorder
from core.recording import HarError, Recording, export_recording_har, import_har
from core.recording.replay import (
    DEFAULT_MAX_GAP,
    DEFAULT_QUIET,
    DEFAULT_REPLY_TIMEOUT,
    TIMINGS,
    ReplayError,
    ReplayOptions,
    load_sources,
    replay,
)
from core.server import RoomServer, ServerConfig, make_token
from core.states import ConnState


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="SocketScope headless CLI")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded test server (PROTOCOL.md)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    auth = serve.add_mutually_exclusive_group()
    auth.add_argument("--secret", default=ServerConfig.secret, help="HS256 secret for tokens")
    auth.add_argument("--no-auth", action="store_true", help="accept clients without a token")
    serve.add_argument("--ping-interval", type=float, default=20.0)
    serve.add_argument("--ping-timeout", type=float, default=20.0)
    serve.add_argument("--origin", action="append", default=[], help="allowed Origin (repeat)")
    serve.add_argument("--max-size", type=int, default=1 << 20, help="bytes; larger: close 1009")
    serve.add_argument("--rate", type=float, default=100.0, help="messages/s per connection")
    serve.add_argument("--burst", type=int, default=200)
    serve.add_argument("--max-conns-per-ip", type=int, default=64)
    serve.add_argument("--demo-bots", type=int, default=0, help="simulated chatting clients")
    serve.add_argument("--demo-rate", type=float, default=1.0, help="messages/s per bot")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--redis", metavar="URL",
                       help="run as one instance of a cluster sharing rooms through this Redis, "
                       "e.g. redis://127.0.0.1:6379/0")
    serve.add_argument("--cluster-name", default=ServerConfig.cluster_name,
                       help="prefix of the Redis keys: instances with the same name share rooms")
    serve.add_argument("--instance", default="",
                       help="this instance's name in the cluster, unique (default: a random one)")
    serve.add_argument("--cluster-heartbeat", type=float, default=ServerConfig.cluster_heartbeat,
                       help="seconds between presence refreshes")
    serve.add_argument("--cluster-ttl", type=float, default=ServerConfig.cluster_ttl,
                       help="seconds after which a silent instance's clients leave")

    token = sub.add_parser("token", help="print a JWT the server accepts")
    token.add_argument("--secret", default=ServerConfig.secret)
    token.add_argument("--sub", default="cli", help="display name of the client")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires")

    conn = sub.add_parser("connect", help="connect to any WebSocket server, print NDJSON events")
    conn.add_argument("url", nargs="?", help="optional with --profile (then it replaces its URL)")
    conn.add_argument("--workspace", metavar="FILE",
                      help="workspace file (default: the one in the config dir)")
    conn.add_argument("--profile", metavar="NAME",
                      help="connect with this saved profile; the other flags override it")
    conn.add_argument("--env", metavar="NAME",
                      help="environment whose {{variables}} are used (default: the active one)")
    conn.add_argument("--header", action="append", default=[], metavar="'K: V'")
    conn.add_argument("--subprotocol", action="append", default=[])
    tok = conn.add_mutually_exclusive_group()
    tok.add_argument("--token", help="JWT sent as ?token=")
    tok.add_argument("--bearer", help="JWT sent as Authorization: Bearer")
    conn.add_argument("--origin")
    tls = conn.add_mutually_exclusive_group()
    tls.add_argument("--cafile", help="trust this CA (PEM) for wss://")
    tls.add_argument("--insecure", action="store_true", help="skip TLS verification")
    conn.add_argument("--send", action="append", default=[], metavar="TEXT", help="send on open")
    conn.add_argument("--request", action="append", default=[], metavar="JSON",
                      help="send with a requestId and print the reply and its round trip")
    conn.add_argument("--stdin", action="store_true", help="send each line read from stdin")
    conn.add_argument("--ping-interval", type=float, help="0 disables (default 5)")
    conn.add_argument("--ping-timeout", type=float, help="seconds (default 10)")
    conn.add_argument("--app-ping", metavar="JSON",
                      help='app-level heartbeat, e.g. {"type":"ping"}')
    conn.add_argument("--max-size", type=int, help="bytes (default 16 MiB)")
    conn.add_argument("--no-compression", action="store_true")
    conn.add_argument("--retry", action="store_true", help="reconnect with backoff, forever")
    conn.add_argument("--duration", type=float, help="disconnect after this many seconds")
    conn.add_argument("--record", metavar="FILE", help="record the session to this SQLite file")
    proto = conn.add_mutually_exclusive_group()
    proto.add_argument("--decoder", metavar="NAME|auto|raw",
                       help="application protocol (default auto: detected at open)")
    proto.add_argument("--raw", action="store_true",
                       help="no decoding and no protocol client: frames only")
    conn.add_argument("--no-client", action="store_true",
                      help="decode, but never answer for us (no pongs, CONNECT, ...)")
    conn.add_argument("--protocol-option", action="append", default=[], metavar="KEY=VALUE",
                      help="protocol-client option, e.g. namespaces=/chat (repeat)")
    _add_recording_commands(sub)
    add_load_parser(sub)
    return parser


def _add_recording_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="write a recording as HAR (Chrome's format) or NDJSON")
    export.add_argument("recording")
    export.add_argument("--format", choices=("har", "ndjson"), default="har")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="- for stdout")
    export.add_argument("--conn", type=int, action="append", metavar="N",
                        help="only this connection (repeat; HAR only)")

    imp = sub.add_parser("import", help="turn a HAR's WebSocket connections into a recording")
    imp.add_argument("har")
    imp.add_argument("-o", "--output", required=True, metavar="RECORDING",
                     help="the new recording file (must not exist)")

    rep = sub.add_parser("replay", help="send a recording's or HAR's outbound messages to a"
                         " server and print how the replies differ (NDJSON; exit 1 if any)")
    rep.add_argument("source", metavar="RECORDING|FILE.har")
    rep.add_argument("url")
    rep.add_argument("--timing", choices=TIMINGS, default="fast")
    rep.add_argument("--ignore", action="append", default=[], metavar="FIELD",
                     help="a key at any depth, or a dotted path such as data.ts (repeat)")
    rep.add_argument("--conn", type=int, metavar="N", help="only this recorded connection")
    rep.add_argument("--max-gap", type=float, default=DEFAULT_MAX_GAP,
                     help="longest pause --timing original keeps, seconds")
    rep.add_argument("--reply-timeout", type=float, default=DEFAULT_REPLY_TIMEOUT,
                     help="seconds to wait for the recorded number of replies")
    rep.add_argument("--quiet", type=float, default=DEFAULT_QUIET,
                     help="seconds without a reply after which none is expected")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token":
        print(make_token(args.secret, sub=args.sub, ttl=args.ttl))
        return 0
    if args.command == "serve":
        return asyncio.run(serve(args))
    if args.command == "export":
        return export(args)
    if args.command == "import":
        return import_(args)
    if args.command == "replay":
        return asyncio.run(replay_cmd(args))
    if args.command == "load":
        return load(args)
    try:
        config, resolve = connect_settings(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(connect(args, config=config, resolve=resolve))


# ----- serve -------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> int:
    config = ServerConfig(
        host=args.host,
        port=args.port,
        secret=args.secret,
        auth=not args.no_auth,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        origins=tuple(args.origin),
        max_size=args.max_size,
        rate=args.rate,
        burst=args.burst,
        max_conns_per_ip=args.max_conns_per_ip,
        demo_bots=args.demo_bots,
        demo_rate=args.demo_rate,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        redis_url=args.redis,
        cluster_name=args.cluster_name,
        cluster_instance=args.instance,
        cluster_heartbeat=args.cluster_heartbeat,
        cluster_ttl=args.cluster_ttl,
    )
    if config.cluster_ttl <= config.cluster_heartbeat:
        print("error: --cluster-ttl must be longer than --cluster-heartbeat", file=sys.stderr)
        return 2
    server = RoomServer(config)
    try:
        await server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except ValueError as exc:  # A --redis URL redis-py cannot read.
        print(f"error: --redis {args.redis}: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.url}", flush=True)
    if config.auth:
        print("auth is on: get a token with `python main.py token` (same --secret)",
              file=sys.stderr, flush=True)
    tell = loop.create_task(_tell_cluster(server)) if config.redis_url else None
    await stop.wait()
    if tell is not None:
        tell.cancel()
    await server.stop()
    return 0


async def _tell_cluster(server: RoomServer) -> None:
    """What a cluster instance has to say about Redis, on stderr (its other events are dropped)."""
    while True:
        for entry in server.log.drain():
            if entry.kind == "cluster":
                print(f"{entry.level}: {entry.text}", file=sys.stderr, flush=True)
        await asyncio.sleep(0.5)


# ----- connect -----------------------------------------------------------------------------


async def connect(
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    config: ConnectionConfig | None = None,
    resolve: Callable[[str], str] | None = None,
) -> int:
    hub = EventHub()
    stream = hub.stream(maxlen=100_000)
    if config is None:
        config, resolve = connect_settings(args)
    conn = Connection(config, hub, resolve=resolve)
    decoded = DecodedOutput(conn)
    requests = []
    for text in args.request:
        try:
            message = json.loads(text)
        except ValueError as exc:
            print(f"error: --request is not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(message, dict):
            print("error: --request must be a JSON object", file=sys.stderr)
            return 2
        requests.append(message)
    for text in args.send:
        try:
            text = resolve(text) if resolve is not None else text
        except ValueError as exc:  # an unresolved {{variable}}
            print(f"error: --send: {exc}", file=sys.stderr)
            return 2
        await conn.send(text)  # queued until open, then sent first, in order
    recorder = Recorder(args.record, hub) if args.record else None
    if recorder is not None:
        hub.publish(ConnectionAdded(conn.id, time.time(), conn.config.url, conn.config.label))
    conn.connect()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    if args.duration is not None:
        loop.call_later(args.duration, done.set)
    if args.stdin:
        _read_stdin(loop, conn)
    tasks = [asyncio.create_task(_request(conn, message)) for message in requests]
    status = 0
    waiter = asyncio.create_task(done.wait())
    try:
        while True:
            getter = asyncio.create_task(stream.get())
            finished, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            event = getter.result()
            _write_records(out, decoded, event)
            out.flush()
            if isinstance(event, StateChanged) and event.new is ConnState.CLOSED:
                if event.error:
                    print(f"error: {event.error}", file=sys.stderr)
                    status = 1
                break
    finally:
        waiter.cancel()
        for task in tasks:
            task.cancel()
        await conn.disconnect()
        for event in stream.drain():
            _write_records(out, decoded, event)
        stream.close()
        out.flush()
        if recorder is not None:
            recorder.close()
    return status


def _write_records(out: TextIO, decoded: DecodedOutput, event: Any) -> None:
    for record in decoded.records(event):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


async def _request(conn: Connection, message: dict[str, Any]) -> None:
    with contextlib.suppress(RequestTimeout):
        await conn.request(message)  # reply and rtt are printed as events


def _read_stdin(loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
    def pump() -> None:
        for line in sys.stdin:
            text = line.rstrip("\n")
            # the default binds this line's text (mypy cannot infer a lambda with a default)
            loop.call_soon_threadsafe(lambda t=text: loop.create_task(conn.send(t)))  # type: ignore[misc]

    threading.Thread(target=pump, name="stdin", daemon=True).start()


# ----- export, import, replay --------------------------------------------------------------


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def export(args: argparse.Namespace) -> int:
    """Into a temporary file beside the target, renamed when complete: never half a file."""
    if args.conn and args.format != "har":
        return _fail("--conn applies to --format har only")
    try:
        with Recording(args.recording) as rec:
            if args.output == "-":
                _export_to(rec, args, sys.stdout)
                return 0
            target = Path(args.output)
            with replaced(target) as out:
                count = _export_to(rec, args, out)
    except (OSError, sqlite3.DatabaseError) as exc:
        return _fail(f"cannot export {args.recording}: {exc}")
    print(f"wrote {count} {'entries' if args.format == 'har' else 'lines'} to {target}",
          file=sys.stderr)
    return 0


def _export_to(rec: Recording, args: argparse.Namespace, out: TextIO) -> int:
    if args.format == "har":
        return export_recording_har(rec, out, args.conn)
    return rec.export_ndjson(out)


def import_(args: argparse.Namespace) -> int:
    try:
        result = import_har(args.har, args.output)
    except (HarError, OSError) as exc:
        return _fail(str(exc))
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(result.skipped_by_type.items()))
    print(json.dumps({"connections": result.connections, "frames": result.frames,
                      "skipped_by_type": result.skipped_by_type,
                      "skipped_entries": result.skipped_entries, "output": args.output}))
    if skipped:
        print(f"skipped messages: {skipped}", file=sys.stderr)
    return 0


async def replay_cmd(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """One NDJSON line per compared reply, then a summary; 0 all same, 1 any differ, 2 error."""
    options = ReplayOptions(timing=args.timing, ignore=tuple(args.ignore), max_gap=args.max_gap,
                            reply_timeout=args.reply_timeout, quiet=args.quiet)
    try:
        sources = load_sources(args.source, args.conn)
        result = await replay(sources, ConnectionConfig(url=args.url), options)
    except (ReplayError, HarError, OSError) as exc:
        return _fail(str(exc))
    for diff in result.diffs:
        out.write(json.dumps(diff.to_json(), ensure_ascii=False) + "\n")
    out.write(json.dumps(result.summary()) + "\n")
    out.flush()
    return 0 if result.all_same else 1
