"""Shared pieces of the benchmarks: hand-made WebSocket framing, process figures, child processes.

Everything here is stdlib only (no Qt, no websockets), so the sender and client processes start
fast and cost little. Every loop in the benchmarks is bounded in count and in time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import re
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HOST = "127.0.0.1"  # every benchmark talks over loopback only
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # a fixed client key: the benchmarks are not about handshakes


# ----- output ---------------------------------------------------------------------------------


def result(name: str, figures: dict[str, Any]) -> None:
    """The last line of every benchmark: `RESULT {json}`."""
    print("RESULT " + json.dumps({"bench": name, **figures}, sort_keys=False), flush=True)


def say(*parts: object) -> None:
    print(*parts, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def rnd(x: float | None, digits: int = 3) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(x, digits)


# ----- processes --------------------------------------------------------------------------------


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), MiB."""
    path = f"/proc/{pid or 'self'}/status"
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process and all its threads so far."""
    try:
        with open(f"/proc/{pid or 'self'}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return math.nan


def raise_fd_limit() -> None:
    """1,000+ sockets need more than the usual 1,024 descriptors (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def thread_cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds so far of each live thread of this process, by thread name."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[thread.name] = out.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


class Child:
    """A child process whose stdout is read line by line with a deadline (never blocks forever).
    Its stderr goes to a file, shown when something goes wrong."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None,
                 name: str = "child", stdin: bool = False, cwd: str | None = None) -> None:
        self.name = name
        self.args = list(args)
        self._err_path = f"/tmp/socketscope-bench-{name}-{os.getpid()}-{time.time_ns()}.err"
        self._err = open(self._err_path, "w+")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._err,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            env=env or child_env(),
            cwd=cwd or str(ROOT),
            text=True,
            bufsize=1,
        )
        self._buf = ""
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def readline(self, timeout: float) -> str | None:
        """The next stdout line, or None on timeout / end of output."""
        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        assert out is not None
        fd = out.fileno()
        while "\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536).decode(errors="replace")
            if not chunk:
                if self._buf:
                    line, self._buf = self._buf, ""
                    return line
                return None
            self._buf += chunk
        line, self._buf = self._buf.split("\n", 1)
        self.lines.append(line)
        return line

    def expect(self, prefix: str, timeout: float) -> str:
        """Read lines until one starts with `prefix`; RuntimeError (with stderr) otherwise."""
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            left = deadline - time.monotonic()
            line = self.readline(max(0.0, left)) if left > 0 else None
            if line is None:
                break
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise RuntimeError(
            f"{self.name}: no {prefix!r} line within {timeout:g} s "
            f"(exit {self.proc.poll()}):\n{self.stderr_tail()}"
        )

    def json_line(self, prefix: str, timeout: float) -> dict[str, Any]:
        return json.loads(self.expect(prefix, timeout))

    def stderr_tail(self, chars: int = 3000) -> str:
        try:
            with open(self._err_path) as fh:
                return fh.read()[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._err.close()
        with contextlib.suppress(OSError):
            os.unlink(self._err_path)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop(timeout=2.0)


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, str(BENCH / script), *args]


# ----- WebSocket framing by hand ----------------------------------------------------------------


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def frame(opcode: int, payload: bytes, mask: bool = False, rsv1: bool = False) -> bytes:
    """One final frame; client frames are masked with the all-zero key (valid, payload as is).
    `rsv1` marks a permessage-deflate compressed message."""
    n = len(payload)
    bit = 0x80 if mask else 0
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 1 << 16:
        head = bytes([first, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if mask else b"") + payload


def json_payload(seq: int, size: int, kind: str = "tick") -> bytes:
    """A JSON object with a "type" field, padded to exactly `size` bytes."""
    base = f'{{"type":"{kind}","seq":{seq},"pad":""}}'
    pad = size - len(base)
    if pad < 0:
        raise ValueError(f"{size} B is too small for message {seq}")
    return (base[:-2] + "x" * pad + '"}').encode()


# The permessage-deflate agreement of the deflate flood: every message compressed on its own.
DEFLATE_RESPONSE = "permessage-deflate; server_no_context_takeover"


def flood_blob(count: int, size: int, deflate: bool = False) -> tuple[bytes, array]:
    """`count` unmasked text frames of `size`-byte JSON objects as one blob, and the offset where
    each frame ends. With `deflate`, each message is compressed on its own (RFC 7692 with
    server_no_context_takeover: a full flush resets the compressor between messages, and the
    final 00 00 ff ff is left off), so compressed frames differ in length by a byte or so."""
    ends = array("q")
    parts: list[bytes] = []
    pos = 0
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS, memLevel=5) if deflate else None
    for i in range(count):
        payload = json_payload(i, size)
        if compressor is not None:
            payload = compressor.compress(payload) + compressor.flush(zlib.Z_FULL_FLUSH)
            assert payload.endswith(b"\x00\x00\xff\xff")
            payload = payload[:-4]
        data = frame(1, payload, rsv1=deflate)
        parts.append(data)
        pos += len(data)
        ends.append(pos)
    return b"".join(parts), ends


def client_handshake(sock: socket.socket, path: str, port: int, timeout: float = 10.0,
                     extensions: str | None = None) -> bytes:
    """Send a minimal opening handshake on a connected blocking socket and read the 101; returns
    any bytes that came after the response (frames the server sent at once)."""
    offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY.decode()}\r\n{offer}"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    sock.settimeout(timeout)
    data = b""
    for _ in range(1000):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
        if b"\r\n\r\n" in data:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:200]!r}")
    return rest


def offers_deflate(request: bytes) -> bool:
    offer = re.search(rb"(?im)^sec-websocket-extensions:.*\bpermessage-deflate\b", request)
    return offer is not None


def server_handshake_response(request: bytes, extensions: str | None = None) -> bytes:
    """The 101 for `request`; `extensions` is the Sec-WebSocket-Extensions agreed, if any."""
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
    if not match:
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    agreed = f"Sec-WebSocket-Extensions: {extensions}\r\n".encode() if extensions else b""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + agreed + b"Sec-WebSocket-Accept: " + accept_key(match.group(1)) + b"\r\n\r\n"
    )


class ClientFrameParser:
    """Incremental parser of masked client-to-server frames: feed bytes, get (opcode, payload)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        for _ in range(1_000_000):
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            masked = b1 & 0x80
            total = head + (4 if masked else 0) + n
            if len(buf) - pos < total:
                break
            if masked:
                key = buf[pos + head:pos + head + 4]
                raw = buf[pos + head + 4:pos + total]
                payload = bytes(b ^ key[i & 3] for i, b in enumerate(raw)) if n <= 4096 else (
                    _unmask_long(bytes(raw), bytes(key)))
            else:
                payload = bytes(buf[pos + head:pos + total])
            out.append((b0 & 0x0F, payload))
            pos += total
        del buf[:pos]
        return out


def _unmask_long(raw: bytes, key: bytes) -> bytes:
    n = len(raw)
    full = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(raw, "big") ^ int.from_bytes(full, "big")).to_bytes(n, "big")


# ----- tables -----------------------------------------------------------------------------------


def table(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    return "\n".join([line, sep, *body])


def wait_for(predicate: Any, timeout: float, step: float = 0.01) -> bool:
    """Poll a plain predicate (no event loop) until true or the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def read_stdin_line(stream: TextIO = sys.stdin) -> str:
    return stream.readline().strip()
