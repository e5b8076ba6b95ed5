"""The app's workspace: the file it came from, the secret store, and the active environment's
resolver. Every change the user makes (a profile, a collection, an environment) is saved at once;
a file that failed to load is never written over (only "Save workspace as…" writes again)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.config import ConnectionConfig
from core.facade import (
    Resolver,
    SecretStore,
    Workspace,
    default_workspace_path,
    load_workspace,
    save_workspace,
)


class NotSaved(ValueError):
    """The workspace could not be written; the message says why, in words."""


class WorkspaceSession(QObject):
    """One workspace in the app. `problem` is the load error of a bad file, shown to the user;
    while it is set, `save()` refuses, so the bad file stays as it was for the user to mend."""

    changed = Signal()  # profiles, collections or environments changed: menus and panels redraw

    def __init__(
        self,
        workspace: Workspace,
        secrets: SecretStore | None = None,
        problem: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.secrets = secrets if secrets is not None else SecretStore()
        self.problem = problem
        # Secret values resolved so far, shared by this workspace's resolvers (one per edit), so
        # a handshake masks them whichever resolver filled them in.
        self.secret_values: set[str] = set()
        self._resolver = self._new_resolver()

    @classmethod
    def load(
        cls, path: str | Path | None = None, parent: QObject | None = None
    ) -> WorkspaceSession:
        """Never raises: a bad or unreadable file gives an empty workspace and a `problem`."""
        file = Path(path) if path else default_workspace_path()
        secrets = SecretStore()
        try:
            workspace = load_workspace(file, secrets)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            problem = str(exc) if isinstance(exc, ValueError) else f"{file}: cannot read ({exc})"
            return cls(Workspace(path=file), secrets, problem, parent)
        if workspace.path is None:
            workspace.path = file
        return cls(workspace, secrets, "", parent)

    @property
    def path(self) -> Path:
        return self.workspace.path or default_workspace_path()

    @property
    def writable(self) -> bool:
        return not self.problem

    # ----- saving ------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the file (atomically); raises NotSaved with the reason."""
        if self.problem:
            raise NotSaved(
                f"{self.path.name} could not be read, so it is not written over; "
                "use File > Save workspace as… to keep your changes"
            )
        try:
            save_workspace(self.workspace, self.path, self.secrets)
        except (OSError, ValueError) as exc:
            raise NotSaved(f"cannot write {self.path}: {exc}") from exc

    def save_as(self, path: str | Path) -> None:
        """Write to `path`, which becomes this workspace's file (the bad one is left alone)."""
        previous, problem = self.workspace.path, self.problem
        self.workspace.path, self.problem = Path(path), ""
        try:
            self.save()
        except NotSaved:
            self.workspace.path, self.problem = previous, problem
            raise

    def try_save(self) -> str:
        """Save; "" when it worked, else why not (for the status bar)."""
        try:
            self.save()
        except NotSaved as exc:
            return str(exc)
        return ""

    def edited(self) -> str:
        """After the user changed the workspace: tell the views, save; "" or why not saved."""
        self._resolver = self._new_resolver()
        self.changed.emit()
        return self.try_save()

    # ----- profiles, environments, session -----------------------------------------------------

    def save_profile(self, config: ConnectionConfig) -> str:
        """Insert or replace the profile named `config.name`; raises NotSaved when the file
        cannot be written (the profile is kept for this launch all the same)."""
        if not config.name:
            raise NotSaved("a profile needs a name")
        self.workspace.save_profile(config)
        self._resolver = self._new_resolver()
        self.changed.emit()
        self.save()
        return f"Saved profile {config.name!r} in {self.path}"

    def profile(self, name: str) -> ConnectionConfig | None:
        return self.workspace.profile(name)

    def set_environment(self, name: str) -> str:
        """Make `name` ("" for none) the active environment; "" or why it was not saved."""
        self.workspace.active_environment = name
        return self.edited()

    def _new_resolver(self) -> Resolver:
        resolver = Resolver(self.workspace.environment(), self.secrets)
        resolver.secret_values = self.secret_values
        return resolver

    def resolve(self, text: str) -> str:
        """{{variables}} of the active environment; the one resolver connections and the composer
        share, so switching the environment applies to the next send and the next reconnect."""
        return self._resolver.resolve(text)

    def remember_open(self, entries: list[str]) -> str:
        """The session's open connections (profile names or URLs), saved for the next launch."""
        self.workspace.session.open = list(entries)
        return self.try_save()


class CurrentResolver:
    """A resolver for connections and the composer that always uses the current workspace's
    (`current()` returns it, or None: text is then sent as written). Like a Resolver it has
    `secret_values`, which the connection masks in the handshake it publishes."""

    def __init__(self, current: Callable[[], WorkspaceSession | None]) -> None:
        self._current = current

    def __call__(self, text: str) -> str:
        session = self._current()
        return session.resolve(text) if session is not None else text

    @property
    def secret_values(self) -> set[str]:
        session = self._current()
        return session.secret_values if session is not None else set()
