"""Files that are never seen half-written: the content goes to a temporary file beside the
target (same directory, so the rename is atomic), is flushed to disk, and replaces the target
only when the whole of it was written; on any error the target is left as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


@contextlib.contextmanager
def replaced(target: str | Path) -> Iterator[TextIO]:
    """`with replaced(path) as out: out.write(text)`: `path` holds all of it, or is untouched."""
    with _replaced(Path(target)) as fd, os.fdopen(fd, "w", encoding="utf-8") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replaced_bytes(target: str | Path) -> Iterator[BinaryIO]:
    """The same for bytes."""
    with _replaced(Path(target)) as fd, os.fdopen(fd, "wb") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _replaced(target: Path) -> Iterator[int]:
    """A temporary file's descriptor beside `target`; renamed over it when the block ends
    without error, removed otherwise (the caller's `with` closes the descriptor first)."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        yield fd
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
