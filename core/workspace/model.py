"""A workspace as plain dataclasses: connection profiles, saved messages, environments, session."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.config import ConnectionConfig

MessageFormat = Literal["text", "json", "hex", "base64"]


@dataclass
class SavedMessage:
    name: str
    body: str
    format: MessageFormat = "text"
    folder: str = ""  # "a/b": folders are paths, so a collection stays one flat, ordered list
    as_request: bool = False  # send with a requestId and wait for the reply

    def payload(self, resolve: Callable[[str], str] | None = None) -> tuple[bytes, bool]:
        """(bytes to send, is_text). Variables are resolved in text and JSON bodies only: a hex
        or base64 body is binary and sent exactly as written."""
        if self.format in ("text", "json"):
            body = resolve(self.body) if resolve is not None else self.body
            if self.format == "json":
                try:
                    json.loads(body)
                except ValueError as exc:
                    raise ValueError(f"message {self.name!r} is not valid JSON: {exc}") from None
            return body.encode(), True
        compact = "".join(self.body.split())
        try:
            if self.format == "hex":
                return bytes.fromhex(compact), False
            if self.format == "base64":
                return base64.b64decode(compact, validate=True), False
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"message {self.name!r} is not valid {self.format}: {exc}") from None
        raise ValueError(f"message {self.name!r} has an unknown format {self.format!r}")


@dataclass
class Collection:
    name: str
    messages: list[SavedMessage] = field(default_factory=list)  # the user's order


@dataclass
class Variable:
    name: str
    value: str = ""  # for a secret: "" means "kept in the secret store"
    secret: bool = False


@dataclass
class Environment:
    name: str
    variables: list[Variable] = field(default_factory=list)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


@dataclass
class SessionState:
    open: list[str] = field(default_factory=list)  # profile names, or URLs without secrets
    reopen_last: bool = True


@dataclass
class Workspace:
    profiles: list[ConnectionConfig] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    active_environment: str = ""
    session: SessionState = field(default_factory=SessionState)
    path: Path | None = None
    # Top-level tables this version does not know (written by a newer one): kept and saved back.
    extra: dict[str, Any] = field(default_factory=dict)
    # Key paths inside known tables that were ignored on load (lost on the next save).
    ignored: list[str] = field(default_factory=list)

    def profile(self, name: str) -> ConnectionConfig | None:
        return next((p for p in self.profiles if p.name == name), None)

    def save_profile(self, config: ConnectionConfig) -> None:
        """Insert, or replace the profile of the same name in place (its position is kept)."""
        for i, existing in enumerate(self.profiles):
            if existing.name == config.name:
                self.profiles[i] = config
                return
        self.profiles.append(config)

    def environment(self, name: str | None = None) -> Environment | None:
        """The named environment, or the active one when no name is given."""
        wanted = self.active_environment if name is None else name
        return next((e for e in self.environments if e.name == wanted), None)

    def collection(self, name: str) -> Collection:
        """The named collection, created (at the end) if there is none."""
        found = next((c for c in self.collections if c.name == name), None)
        if found is None:
            found = Collection(name)
            self.collections.append(found)
        return found
