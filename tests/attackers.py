"""Hostile peers, a server in a child process, legitimate clients that time themselves, and the
figures they all produce. Used by tests/stress/test_attack_server*.py; no tests here.

Also a program: `python -m tests.attackers serve CONFIG` is the server under attack (driven by
JSON lines on stdin/stdout, see ChildServer), and `python -m tests.attackers attack` runs attackers
(storms and floods) in a process of their own, so that their work never slows the legitimate
clients whose latency a test measures. Every wait has a timeout and every loop a count.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import logging
import math
import os
import re
import socket
import struct
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.server import RoomServer, ServerConfig, make_token  # noqa: E402
from tests.rawws import (  # noqa: E402
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    client_frame,
    close_payload,
    parse_close,
    read_raw_frame,
    upgrade_request,
)
from tests.timing import FACTOR, scaled  # noqa: E402

SECRET = "test-secret-that-is-at-least-32-bytes-long"
WAIT = 5.0  # Upper bound for one step that should take milliseconds.
FIGURES = ROOT / ".pytest_data" / "reliability.jsonl"

T = TypeVar("T")


def token(sub: str = "attacker", **claims: Any) -> str:
    return make_token(SECRET, sub, **claims)


# -- figures ----------------------------------------------------------------------------------


def report(name: str, value: float | int | str, unit: str = "", bar: str = "") -> None:
    """Print a figure and append it to .pytest_data/reliability.jsonl (one JSON object a line)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    if isinstance(value, float):
        value = round(value, 3)
    line = {"test": test, "name": name, "value": value, "unit": unit, "bar": bar, "at": time.time()}
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
    print(f"FIGURE {name}: {value} {unit}" + (f"  (bar: {bar})" if bar else ""))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class RawPeer:
    """A TCP connection that did a WebSocket handshake by hand and now misbehaves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.head = b""
        self.status = 0
        self.rsv1 = False

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/",
        *,
        sub: str | None = "attacker",
        headers: str = "",
        rcvbuf: int | None = None,
        timeout: float = WAIT,
    ) -> RawPeer:
        """Connect and send the upgrade (with a token for `sub` unless None); reads the head."""
        if sub is not None:
            path += ("&" if "?" in path else "?") + f"token={token(sub)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
                reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        except BaseException:
            sock.close()
            raise
        peer = cls(reader, writer)
        try:
            writer.write(upgrade_request(port, path, headers))
            async with asyncio.timeout(timeout):
                peer.head = await reader.readuntil(b"\r\n\r\n")
        except BaseException:
            peer.abort()
            raise
        peer.status = int(peer.head.split(b" ", 2)[1])
        return peer

    async def send(self, data: bytes, timeout: float = WAIT) -> None:
        self.writer.write(data)
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    def eof(self) -> None:
        """Half-close: the server sees the end of the stream."""
        if self.writer.can_write_eof():
            self.writer.write_eof()

    async def read_frame(self, timeout: float = WAIT) -> tuple[int, bytes]:
        """One server frame (servers don't mask): (opcode, payload)."""
        async with asyncio.timeout(timeout):
            raw = await read_raw_frame(self.reader)
        self.rsv1 = bool(raw.rsv & 4)  # Compressed, with permessage-deflate.
        return raw.opcode, raw.payload

    async def read_close(self, timeout: float = WAIT, limit: int = 100_000) -> tuple[str, str]:
        """Skip frames until the server's close frame: ("1002", reason); ("eof", "") when the TCP
        connection ends without one, ("reset", ""), or ("timeout", "")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            for _ in range(limit):
                opcode, payload = await self.read_frame(max(0.0, deadline - loop.time()))
                if opcode == CLOSE:
                    code, reason = parse_close(payload)
                    return str(code), reason
            return "too many frames", ""
        except asyncio.IncompleteReadError:
            return "eof", ""
        except ConnectionResetError:
            return "reset", ""
        except TimeoutError:
            return "timeout", ""

    async def wait_eof(self, timeout: float = WAIT) -> str:
        """Read and discard until the server ends the connection: "eof", "reset" or "timeout"."""
        try:
            async with asyncio.timeout(timeout):
                for _ in range(1_000_000):
                    if not await self.reader.read(1 << 16):
                        return "eof"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
        return "too much data"

    def rst(self) -> None:
        """End with a TCP reset (SO_LINGER 0), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def abort(self) -> None:
        self.writer.transport.abort()


class FrameCounter:
    """Counts server frames in a byte stream and checks that the `data` values of broadcasts are
    0, 1, 2, ... in order, in JSON text frames or (`binary`) MessagePack ones. Fast: one loop
    step per frame, the numbers by one regex a chunk."""

    _JSON = re.compile(rb'"data":(\d+)')
    # MessagePack: the key "data", then a positive fixint, uint8, uint16 or uint32.
    _PACKED = re.compile(rb"\xa4data(?:([\x00-\x7f])|\xcc(.)|\xcd(..)|\xce(....))", re.DOTALL)

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary
        self.frames = 0
        self.next_seq = 0
        self.out_of_order = 0
        self.non_text = 0  # Frames of the other type (presence etc. are of the same type).
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        i, n, frames, non_text = 0, len(buf), 0, 0
        while n - i >= 2:
            length = buf[i + 1] & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = (buf[i + 2] << 8) | buf[i + 3]
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if n - i < head + length:
                break
            if buf[i] & 0x0F != (BINARY if self.binary else TEXT):
                non_text += 1
            frames += 1
            i += head + length
        if self.binary:
            seqs = [int.from_bytes(b"".join(g), "big") for g in self._PACKED.findall(buf, 0, i)]
        else:
            seqs = [int(s) for s in self._JSON.findall(buf, 0, i)]
        expected = range(self.next_seq, self.next_seq + len(seqs))
        if seqs != list(expected):
            self.out_of_order += sum(1 for a, b in zip(seqs, expected, strict=True) if a != b)
        self.next_seq += len(seqs)
        self.frames += frames
        self.non_text += non_text
        del buf[:i]


@dataclass
class Flood:
    """What one flooding connection achieved."""

    sent: int = 0  # Frames written.
    close: str = ""  # The server's close code, or "eof", "reset", "timeout", "" (not read).
    reason: str = ""
    rate_errors: int = 0  # {"type":"error","message":"Rate limit exceeded"} replies.
    pongs: int = 0
    replies: int = 0  # Any other frame.
    seconds: float = 0.0  # Until the server closed the connection (or the flood gave up).


async def flood(
    port: int,
    frame: bytes,
    *,
    first: bytes = b"",
    read: bool = True,
    rcvbuf: int | None = None,
    max_frames: int = 2_000_000,
    timeout: float = 10.0,
) -> Flood:
    """Connect, send `first`, then `frame` as fast as the server takes it (64 KiB writes) until
    the server closes the connection or `max_frames` are out. With `read`, everything the server
    sends is read and classified; without, nothing is ever read."""
    peer = await RawPeer.connect(port, sub="flooder", rcvbuf=rcvbuf)
    assert peer.status == 101, peer.head
    result = Flood()
    per_chunk = max(1, 65536 // len(frame))
    chunk = frame * per_chunk
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def read_all() -> None:
        try:
            for _ in range(10_000_000):
                opcode, payload = await peer.read_frame(timeout)
                if opcode == CLOSE:
                    code, result.reason = parse_close(payload)
                    result.close = str(code)
                    return
                if opcode == PONG:
                    result.pongs += 1
                elif b"Rate limit exceeded" in payload:
                    result.rate_errors += 1
                else:
                    result.replies += 1
        except asyncio.IncompleteReadError:
            result.close = "eof"
        except ConnectionResetError:
            result.close = "reset"
        except TimeoutError:
            result.close = "timeout"
        finally:
            result.seconds = loop.time() - start

    async def write_all() -> None:
        if first:
            await peer.send(first)
        for _ in range(max_frames // per_chunk + 1):
            if result.sent >= max_frames or peer.writer.transport.is_closing():
                break
            peer.writer.write(chunk)
            result.sent += per_chunk
            try:  # A server that stops reading blocks us here: give up after a second.
                await asyncio.wait_for(peer.writer.drain(), 1.0)
            except (TimeoutError, ConnectionError):
                break

    writer = asyncio.ensure_future(write_all())
    reader = asyncio.ensure_future(read_all()) if read else writer
    try:  # Until the server closes (when reading) or the flood is over (when not).
        await asyncio.wait([reader], timeout=timeout)
        if not read:
            result.seconds = loop.time() - start
    finally:
        for task in (writer, reader):
            task.cancel()
        peer.abort()
    return result


# -- legitimate clients that time their broadcasts --------------------------------------------


@dataclass
class Window:
    """What the legitimate clients saw during one measuring window."""

    latencies: list[float] = field(default_factory=list)  # Seconds, send to arrival.
    sent: int = 0
    expected: int = 0

    @property
    def received(self) -> int:
        return len(self.latencies)

    def extend(self, other: Window) -> Window:
        self.latencies += other.latencies
        self.sent += other.sent
        self.expected += other.expected
        return self

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000  # ms


class Chat:
    """`size` legitimate clients in room `room`. Every `interval` one of them (in turn) broadcasts
    `{"s": sender, "n": seq, "p": padding, "t": send time}`; the others' reader tasks time each
    arrival on the same clock and check that each sender's numbers arrive in order, none missing.
    Broadcasts from anyone else are counted in `foreign`."""

    def __init__(self, url: str, size: int = 6, room: str = "chat", pad: int = 0) -> None:
        self.url, self.size, self.room = url, size, room
        self.pad = "x" * pad  # Makes each broadcast this much bigger.
        self.conns: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.closed: list[str] = []  # One line per legitimate client the server dropped.
        self.out_of_order = 0
        self.foreign = 0  # Broadcasts that did not come from us.
        self._last: dict[tuple[int, int], int] = {}
        self._window: Window | None = None
        self._seq = 0
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Chat:
        from websockets.asyncio.client import connect

        try:
            for i in range(self.size):
                ws = await self._stack.enter_async_context(
                    connect(
                        f"{self.url}/?token={token(f'legit-{i}')}",
                        open_timeout=WAIT,
                        close_timeout=1,
                        max_size=None,
                    )
                )
                hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert hello["type"] == "connected", hello
                await ws.send(json.dumps({"type": "join_room", "room": self.room, "requestId": i}))
                for _ in range(100):  # Up to our ack, skipping presence of earlier joiners.
                    reply = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                    if reply.get("requestId") == i:
                        assert reply["type"] == "ack", reply
                        break
                self.conns.append(ws)
            for i, ws in enumerate(self.conns):
                self.readers.append(asyncio.create_task(self._read(i, ws)))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in self.readers:
            task.cancel()
        for task in self.readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stack.aclose()

    async def _read(self, me: int, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for _ in range(10_000_000):
                msg = json.loads(await ws.recv())
                arrived = time.perf_counter()
                if msg.get("type") != "broadcast":
                    continue
                data = msg.get("data")
                if not isinstance(data, dict) or "t" not in data:
                    self.foreign += 1
                    continue
                key = (me, data["s"])
                if data["n"] != self._last.get(key, -1) + 1:
                    self.out_of_order += 1
                self._last[key] = data["n"]
                if self._window is not None:
                    self._window.latencies.append(arrived - data["t"])
        except ConnectionClosed as exc:
            self.closed.append(f"legit-{me}: {exc}")

    async def measure(
        self, seconds: float, interval: float = 0.01, until: asyncio.Future[Any] | None = None
    ) -> Window:
        """Broadcast for `seconds` (or until `until` is done, at most `seconds`), then wait
        (bounded) for the last arrivals."""
        window = self._window = Window()
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        for _ in range(int(seconds / interval) + 1):
            if loop.time() >= end or (until is not None and until.done()):
                break
            sender = self._seq % self.size
            data = {"s": sender, "n": self._seq // self.size, "p": self.pad}
            data["t"] = time.perf_counter()
            await self.conns[sender].send(
                json.dumps({"type": "broadcast", "room": self.room, "data": data})
            )
            self._seq += 1
            window.sent += 1
            window.expected += self.size - 1
            await asyncio.sleep(interval)
        for _ in range(300):  # Up to 3 s for stragglers.
            if window.received >= window.expected or self.closed:
                break
            await asyncio.sleep(0.01)
        self._window = None
        return window


async def interleaved(
    chat: Chat,
    attack: Callable[[], Awaitable[T]],
    rounds: int = 4,
    quiet: float = 0.4,
    interval: float = 0.005,
) -> tuple[Window, Window, list[T]]:
    """Quiet and attacked windows in turn (quiet, attack, quiet, ..., quiet), so that noise from
    the machine (other jobs on shared cores) falls on both; an attacked window lasts as long as
    its attack. Returns (baseline, attacked, each attack's result)."""
    base, attacked, results = Window(), Window(), []
    await chat.measure(0.2, interval)  # Warm-up, not counted.
    for _ in range(rounds):
        base.extend(await chat.measure(quiet, interval))
        task = asyncio.ensure_future(attack())
        try:
            attacked.extend(await chat.measure(30.0, interval, until=task))
            results.append(await asyncio.wait_for(task, 30.0))
        finally:
            task.cancel()
    base.extend(await chat.measure(quiet, interval))
    return base, attacked, results


def compare(name: str, base: Window, attacked: Window, factor: float, floor_ms: float) -> None:
    """Report baseline and attacked p99 and assert the attacked one is within the bar:
    `factor` x baseline, or baseline + `floor_ms` when that is larger (sub-millisecond baselines
    on a shared machine make a pure ratio meaningless), times the machine's timing factor
    (tests/timing.py)."""
    b99, a99 = base.p(99), attacked.p(99)
    bar = scaled(max(factor * b99, b99 + floor_ms))
    report(f"{name}: legit p50 baseline/attacked", f"{base.p(50):.2f}/{attacked.p(50):.2f}", "ms")
    report(
        f"{name}: legit p99 baseline/attacked",
        f"{b99:.2f}/{a99:.2f}",
        "ms",
        f"<= max({factor:g}x, +{floor_ms:g} ms) x {FACTOR:g} = {bar:.1f} ms",
    )
    assert attacked.received == attacked.expected, (attacked.received, attacked.expected)
    assert a99 <= bar, f"{name}: p99 {a99:.2f} ms over {bar:.2f} ms (baseline {b99:.2f} ms)"


# -- the server under attack, in a child process ----------------------------------------------


class ChildServer:
    """A RoomServer in a process of its own (`python -m tests.attackers serve`), so its memory,
    file descriptors and tasks can be counted without the test's own, and its CPU is its own.

    `await probe()` returns fds, tasks, RSS and peak RSS (kB), traced memory (with `trace=True`),
    CPU seconds, clients, rooms, per-IP and admission counts, ERROR+ log records, loop
    exception-handler calls, and then the server log (drained). `call("drain_log")`,
    `call("reset_peaks")`, `call("snapshot")` / `call("growth")` (tracemalloc) and
    `call("blast", room=..., count=...)` are the other commands.
    Use as `async with ChildServer(**fields) as server:`."""

    def __init__(self, *, trace: bool = False, sample: bool = False, **fields: Any) -> None:
        fields.setdefault("port", 0)
        fields.setdefault("secret", SECRET)
        fields.setdefault("ping_interval", 0.0)
        self.fields = fields
        self.options = {"trace": trace, "sample": sample}
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ChildServer:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.attackers",
            "serve",
            json.dumps({"config": self.fields, "options": self.options}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
            limit=64 << 20,
        )
        try:
            hello = await self._reply(20.0)
            self.port = hello["port"]
        except BaseException:
            await self._kill()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            await self.call("stop", timeout=15.0)
            await asyncio.wait_for(proc.wait(), 10.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            await self._kill()

    async def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10.0)

    async def _reply(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("the server process ended")
        return json.loads(line)

    async def call(self, cmd: str, timeout: float = 15.0, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self._proc.stdin.drain()
        return await self._reply(timeout)

    async def probe(self, settle: float = 0.0) -> dict[str, Any]:
        """State after `settle` seconds and a garbage collection."""
        return await self.call("probe", settle=settle)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[str] = []
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()}"[:300])
        elif record.levelno >= logging.WARNING:
            self.warnings += 1


def _proc_status(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


async def _serve_child(spec: dict[str, Any]) -> None:
    """The child's main: serve, answer commands on stdin, one JSON line each on stdout."""
    options = spec["options"]
    fields = spec["config"]
    for name in ("origins", "demo_rooms"):
        if name in fields:
            fields[name] = tuple(fields[name])
    capture = _Capture()
    logging.getLogger().addHandler(capture)
    for name in ("websockets", "core.server", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    loop = asyncio.get_running_loop()
    exceptions: list[str] = []
    loop.set_exception_handler(
        lambda _loop, ctx: exceptions.append(f"{ctx.get('message')}: {ctx.get('exception')!r}")
    )
    sys.unraisablehook = lambda u: exceptions.append(f"unraisable: {u.exc_value!r}")
    if options.get("trace"):
        tracemalloc.start()
    server = RoomServer(ServerConfig(**fields))
    await server.start()
    peak_buffer = [0]
    lags: list[float] = []

    async def sample() -> None:
        """Every 2 ms: the largest unsent backlog of any connection, and how late the loop ran
        this task (a stall of the server's loop)."""
        for _ in range(100_000_000):
            before = loop.time()
            await asyncio.sleep(0.002)
            lags.append(loop.time() - before - 0.002)
            for wire in server.connections:
                if wire.transport is not None:
                    size = wire.transport.get_write_buffer_size()
                    peak_buffer[0] = max(peak_buffer[0], size)

    sampler = loop.create_task(sample()) if options.get("sample") else None

    def out(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    snapshots: list[tracemalloc.Snapshot] = []
    out({"port": server.port})
    reader = asyncio.StreamReader(limit=16 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    for _ in range(100_000):
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        kind = cmd.pop("cmd")
        if kind == "stop":
            if sampler is not None:
                sampler.cancel()
            await server.stop()
            out({"stopped": True})
            break
        if kind == "drain_log":  # Empty the server's log (bounded, but it counts as memory).
            out({"log": [[e.level, e.kind, e.text] for e in server.log.drain()]})
        elif kind == "probe":
            await asyncio.sleep(cmd.get("settle", 0.0))
            gc.collect()
            wire = server.connections
            traced = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
            out(
                {
                    "fds": len(os.listdir("/proc/self/fd")),
                    "cpu_s": time.process_time(),
                    "tasks": len(asyncio.all_tasks()),
                    "rss_kb": _proc_status("VmRSS"),
                    "hwm_kb": _proc_status("VmHWM"),
                    "traced": traced[0],
                    "traced_peak": traced[1],
                    "clients": server._open,
                    "connections": len(wire),
                    "members": len(server.rooms.clients),
                    "rooms": {name: len(m) for name, m in server.rooms.rooms.items()},
                    "admitted": len(server._admitted),
                    "per_ip": sum(server.gate.per_ip.values()),
                    "seen_ids": len(server.hub.seen),
                    "stats": vars(server.stats),
                    "errors": capture.errors,
                    "warnings": capture.warnings,
                    "exceptions": exceptions,
                    "log": [[e.level, e.kind, e.text] for e in server.log.drain()],
                    "log_dropped": server.log.dropped,
                    "peak_write_buffer": peak_buffer[0],
                    "loop_lag_ms": {
                        "p50": percentile(lags, 50) * 1000,
                        "p99": percentile(lags, 99) * 1000,
                        "max": max(lags, default=0.0) * 1000,
                    },
                }
            )
        elif kind == "reset_peaks":
            if tracemalloc.is_tracing():
                tracemalloc.reset_peak()
            with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # Resets VmHWM to the current RSS.
            peak_buffer[0] = 0
            lags.clear()
            out({"hwm_kb": _proc_status("VmHWM")})
        elif kind == "snapshot":  # Remember the traced allocations, for "growth" later.
            gc.collect()
            snapshots = [tracemalloc.take_snapshot()]
            out({"ok": True})
        elif kind == "growth":  # Where traced memory grew since "snapshot", largest first.
            gc.collect()
            diff = tracemalloc.take_snapshot().compare_to(snapshots[0], "lineno")
            out({"top": [str(d) for d in diff[: cmd.get("top", 10)]]})
        elif kind == "blast":
            out(await _blast(server, **cmd))
        else:
            out({"error": f"unknown command {kind}"})


async def _blast(server: RoomServer, room: str, count: int, batch: int = 500) -> dict[str, Any]:
    """Broadcast `count` messages (data 0..count-1) to `room` from a member inside the server,
    through the server's own Hub and Fanout. A polite producer: after each batch it waits while
    any receiver has more than a quarter of max_write_buffer unsent (the server drops receivers
    that exceed the whole of it)."""
    from core.server.rooms import Member

    hub = server.hub
    sender = Member(client_id="blaster", name="blaster", dedup_key="blaster")
    hub.connect(sender)
    hub.join(sender, room)
    receivers = [m for m in hub.rooms.members(room) if m is not sender and m.conn is not None]
    high = server.config.max_write_buffer // 4
    start = time.perf_counter()
    waits = sent = 0
    try:
        for _ in range(count // batch + 2):
            if sent >= count:
                break
            for _ in range(min(batch, count - sent)):
                hub.broadcast(sender, room, sent)
                sent += 1
            for _ in range(10_000):
                if all(m.conn.unsent() <= high for m in receivers):
                    break
                waits += 1
                await asyncio.sleep(0.0005)
            await asyncio.sleep(0)
    finally:
        hub.disconnect(sender)
    return {"sent": sent, "seconds": time.perf_counter() - start, "waits": waits}


# -- the malformed-frame storm (its own process) ----------------------------------------------


def malformed(max_size: int) -> list[tuple[str, bytes, str]]:
    """(kind, bytes sent after the handshake, the close code the attacker must get). "eof" means
    the TCP connection ends with no close frame: the stream ended inside a frame, so there is
    nobody to send one to. Sends ending in an EOF are marked by a trailing b"<EOF>" here."""
    text = client_frame
    kinds: list[tuple[str, bytes, str]] = [
        ("RSV1 without extension", text(TEXT, b"hi", rsv=4), "1002"),
        ("RSV2", text(TEXT, b"hi", rsv=2), "1002"),
        ("RSV3", text(BINARY, b"hi", rsv=1), "1002"),
        ("unmasked text", text(TEXT, b"hi", masked=False), "1002"),
        ("unmasked ping", text(PING, b"", masked=False), "1002"),
        ("ping of 126 bytes", text(PING, b"p" * 126), "1002"),
        ("close of 126 bytes", text(CLOSE, close_payload(1000, b"r" * 124)), "1002"),
        ("fragmented ping", text(PING, b"p", fin=False), "1002"),
        ("fragmented close", text(CLOSE, close_payload(1000), fin=False), "1002"),
        ("orphan continuation", text(CONT, b"x"), "1002"),
        ("text inside a fragmented text", text(TEXT, b"a", fin=False) + text(TEXT, b"b"), "1002"),
        ("invalid UTF-8", text(TEXT, b"\xff\xfe"), "1007"),
        ("overlong UTF-8", text(TEXT, b"\xc0\xaf"), "1007"),
        ("UTF-8 surrogate", text(TEXT, b"\xed\xa0\x80"), "1007"),
        ("truncated UTF-8", text(TEXT, b"ok\xe2\x82"), "1007"),
        (
            "invalid UTF-8 across fragments",
            text(TEXT, b"\xe2\x82", fin=False) + text(CONT, b"\x28"),
            "1007",
        ),
        ("close of 1 byte", text(CLOSE, b"\x03"), "1002"),
        ("close reason not UTF-8", text(CLOSE, close_payload(1000, b"\xff\xfe")), "1007"),
        ("truncated header, EOF", b"\x81<EOF>", "eof"),
        ("truncated length, EOF", b"\x81\xfe\x01<EOF>", "eof"),
        ("truncated mask, EOF", b"\x81\x85\x00\x00<EOF>", "eof"),
        ("truncated payload, EOF", text(TEXT, b"x" * 100)[:30] + b"<EOF>", "eof"),
        ("declared length over limit", text(TEXT, b"", length=max_size + 1), "1009"),
        ("declared length 2^40", text(BINARY, b"", length=1 << 40), "1009"),
        ("declared length 2^63 (MSB set)", text(BINARY, b"", length=1 << 63), "1009"),
        (
            "fragments over the limit",
            text(TEXT, b"a" * (max_size // 2 + 1), fin=False)
            + text(CONT, b"b" * (max_size // 2 + 1)),
            "1009",
        ),
    ]
    for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        kinds.append((f"opcode {opcode:#x}", text(opcode, b"x"), "1002"))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        kinds.append((f"close code {code}", text(CLOSE, close_payload(code)), "1002"))
    return kinds


async def storm(port: int, count: int, concurrency: int, max_size: int) -> dict[str, Any]:
    """`count` attacker connections, `concurrency` at a time, cycling through `malformed()`;
    per kind, what the attacker received at the end."""
    kinds = malformed(max_size)
    tokens = [token(f"attacker-{i}") for i in range(7)]
    results: dict[str, dict[str, int]] = {name: {} for name, _, _ in kinds}
    reasons: set[str] = set()
    next_index = iter(range(count))
    start = time.perf_counter()

    async def one(i: int) -> None:
        name, data, _ = kinds[i % len(kinds)]
        try:
            peer = await RawPeer.connect(port, f"/?token={tokens[i % 7]}", sub=None)
        except (OSError, TimeoutError) as exc:
            outcome = f"connect failed: {type(exc).__name__}"
        else:
            try:
                if peer.status != 101:
                    outcome = f"status {peer.status}"
                else:
                    eof = data.endswith(b"<EOF>")
                    await peer.send(data.removesuffix(b"<EOF>"))
                    if eof:
                        peer.eof()
                    outcome, reason = await peer.read_close()
                    if reason:
                        reasons.add(reason)
                    if outcome.isdigit():  # Then the server must end the TCP connection.
                        ended = await peer.wait_eof()
                        if ended == "timeout":
                            outcome += " then no EOF"
            except (OSError, TimeoutError) as exc:
                outcome = f"error: {type(exc).__name__}"
            finally:
                peer.abort()
        results[name][outcome] = results[name].get(outcome, 0) + 1

    async def worker() -> None:
        for i in next_index:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "results": results,
        "expected": {name: code for name, _, code in kinds},
        "reasons": sorted(reasons),
        "seconds": time.perf_counter() - start,
    }


async def floods(count: int, frame: str, first: str = "", **args: Any) -> list[dict[str, Any]]:
    """`count` flooders one after the other (frames base64-encoded, for JSON)."""
    raw, head = base64.b64decode(frame), base64.b64decode(first)
    return [vars(await flood(frame=raw, first=head, **args)) for _ in range(count)]


JOBS: dict[str, Callable[..., Awaitable[Any]]] = {"storm": storm, "floods": floods}


async def _attack_child() -> None:
    """Runs one job per line read on stdin ({"job": name, "args": {...}}); prints each result."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    for _ in range(1000):
        line = await reader.readline()
        if not line:
            break
        order = json.loads(line)
        result = await JOBS[order["job"]](**order["args"])
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class AttackProcess:
    """Attackers in a process of their own, so that their work never slows the legitimate
    clients whose latency a test measures. `await storm(count=..., ...)` or
    `await floods(count=..., frame=b"...", ...)` run one batch. Use as `async with`."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> AttackProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.attackers",
            "attack",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
            limit=16 << 20,
        )
        return self

    async def _run(self, job: str, timeout: float, **args: Any) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"job": job, "args": args}).encode() + b"\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("the attacker process ended")
        return json.loads(line)

    async def storm(self, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        return await self._run("storm", timeout, **args)

    async def floods(self, frame: bytes, first: bytes = b"", timeout: float = 60.0,
                     **args: Any) -> list[Flood]:
        results = await self._run(
            "floods",
            timeout,
            frame=base64.b64encode(frame).decode(),
            first=base64.b64encode(first).decode(),
            **args,
        )
        return [Flood(**r) for r in results]

    async def __aexit__(self, *_exc: object) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10.0)


def main(argv: list[str]) -> None:
    kind = argv[1]
    if kind == "serve":
        asyncio.run(_serve_child(json.loads(argv[2])))
    elif kind == "attack":
        # Attackers would be on other machines: here they must not take the CPU from the server
        # and the clients it measures (two cores for three processes), so they get what is left.
        os.nice(19)
        asyncio.run(_attack_child())
    else:
        raise SystemExit(f"unknown program {kind}")


if __name__ == "__main__":
    main(sys.argv)
