"""File menu entries for recordings in other formats: import a HAR (browsed in the Recordings
window, or saved as a profile) and replay a recording or HAR against a server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from core.facade import HarError, profile_from_har
from ui.har_actions import show_error

if TYPE_CHECKING:
    from ui.main_window import MainWindow

HAR_FILTER = "HAR files (*.har *.json);;All files (*)"


def add_recording_actions(window: MainWindow, menu: QMenu) -> None:
    for text, tip, slot in (
        ("&Import HAR…", "Import a HAR (Chrome DevTools, HTTP Toolkit, mitmproxy) as a recording",
         lambda: import_har(window)),
        ("&Profile from HAR…", "Save the first WebSocket connection of a HAR as a profile "
         "(without its secrets)", lambda: profile_from_har_dialog(window)),
        ("Re&play…", "Send a recording's or HAR's messages to a server and compare the replies",
         lambda: replay(window)),
    ):
        action = QAction(text, window)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)


def import_har(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Import HAR", "", HAR_FILTER)
    if path:
        window.show_recordings().import_har(Path(path))  # lists and opens it, or says why not


def profile_from_har_dialog(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Profile from HAR", "", HAR_FILTER)
    if path:
        save_profile_from_har(window, Path(path))


def save_profile_from_har(window: MainWindow, path: Path) -> str | None:
    """The HAR's first WebSocket connection saved as a profile; None (one error shown) when the
    file has none or the workspace cannot take it."""
    try:
        config = profile_from_har(path)
        config.name = config.name or Path(path).stem
        return window.save_profile(config)
    except (HarError, OSError, ValueError) as exc:
        show_error(window, "Cannot make a profile from this HAR", str(exc))
        return None


def replay(window: MainWindow) -> None:
    from ui.replay_dialog import replay_file_dialog

    selected = window.connections.selected_ids() if "connections" in window.panels else []
    url = window.bridge.commands.config(selected[0]).url if selected else ""
    replay_file_dialog(window, url)
