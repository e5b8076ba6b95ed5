"""Raw WebSocket peers for the benchmarks, run as separate processes.

`server`: a hand-made WebSocket server (no library on the hot path). Every frame it will ever send
is encoded before it listens: one blob of N pre-framed, unmasked text frames. By request path:
  /blob     writes the whole blob as fast as the socket takes it (flow-controlled chunks of
            whole frames, ~256 KiB: a pong written between two chunks never lands in a frame)
  /paced    writes --rate frames per second for --seconds (slices of the blob every 2 ms)
  /         idle
Any connection that sends the text "flood" switches to paced. Pings are always answered with a pong
at once, behind what is already written.
With --deflate the frames are permessage-deflate messages, each compressed on its own
(`server_no_context_takeover`, bench.common.flood_blob); a client that does not offer the
extension is refused (400).
Prints `BLOB {json}` (its length) and `PORT n`, then `SENT {json}` (with "deflate": negotiated)
after each blob; exits when stdin closes or after --timeout seconds.

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
from bisect import bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFLATE_RESPONSE,
    HOST,
    ClientFrameParser,
    client_handshake,
    cpu_seconds,
    flood_blob,
    frame,
    offers_deflate,
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
            if self.server.deflate and not offers_deflate(request):
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                self.transport.close()
                return
            extensions = DEFLATE_RESPONSE if self.server.deflate else None
            self.transport.write(server_handshake_response(request, extensions))
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
        server = self.server
        transport = self.transport
        assert transport is not None
        view = memoryview(server.blob)
        while self.blob_pos is not None and not self.paused and not transport.is_closing():
            end = server.frames_end(self.blob_pos + CHUNK, self.blob_pos)  # whole frames
            transport.write(view[self.blob_pos:end])
            self.blob_pos = end
            if end >= len(server.blob):
                self.blob_pos = None
                server.report(
                    "SENT",
                    frames=len(server.ends),
                    deflate=server.deflate,
                    write_seconds=time.monotonic() - self.blob_started,
                    cpu_seconds=cpu_seconds() - server.cpu_at_start,
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
        total = len(server.ends)
        due = min(total, int(elapsed * server.rate))
        if due > self.paced_sent and not self.paused:
            transport.write(server.blob[server.offset(self.paced_sent):server.offset(due)])
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
    def __init__(self, count: int, size: int, rate: float, seconds: float,
                 deflate: bool = False) -> None:
        self.deflate = deflate
        self.blob, self.ends = flood_blob(count, size, deflate)
        self.rate = rate
        self.seconds = seconds
        self.cpu_at_start = 0.0

    def offset(self, frames: int) -> int:
        """Where frame number `frames` starts in the blob."""
        return self.ends[frames - 1] if frames > 0 else 0

    def frames_end(self, limit: int, start: int) -> int:
        """The end of the last whole frame at or before `limit`, at least one frame past `start`."""
        i = bisect_right(self.ends, limit) - 1
        if i >= 0 and self.ends[i] > start:
            return self.ends[i]
        return self.ends[min(len(self.ends) - 1, bisect_right(self.ends, start))]

    def report(self, kind: str, **figures: object) -> None:
        print(f"{kind} {json.dumps(figures)}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    count = args.count if args.count else int(args.rate * args.seconds) + 1
    raw = RawServer(count, args.size, args.rate, args.seconds, args.deflate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Peer(raw), HOST, 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    raw.report("BLOB", bytes=len(raw.blob), frames=len(raw.ends), deflate=raw.deflate)
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
    total = args.bytes
    offer = "permessage-deflate" if args.deflate else None
    with socket.create_connection((HOST, args.port), timeout=10) as sock:
        rest = client_handshake(sock, "/blob", args.port, extensions=offer)
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
        frames = args.count * got / total
        print("SINK " + json.dumps({
            "bytes": got, "frames": frames, "seconds": seconds,
            "msgs_per_s": frames / seconds if seconds else None,
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
    s.add_argument("--deflate", action="store_true", help="permessage-deflate frames")
    k = sub.add_parser("sink")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--count", type=int, required=True)
    k.add_argument("--bytes", type=int, required=True, help="length of the blob")
    k.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    k.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    if args.role == "server":
        asyncio.run(serve(args))
    else:
        sink(args)


if __name__ == "__main__":
    main()
