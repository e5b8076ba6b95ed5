"""The window's side of the workspace: profiles opened as connections, saved messages sent or
composed, saving from the composer and the inspector, environments, and the session reopened.

The main window holds one `WorkspaceController`; panels only emit signals, and this wires them
(when the panel has them: the composer's `save_requested` and `set_resolver`, the inspector's
`save_requested`). Connections get the session's resolver, so {{variables}} in URLs, headers,
tokens and on-open messages are filled in on every (re)connect."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from core.config import ConnectionConfig
from core.facade import Collection, SavedMessage
from ui.workspace_session import CurrentResolver, WorkspaceSession

if TYPE_CHECKING:
    from core.events import FrameEvent
    from ui.main_window import MainWindow

TOML_FILTER = "Workspaces (*.toml);;All files (*)"


class WorkspaceController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session: WorkspaceSession | None = None
        self.profile_of: dict[int, str] = {}  # connection id -> the profile it was opened from
        self._dialogs: set[QWidget] = set()
        self._wired: set[str] = set()  # panels whose signals are connected
        # {{variables}} of the current workspace's active environment: connections and the
        # composer hold this, so a workspace opened later applies to them too
        self.resolve = CurrentResolver(lambda: self.session)
        self.prompts: list[Any] = []  # SecretPrompts asked (kept while their dialogs live)

    # ----- the workspace -----------------------------------------------------------------------

    def set_session(self, session: WorkspaceSession) -> None:
        """Use `session` from now on; a load problem is said once, in a dialog and the status."""
        session.setParent(self)
        self.session = session
        for key, panel in self.window.panels.items():
            self.wire_panel(key, panel)
        if session.problem:  # (the app also puts it in the status bar, last)
            box = QMessageBox(QMessageBox.Icon.Warning, "Workspace not loaded",
                              f"{session.problem}\n\nThe app runs with an empty workspace; the "
                              "file is left as it is. Mend it and open it again, or use "
                              "File > Save workspace as… to keep what you do now.",
                              QMessageBox.StandardButton.Ok, self.window)
            box.setObjectName("WorkspaceProblem")
            self._show(box)

    def wire_panel(self, key: str, panel: QWidget) -> None:
        """Connect a panel to the workspace, once (each signal only if the panel has it); the
        collections and load panels follow every new workspace."""
        if self.session is None:
            return
        if key in ("collections", "load") and hasattr(panel, "set_workspace"):
            panel.set_workspace(self.session)  # (load: its scenarios, profiles, collections)
        if key in self._wired:
            return
        self._wired.add(key)
        if key == "collections" and hasattr(panel, "set_workspace"):
            panel.send_requested.connect(self.send_saved)
            panel.compose_requested.connect(self.compose_saved)
            panel.problem.connect(self.say)
        elif key == "composer":
            set_resolver = getattr(panel, "set_resolver", None)
            if callable(set_resolver):
                set_resolver(self.resolve)
            set_collections = getattr(panel, "set_collections", None)
            if callable(set_collections):  # the Repeat row repeats a collection too
                set_collections(self.collections)
            signal = getattr(panel, "save_requested", None)
            if signal is not None:
                signal.connect(self.save_from_composer)
        elif key == "inspector":
            signal = getattr(panel, "save_requested", None)
            if signal is not None:
                signal.connect(self.save_from_frame)
        elif key == "connections" and hasattr(panel, "resolve"):
            panel.resolve = self.resolve  # every connection it adds resolves {{variables}}

    def collections(self) -> list[Collection]:
        """The current workspace's collections (read afresh: a workspace opened later too)."""
        return self.session.workspace.collections if self.session is not None else []

    def say(self, text: str) -> None:
        bridge = self.window.bridge
        if bridge is not None:
            bridge.message.emit(text)
        else:
            self.window.status.showMessage(text)

    def open_file(self, path: str) -> bool:
        """Load another workspace; a bad file is reported and the current one kept."""
        session = WorkspaceSession.load(path)
        if session.problem:
            self.say(f"Workspace not opened: {session.problem}")
            return False
        if self.session is not None:
            self.remember_session()  # the one being left keeps its open connections
        self.set_session(session)
        session.changed.emit()
        self.say(f"Workspace {session.path}: {len(session.workspace.profiles)} profiles, "
                 f"{len(session.workspace.collections)} collections")
        return True

    def save_as(self, path: str) -> bool:
        if self.session is None:
            return False
        try:
            self.session.save_as(path)
        except ValueError as exc:
            self.say(str(exc))
            return False
        self.say(f"Workspace saved as {self.session.path}")
        return True

    def choose_file(self) -> QFileDialog:
        dialog = QFileDialog(self.window, "Open workspace", str(self._dir()), TOML_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.open_file)
        return self._show(dialog)

    def choose_save_as(self) -> QFileDialog:
        dialog = QFileDialog(self.window, "Save workspace as", str(self._dir()), TOML_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("toml")
        dialog.fileSelected.connect(self.save_as)
        return self._show(dialog)

    def _dir(self) -> str:
        return str(self.session.path.parent) if self.session is not None else ""

    def _show(self, dialog: Any) -> Any:
        self._dialogs.add(dialog)
        dialog.finished.connect(lambda _r: self._dialogs.discard(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()  # window-modal without a nested event loop (qasync-safe)
        return dialog

    # ----- profiles ----------------------------------------------------------------------------

    def save_profile(self, config: ConnectionConfig) -> str:
        """For the connection dialog's "Save as profile": raises with the reason when not saved."""
        if self.session is None:
            raise ValueError("the workspace is not loaded yet")
        said = self.session.save_profile(config)
        self.say(said)
        return said

    def open_profile(self, name: str, select: bool = True) -> int | None:
        """Add and connect the saved connection `name`, with the environment's variables. When
        it uses secrets the store does not have, they are asked for first (then None now).
        The connection's id."""
        config = self.session.profile(name) if self.session is not None else None
        if config is None or self.session is None:
            self.say(f"There is no profile named {name!r} in the workspace")
            return None
        from ui.secret_prompt import SecretPrompt, config_texts, missing_secrets

        session = self.session
        missing = missing_secrets(config_texts(config), session.workspace.environment(),
                                  session.secrets)
        if not missing:
            return self._add_profile(name, config, select)

        def done(given: bool) -> None:
            if given:
                self._add_profile(name, config, select)
            else:
                self.say(f"Not connected to {name}: a secret it needs was not given")

        prompt = SecretPrompt(self.window, session.secrets, missing, f"The profile {name!r}", done)
        self.prompts = [p for p in self.prompts if p.keys] + [prompt]
        prompt.start()
        return None

    def _add_profile(self, name: str, config: ConnectionConfig, select: bool) -> int | None:
        import copy

        assert self.session is not None
        conn_id = self.window.connections.add_connection(copy.deepcopy(config), select=select)
        if conn_id is not None:
            self.profile_of[conn_id] = name
        return conn_id

    # ----- saved messages ----------------------------------------------------------------------

    def send_saved(self, message: SavedMessage) -> int:
        """Send to the connections selected in the connections panel; returns how many."""
        if self.session is None:
            return 0
        try:
            payload, is_text = message.payload(self.resolve)
        except ValueError as exc:
            self.say(f"Not sent: {exc}")
            return 0
        targets = self._targets()
        if not targets:
            self.say("Select a connection to send to")
            return 0
        bridge = self.window.bridge
        commands = bridge.commands
        request = _request_object(payload) if message.as_request and is_text else None
        for conn_id in targets:
            if request is not None:
                bridge.run(commands.request(conn_id, request), f"Request {message.name}")
            else:
                bridge.run(commands.send(conn_id, payload, text=is_text), f"Send {message.name}")
        self.say(f"Sent {message.name!r} to {len(targets)} connection(s)")
        return len(targets)

    def _targets(self) -> list[int]:
        connections = self.window.panels.get("connections")
        ids = connections.selected_ids() if hasattr(connections, "selected_ids") else []
        return [conn_id for conn_id in self.window.bridge.commands.ids() if conn_id in ids]

    def compose_saved(self, message: SavedMessage) -> None:
        composer = self.window.panels.get("composer")
        if not hasattr(composer, "load"):
            return
        mode = message.format if message.format in ("hex", "base64") else "text"
        composer.load(message.body, mode)
        self.window.docks["composer"].raise_()

    def save_from_composer(self, text: str, mode: str, as_request: bool = False) -> QWidget | None:
        from ui.saved_message_dialog import message_from_composer

        return self._save_dialog(message_from_composer(text, mode, as_request))

    def save_from_frame(self, event: FrameEvent) -> QWidget | None:
        from core.events import Opcode
        from ui.saved_message_dialog import message_from_frame

        is_text = event.opcode == Opcode.TEXT
        return self._save_dialog(message_from_frame(bytes(event.payload), is_text))

    def _save_dialog(self, message: SavedMessage) -> QWidget | None:
        panel = self.window.panels.get("collections")
        if not hasattr(panel, "new_message"):
            self.say("The collections panel is not available")
            return None
        self.window.docks["collections"].raise_()
        return panel.new_message(message)

    # ----- environments ------------------------------------------------------------------------

    def set_environment(self, name: str) -> None:
        if self.session is None:
            return
        problem = self.session.set_environment(name)
        self.say(problem or f"Environment: {name or 'none'}")

    def edit_environments(self) -> QWidget | None:
        if self.session is None:
            return None
        from ui.environment_dialog import EnvironmentDialog

        session = self.session
        dialog = EnvironmentDialog(session.workspace.environments, session.secrets, self.window)

        def apply() -> None:
            workspace = session.workspace
            workspace.environments = dialog.result_environments or []
            if workspace.environment() is None:  # the active one was deleted or renamed
                workspace.active_environment = ""
            if len(workspace.environments) == 1 and not workspace.active_environment:
                workspace.active_environment = workspace.environments[0].name
            problem = session.edited()
            self.say(problem or "Environments saved")

        dialog.accepted.connect(apply)
        return self._show(dialog)

    # ----- the session -------------------------------------------------------------------------

    def session_entries(self) -> list[str]:
        """The open connections as the next launch reopens them: profile names, or the URLs of
        the others (without their token); the embedded server's port changes, so it is left out,
        and so are a load run's mirrored samples."""
        bridge = self.window.bridge
        if bridge is None:
            return []
        server = bridge.server
        embedded = server.url if server is not None and server.running else None
        entries: list[str] = []
        mirrors = getattr(self.window.panels.get("load"), "mirrors", None)
        samples = set(getattr(mirrors, "ids", ()))  # a load run's, closed with it
        for conn_id in bridge.commands.ids():
            if conn_id in samples:
                continue
            name = self.profile_of.get(conn_id)
            url = bridge.commands.config(conn_id).url
            if name and self.session is not None and self.session.profile(name) is not None:
                entry = name
            elif embedded is not None and url.startswith(embedded):
                continue
            else:
                entry = url
            if entry not in entries:
                entries.append(entry)
        return entries

    def remember_session(self) -> None:
        if self.session is None or not self.session.writable:
            return
        problem = self.session.remember_open(self.session_entries())
        if problem:
            self.say(problem)

    def reopen_last(self) -> list[int]:
        """Open the connections of the last session (when the workspace asks for it)."""
        from ui.connection_dialog import validate_url

        if self.session is None or not self.session.workspace.session.reopen_last:
            return []
        opened = []
        for entry in self.session.workspace.session.open:
            if self.session.profile(entry) is not None:
                conn = self.open_profile(entry, select=False)
            elif validate_url(entry) is None:
                conn = self.window.connections.add_connection(ConnectionConfig(url=entry),
                                                              select=False)
            else:
                conn = None
                self.say(f"Last session: {entry!r} is neither a profile nor a URL (skipped)")
            if conn is not None:
                opened.append(conn)
        return opened


def _request_object(payload: bytes) -> dict[str, Any] | None:
    """A JSON object to send as a request, or None (then it is sent as it is)."""
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
