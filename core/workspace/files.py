"""Workspace files: TOML read with tomllib, written with tomli-w, atomically (temporary file in
the same directory, fsync, os.replace, fsync of the directory), secrets kept out."""

from __future__ import annotations

import contextlib
import os
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from core.atomic_file import replaced_bytes
from core.paths import config_dir
from core.workspace.model import Collection, Environment, SessionState, Variable, Workspace
from core.workspace.profiles import profile_from_table, profile_to_table, public_url
from core.workspace.schema import FieldError, WorkspaceError, describe, from_table, to_table
from core.workspace.secrets import SecretStore, variable_key

FORMAT = 1  # written as `format`; a newer file still loads (unknown keys are ignored)
MAX_FILE_SIZE = 16 * 1024 * 1024  # a workspace is a few KiB; anything near this is not one
STALE_TEMP_AGE = 600.0  # seconds: a temporary file this old was left by a killed save
_KNOWN = ("format", "active_environment", "session", "profiles", "environments", "collections")


def default_workspace_path() -> Path:
    return config_dir() / "workspace.toml"


def load_workspace(path: Path | None = None, secrets: SecretStore | None = None) -> Workspace:
    """A missing file is an empty workspace; a bad one raises WorkspaceError (one line naming
    the file and the line or key at fault). Secrets the store already has are filled in."""
    path = Path(path) if path is not None else default_workspace_path()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Workspace(path=path)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not path.is_file():
        raise WorkspaceError(f"{path}: not a file")
    if size > MAX_FILE_SIZE:
        raise WorkspaceError(_too_big(path, size))
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_SIZE:
        raise WorkspaceError(_too_big(path, len(data)))
    doc = _parse(path, data)
    try:
        ws = _from_doc(doc, secrets if secrets is not None else SecretStore())
    except FieldError as exc:
        raise WorkspaceError(f"{path}: {exc}") from None
    ws.path = path
    return ws


def save_workspace(
    ws: Workspace, path: Path | None = None, secrets: SecretStore | None = None
) -> None:
    """Atomic: a crash at any moment leaves the old file or the new one, never a mix. Secrets
    go to `secrets` (by default the OS keyring, else this launch's memory), never the file."""
    path = Path(path) if path is not None else ws.path or default_workspace_path()
    data = tomli_w.dumps(_to_doc(ws, secrets if secrets is not None else SecretStore())).encode()
    if len(data) > MAX_FILE_SIZE:
        raise WorkspaceError(_too_big(path, len(data)) + " (not saved)")
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot save: {exc.strerror or exc}") from None
    ws.path = path


def write_atomic(path: Path, data: bytes) -> None:
    target = Path(os.path.realpath(path))  # through a symlink, not over it
    target.parent.mkdir(parents=True, exist_ok=True)
    with replaced_bytes(target) as f:
        f.write(data)
    _fsync_dir(target.parent)
    _remove_stale_temps(target)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    cutoff = time.time() - STALE_TEMP_AGE
    for temp in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


def _too_big(path: Path, size: int) -> str:
    return (f"{path}: {size / 2**20:.1f} MiB is too big for a workspace file "
            f"(the limit is {MAX_FILE_SIZE // 2**20} MiB); is it the right file?")


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise WorkspaceError(f"{path}: not a text file (invalid UTF-8 at line {line}, "
                             f"column {column})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        words = str(exc).replace("(at end of document)",
                                 f"(at the end of the file, line {text.count(chr(10)) + 1})")
        raise WorkspaceError(f"{path}: not valid TOML: {words}") from None
    except RecursionError:
        raise WorkspaceError(f"{path}: not valid TOML: nested too deeply") from None


def _from_doc(doc: dict[str, Any], secrets: SecretStore) -> Workspace:
    ignored: list[str] = []
    version = doc.get("format", FORMAT)
    if not isinstance(version, int) or isinstance(version, bool):
        raise FieldError("format", f"expected a whole number, got {describe(version)}")
    active = doc.get("active_environment", "")
    if not isinstance(active, str):
        raise FieldError("active_environment", f"expected text, got {describe(active)}")
    profiles = [profile_from_table(t, f"profiles[{i}]", ignored, secrets)
                for i, t in enumerate(_array(doc, "profiles"))]
    environments = [from_table(Environment, t, f"environments[{i}]", ignored)
                    for i, t in enumerate(_array(doc, "environments"))]
    for env in environments:
        for var in env.variables:
            if var.secret and not var.value:
                var.value = secrets.peek(variable_key(env.name, var.name)) or ""
    return Workspace(
        profiles=profiles,
        collections=[from_table(Collection, t, f"collections[{i}]", ignored)
                     for i, t in enumerate(_array(doc, "collections"))],
        environments=environments,
        active_environment=active,
        session=from_table(SessionState, doc.get("session", {}), "session", ignored),
        extra={k: v for k, v in doc.items() if k not in _KNOWN},
        ignored=ignored,
    )


def _array(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise FieldError(key, f"expected an array of tables ([[{key}]]), got {describe(value)}")
    return value


def _to_doc(ws: Workspace, secrets: SecretStore) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": FORMAT, "active_environment": ws.active_environment}
    doc.update((k, v) for k, v in ws.extra.items() if k not in _KNOWN)
    session = SessionState([public_url(e) for e in ws.session.open], ws.session.reopen_last)
    doc["session"] = to_table(session)
    doc["profiles"] = [profile_to_table(p, secrets) for p in ws.profiles]
    doc["environments"] = [
        {"name": env.name, "variables": [_variable(env, v, secrets) for v in env.variables]}
        for env in ws.environments
    ]
    doc["collections"] = [to_table(c) for c in ws.collections]
    return doc


def _variable(env: Environment, var: Variable, secrets: SecretStore) -> dict[str, Any]:
    """A secret's value goes to the store; an empty one leaves what the store has."""
    if not var.secret:
        return to_table(var)
    if var.value:
        secrets.set(variable_key(env.name, var.name), var.value)
    return {"name": var.name, "secret": True}
