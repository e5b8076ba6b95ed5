"""`main.py connect --workspace FILE --profile NAME [--env NAME]` as a user runs it, against the
embedded server's /echo path on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.server import make_token
from core.workspace import Environment, Variable, Workspace, save_workspace

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-workspace-secret-0123456789abcdef"


def run_cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})


def frames(stdout: str, direction: str) -> list[str]:
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [r["text"] for r in records
            if r["event"] == "frame" and r["dir"] == direction and r["type"] == "text"]


@pytest.fixture
def workspace(tmp_path, embedded_server) -> tuple[Path, str, dict[str, str]]:
    server = embedded_server(secret=SECRET)
    path = tmp_path / "team.toml"
    ws = Workspace(
        profiles=[
            ConnectionConfig(f"{server.url}/echo", name="echo", token="{{token}}",
                             token_mode="bearer", on_open=["hello {{who}} {{$seq}}"],
                             heartbeat=HeartbeatConfig(interval=0),
                             reconnect=ReconnectPolicy(enabled=False)),
            ConnectionConfig("ws://127.0.0.1:9/{{missing}}", name="broken",
                             reconnect=ReconnectPolicy(enabled=False)),
        ],
        environments=[
            Environment("good", [Variable("token", "${env:SS_CLI_TOKEN}"), Variable("who", "ana")]),
            Environment("stale", [Variable("token", "not-a-token"), Variable("who", "bob")]),
        ],
        active_environment="stale",
    )
    save_workspace(ws, path)
    env = {"SS_CLI_TOKEN": make_token(SECRET, sub="cli"),
           "SOCKETSCOPE_CONFIG_DIR": str(tmp_path / "config")}
    return path, server.url, env


def test_connect_with_a_profile_and_environment(workspace) -> None:
    path, _, env = workspace
    result = run_cli("connect", "--workspace", str(path), "--profile", "echo", "--env", "good",
                     "--send", "and {{who}}", "--duration", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert frames(result.stdout, "out") == ["hello ana 1", "and ana"]
    assert frames(result.stdout, "in") == ["hello ana 1", "and ana"]
    assert "SS_CLI_TOKEN" in path.read_text() and env["SS_CLI_TOKEN"] not in path.read_text()


def test_flags_override_the_profile(workspace) -> None:
    path, url, env = workspace
    result = run_cli("connect", f"{url}/echo", "--workspace", str(path), "--profile", "broken",
                     "--env", "good", "--bearer", "${env:SS_CLI_TOKEN}", "--send", "x",
                     "--ping-interval", "0", "--duration", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert frames(result.stdout, "in") == ["x"]


def test_the_active_environment_is_the_default(workspace) -> None:
    path, _, env = workspace
    result = run_cli("connect", "--workspace", str(path), "--profile", "echo",
                     "--duration", "5", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: HTTP 401: the server rejected the token "
        "(not retrying: fix the settings, then connect again)"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--profile", "nope"], "error: no profile 'nope' in {path} "
                                "(its profiles: 'echo', 'broken')"),
        (["--profile", "echo", "--env", "qa"], "error: no environment 'qa' in {path} "
                                               "(its environments: 'good', 'stale')"),
        ([], "error: give a URL to connect to, or --profile NAME"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(workspace, args: list[str], words: str) -> None:
    path, _, env = workspace
    result = run_cli("connect", "--workspace", str(path), *args, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [words.format(path=path)]
    assert result.stdout == ""


def test_bad_workspace_file_and_unresolved_variable(workspace, tmp_path) -> None:
    path, _, env = workspace
    bad = tmp_path / "bad.toml"
    bad.write_text('[[profiles]]\nurl = "ws://a"\nname = "x"\nqueue_size = "many"\n')
    result = run_cli("connect", "--workspace", str(bad), "--profile", "x", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'error: {bad}: profiles[0].queue_size: expected a whole number, got "many"']
    result = run_cli("connect", "--workspace", str(path), "--profile", "broken", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown variable {{missing}} (environment 'stale') "
        "(not retrying: fix the settings, then connect again)"]
