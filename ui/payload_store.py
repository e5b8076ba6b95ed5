"""Large payloads out of memory: previews in the inspector, the full bytes read back from the
session's recording when a row is opened, copied, resent or exported.

Plain Python, no Qt. The inspector keeps a `FramePreview` (the first PREVIEW_BYTES of the
payload and the full size) in place of a large frame once its payloads pass their byte bound;
`PayloadReader.full()` finds the whole frame in the recording again (`Recording.payload_of`).
"""

from __future__ import annotations

import asyncio
import ctypes
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from core.events import FrameEvent
from core.facade import Recording

PREVIEW_BYTES = 2048  # of a large payload kept in memory (the preview column shows ~300 chars)
MAX_BYTES = 256 * 2**20  # payload bytes the inspector keeps in memory by default
WAIT_S = 10.0  # the longest a row is waited for in the recording (the writer is behind)
TRIM_EVERY_BYTES = 32 * 2**20  # payload bytes cut to previews between two malloc_trim() calls
TRIM_EVERY_S = 0.5


@dataclass(frozen=True, slots=True, init=False)
class FramePreview(FrameEvent):
    """A frame whose payload is cut to its first bytes; `size` is still the full size."""

    full_size: int

    def __init__(self, event: FrameEvent, keep: int = PREVIEW_BYTES) -> None:
        FrameEvent.__init__(
            self, event.conn_id, event.time, event.direction, event.opcode, event.payload[:keep]
        )
        object.__setattr__(self, "full_size", len(event.payload))

    @property
    def size(self) -> int:
        return self.full_size


def is_preview(event: object) -> bool:
    return type(event) is FramePreview


class Status(Enum):
    FULL = "full"  # the payload is whole
    PENDING = "pending"  # not in the recording yet: the recorder writes in batches
    NOT_KEPT = "not kept"  # recording is off
    MISSING = "missing"  # not in the recording (dropped, or the file cannot be read)


STATUS_TEXT = {
    Status.PENDING: "full payload is still being written to the recording…",
    Status.NOT_KEPT: "the full payload was not kept because recording is off: this is its start",
    Status.MISSING: "the full payload is not in the recording: this is its start",
}


class RecordingFile(Protocol):
    """Where full payloads are: the session's Recorder, or a Recording being browsed."""

    @property
    def path(self) -> Path: ...


@dataclass(frozen=True, slots=True)
class Lookup:
    """The frame (whole when status is FULL, else its preview) and how it was found."""

    event: FrameEvent
    status: Status

    @property
    def text(self) -> str:
        """What to tell the user about the payload ("" when it is whole)."""
        if self.status is Status.FULL:
            return ""
        size = self.event.size
        return f"{STATUS_TEXT[self.status]} ({len(self.event.payload):,} of {size:,} bytes)"


class PayloadReader:
    """Reads full payloads back from the session's recording. `recorder()` gives the running
    recorder (or a recording being browsed: anything with `.path`), or None when recording is
    off; the file is opened on first use, on the thread that uses it (the GUI's)."""

    def __init__(self, recorder: Callable[[], RecordingFile | None]) -> None:
        self._recorder = recorder
        self._recording: Recording | None = None

    @property
    def recording_on(self) -> bool:
        return self._recorder() is not None

    def full(self, event: FrameEvent) -> Lookup:
        """The whole frame, one indexed query away; never waits (PENDING: ask again later)."""
        if not is_preview(event):
            return Lookup(event, Status.FULL)
        recording = self._open()
        if recording is None:
            status = Status.NOT_KEPT if not self.recording_on else Status.MISSING
            return Lookup(event, status)
        try:
            payload = recording.payload_of(
                event.conn_id, event.time, event.direction, event.size, event.payload
            )
        except sqlite3.Error:
            return Lookup(event, Status.PENDING)  # e.g. locked while the writer checkpoints
        if payload is None:
            return Lookup(event, Status.PENDING)
        whole = FrameEvent(event.conn_id, event.time, event.direction, event.opcode, payload)
        return Lookup(whole, Status.FULL)

    def _open(self) -> Recording | None:
        recorder = self._recorder()
        if recorder is None:
            return None
        path = Path(recorder.path)
        if self._recording is not None and self._recording.path != path:
            self.close()
        if self._recording is None:
            try:
                self._recording = Recording(path)
            except (OSError, sqlite3.Error):
                return None
        return self._recording

    def close(self) -> None:
        if self._recording is not None:
            self._recording.close()
            self._recording = None


async def whole_frames(
    reader: PayloadReader, events: list[FrameEvent], timeout: float = WAIT_S
) -> tuple[list[FrameEvent], str]:
    """The frames with their full payloads, waiting (without blocking: asyncio.sleep) up to
    `timeout` s for rows the recorder has not written yet: (frames, "") or ([], why not)."""
    deadline = time.monotonic() + timeout
    out: list[FrameEvent] = []
    for event in events:
        lookup = reader.full(event)
        while lookup.status is Status.PENDING and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            lookup = reader.full(event)
        if lookup.status is not Status.FULL:
            status = Status.MISSING if lookup.status is Status.PENDING else lookup.status
            return [], Lookup(event, status).text
        out.append(lookup.event)
    return out, ""


class MemoryReturner:
    """Gives memory freed by cutting payloads back to the system. glibc keeps freed blocks of
    ~1 MiB in its heaps (once one is freed, its threshold for mmap() rises past that size), and
    blocks still in use between them pin those heaps: 2 GiB of 1 MiB messages left ~100-200 MB
    free but resident. `malloc_trim(0)` returns them; it takes 10-35 ms, so it runs on a short
    thread of its own (ctypes lets go of the GIL), at most one at a time, at most twice a
    second. Elsewhere (no glibc) this does nothing."""

    def __init__(self) -> None:
        self._freed = 0
        self._last = 0.0
        self._trim = _malloc_trim()
        self._running = threading.Event()

    def freed(self, size: int) -> None:
        """`size` payload bytes were just let go of."""
        if self._trim is None:
            return
        self._freed += size
        now = time.monotonic()
        if (
            self._freed >= TRIM_EVERY_BYTES
            and now - self._last >= TRIM_EVERY_S
            and not self._running.is_set()
        ):
            self._freed, self._last = 0, now
            self._running.set()
            threading.Thread(target=self._run, name="malloc-trim", daemon=True).start()

    def _run(self) -> None:
        try:
            assert self._trim is not None
            self._trim(0)
        finally:
            self._running.clear()


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl has none)
        return None
