"""{{variable}} resolution: environment values, built-ins, ${env:NAME} and ${secret:KEY}."""

from __future__ import annotations

import itertools
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from core.errors import SettingsError
from core.workspace.model import Environment
from core.workspace.secrets import SecretStore, variable_key

# {{name}} or {{$builtin}}, then ${env:NAME} and ${secret:KEY}. Anything else in braces (JSON,
# templates of other tools) is left alone.
_PATTERN = re.compile(
    r"\{\{\s*(\$?[A-Za-z_][\w.\-]*)\s*\}\}|\$\{(env|secret):([^{}]+)\}"
)
MAX_DEPTH = 16  # variables whose values use variables, this deep at most (catches cycles)


class UnresolvedVariable(SettingsError):
    """A {{name}}, ${env:NAME} or ${secret:KEY} that has no value."""


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Resolver:
    """Resolves afresh on every call: a new uuid, the next $seq, the current token."""

    def __init__(
        self,
        environment: Environment | None = None,
        secrets: SecretStore | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.environment = environment
        self.secrets = secrets
        self.environ = environ
        self._seq = itertools.count(1)
        # Values that came from the secret store, so what shows them (a handshake's headers)
        # can mask them; one per secret used, so it stays small.
        self.secret_values: set[str] = set()
        self._builtins: dict[str, Callable[[], str]] = {
            "$uuid": lambda: str(uuid.uuid4()),
            "$timestamp": lambda: str(int(time.time())),
            "$isoTimestamp": _iso_now,
            "$randomInt": lambda: str(random.randint(0, 1000)),
            "$seq": lambda: str(next(self._seq)),
        }

    def resolve(self, text: str) -> str:
        if "{{" not in text and "${" not in text:
            return text
        return self._resolve(text, ())

    __call__ = resolve

    def names(self, text: str) -> list[str]:
        """The {{names}} used in `text`, in order, each once."""
        found = (m.group(1) for m in _PATTERN.finditer(text) if m.group(1))
        return list(dict.fromkeys(found))

    def _resolve(self, text: str, chain: tuple[str, ...]) -> str:
        return _PATTERN.sub(lambda m: self._value(m, chain), text)

    def _value(self, match: re.Match[str], chain: tuple[str, ...]) -> str:
        name, kind, key = match.groups()
        if kind == "env":
            value = self.environ.get(key)
            if value is None:
                raise UnresolvedVariable(f"environment variable {key} is not set "
                                         f"(used as ${{env:{key}}})")
            return value
        if kind == "secret":
            return self._secret(key, f"${{secret:{key}}}")
        if name in self._builtins:
            return self._builtins[name]()
        if name.startswith("$"):
            known = ", ".join(self._builtins)
            raise UnresolvedVariable(f"unknown built-in variable {{{{{name}}}}} (known: {known})")
        return self._variable(name, chain)

    def _variable(self, name: str, chain: tuple[str, ...]) -> str:
        env = self.environment
        var = env.variable(name) if env is not None else None
        if var is None:
            where = f"environment {env.name!r}" if env is not None else "no active environment"
            raise UnresolvedVariable(f"unknown variable {{{{{name}}}}} ({where})")
        if name in chain or len(chain) >= MAX_DEPTH:
            path = " -> ".join((*chain, name))
            raise UnresolvedVariable(f"variable {{{{{name}}}}} refers to itself ({path})")
        if not var.secret:
            return self._resolve(var.value, (*chain, name))
        if var.value:  # typed in this launch, not yet saved to the store
            value = self._resolve(var.value, (*chain, name))
            if len(value) >= 4:
                self.secret_values.add(value)
            return value
        assert env is not None  # a stored secret is used as it is, never expanded
        return self._secret(variable_key(env.name, name), f"secret variable {{{{{name}}}}}")

    def _secret(self, key: str, used_as: str) -> str:
        value = self.secrets.get(key) if self.secrets is not None else None
        if value is None:
            raise UnresolvedVariable(f"{used_as} has no value in the secret store ({key})")
        if len(value) >= 4:  # shorter ones would mask innocent text
            self.secret_values.add(value)
        return value


def has_reference(text: str) -> bool:
    """Whether `text` uses a {{variable}}, ${env:NAME} or ${secret:KEY}."""
    return _PATTERN.search(text) is not None
