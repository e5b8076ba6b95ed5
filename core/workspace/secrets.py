"""Secrets kept out of workspace files: in the OS keyring when there is a real one, else in
memory for this launch only (asked for once per launch)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

SERVICE = "SocketScope"
log = logging.getLogger(__name__)

# This launch's secrets when no keyring is used, shared by every store of the process, so a
# secret given once is found by whoever loads the workspace next in the same launch.
_memory: dict[str, str] = {}
_asked: set[str] = set()  # keys the user was already asked for in this launch


def _part(name: str) -> str:
    """A name as part of a key that fits in ${secret:KEY} (no braces)."""
    return name.replace("{", "(").replace("}", ")")


def profile_token_key(profile: str) -> str:
    return f"profile/{_part(profile)}/token"


def profile_header_key(profile: str, header: str) -> str:
    return f"profile/{_part(profile)}/header/{_part(header.lower())}"


def variable_key(environment: str, variable: str) -> str:
    return f"env/{_part(environment)}/{_part(variable)}"


def keyring_usable(backend: Any) -> bool:
    """Whether `backend` keeps secrets out of plain files: not the 'fail' or 'null' backends,
    and not keyrings.alt's file backends (plain text, or a password prompt on a terminal)."""
    module = type(backend).__module__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")):
        return False
    children = getattr(backend, "backends", None)
    if module.startswith("keyring.backends.chainer"):
        return any(keyring_usable(child) for child in children or ())
    try:
        return float(backend.priority) > 0
    except Exception:  # a backend that cannot run here may raise from its priority
        return False


def system_keyring() -> Any | None:
    """The OS keyring backend when a usable one exists here, else None."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration must not stop the app
        log.warning("no keyring: %s", exc)
        return None
    return backend if keyring_usable(backend) else None


def forget_launch_secrets() -> None:
    """Drop the in-memory secrets and the record of what was asked (as a new launch would)."""
    _memory.clear()
    _asked.clear()


class SecretStore:
    """`ask(key)` is called at most once per key per launch when a value is missing (a dialog,
    a terminal prompt); its answer is kept. `keyring_backend` picks a backend explicitly (it is
    used as given); otherwise the OS keyring is used when `use_keyring` and one is usable."""

    def __init__(
        self,
        ask: Callable[[str], str | None] | None = None,
        use_keyring: bool = True,
        keyring_backend: Any | None = None,
    ) -> None:
        self.ask = ask
        self._keyring = keyring_backend
        # the OS keyring is looked up at the first secret (its backends cost ~10 MiB and some
        # time to load): a launch that never needs a secret never loads it
        self._look_up = keyring_backend is None and use_keyring

    @property
    def _backend(self) -> Any | None:
        if self._look_up:
            self._look_up = False
            self._keyring = system_keyring()
        return self._keyring

    @property
    def backend(self) -> str:
        backend = self._backend
        return "memory" if backend is None else f"keyring ({type(backend).__name__})"

    def get(self, key: str) -> str | None:
        value = self._stored(key)
        if value is not None or self.ask is None or key in _asked:
            return value
        _asked.add(key)
        value = self.ask(key)
        if value is not None:
            self.set(key, value)
        return value

    def peek(self, key: str) -> str | None:
        """The stored value, never asking for it."""
        return self._stored(key)

    def set(self, key: str, value: str) -> None:
        backend = self._backend
        if backend is not None:
            try:
                backend.set_password(SERVICE, key, value)
                return
            except Exception as exc:  # locked or refused: keep it for this launch at least
                log.warning("keyring refused to store %s (%s): kept in memory", key, exc)
        _memory[key] = value

    def delete(self, key: str) -> None:
        _memory.pop(key, None)
        backend = self._backend
        if backend is not None:
            try:
                backend.delete_password(SERVICE, key)
            except Exception:  # absent, or the keyring refused: nothing more to do
                log.debug("keyring had no %s to delete", key)

    def _stored(self, key: str) -> str | None:
        backend = self._backend
        if backend is not None:
            try:
                value: str | None = backend.get_password(SERVICE, key)
            except Exception as exc:
                log.warning("keyring could not read %s: %s", key, exc)
            else:
                if value is not None:
                    return value
        return _memory.get(key)
