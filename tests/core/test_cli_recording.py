"""`main.py export | import | replay` as a user runs them: real processes, real servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from core.recording import Recording

ROOT = Path(__file__).resolve().parents[2]
SENT = ['{"requestId": "a1", "ts": 1, "v": "x"}', '{"requestId": "a2", "ts": 2, "v": "y"}',
        "plain"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


async def run_cli_async(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """For a CLI that talks to a server this test's own loop serves."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def record_with_cli(url: str, path: Path) -> None:
    sends = [arg for text in SENT for arg in ("--send", text)]
    result = run_cli("connect", url, *sends, "--duration", "1.5", "--ping-interval", "0",
                     "--record", str(path))
    assert result.returncode == 0, result.stderr
    with Recording(path) as rec:
        assert sum(1 for f in rec.frames() if f.is_data) == 6


def test_export_and_import_round_trip_through_the_cli(embedded_server, tmp_path) -> None:
    server = embedded_server(auth=False)
    recorded = tmp_path / "rec.sqlite"
    record_with_cli(server.url + "/echo", recorded)
    har = tmp_path / "rec.har"
    result = run_cli("export", str(recorded), "--format", "har", "-o", str(har))
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    messages = entry["_webSocketMessages"]
    for kind in ("send", "receive"):
        assert [m["data"] for m in messages if m["type"] == kind] == SENT

    ndjson = run_cli("export", str(recorded), "--format", "ndjson", "-o", "-")
    assert ndjson.returncode == 0
    assert sum(1 for r in lines(ndjson.stdout) if r["event"] == "frame") >= 6

    imported = tmp_path / "imported.sqlite"
    result = run_cli("import", str(har), "-o", str(imported))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["connections"], summary["frames"]) == (1, 6)
    with Recording(recorded) as before, Recording(imported) as after:
        assert [(f.direction, f.opcode, f.payload, round(f.time, 3))
                for f in before.frames() if f.is_data] == [
            (f.direction, f.opcode, f.payload, round(f.time, 3)) for f in after.frames()]

    again = run_cli("import", str(har), "-o", str(imported))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_cli_errors_are_one_line_and_write_nothing(tmp_path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [{"request": {"url": 5}, "_webSocketMessages": []}]}}')
    result = run_cli("import", str(bad), "-o", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2
    assert result.stderr == ("error: bad.har: log.entries[0].request.url: expected a string,"
                             " got the number 5\n")
    result = run_cli("replay", str(tmp_path / "missing.sqlite"), "ws://127.0.0.1:9/")
    assert result.returncode == 2 and result.stderr.startswith("error: no such file")
    result = run_cli("export", str(bad), "--format", "har", "-o", str(tmp_path / "y.har"))
    assert result.returncode == 2 and result.stderr.startswith("error: cannot export")
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.har"]


async def test_replay_through_the_cli_reports_differences(embedded_server, tmp_path) -> None:
    server = embedded_server(auth=False)
    recorded = tmp_path / "rec.sqlite"
    await asyncio.to_thread(record_with_cli, server.url + "/echo", recorded)
    code, out, err = await run_cli_async("replay", str(recorded), server.url + "/echo",
                                         "--timing", "wait-reply")
    assert code == 0, err
    *diffs, summary = lines(out)
    assert [d["result"] for d in diffs] == ["same"] * 3
    assert summary["summary"] and (summary["same"], summary["sent"]) == (3, 3)

    async def restamp(ws: ServerConnection) -> None:
        async for message in ws:
            if "a2" in message:
                continue  # dropped
            if message.startswith("{"):
                message = json.dumps({**json.loads(message), "ts": 99})
            await ws.send(message)

    async with serve(restamp, "127.0.0.1", 0) as changed:
        url = f"ws://127.0.0.1:{changed.sockets[0].getsockname()[1]}"
        code, out, err = await run_cli_async("replay", str(recorded), url,
                                             "--reply-timeout", "1")
        assert code == 1, err
        results = {(d["result"], d.get("id")): d.get("paths") for d in lines(out)[:-1]}
        assert results == {("changed", "a1"): ["ts"], ("missing", "a2"): None,
                           ("same", None): None}
        code, out, err = await run_cli_async("replay", str(recorded), url, "--ignore", "ts",
                                             "--reply-timeout", "1")
        assert code == 1  # the dropped reply is still missing
        assert lines(out)[-1]["changed"] == 0 and lines(out)[-1]["missing"] == 1
