"""Ask for the secrets a profile needs and the store does not have (no OS keyring: secrets live in
memory for one launch), before it connects: once per secret per launch, on the GUI thread, with
a dialog that does not block the event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from core.config import ConnectionConfig
from core.facade import Environment, Resolver, SecretStore, UnresolvedVariable


class _Probe:
    """Stands in for the store while a throwaway resolver walks the fields: notes what is
    missing, never asks."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets
        self.missing: list[str] = []

    def get(self, key: str) -> str | None:
        peek = getattr(self.secrets, "peek", None)
        value = peek(key) if peek is not None else None
        if value is None and key not in self.missing:
            self.missing.append(key)
        return value if value is not None else ""


def config_texts(config: ConnectionConfig) -> list[str]:
    """The fields a connection resolves on every attempt."""
    texts = [config.url, config.token or ""]
    texts += [value for _, value in config.headers]
    return texts + list(config.on_open)


def missing_secrets(texts: Iterable[str], environment: Environment | None,
                    secrets: SecretStore) -> list[str]:
    """Keys of the secrets these texts use (${secret:KEY} or a secret {{variable}}) that the
    store has no value for."""
    probe = _Probe(secrets)
    resolver = Resolver(environment, probe)  # type: ignore[arg-type]  # duck-typed: get()
    for text in texts:
        try:
            resolver.resolve(text)
        except UnresolvedVariable:
            continue  # not a secret: the connection reports it when it tries
    return probe.missing


class SecretPrompt:
    """Asks for `keys` one after the other; `done(True)` once all were given, `done(False)`
    when the user cancels one (what was given is kept)."""

    def __init__(self, parent: QWidget, secrets: SecretStore, keys: list[str], what: str,
                 done: Callable[[bool], None]) -> None:
        self.parent, self.secrets, self.keys = parent, secrets, list(keys)
        self.what, self.done = what, done
        self.dialog: QInputDialog | None = None

    def start(self) -> None:
        if not self.keys:
            self.done(True)
            return
        key = self.keys[0]
        dialog = QInputDialog(self.parent)
        dialog.setObjectName("SecretPrompt")
        dialog.setWindowTitle("Secret needed")
        dialog.setLabelText(
            f"{self.what} needs the secret “{key}”. There is no OS keyring here, so it is kept "
            "in memory until the app quits, and never written to a file:")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.textValueSelected.connect(lambda value, k=key: self._given(k, value))
        dialog.rejected.connect(lambda: self.done(False))
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    def _given(self, key: str, value: str) -> None:
        self.secrets.set(key, value)
        self.keys.pop(0)
        self.start()
