"""A real Locust master and two workers (subprocesses) against the embedded server: the live
stats read from Locust's web API end on Locust's own final figures (its --json-file and CSV),
expectations the server cannot meet are counted as failures, and every process is stopped."""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
import venv
from pathlib import Path

import psutil
import pytest

from core.cli import build_parser
from core.cli_load import load
from core.load import make_plan
from core.load.locust_run import LocustError, LocustOptions, run_locust
from core.load.scenario import Expectation, Scenario, SendPattern
from core.load.stats import Histogram, LoadStats, from_locust
from core.server import make_token

# The issue asks for 200 users for 20 s; on a 2-core machine shared with other work the run
# (start, 20 s, the workers' last reports) takes ~35 s, so the full size is kept.
USERS, DURATION = 200, 20.0


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def locust_final(results: Path) -> LoadStats:
    """Locust's --json-file: its counts, and the reply percentiles by its rule from the
    response-time histogram it keeps (the median is left out: Locust clamps it to min/max)."""
    entries = json.loads((results / "locust.json").read_text())
    stats = from_locust({"stats": entries, "state": "stopped"}, 0.0)
    reply = next((e for e in entries if e["name"] == "reply"), None)
    if reply is not None:
        hist = Histogram()
        hist.counts = {int(k): n for k, n in reply["response_times"].items()}
        hist.total = reply["num_requests"] - reply["num_none_requests"]
        stats.p95, stats.p99 = hist.percentile(0.95), hist.percentile(0.99)
    return stats


def csv_counts(results: Path) -> dict[str, tuple[int, int]]:
    with (results / "locust_stats.csv").open() as f:
        return {row["Name"]: (int(row["Request Count"]), int(row["Failure Count"]))
                for row in csv.DictReader(f) if row["Type"] == "WS"}


@pytest.mark.timeout(150)
def test_two_workers_200_users_live_stats_equal_locusts_final(
        embedded_server, tmp_path: Path) -> None:
    server = embedded_server(max_conns_per_ip=1000, rate=1000.0, burst=1000)
    token = make_token(server.config.secret, sub="load")
    scenario = Scenario(
        name="pings", connection=None, url=server.url,
        on_open=['{"type":"join_room","room":"load"}'],
        send=SendPattern(messages=['{"type":"ping"}', '{"type":"list_rooms"}'], rate=1.0,
                         jitter=0.2),
        expect=Expectation(kind="reply", within=5.0))
    plan = make_plan(scenario, None, users=USERS, spawn_rate=100.0, duration=DURATION)
    plan.url += f"?token={token}"  # the server has auth on: the same settings as our clients
    live: list[LoadStats] = []
    started = time.monotonic()
    final = run_locust(plan, LocustOptions(workers=2, out_dir=tmp_path), live.append)
    took = time.monotonic() - started
    try:
        assert not children(), "a Locust process outlived the run"
        assert len(live) >= DURATION - 2 and max(s.users for s in live) == USERS
        assert final is live[-1] and final.state == "stopped"
        assert final.connect.requests == USERS and final.failures == 0
        # 200 clients at ~1 message/s for ~19 s after the ramp: thousands of samples each way.
        assert final.send.requests > USERS * (DURATION - 6)
        assert final.reply.requests >= final.send.requests - USERS  # in flight at the stop
        theirs = locust_final(tmp_path)
        assert (final.connect, final.send, final.reply) == (
            theirs.connect, theirs.send, theirs.reply)
        assert (final.p95, final.p99) == (theirs.p95, theirs.p99)
        counts = csv_counts(tmp_path)
        assert counts["reply"] == (final.reply.requests, final.reply.failures)
        assert counts["send"] == (final.send.requests, final.send.failures)
    finally:
        print(f"run took {took:.1f} s; final {final.to_json()}")


def test_unmet_expectations_are_counted_and_fail_the_cli(
        embedded_server, config_dir: Path, tmp_path: Path) -> None:
    """The server answers pings with pongs; a scenario that waits for a type it never sends
    fails each send after `within`, and the CLI exits 1."""
    server = embedded_server(auth=False)
    scenario = tmp_path / "never.toml"
    scenario.write_text(f"""
url = "{server.url}"
users = 6
spawn_rate = 20
duration = 5
[send]
messages = ['{{"type":"ping"}}']
rate = 4
[expect]
kind = "match"
match = {{type = "never-sent"}}
within = 0.5
""")
    results = tmp_path / "results"
    out = io.StringIO()
    args: argparse.Namespace = build_parser().parse_args(
        ["load", str(scenario), "--workers", "2", "--headless", "--out", str(results),
         ])
    status = load(args, out)
    assert not children()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = lines[-1]["summary"]
    assert status == 1 and summary["ok"] is False, summary
    final = lines[-2]
    assert final["state"] == "stopped" and final["reply"]["requests"] > 20
    assert final["reply"]["failures"] == final["reply"]["requests"]  # every one missed
    assert summary["expectation_failures"] == final["reply"]["failures"]
    theirs = locust_final(results)
    assert (theirs.reply.requests, theirs.reply.failures) == (
        final["reply"]["requests"], final["reply"]["failures"])
    assert (results / "locustfile.py").exists() and (results / "master.log").exists()


def test_a_python_without_locust_is_one_clear_error(tmp_path: Path) -> None:
    """LOCUST_PYTHON (or our own interpreter) without locust: the master's failure is reported
    with its log's error line, and nothing is left running."""
    venv.create(tmp_path / "bare", with_pip=False)
    scenario = Scenario(name="x", url="ws://127.0.0.1:9/",
                        send=SendPattern(messages=['{"type":"ping"}']))
    options = LocustOptions(workers=1, out_dir=tmp_path / "out",
                            python=str(tmp_path / "bare" / "bin" / "python"))
    with pytest.raises(LocustError, match="No module named locust"):
        run_locust(make_plan(scenario, None, duration=1), options, lambda _: None)
    assert not children()
