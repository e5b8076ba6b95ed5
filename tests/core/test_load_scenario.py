"""Load scenarios: files and workspace tables read into plans, bad ones refused in one line,
and the generated locustfile that must stand alone on another machine."""

from __future__ import annotations

import ast
import json
import random
from pathlib import Path

import pytest

from core.load import LoadPlan, ScenarioError, find_scenario, load_scenario_file, make_plan
from core.load.locustfile import locustfile_source
from core.load.match import matches
from core.load.scenario import workspace_scenarios
from core.load.stats import Histogram, from_locust, stats_from_json
from core.workspace import Resolver, SecretStore, load_workspace

GOOD = """
name = "chat"
url = "ws://127.0.0.1:9/"
users = 5
on_open = ['{"type":"join_room","room":"load"}']
[send]
messages = ['{"type":"ping"}']
rate = 2
jitter = 0.1
[expect]
within = 2
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_scenario_file_becomes_a_plan(tmp_path: Path) -> None:
    scenario = load_scenario_file(write(tmp_path, GOOD))
    plan = make_plan(scenario, None, users=7)
    assert (plan.name, plan.users, plan.spawn_rate, plan.rate, plan.within) == (
        "chat", 7, 10.0, 2.0, 2.0)
    assert plan.connection["on_open"] == ['{"type":"join_room","room":"load"}']
    assert [m.data for m in plan.messages] == ['{"type":"ping"}']
    assert LoadPlan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(("text", "error"), [
    ("users = 5\n", "say how to connect"),
    ('url = "ws://x/"\nusers = "many"\n', 'users: expected a whole number, got "many"'),
    ('url = "ws://x/"\nusers = 0\n', "users must be from 1"),
    ('url = "ws://x/"\n[send]\nrate = -1\n', "send: rate must be more than 0"),
    ('url = "ws://x/"\n[expect]\nkind = "maybe"\n', 'expect.kind: expected one of "reply"'),
    ('url = "ws://x/"\n[expect]\nkind = "match"\n', "needs a match table"),
    ('url = "ws://x/"\nuser = 5\n', "unknown key user (a typo?)"),
    ('url = "ws://x/"\n[connection]\nurl = "ws://y/"\ntimeout = 3\n', "connection.timeout"),
    ('url = "ws://x/\n', "not valid TOML"),
])
def test_a_bad_scenario_file_is_one_line_naming_the_key(
        tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    message = str(info.value)
    assert error in message and str(path) in message and "\n" not in message


def test_plans_refuse_what_cannot_run(tmp_path: Path) -> None:
    scenario = load_scenario_file(write(tmp_path, GOOD))
    with pytest.raises(ScenarioError, match="duration must be more than 0"):
        make_plan(scenario, None, duration=0)
    scenario.send.messages = ["hello"]
    with pytest.raises(ScenarioError, match="needs JSON objects to carry a requestId"):
        make_plan(scenario, None)
    scenario.send.messages = []
    with pytest.raises(ScenarioError, match="nothing to send"):
        make_plan(scenario, None)
    scenario.profile, scenario.url = "nope", ""
    with pytest.raises(ScenarioError, match=r"^scenario 'chat': no profile 'nope'$"):
        make_plan(scenario, None)
    scenario.profile, scenario.url = "", "ws://{{missing}}/"
    with pytest.raises(ScenarioError, match=r"^scenario 'chat': .*missing"):
        make_plan(scenario, None, Resolver().resolve)
    with pytest.raises(ScenarioError, match="no scenario file or workspace scenario named 'x'"):
        find_scenario("x", None)
    with pytest.raises(ScenarioError, match="cannot read it"):
        find_scenario(str(tmp_path / "missing.toml"), None)


def test_workspace_scenarios_use_its_profiles_collections_and_variables(tmp_path: Path) -> None:
    path = write(tmp_path, """
