"""Where SocketScope keeps user data and settings; SOCKETSCOPE_DATA_DIR and SOCKETSCOPE_CONFIG_DIR
override them (tests, portable use)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import platformdirs

APP_NAME = "SocketScope"
CONFIG_ENV = "SOCKETSCOPE_CONFIG_DIR"  # tests point it at a temporary directory


def config_dir() -> Path:
    """$SOCKETSCOPE_CONFIG_DIR when set, else the platform's user config dir for SocketScope
    (not created here: whoever writes the first file there creates it)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("SOCKETSCOPE_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir("SocketScope"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def recordings_dir() -> Path:
    path = data_dir() / "recordings"
    path.mkdir(parents=True, exist_ok=True)
    return path


KEEP_RECORDINGS = 100


def prune_recordings(keep: int = KEEP_RECORDINGS) -> list[Path]:
    """Keep the newest `keep` session files (with their WAL/SHM companions); return the rest,
    deleted. Recordings are complete by design, so disk use is bounded by their number."""
    sessions = sorted(recordings_dir().glob("session-*.sqlite"), key=lambda p: p.stat().st_mtime)
    doomed = sessions[: max(0, len(sessions) - keep)]
    for path in doomed:
        for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            companion.unlink(missing_ok=True)
    return doomed


def new_recording_path() -> Path:
    """One file per session, named by its start time; the oldest sessions beyond the limit go."""
    prune_recordings(KEEP_RECORDINGS - 1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = recordings_dir() / f"session-{stamp}.sqlite"
    n = 1
    while path.exists():
        n += 1
        path = recordings_dir() / f"session-{stamp}-{n}.sqlite"
    return path
