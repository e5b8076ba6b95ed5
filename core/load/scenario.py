"""Load scenarios: what each simulated client does, read from its own TOML file or from the
`[[scenarios]]` tables of a workspace file (kept there as a top-level table the workspace loader
carries along untouched). Errors name the file and the key path, in one line."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.config import ConnectionConfig
from core.workspace.model import Workspace
from core.workspace.schema import FieldError, describe, from_table

MAX_FILE_SIZE = 1 << 20  # a scenario is a few hundred bytes
MAX_USERS = 100_000
ExpectKind = Literal["reply", "match", "none"]


class ScenarioError(ValueError):
    """A scenario that cannot be read or run, in one line a user understands."""


@dataclass
class SendPattern:
    """Each simulated client sends these in order, round and round: the collection's messages
    (from the workspace), then the inline ones."""

    collection: str = ""
    messages: list[str] = field(default_factory=list)
    rate: float = 1.0  # messages per second per client
    jitter: float = 0.0  # +/- fraction of each interval, so clients do not send in lockstep
    think_time: float = 0.0  # seconds added after each send

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be more than 0 messages per second")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be a fraction from 0 to below 1")
        if self.think_time < 0:
            raise ValueError("think_time cannot be negative")


@dataclass
class Expectation:
    """What each send must bring back within `within` seconds, else it counts as a failure:
    `reply` (the JSON object sent gets a requestId; the reply carrying it, not of a type in
    `fail_types`), `match` (any message whose fields equal `match`, dotted paths allowed) or
    `none`."""

    kind: ExpectKind = "reply"
    within: float = 5.0
    match: dict[str, str] = field(default_factory=dict)
    fail_types: list[str] = field(default_factory=lambda: ["error"])

    def __post_init__(self) -> None:
        if self.within <= 0:
            raise ValueError("within must be more than 0 seconds")
        if self.kind == "match" and not self.match:
            raise ValueError('kind = "match" needs a match table, e.g. match = {type = "pong"}')


@dataclass
class Scenario:
    name: str = ""
    profile: str = ""  # a workspace profile; `url` (if given) replaces its URL
    url: str = ""
    connection: ConnectionConfig | None = None  # or every profile setting inline
    on_open: list[str] = field(default_factory=list)  # after the profile's own on-open
    send: SendPattern = field(default_factory=SendPattern)
    expect: Expectation = field(default_factory=Expectation)
    users: int = 10
    spawn_rate: float = 10.0  # clients started per second
    duration: float = 30.0  # seconds from the first client started

    def __post_init__(self) -> None:
        if not self.profile and not self.url and self.connection is None:
            raise ValueError("say how to connect: profile = NAME, url = URL or [connection]")
        if not 0 < self.users <= MAX_USERS:
            raise ValueError(f"users must be from 1 to {MAX_USERS}")
        if self.spawn_rate <= 0:
            raise ValueError("spawn_rate must be more than 0 clients per second")
        if self.duration <= 0:
            raise ValueError("duration must be more than 0 seconds")

    def connection_config(self, ws: Workspace | None) -> ConnectionConfig:
        """The settings each client connects with (variables still unresolved)."""
        if self.connection is not None:
            config = self.connection
        elif self.profile:
            found = ws.profile(self.profile) if ws is not None else None
            if found is None:
                where = f" in {ws.path}" if ws is not None and ws.path else ""
                raise ScenarioError(f"scenario {self.name!r}: no profile {self.profile!r}{where}")
            config = found
        else:
            config = ConnectionConfig(url=self.url)
        if self.url and config.url != self.url:
            config = dataclasses.replace(config, url=self.url)
        return config


def load_scenario_file(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_SIZE:
        raise ScenarioError(f"{path}: too big for a scenario file; is it the right file?")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (invalid UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    doc.setdefault("name", path.stem)
    return _scenario(doc, "", path)


def workspace_scenarios(ws: Workspace) -> list[Scenario]:
    """The `[[scenarios]]` of a workspace file."""
    tables = ws.extra.get("scenarios", [])
    if not isinstance(tables, list):
        raise ScenarioError(f"{ws.path}: scenarios: expected an array of tables ([[scenarios]]), "
                            f"got {describe(tables)}")
    return [_scenario(t, f"scenarios[{i}]", ws.path) for i, t in enumerate(tables)]


def find_scenario(ref: str, ws: Workspace | None) -> Scenario:
    """`ref` is a scenario file, or the name of a scenario in the workspace."""
    path = Path(ref)
    if path.suffix == ".toml" or path.exists():
        return load_scenario_file(path)
    scenarios = workspace_scenarios(ws) if ws is not None else []
    found = next((s for s in scenarios if s.name == ref), None)
    if found is None:
        names = ", ".join(repr(s.name) for s in scenarios) or "none"
        raise ScenarioError(f"no scenario file or workspace scenario named {ref!r} "
                            f"(the workspace has {names})")
    return found


def _scenario(table: Any, path: str, source: Path | None) -> Scenario:
    ignored: list[str] = []
    try:
        scenario = from_table(Scenario, table, path or "scenario", ignored)
    except FieldError as exc:
        where = exc.path if path else exc.path.removeprefix("scenario.")
        raise ScenarioError(f"{source}: {where}: {exc.problem}") from None
    if ignored:
        keys = ", ".join(k.removeprefix("scenario.") for k in ignored)
        raise ScenarioError(f"{source}: unknown key {keys} (a typo?)")
    return scenario
