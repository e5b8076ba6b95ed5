"""A scenario resolved against its workspace into plain JSON: what a Locust worker (maybe on
another machine, without our workspace or secrets store) or the local runner's child process
needs, with every {{variable}} resolved once, here."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.config import ConnectionConfig
from core.dial import url_and_headers
from core.load.scenario import Scenario, ScenarioError
from core.workspace.model import Workspace
from core.workspace.schema import from_table, to_table


@dataclass
class Wire:
    """One message as sent: text, or binary kept as base64 so the plan stays JSON."""

    data: str
    text: bool = True

    def payload(self) -> bytes:
        return self.data.encode() if self.text else base64.b64decode(self.data)


@dataclass
class LoadPlan:
    name: str
    connection: dict[str, Any]  # a ConnectionConfig's TOML table, variables resolved
    url: str  # with the token in the query when token_mode = "query"
    headers: list[tuple[str, str]]  # with Authorization when token_mode = "bearer"
    messages: list[Wire]
    rate: float
    jitter: float
    think_time: float
    expect: str  # "reply" | "match" | "none"
    within: float
    match: dict[str, str] = field(default_factory=dict)
    fail_types: list[str] = field(default_factory=list)
    users: int = 10
    spawn_rate: float = 10.0
    duration: float = 30.0

    def config(self) -> ConnectionConfig:
        return from_table(ConnectionConfig, self.connection, "connection", [])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        doc = json.loads(text)
        doc["messages"] = [Wire(**m) for m in doc["messages"]]
        doc["headers"] = [(n, v) for n, v in doc["headers"]]
        return cls(**doc)


def make_plan(
    scenario: Scenario, ws: Workspace | None, resolve: Callable[[str], str] | None = None,
    users: int | None = None, spawn_rate: float | None = None, duration: float | None = None,
) -> LoadPlan:
    """The shape given here replaces the scenario's; raises ScenarioError for a missing
    profile, collection or variable, or a message that is not what it says."""
    res = resolve or (lambda text: text)
    try:
        scenario = dataclasses.replace(  # the same checks as the file's values
            scenario, users=scenario.users if users is None else users,
            spawn_rate=scenario.spawn_rate if spawn_rate is None else spawn_rate,
            duration=scenario.duration if duration is None else duration)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    try:
        config = _resolved(scenario.connection_config(ws), res)
        config.on_open = config.on_open + [res(t) for t in scenario.on_open]
        messages = _messages(scenario, ws, res)
    except ScenarioError:
        raise
    except ValueError as exc:  # an unresolved variable, a bad JSON body
        raise ScenarioError(f"scenario {scenario.name!r}: {exc}") from None
    url, headers = url_and_headers(config)
    send, expect = scenario.send, scenario.expect
    return LoadPlan(
        name=scenario.name, connection=to_table(config), url=url, headers=headers,
        messages=messages, rate=send.rate, jitter=send.jitter, think_time=send.think_time,
        expect=expect.kind, within=expect.within, match=dict(expect.match),
        fail_types=list(expect.fail_types), users=scenario.users,
        spawn_rate=scenario.spawn_rate, duration=scenario.duration,
    )


def _resolved(cfg: ConnectionConfig, res: Callable[[str], str]) -> ConnectionConfig:
    return dataclasses.replace(
        cfg, url=res(cfg.url), headers=[(n, res(v)) for n, v in cfg.headers],
        token=None if cfg.token is None else res(cfg.token),
        on_open=[res(t) for t in cfg.on_open],
        protocol_options={k: res(v) for k, v in cfg.protocol_options.items()},
    )


def _messages(scenario: Scenario, ws: Workspace | None, res: Callable[[str], str]) -> list[Wire]:
    wires: list[Wire] = []
    name = scenario.send.collection
    if name:
        found = next((c for c in ws.collections if c.name == name), None) if ws else None
        if found is None:
            raise ScenarioError(f"scenario {scenario.name!r}: no collection {name!r}")
        for saved in found.messages:
            data, text = saved.payload(res)
            wires.append(Wire(data.decode(), True) if text
                          else Wire(base64.b64encode(data).decode(), False))
    wires.extend(Wire(res(t)) for t in scenario.send.messages)
    if not wires:
        raise ScenarioError(f"scenario {scenario.name!r}: nothing to send "
                            "(give send.messages or send.collection)")
    if scenario.expect.kind == "reply":
        for wire in wires:
            if not wire.text or not _is_object(wire.data):
                raise ScenarioError(
                    f"scenario {scenario.name!r}: expect.kind = \"reply\" needs JSON objects "
                    f"to carry a requestId; {wire.data[:40]!r} is not one")
    return wires


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
