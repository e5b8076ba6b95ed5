"""The headless CLI as a user runs it: real processes, real servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.recording import Recording
from core.server import verify_token

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def serve_process() -> Iterator[callable]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", "0", *args],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("listening ws://127.0.0.1:"), (line, proc.stderr.read())
        return proc, line.split()[1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_token_is_accepted_by_the_server_secret() -> None:
    result = run_cli("token", "--secret", "s3cret-for-tests-0123456789abcdef", "--sub", "ana")
    assert result.returncode == 0
    claims = verify_token(result.stdout.strip(), "s3cret-for-tests-0123456789abcdef")
    assert claims["sub"] == "ana" and claims["exp"] > claims["iat"]


def test_serve_and_connect_speak_ndjson(serve_process) -> None:
    proc, url = serve_process("--no-auth")
    result = run_cli("connect", url, "--send", '{"type":"ping"}', "--request",
                     '{"type":"list_rooms"}', "--ping-interval", "0.2", "--duration", "1.5")
    assert result.returncode == 0, result.stderr
    records = events(result.stdout)
    kinds = {r["event"] for r in records}
    assert {"state", "frame", "rtt", "request"} <= kinds
    texts = [json.loads(r["text"]) for r in records
             if r["event"] == "frame" and r["dir"] == "in" and r["type"] == "text"]
    assert [t["type"] for t in texts][:1] == ["connected"]
    assert "pong" in [t["type"] for t in texts] and "rooms" in [t["type"] for t in texts]
    request = next(r for r in records if r["event"] == "request")
    assert request["error"] is None and request["rtt_ms"] > 0
    states = [r["to"] for r in records if r["event"] == "state"]
    assert states[:2] == ["connecting", "open"] and states[-1] == "closed"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0


def test_connect_records_the_session(serve_process, tmp_path: Path) -> None:
    _, url = serve_process("--no-auth")
    result = run_cli("connect", url, "--send", '{"type":"ping"}', "--duration", "1",
                     "--record", str(tmp_path / "rec.sqlite"))
    assert result.returncode == 0, result.stderr
    printed = [r for r in events(result.stdout) if r["event"] == "frame"]
    with Recording(tmp_path / "rec.sqlite") as rec:
        recorded = list(rec.frames())
        assert [c.url for c in rec.connections()] == [url]
    assert len(recorded) == len(printed) > 0


def test_connect_reports_401_in_one_line_and_fails(serve_process) -> None:
    _, url = serve_process()
    result = run_cli("connect", url, "--duration", "5")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: HTTP 401:"), result.stderr


def test_connect_with_token_from_the_token_command(serve_process) -> None:
    _, url = serve_process("--secret", "another-secret-for-the-tests-0123456")
    token = run_cli("token", "--secret", "another-secret-for-the-tests-0123456").stdout.strip()
    result = run_cli("connect", url, "--bearer", token, "--duration", "0.5")
    assert result.returncode == 0, result.stderr
    assert any(r.get("to") == "open" for r in events(result.stdout))


def test_server_shutdown_closes_clients_with_1001(serve_process) -> None:
    proc, url = serve_process("--no-auth")
    client = subprocess.Popen([sys.executable, "main.py", "connect", url, "--ping-interval", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # wait for the client's "open" line, bounded
            line = client.stdout.readline()  # type: ignore[union-attr]
            if '"to": "open"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = client.communicate(timeout=15)
    finally:
        if client.poll() is None:
            client.kill()
    closes = [r for r in events(out) if r["event"] == "frame" and r["type"] == "close"]
    assert closes and closes[0]["code"] == 1001
    assert client.returncode == 0, err


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_connect_works_against_a_node_ws_server() -> None:
    if not (NODE_DIR / "node_modules" / "ws").exists():  # `make test` installs it
        pytest.skip("tests/node/node_modules is missing: `make test` (with npm) installs it")
    server = subprocess.Popen(["node", str(NODE_DIR / "echo_server.mjs")], cwd=NODE_DIR,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        port = server.stdout.readline().split()[1]  # type: ignore[union-attr]
        result = run_cli("connect", f"ws://127.0.0.1:{port}", "--send", "hello node",
                         "--ping-interval", "0.2", "--duration", "1")
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)
    assert result.returncode == 0, result.stderr
    records = events(result.stdout)
    assert any(r["event"] == "frame" and r["dir"] == "in" and r.get("text") == "hello node"
               for r in records)
    assert any(r["event"] == "rtt" for r in records)


def test_the_installed_socketscope_command_runs_the_cli(tmp_path) -> None:
    """`pip install` makes a `socketscope` command (project.scripts) that works from anywhere."""
    command = Path(sys.executable).parent / "socketscope"
    if not command.exists():
        pytest.skip("the project is not installed in this interpreter's environment")
    done = subprocess.run([str(command), "token", "--sub", "cli-test"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2  # a JWT: header.payload.signature
