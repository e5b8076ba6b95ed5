"""Raw WebSocket peers for the benchmarks, run as separate processes.

`server`: a hand-made WebSocket server (no library on the hot path). Every frame it will ever send
is encoded before it listens: one blob of N pre-framed, unmasked text frames. By request path:
  /blob     writes the whole blob as fast as the socket takes it (flow-controlled chunks of
            whole frames, ~256 KiB: a pong written between two chunks never lands in a frame)
  /paced    writes --rate frames per second for --seconds (slices of the blob every 2 ms)
  /         idle
Any connection that sends the text "flood" switches to paced. Pings are always answered with a pong
at once, behind what is already written.
Prints `PORT n`; exits when stdin closes or after --timeout seconds.

`sink`: a raw client that reads a /blob connection and throws the bytes away: the sender's own
ceiling, to show it is not what limits a client under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    HOST,
    ClientFrameParser,
    client_handshake,
    cpu_seconds,
    flood_blob,
    frame,
    server_handshake_response,
)

CHUNK = 256 * 1024
PACE = 0.002


class Peer(asyncio.Protocol):
    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.open = False
        self.parser = ClientFrameParser()
        self.paused = False
        self.blob_pos: int | None = None  # next byte of the blob to write (None: not blasting)
        self.blob_started = 0.0
        self.pace_handle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buf += data
            if b"\r\n\r\n" not in self.buf:
                return
            request, _, rest = self.buf.partition(b"\r\n\r\n")
            self.buf = b""
            assert self.transport is not None
            self.transport.write(server_handshake_response(request))
            self.open = True
            path = request.split(b" ", 2)[1].decode(errors="replace") if b" " in request else "/"
            if path.startswith("/blob"):
                self.start_blob()
            elif path.startswith("/paced"):
                self.start_paced()
            if rest:
                self.on_frames(rest)
            return
        self.on_frames(data)

    def on_frames(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        for opcode, payload in self.parser.feed(data):
            if opcode == 9:  # ping
                transport.write(frame(10, payload))
            elif opcode == 8:  # close: answer and hang up
                self.stop_writing()
                transport.write(frame(8, payload[:2]))
                transport.close()
                return
            elif opcode == 1 and payload == b"flood" and self.pace_handle is None:
                self.start_paced()

    # ----- blasting the blob ------------------------------------------------------------------

    def start_blob(self) -> None:
        self.blob_pos = 0
        self.blob_started = time.monotonic()
        self.server.cpu_at_start = cpu_seconds()
        self.write_blob()

    def write_blob(self) -> None:
        blob = self.server.blob
        transport = self.transport
        assert transport is not None
        view = memoryview(blob)
        chunk = max(1, CHUNK // self.server.frame_len) * self.server.frame_len  # whole frames
        while self.blob_pos is not None and not self.paused and not transport.is_closing():
            end = min(len(blob), self.blob_pos + chunk)
            transport.write(view[self.blob_pos:end])
            self.blob_pos = end
            if end >= len(blob):
                self.blob_pos = None
                self.server.report(
                    "SENT",
                    frames=len(blob) // self.server.frame_len,
                    write_seconds=time.monotonic() - self.blob_started,
                    cpu_seconds=cpu_seconds() - self.server.cpu_at_start,
                )

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.blob_pos is not None:
            self.write_blob()

    # ----- paced flood -----------------------------------------------------------------------

    def start_paced(self) -> None:
        self.blob_pos = None
        self.paced_started = time.monotonic()
        self.paced_sent = 0
        self.pace()

    def pace(self) -> None:
        server = self.server
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        elapsed = time.monotonic() - self.paced_started
        total = len(server.blob) // server.frame_len
        due = min(total, int(elapsed * server.rate))
        if due > self.paced_sent and not self.paused:
            flen = server.frame_len
            transport.write(server.blob[self.paced_sent * flen:due * flen])
            self.paced_sent = due
        if self.paced_sent >= total or elapsed > server.seconds + 5:
            self.pace_handle = None
            server.report("PACED", frames=self.paced_sent, seconds=elapsed)
            return
        self.pace_handle = asyncio.get_running_loop().call_later(PACE, self.pace)

    def stop_writing(self) -> None:
        self.blob_pos = None
        if self.pace_handle is not None:
            self.pace_handle.cancel()
            self.pace_handle = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_writing()


class RawServer:
    def __init__(self, count: int, size: int, rate: float, seconds: float) -> None:
        self.blob, self.frame_len = flood_blob(count, size)
        self.rate = rate
        self.seconds = seconds
        self.cpu_at_start = 0.0

    def report(self, kind: str, **figures: object) -> None:
        print(f"{kind} {json.dumps(figures)}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    count = args.count if args.count else int(args.rate * args.seconds) + 1
    raw = RawServer(count, args.size, args.rate, args.seconds)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Peer(raw), HOST, 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stdin_closed = loop.create_future()

    def on_stdin() -> None:
        if not sys.stdin.buffer.read1(4096) and not stdin_closed.done():
            stdin_closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.timeout):
            await stdin_closed
    server.close()


def sink(args: argparse.Namespace) -> None:
    """Read one /blob connection to its end as fast as the kernel hands bytes over."""
    total = args.count * args.frame_len
    with socket.create_connection((HOST, args.port), timeout=10) as sock:
        rest = client_handshake(sock, "/blob", args.port)
        got = len(rest)
        sock.settimeout(args.timeout)
        started = time.monotonic()
        cpu0 = cpu_seconds()
        buf = bytearray(1 << 20)
        deadline = started + args.timeout
        while got < total and time.monotonic() < deadline:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
        seconds = time.monotonic() - started
        print("SINK " + json.dumps({
            "bytes": got, "frames": got // args.frame_len, "seconds": seconds,
            "msgs_per_s": got / args.frame_len / seconds if seconds else None,
            "cpu_seconds": cpu_seconds() - cpu0,
        }), flush=True)
        with contextlib.suppress(OSError):
            sock.sendall(frame(8, b"\x03\xe8", mask=True))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--count", type=int, default=0, help="frames in the blob (default rate*s)")
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--rate", type=float, default=20_000.0)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--timeout", type=float, default=600.0)
    k = sub.add_parser("sink")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--count", type=int, required=True)
    k.add_argument("--frame-len", type=int, required=True)
    k.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    if args.role == "server":
        asyncio.run(serve(args))
    else:
        sink(args)


if __name__ == "__main__":
    main()
