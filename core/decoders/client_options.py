"""Protocol-client options as given by a profile or the CLI (a mapping) turned into a settings
dataclass, with one clear error for an unknown key or a value of the wrong kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

S = TypeVar("S")


def settings_from(cls: type[S], options: Mapping[str, Any] | S | None, protocol: str) -> S:
    """`options` as `cls`: None gives the defaults; a key may use - or _ ("keep-alive")."""
    if options is None:
        return cls()
    if isinstance(options, cls):
        return options
    if not isinstance(options, Mapping):
        raise ValueError(f"{protocol} options must be a table of names and values")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, raw in options.items():
        name = str(key).replace("-", "_")
        if name not in defaults:
            known = ", ".join(n.replace("_", "-") for n in defaults)
            raise ValueError(f"unknown {protocol} option {key!r} (known: {known})")
        values[name] = _coerce(raw, defaults[name], f"{protocol} option {key!r}")
    return cls(**values)


def _coerce(raw: Any, default: Any, what: str) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError(raw)
                return raw.lower() in ("true", "1", "yes", "on")
            return bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, tuple):
            parts = raw.split(",") if isinstance(raw, str) else list(raw)
            if len(parts) != len(default):
                raise ValueError(raw)
            return tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {raw!r} is not a valid value (like {default!r})") from None
    return None if raw is None else str(raw)
