"""The Collections panel edits the workspace file: add, rename in place, reorder, delete; the
Environment editor masks secrets; frames and composer text become saved messages."""

from __future__ import annotations

import tomllib

from PySide6.QtWidgets import QLineEdit, QMessageBox

from core.events import Direction, FrameEvent, Opcode
from core.workspace import Environment, SavedMessage, SecretStore, Variable, Workspace
from core.workspace.secrets import variable_key
from tests.helpers_ui import dispose
from ui.collections_panel import CollectionsPanel
from ui.environment_dialog import KEPT, EnvironmentDialog
from ui.saved_message_dialog import message_from_composer, message_from_frame
from ui.workspace_session import WorkspaceSession


def _names(path) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    doc = tomllib.loads(path.read_text())
    return {c["name"]: [m["name"] for m in c.get("messages", [])]
            for c in doc.get("collections", [])}


def test_add_rename_reorder_delete_are_saved(qtbot, tmp_path):
    path = tmp_path / "w.toml"
    session = WorkspaceSession(Workspace(path=path))
    panel = CollectionsPanel()
    qtbot.addWidget(panel)
    panel.set_workspace(session)
    assert panel.new_collection("API") == "API"
    for name, folder in (("a", ""), ("b", "auth"), ("c", ""), ("d", "auth")):
        panel.add_message("API", SavedMessage(name, f'"{name}"', "json", folder))
    assert _names(path) == {"API": ["a", "b", "c", "d"]}

    assert panel.select_message("API", "c")
    panel.move_selected(-1)  # past "b", which is in another folder, to before "a"
    assert _names(path) == {"API": ["c", "b", "a", "d"]}
    assert panel.selected_message().name == "c"
    panel.move_selected(-1)  # already first of its folder: stays
    assert _names(path) == {"API": ["c", "b", "a", "d"]}

    panel.tree.currentItem().setText(0, "c2")  # renamed in place (F2)
    assert _names(path) == {"API": ["c2", "b", "a", "d"]}
    qtbot.waitUntil(lambda: panel.tree.currentItem().text(0) == "c2")  # rebuilt after the edit
    assert panel.select(("collection", "API", -1))
    panel.tree.currentItem().setText(0, "Public API")
    assert _names(path) == {"Public API": ["c2", "b", "a", "d"]}
    qtbot.waitUntil(lambda: panel.selected_key() == ("collection", "Public API", -1))
    top = panel.tree.topLevelItem(0)
    folder = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(0) == "auth")
    assert [folder.child(i).text(0) for i in range(folder.childCount())] == ["b", "d"]

    assert panel.select_message("Public API", "b")
    box = panel.delete_selected()
    assert isinstance(box, QMessageBox) and "'b'" in box.text()
    box.accept()  # Yes
    assert _names(path) == {"Public API": ["c2", "a", "d"]}
    panel.new_collection("Other")
    assert panel.select(("collection", "Other", -1))
    panel.move_selected(-1)
    assert list(_names(path)) == ["Other", "Public API"]
    panel.delete_selected(confirm=False)
    assert list(_names(path)) == ["Public API"]


def test_send_and_compose_are_asked_of_the_window(qtbot, tmp_path):
    session = WorkspaceSession(Workspace(path=tmp_path / "w.toml"))
    panel = CollectionsPanel()
    qtbot.addWidget(panel)
    panel.set_workspace(session)
    sent, composed = [], []
    panel.send_requested.connect(sent.append)
    panel.compose_requested.connect(composed.append)
    assert not panel.actions_by_name["send"].isEnabled()  # nothing selected
    panel.add_message("C", SavedMessage("m", "hi"))
    assert panel.actions_by_name["send"].isEnabled()
    panel.actions_by_name["send"].trigger()
    panel.actions_by_name["compose"].trigger()
    assert [m.name for m in sent] == ["m"] and [m.name for m in composed] == ["m"]


def test_message_dialog_checks_binary_bodies(qtbot, tmp_path):
    session = WorkspaceSession(Workspace(path=tmp_path / "w.toml"))
    panel = CollectionsPanel()
    qtbot.addWidget(panel)
    panel.set_workspace(session)
    dialog = panel.new_message(SavedMessage("bin", "zz", "hex"))
    dialog.accept()
    assert dialog.isVisible() and "hex" in dialog.error_label.text()
    dialog.body_edit.setPlainText("00 ff 10")
    dialog.accept()
    assert session.workspace.collection("Messages").messages[0].payload() == (b"\x00\xff\x10",
                                                                              False)


def test_frames_and_composer_text_become_messages():
    text = FrameEvent(1, 0.0, Direction.IN, Opcode.TEXT, b'{"a":1}')
    binary = FrameEvent(1, 0.0, Direction.IN, Opcode.BINARY, b"\x00\x01")
    assert message_from_frame(text.payload, True).format == "json"
    saved = message_from_frame(binary.payload, False)
    assert saved.format == "base64" and saved.payload() == (b"\x00\x01", False)
    assert message_from_frame(b"\xff", True).format == "base64"  # not UTF-8: kept as bytes
    assert message_from_composer("plain", "text", False).format == "text"
    assert message_from_composer("00ff", "hex", True) == SavedMessage("", "00ff", "hex",
                                                                       as_request=True)


def test_environment_editor_masks_secrets(qtbot, tmp_path):
    secrets = SecretStore(use_keyring=False)
    secrets.set(variable_key("prod", "password"), "kept-value")
    envs = [Environment("prod", [Variable("host", "example.com"),
                                 Variable("password", "", secret=True)])]
    dialog = EnvironmentDialog(envs, secrets)
    qtbot.addWidget(dialog)
    host, password = (dialog.table.cellWidget(row, 1) for row in range(2))
    assert isinstance(host, QLineEdit) and isinstance(password, QLineEdit)
    assert host.echoMode() == QLineEdit.EchoMode.Normal
    assert password.echoMode() == QLineEdit.EchoMode.Password
    assert password.text() == "" and password.placeholderText() == KEPT  # never shown
    dialog.add_variable(Variable("host", "dupe"))
    dialog.accept()
    assert "defined twice" in dialog.error_label.text()
    dialog.table.removeRow(2)
    dialog.accept()
    assert dialog.result_environments == envs
    assert envs[0].variables[0].value == "example.com"  # the caller's list is not edited
    dispose(dialog)
