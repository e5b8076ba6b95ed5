"""STOMP 1.0-1.2 frames on the wire: a bounded stream parser and an encoder.

A frame is `COMMAND EOL headers EOL EOL body NUL`; a `content-length` header lets the body hold
NULs. Header values escape `\\n \\c \\\\` (1.1) and `\\r` (1.2), except in CONNECT and
CONNECTED, whose headers are never escaped. Between frames, a bare EOL is a heart-beat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

CLIENT_COMMANDS = frozenset({
    "CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT",
    "ABORT", "DISCONNECT"})
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
COMMANDS = CLIENT_COMMANDS | SERVER_COMMANDS
UNESCAPED = frozenset({"CONNECT", "CONNECTED"})  # headers of these frames are never escaped
MAX_BUFFER = 4 * 1024 * 1024  # bytes one direction may hold of an unfinished frame
MAX_HEADERS = 1000

_ESCAPE = {"\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r"}
_UNESCAPE = {"\\": "\\", "n": "\n", "c": ":", "r": "\r"}


class StompError(ValueError):
    """A frame that breaks the STOMP grammar, in words for the user."""


@dataclass(frozen=True, slots=True)
class StompFrame:
    command: str
    headers: tuple[tuple[str, str], ...]  # in wire order, repeats kept
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (STOMP 1.2: the first occurrence wins)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One or more EOLs between frames."""

    eols: int


@dataclass(frozen=True, slots=True)
class Broken:
    """What the parser had to drop, and why."""

    reason: str
    dropped: int
    what: str = "malformed"  # or "dropped", for a frame that passed the bound


Item = StompFrame | Heartbeat | Broken


def escapes_for(version: str, command: str) -> bool:
    return version != "1.0" and command not in UNESCAPED


def escape(value: str, version: str = "1.2") -> str:
    table = _ESCAPE if version == "1.2" else {k: v for k, v in _ESCAPE.items() if k != "\r"}
    return "".join(table.get(ch, ch) for ch in value)


