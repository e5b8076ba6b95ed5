"""Workspaces: connection profiles, saved messages, environments with variables, secrets."""

from core.workspace.files import default_workspace_path, load_workspace, save_workspace
from core.workspace.model import (
    Collection,
    Environment,
    SavedMessage,
    SessionState,
    Variable,
    Workspace,
)
from core.workspace.schema import WorkspaceError
from core.workspace.secrets import SecretStore
from core.workspace.variables import Resolver, UnresolvedVariable

__all__ = [
    "Collection",
    "Environment",
    "Resolver",
    "SavedMessage",
    "SecretStore",
    "SessionState",
    "UnresolvedVariable",
    "Variable",
    "Workspace",
    "WorkspaceError",
    "default_workspace_path",
    "load_workspace",
    "save_workspace",
]