active_environment = "dev"
[[profiles]]
name = "local"
url = "ws://{{host}}/"
token = "{{tok}}"
headers = [{name = "X-Load", value = "yes"}]
[[environments]]
name = "dev"
variables = [{name = "host", value = "127.0.0.1:9"}, {name = "tok", value = "T0K"}]
[[collections]]
name = "chat"
messages = [{name = "ping", body = '{"type":"ping"}', format = "json"},
            {name = "bin", body = "00ff", format = "hex"}]
[[scenarios]]
name = "soak"
profile = "local"
users = 3
send = {collection = "chat"}
expect = {kind = "none"}
[[scenarios]]
name = "bad"
url = "ws://x/"
send = {rate = "fast"}
""", "workspace.toml")
    ws = load_workspace(path, secrets=SecretStore(use_keyring=False))
    with pytest.raises(ScenarioError, match=r"scenarios\[1\]\.send\.rate: expected a number"):
        workspace_scenarios(ws)
    ws.extra["scenarios"] = ws.extra["scenarios"][:1]
    plan = make_plan(find_scenario("soak", ws), ws, Resolver(ws.environment()).resolve)
    assert plan.url == "ws://127.0.0.1:9/?token=T0K"
    assert plan.headers == [("X-Load", "yes")]
    assert [(m.text, m.payload()) for m in plan.messages] == [
        (True, b'{"type":"ping"}'), (False, b"\x00\xff")]


def test_the_locustfile_stands_alone(tmp_path: Path) -> None:
    """Only the standard library, locust and websocket-client: a remote worker has no `core`."""
    plan = make_plan(load_scenario_file(write(tmp_path, GOOD)), None)
    source = locustfile_source(plan)
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import)
                              else [ast.alias(node.module or "")])}
    assert "core" not in imported and {"locust", "websocket"} <= imported
    assert "def matches(" in source and "class Scenario(ScenarioUser)" in source


def test_match_filters_by_dotted_paths() -> None:
    obj = {"type": "broadcast", "data": {"n": 3, "ok": True, "who": "a"}}
    assert matches(obj, {"type": "broadcast", "data.who": "a", "data.n": "3", "data.ok": "true"})
    assert not matches(obj, {"data.n": "4"})
    assert not matches(obj, {"data.who.x": "a"})
    assert not matches(obj, {"missing": "x"})


def test_histogram_percentiles_follow_locusts_rule() -> None:
    """Rounded to ~2 significant digits; the percentile is the smallest bucket with at least
    that share of samples at or under it (checked against a plain sorted list)."""
    rng = random.Random(7)
    samples = [rng.choice([rng.uniform(0, 99), rng.uniform(100, 5000)]) for _ in range(2000)]
    hist = Histogram()
    for ms in samples:
        hist.add(ms)
    assert len(hist.counts) < 400
    for fraction in (0.5, 0.95, 0.99):
        got = hist.percentile(fraction)
        assert got is not None
        below = sum(1 for ms in samples if ms < got * 0.95)  # buckets round up to 5 %
        assert below <= fraction * len(samples) + 1
    assert Histogram().percentile(0.5) is None


def test_locust_reports_and_ndjson_lines_become_the_same_stats() -> None:
    report = {"state": "running", "user_count": 4, "stats": [
        {"method": "WS", "name": "connect", "num_requests": 4, "num_failures": 1},
        {"method": "WS", "name": "reply", "num_requests": 9, "num_failures": 2,
         "median_response_time": 3, "response_time_percentile_0.95": 8,
         "response_time_percentile_0.99": 12},
        {"method": None, "name": "Aggregated", "num_requests": 13, "num_failures": 3}]}
    stats = from_locust(report, 1.234)
    assert (stats.users, stats.connect.failures, stats.reply.requests, stats.failures) == (
        4, 1, 9, 3)
    assert (stats.p50, stats.p95, stats.p99, stats.send.requests) == (3.0, 8.0, 12.0, 0)
    assert stats_from_json(json.loads(json.dumps(stats.to_json()))) == stats
