"""The local runner: the core's own connections in a child process against the embedded
server, streaming the same stats as a Locust run; failures counted; the child always ends."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import psutil
import pytest

from core.cli import build_parser
from core.cli_load import load
from core.load import make_plan
from core.load.local_run import LocalRunError, run_local
from core.load.scenario import Expectation, Scenario, SendPattern
from core.load.stats import LoadStats
from core.server import make_token


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def test_local_run_with_auth_and_replies(embedded_server) -> None:
    server = embedded_server(max_conns_per_ip=200)
    token = make_token(server.config.secret, sub="local")
    scenario = Scenario(
        name="local", url=server.url, on_open=['{"type":"join_room","room":"r"}'],
        send=SendPattern(messages=['{"type":"ping"}', '{"type":"list_clients"}'], rate=4.0))
    plan = make_plan(scenario, None, users=40, spawn_rate=200.0, duration=3.0)
    plan.url += f"?token={token}"
    plan.connection["url"] = plan.url
    live: list[LoadStats] = []
    final = run_local(plan, live.append)
    assert not children()
    assert final is live[-1] and final.state == "stopped" and len(live) >= 3
    assert final.connect.requests == 40 and final.failures == 0, final
    assert final.send.requests > 40 * 4 * 1.5
    assert final.reply.requests >= final.send.requests - 40  # in flight at the stop
    assert final.p50 is not None and final.p99 is not None and final.p50 <= final.p99
    assert any(s.sends_per_s > 50 for s in live)


def test_local_run_counts_error_replies_and_refused_connects(embedded_server) -> None:
    """A reply of a type in fail_types is a failure; so is a connect the server refuses."""
    server = embedded_server()  # auth on, and no token given
    scenario = Scenario(name="refused", url=server.url,
                        send=SendPattern(messages=['{"type":"ping"}']),
                        expect=Expectation(kind="reply", within=1.0))
    final = run_local(make_plan(scenario, None, users=3, spawn_rate=50, duration=2.0),
                      lambda _: None)
    assert final.connect.requests >= 3 and final.connect.failures == final.connect.requests
    open_server = embedded_server(auth=False)
    scenario = Scenario(name="errors", url=open_server.url,
                        send=SendPattern(messages=['{"type":"no_such_type"}'], rate=5),
                        expect=Expectation(kind="reply", within=1.0))
    final = run_local(make_plan(scenario, None, users=3, spawn_rate=50, duration=2.0),
                      lambda _: None)
    assert final.reply.requests > 5 and final.reply.failures == final.reply.requests
    assert not children()


def test_local_run_meets_a_match_expectation(embedded_server) -> None:
    server = embedded_server(auth=False)
    scenario = Scenario(name="match", url=server.url,
                        send=SendPattern(messages=['{"type":"ping"}'], rate=5),
                        expect=Expectation(kind="match", match={"type": "pong"}, within=2.0))
    final = run_local(make_plan(scenario, None, users=5, spawn_rate=50, duration=2.0),
                      lambda _: None)
    assert final.send.requests >= 20 and final.reply.failures == 0
    assert final.reply.requests >= final.send.requests - 5


def test_local_run_refuses_too_many_users_in_one_line() -> None:
    scenario = Scenario(name="big", url="ws://127.0.0.1:9/",
                        send=SendPattern(messages=['{"type":"ping"}']))
    with pytest.raises(LocalRunError, match="a local run takes up to 2000 clients"):
        run_local(make_plan(scenario, None, users=5000), lambda _: None)
    assert not children()


def run_cli(argv: list[str]) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    args: argparse.Namespace = build_parser().parse_args(argv)
    status = load(args, out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def test_cli_local_exit_codes(embedded_server, config_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    server = embedded_server(auth=False)
    good = tmp_path / "good.toml"
    good.write_text(f'url = "{server.url}"\nusers = 4\nduration = 2\n'
                    '[send]\nmessages = [\'{"type":"ping"}\']\nrate = 5\n')
    status, lines = run_cli(["load", str(good), "--local"])
    assert status == 0 and lines[-1]["summary"]["ok"] is True  # type: ignore[index]
    assert lines[-2]["state"] == "stopped" and len(lines) >= 3
    bad = tmp_path / "unmet.toml"
    bad.write_text(good.read_text() + '[expect]\nkind = "match"\nmatch = {type = "nope"}\n'
                   "within = 0.3\n")
    status, lines = run_cli(["load", str(bad), "--local", "--duration", "2"])
    summary = lines[-1]["summary"]
    assert status == 1 and summary["expectation_failures"] > 0  # type: ignore[index, operator]
    typo = tmp_path / "typo.toml"
    typo.write_text('url = "ws://x/"\nusres = 3\n')
    status, lines = run_cli(["load", str(typo), "--local"])
    assert status == 2 and lines == []
    assert f"error: {typo}: unknown key usres (a typo?)" in capsys.readouterr().err
    status, _ = run_cli(["load", "nosuch", "--local"])
    assert status == 2 and "no scenario file or workspace scenario named 'nosuch'" in (
        capsys.readouterr().err)
    assert not children()
