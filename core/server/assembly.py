"""Messages out of data frames: the fragments of one message joined, text decoded.

The parser already bounds a message's size (max_size, counted across its fragments); this bounds
the number of pieces too, as websockets' own asyncio assembler does, so that a stream of tiny
fragments is cut off early.
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode

__all__ = ["MAX_FRAGMENTS", "Assembler", "TooManyFragments"]

MAX_FRAGMENTS = 4096


class TooManyFragments(ValueError):
    """A message in more than MAX_FRAGMENTS pieces."""


class Assembler:
    """Feed every TEXT, BINARY and CONT frame of one connection to `add()`, in order."""

    def __init__(self) -> None:
        self._parts = bytearray()  # The fragments of a message so far.
        self._count = 0
        self._text = False

    def add(self, frame: Frame) -> str | bytes | None:
        """The message this frame completes (str for text), or None while it is incomplete.
        Raises TooManyFragments, or UnicodeDecodeError for text that is not UTF-8."""
        if frame.opcode is not Opcode.CONT:
            self._text = frame.opcode is Opcode.TEXT
        if frame.fin and not self._count:
            data = bytes(frame.data)
        else:
            self._count += 1
            if self._count > MAX_FRAGMENTS:
                self.clear()
                raise TooManyFragments(f"more than {MAX_FRAGMENTS} fragments")
            self._parts += frame.data
            if not frame.fin:
                return None
            data = bytes(self._parts)
            self.clear()
        return str(data, "utf-8") if self._text else data

    def clear(self) -> None:
        self._parts = bytearray()
        self._count = 0
