"""Where SocketScope keeps user data; SOCKETSCOPE_DATA_DIR overrides it (tests, portable use)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    override = os.environ.get("SOCKETSCOPE_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir("SocketScope"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def recordings_dir() -> Path:
    path = data_dir() / "recordings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_recording_path() -> Path:
    """One file per session, named by its start time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = recordings_dir() / f"session-{stamp}.sqlite"
    n = 1
    while path.exists():
        n += 1
        path = recordings_dir() / f"session-{stamp}-{n}.sqlite"
    return path
