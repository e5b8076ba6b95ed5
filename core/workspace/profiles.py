"""Connection profiles in a workspace file: every ConnectionConfig field, secrets kept out."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.config import ConnectionConfig
from core.workspace.schema import from_table, to_table
from core.workspace.secrets import SecretStore, profile_header_key, profile_token_key
from core.workspace.variables import has_reference

_SECRET_NAME = re.compile(r"authorization|cookie|token|key|secret|password|passwd|credential",
                          re.IGNORECASE)


def secret_name(name: str) -> bool:
    """Whether a header (or query parameter) of this name usually carries a secret."""
    return _SECRET_NAME.search(name) is not None


def reference(key: str) -> str:
    return "${secret:" + key + "}"


def profile_to_table(config: ConnectionConfig, secrets: SecretStore) -> dict[str, Any]:
    """A literal token or secret-looking header value goes to the store and the file gets a
    reference; values that already use variables are written as they are."""

    def keep(value: str | None, key: str) -> str | None:
        if not value or has_reference(value):
            return value
        secrets.set(key, value)
        return reference(key)

    keys = _header_keys(config)
    headers = [(n, keep(v, keys[i]) or "" if i in keys else v)
               for i, (n, v) in enumerate(config.headers)]
    token = keep(config.token, profile_token_key(config.label))
    return to_table(dataclasses.replace(config, headers=headers, token=token))


def profile_from_table(
    table: Any, path: str, ignored: list[str], secrets: SecretStore
) -> ConnectionConfig:
    """The references profile_to_table wrote are filled back in when the store has them
    (never asking); the rest stay references, resolved when the connection opens."""
    config = from_table(ConnectionConfig, table, path, ignored)

    def restore(value: str | None, key: str) -> str | None:
        stored = secrets.peek(key) if value == reference(key) else None
        return value if stored is None else stored

    keys = _header_keys(config)
    config.headers = [(n, restore(v, keys[i]) or "" if i in keys else v)
                      for i, (n, v) in enumerate(config.headers)]
    config.token = restore(config.token, profile_token_key(config.label))
    return config


def _header_keys(config: ConnectionConfig) -> dict[int, str]:
    """The secret-store key of each secret-looking header, by position (a repeated name gets
    #2, #3, ...)."""
    keys: dict[int, str] = {}
    seen: dict[str, int] = {}
    for i, (name, _) in enumerate(config.headers):
        if secret_name(name):
            n = seen[name.lower()] = seen.get(name.lower(), 0) + 1
            keys[i] = profile_header_key(config.label, name) + (f"#{n}" if n > 1 else "")
    return keys


def public_url(entry: str) -> str:
    """A session entry as it may be written: a URL loses its password and secret-looking query
    parameters (?token=...); a profile name is kept as it is."""
    try:
        parts = urlsplit(entry)
    except ValueError:
        return entry
    if parts.scheme not in ("ws", "wss", "http", "https"):
        return entry
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not secret_name(k)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
