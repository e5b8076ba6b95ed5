"""Dataclasses to TOML tables and back, checked by the fields' type hints, so every error names
the key path at fault (e.g. `profiles[1].heartbeat.interval: expected a number, got "x"`)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


class WorkspaceError(ValueError):
    """A workspace file that cannot be read or written, in one line a user understands."""


class FieldError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:40] + "…"
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"  # dates and times


def to_table(obj: Any) -> dict[str, Any]:
    """Every field in declaration order (a stable file that diffs well); None is left out, as
    TOML has no null, and comes back as the field's default (None for every such field)."""
    table: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = _to_toml(getattr(obj, f.name))
        if value is not None:
            table[f.name] = value
    return table


def _to_toml(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_table(value)
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return [{"name": k, "value": v} for k, v in value]  # headers
        return [_to_toml(v) for v in value]
    return value


def from_table(cls: type[T], table: Any, path: str, ignored: list[str]) -> T:
    """Build `cls` from a TOML table; unknown keys are listed in `ignored`, not fatal."""
    if not isinstance(table, dict):
        raise FieldError(path, f"expected a table, got {describe(table)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key in known:
            kwargs[key] = convert(value, hints[key], f"{path}.{key}", ignored)
        else:
            ignored.append(f"{path}.{key}")
    for name, f in known.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in kwargs and no_default:
            raise FieldError(f"{path}.{name}", "missing (it is required)")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise FieldError(path, str(exc)) from None


def convert(value: Any, hint: Any, path: str, ignored: list[str]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return convert(value, next(a for a in args if a is not type(None)), path, ignored)
    if origin is Literal:
        if value not in args or not isinstance(value, str):
            choices = ", ".join(f'"{a}"' for a in args)
            raise FieldError(path, f"expected one of {choices}, got {describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise FieldError(path, f"expected an array, got {describe(value)}")
        return [convert(v, args[0], f"{path}[{i}]", ignored) for i, v in enumerate(value)]
    if origin is tuple:
        return _pair(value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldError(path, f"expected a table, got {describe(value)}")
        return {str(k): convert(v, args[1], f"{path}.{k}", ignored) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        # a type hint that is a dataclass is the class, never an instance of it
        return from_table(hint, value, path, ignored)  # type: ignore[arg-type]
    return _scalar(value, hint, path)


def _scalar(value: Any, hint: Any, path: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise FieldError(path, f"expected true or false, got {describe(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise FieldError(path, f"expected a whole number, got {describe(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and not (
            isinstance(value, float) and math.isnan(value)
        ):
            return float(value)
        raise FieldError(path, f"expected a number, got {describe(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise FieldError(path, f"expected text, got {describe(value)}")
    raise FieldError(path, f"cannot read a field of type {hint!r}")  # a model this code lacks


def _pair(value: Any, path: str) -> tuple[str, str]:
    """A header: {name = "...", value = "..."} (as written), or ["name", "value"]."""
    if isinstance(value, dict):
        for key in ("name", "value"):
            if not isinstance(value.get(key), str):
                got = describe(value[key]) if key in value else "nothing"
                raise FieldError(f"{path}.{key}", f"expected text, got {got}")
        return value["name"], value["value"]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    raise FieldError(path, f'expected {{name = "...", value = "..."}}, got {describe(value)}')
