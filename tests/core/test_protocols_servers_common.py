"""The real-server fixtures' own plumbing: bounded start-up waits that say why they failed, and
stopping a server's whole process group."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.servers.common import free_port, stop_process, wait_for_port


def test_wait_for_port_says_the_server_died():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(timeout=10)
    with pytest.raises(RuntimeError, match=r"broker exited before listening.*exit code 3"):
        wait_for_port(free_port(), 5.0, lambda: f"exit code {proc.poll()}", "broker")


def test_wait_for_port_is_bounded():
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not listen on 127\.0\.0\.1:\d+ within 0 s"):
        wait_for_port(free_port(), 0.3)
    assert time.monotonic() - began < 5


def test_stop_process_ends_the_whole_group():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    time.sleep(0.2)
    stop_process(proc, grace=5.0)
    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while living_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert living_in_group(proc.pid) == [], "the stopped server's children are still running"


def living_in_group(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (whoever reaps them may be slow)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
