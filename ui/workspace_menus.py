"""Menus of the workspace: Connection > Profiles (open a saved connection in one action) and
Environment (choose the active one, edit them). Both are rebuilt each time they open, from the
window's `workspace_controller` (None until the session starts: then they say so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

if TYPE_CHECKING:
    from ui.workspace_controller import WorkspaceController
    from ui.workspace_session import WorkspaceSession

Controller = Callable[[], "WorkspaceController | None"]


def _note(menu: QMenu, text: str) -> None:
    action = menu.addAction(text)
    action.setEnabled(False)


class _WorkspaceMenu(QMenu):
    """Rebuilt from the workspace each time it opens (`fill`), or says the workspace is still
    loading."""

    def __init__(self, title: str, controller: Controller, parent: QWidget | None) -> None:
        super().__init__(title, parent)
        self._controller = controller
        self.aboutToShow.connect(self.rebuild)

    def rebuild(self) -> None:
        self.clear()
        controller = self._controller()
        if controller is None or controller.session is None:
            _note(self, "The workspace is loading…")
            return
        self.fill(controller, controller.session)

    def fill(self, controller: WorkspaceController, session: WorkspaceSession) -> None:
        raise NotImplementedError


class ProfilesMenu(_WorkspaceMenu):
    """One action per saved profile: it adds the connection and connects it."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__("&Profiles", controller, parent)
        self.setObjectName("ProfilesMenu")

    def fill(self, controller: WorkspaceController, session: WorkspaceSession) -> None:
        profiles = session.workspace.profiles
        if not profiles:
            _note(self, "No saved profiles: use “Save as profile” in the connection dialog")
            return
        for config in profiles:
            action = self.addAction(config.name)
            action.setToolTip(config.url)
            action.setStatusTip(f"Connect to {config.url}")
            action.triggered.connect(lambda _=False, n=config.name: controller.open_profile(n))
        self.addSeparator()
        remove = self.addMenu("&Delete profile")
        for config in profiles:
            action = remove.addAction(config.name)
            action.triggered.connect(lambda _=False, n=config.name: self.delete(n))

    def delete(self, name: str) -> None:
        controller = self._controller()
        if controller is None or controller.session is None:
            return
        session = controller.session
        session.workspace.profiles = [p for p in session.workspace.profiles if p.name != name]
        controller.say(session.edited() or f"Deleted profile {name!r}")

    def action_for(self, name: str) -> QAction | None:
        self.rebuild()
        return next((a for a in self.actions() if a.text() == name), None)


class EnvironmentMenu(_WorkspaceMenu):
    """The active environment (one of a group, or none) and the editor."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__("E&nvironment", controller, parent)
        self.setObjectName("EnvironmentMenu")

    def fill(self, controller: WorkspaceController, session: WorkspaceSession) -> None:
        workspace = session.workspace
        group = QActionGroup(self)
        for name in ["", *(env.name for env in workspace.environments)]:
            action = self.addAction(name or "No environment")
            action.setCheckable(True)
            action.setChecked(name == workspace.active_environment)
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, n=name: controller.set_environment(n))
        self.addSeparator()
        edit = self.addAction("&Edit environments…")
        edit.triggered.connect(controller.edit_environments)
