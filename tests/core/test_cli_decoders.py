"""`main.py connect` decodes and speaks the protocol like the app: real processes against a
real python-socketio server (uvicorn) on 127.0.0.1 whose ping timeout is short."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.socketio_server import SocketIOServer, running

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sio_server() -> Iterator[SocketIOServer]:
    server = running(ping_interval=1.0, ping_timeout=1.0)
    yield server
    server.stop()


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "main.py", "connect", *args], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], lines: list[dict]) -> int:
    """Reads the rest of the output (the process ends by --duration) and its exit status."""
    assert proc.stdout is not None
    lines.extend(json.loads(line) for line in proc.stdout if line.strip())
    try:
        return proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def frames(lines: list[dict], direction: str) -> list[dict]:
    return [r for r in lines if r["event"] == "frame" and r["dir"] == direction
            and r["type"] == "text"]


def first_close(lines: list[dict]) -> dict:
    return next(r for r in lines if r["event"] == "frame" and r["type"] == "close")


def test_connect_decodes_answers_pings_and_prints_pairs(sio_server) -> None:
    started = time.monotonic()
    proc = start_cli(sio_server.url, "--decoder", "auto", "--stdin", "--duration", "5")
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[dict] = []
    for line in proc.stdout:  # bounded: the process ends after --duration
        lines.append(json.loads(line))
        if lines[-1].get("text", "").startswith("40{") and lines[-1]["dir"] == "in":
            proc.stdin.write('421["echo",{"n":1}]\n')
            proc.stdin.flush()
            break
    status = finish(proc, lines)
    assert status == 0, proc.stderr.read() if proc.stderr else ""
    assert time.monotonic() - started >= 4.5  # stayed past the server's ping timeout (2 s)
    [detected] = [r for r in lines if r["event"] == "protocol"]
    assert detected["protocol"] == "socketio" and detected["client"] is True
    pings = [r for r in frames(lines, "in") if r["text"] == "2"]
    assert len(pings) >= 2 and pings[0]["protocol"] == "socketio"
    assert pings[0]["kind"] == "heartbeat" and pings[0]["heartbeat"] is True
    assert sum(r["text"] == "3" for r in frames(lines, "out")) >= 2
    emit = next(r for r in frames(lines, "out") if r["text"].startswith("421"))
    assert emit["kind"] == "request" and emit["name"] == "echo"
    assert emit["correlation"] == "ack:/:1" and emit["summary"]
    ack = next(r for r in frames(lines, "in") if r["text"].startswith("431"))
    assert ack["kind"] == "response" and ack["correlation"] == "ack:/:1"
    [pair] = [r for r in lines if r["event"] == "pair"]
    assert pair["name"] == "echo" and pair["correlation"] == "ack:/:1"
    assert 0 <= pair["latency_ms"] < 5000 and pair["conn"] == emit["conn"]
    assert first_close(lines)["dir"] == "out"  # closed by the CLI at --duration


def test_raw_connect_sends_nothing_and_the_server_drops_it(sio_server) -> None:
    proc = start_cli(sio_server.url, "--raw", "--duration", "10")
    lines: list[dict] = []
    started = time.monotonic()
    finish(proc, lines)
    assert time.monotonic() - started < 9  # dropped by the server long before --duration
    [detected] = [r for r in lines if r["event"] == "protocol"]
    assert detected["protocol"] is None and detected["client"] is False
    assert frames(lines, "out") == []
    assert all("protocol" not in r for r in frames(lines, "in"))
    assert [r["text"] for r in frames(lines, "in")][:2] != []
    assert first_close(lines)["dir"] == "in"  # closed by the server


def test_unknown_decoder_is_one_clear_error() -> None:
    result = subprocess.run([sys.executable, "main.py", "connect", "ws://127.0.0.1:9/",
                             "--decoder", "nope"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "--decoder: no decoder named 'nope' (known:" in result.stderr
    assert "socketio" in result.stderr and result.stdout == ""
