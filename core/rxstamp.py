"""Kernel receive timestamps for a connection's reads, so that an RTT leaves out our own delays.

A pong read while the GUI or the recorder holds the GIL, or while the process waits for a CPU,
is handled a few ms after it arrived; timed in Python, those ms look like the server's latency.
`ping` times replies by the kernel's receive timestamp (SO_TIMESTAMP) for the same reason. On a
plain socket transport, `stamp(transport)` has the kernel stamp each read (SO_TIMESTAMPNS) and
reads with `recvmsg` to get it; `lag()` is how long ago the last read's data arrived.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from typing import Any

# Linux's value; Python's socket module does not always name it, and elsewhere 35 is another
# option: other platforms keep the Python timing.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else 0)
_ANCILLARY = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = struct.Struct("@qq")


class StampedSocket:
    """Stands in for the transport's socket: `recv` reads with `recvmsg` and keeps the stamp;
    everything else goes to the socket itself."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.stamp = 0.0  # time.time() scale, of the last read that carried one

    def recv(self, size: int) -> bytes:
        data, ancillary, _flags, _addr = self._sock.recvmsg(size, _ANCILLARY)
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                self.stamp = seconds + nanoseconds * 1e-9
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def stamp(transport: asyncio.BaseTransport) -> StampedSocket | None:
    """Stamp the reads of asyncio's own TCP socket transport; None for any other (TLS, a
    platform without the option): those RTTs are timed in Python, as before."""
    sock = getattr(transport, "_sock", None)
    if (
        not _ANCILLARY
        or not SO_TIMESTAMPNS
        or not isinstance(sock, socket.socket)
        or sock.type != socket.SOCK_STREAM
        or sock.family not in (socket.AF_INET, socket.AF_INET6)
        or not hasattr(transport, "_read_ready__data_received")  # reads with sock.recv()
    ):
        return None
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return None
    stamped = StampedSocket(sock)
    transport._sock = stamped  # type: ignore[attr-defined]
    return stamped


def lag(stamped: StampedSocket | None) -> float:
    """Seconds between the last read's arrival in the kernel and now (0 if unknown)."""
    if stamped is None or not stamped.stamp:
        return 0.0
    return max(0.0, time.time() - stamped.stamp)