def unescape(value: str, version: str = "1.2") -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            nxt = value[i + 1 : i + 2]
            if nxt not in _UNESCAPE or (nxt == "r" and version != "1.2"):
                raise StompError(f"undefined escape sequence \\{nxt} in a header")
            out.append(_UNESCAPE[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def encode_frame(command: str, headers: Sequence[tuple[str, str]], body: bytes = b"",
                 version: str = "1.2", content_length: bool = True) -> bytes:
    """One frame; headers escaped for `version`, a content-length added when asked."""
    esc = escapes_for(version, command)
    lines = [command]
    for key, value in headers:
        if "\0" in key or "\0" in value:
            raise ValueError(f"header {key!r}: a STOMP header cannot hold a NUL character")
        if not esc and (any(c in key + value for c in "\r\n") or ":" in key):
            raise ValueError(f"header {key!r}: {command} headers cannot hold line breaks")
        lines.append(f"{escape(key, version)}:{escape(value, version)}" if esc
                     else f"{key}:{value}")
    if content_length and not any(k == "content-length" for k, _ in headers):
        lines.append(f"content-length:{len(body)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body + b"\0"


class StompStream:
    """Frames from one direction's byte stream, buffered across messages within MAX_BUFFER."""

    def __init__(self, max_buffer: int = MAX_BUFFER) -> None:
        self.max_buffer = max_buffer
        self.version = "1.2"
        self._buf = bytearray()
        # What an unfinished frame waits for, so that a frame arriving in many small pieces is
        # not searched again from its start on every piece: b"\n" (its header block, searched
        # from _resume on), b"\0" (its end) or a byte count (a content-length body).
        self._waiting: bytes | int | None = None
        self._resume = 0
        self._discard = False  # skipping the rest of a broken frame, up to its NUL

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Item]:
        if self._discard:
            end = data.find(b"\0")
            if end < 0:
                return []
            self._discard, data = False, data[end + 1 :]
        self._buf += data
        items: list[Item] = []
        if not self._still_waiting(data):
            items += self._parse()
        if len(self._buf) > self.max_buffer:
            dropped = len(self._buf)
            self._buf.clear()
            self._waiting, self._resume = None, 0
            reason = f"an unfinished frame passed {self.max_buffer} bytes"
            items.append(Broken(reason, dropped, "dropped"))
        return items

    def _still_waiting(self, data: bytes) -> bool:
        """True when `data` cannot finish the frame the buffer holds (no need to look again)."""
        if isinstance(self._waiting, int):
            return len(self._buf) < self._waiting
        return self._waiting is not None and self._waiting not in data and b"\0" not in data

    def _parse(self) -> Iterator[Item]:
        buf = self._buf
        while buf:
            eols = _leading_eols(buf)
            if eols:
                yield Heartbeat(eols[0])
                del buf[: eols[1]]
                continue
            try:
                parsed = self._frame(buf)
            except StompError as exc:
                end = buf.find(b"\0")
                dropped = end + 1 if end >= 0 else len(buf)  # resynchronise after the NUL
                self._discard = end < 0  # the rest of this frame is still to come
                del buf[:dropped]
                self._waiting, self._resume = None, 0
                yield Broken(str(exc), dropped)
                continue
            if parsed is None:
                return
            frame, used = parsed
            del buf[:used]
            self._waiting, self._resume = None, 0
            yield frame

    def _frame(self, buf: bytearray) -> tuple[StompFrame, int] | None:
        """The frame at the start of buf and its length, None while it is incomplete."""
        resume = self._resume if self._waiting == b"\n" else 0
        head_end, sep = _header_end(buf, resume)
        if head_end < 0:
            if buf.find(b"\0", resume) >= 0:
                raise StompError("a frame ended before its headers did")
            self._waiting, self._resume = b"\n", max(0, len(buf) - 2)
            return None
        try:
            head = bytes(buf[:head_end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StompError("a frame's command or headers are not UTF-8") from exc
        lines = [line.removesuffix("\r") for line in head.split("\n")]
        command = lines[0]
        if command not in COMMANDS:
            raise StompError(f"unknown STOMP command {command[:40]!r}")
        if "\0" in head:
            raise StompError(f"{command}: a NUL inside the headers")
        headers = self._headers(command, lines[1:])
        start = head_end + sep
        length = next((v for k, v in headers if k == "content-length"), None)
        if length is not None:
            if not length.strip().isdigit():
                raise StompError(f"{command}: content-length {length[:20]!r} is not a number")
            size = int(length)
            if size > self.max_buffer:
                raise StompError(f"{command}: content-length {size} passes the bound of "
                                 f"{self.max_buffer} bytes")
            if len(buf) < start + size + 1:
                self._waiting = start + size + 1
                return None
            if buf[start + size] != 0:
                raise StompError(f"{command}: no NUL after the {size}-byte body")
            end = start + size
        else:
            end = buf.find(b"\0", start)
            if end < 0:
                self._waiting = b"\0"
                return None
        return StompFrame(command, tuple(headers), bytes(buf[start:end])), end + 1

    def _headers(self, command: str, lines: list[str]) -> list[tuple[str, str]]:
        if len(lines) > MAX_HEADERS:
            raise StompError(f"{command}: more than {MAX_HEADERS} headers")
        esc = escapes_for(self.version, command)
        headers = []
        for line in lines:
            key, colon, value = line.partition(":")
            if not colon:
                raise StompError(f"{command}: header line {line[:40]!r} has no colon")
            if esc:
                key, value = unescape(key, self.version), unescape(value, self.version)
            headers.append((key, value))
        return headers


def _leading_eols(buf: bytearray) -> tuple[int, int] | None:
    """(EOL count, bytes) of the EOLs that open buf, None when it opens otherwise."""
    i = count = 0
    while i < len(buf):
        if buf[i] == 0x0A:
            i += 1
        elif buf[i] == 0x0D and buf[i + 1 : i + 2] == b"\n":
            i += 2
        else:
            break
        count += 1
    return (count, i) if count else None


def _header_end(buf: bytearray, start: int = 0) -> tuple[int, int]:
    """Where the header block ends (the EOL before the blank line) and the bytes to skip."""
    lf = buf.find(b"\n\n", start)
    crlf = buf.find(b"\n\r\n", start, lf + 1 if lf >= 0 else len(buf))
    if crlf >= 0:
        return crlf, 3
    return lf, 2
