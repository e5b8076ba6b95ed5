"""New/Edit a saved message: name, collection, folder, format, "send as request", body."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from core.facade import SavedMessage
from ui import theme
from ui.hex_view import monospace

FORMATS = (("text", "Text"), ("json", "JSON"), ("hex", "Binary: hex"), ("base64", "Binary: base64"))


def message_from_frame(payload: bytes, is_text: bool, name: str = "") -> SavedMessage:
    """A saved message holding exactly these bytes: text (JSON when it parses) or base64."""
    import base64

    if is_text:
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            pass
        else:
            return SavedMessage(name, text, "json" if _is_json(text) else "text")
    return SavedMessage(name, base64.b64encode(payload).decode(), "base64")


def message_from_composer(text: str, mode: str, as_request: bool) -> SavedMessage:
    """The composer's modes (text, msgpack, hex, base64) as a saved message's formats; msgpack
    is kept as its JSON source."""
    if mode in ("hex", "base64"):
        return SavedMessage("", text, mode, as_request=as_request)
    return SavedMessage("", text, "json" if _is_json(text) else "text", as_request=as_request)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class SavedMessageDialog(QDialog):
    """After accept(), `result_message` and `result_collection` hold what to save."""

    def __init__(
        self,
        message: SavedMessage,
        collections: list[str],
        collection: str = "",
        parent: QWidget | None = None,
        title: str = "Save message",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("SavedMessageDialog")
        self.result_message: SavedMessage | None = None
        self.result_collection = ""
        self.name_edit = QLineEdit(message.name)
        self.name_edit.setPlaceholderText("e.g. subscribe to prices")
        self.collection_combo = QComboBox()
        self.collection_combo.setEditable(True)
        self.collection_combo.addItems(collections or ["Messages"])
        if collection:
            self.collection_combo.setCurrentText(collection)
        self.folder_edit = QLineEdit(message.folder)
        self.folder_edit.setPlaceholderText("optional, e.g. auth/login")
        self.format_combo = QComboBox()
        for key, label in FORMATS:
            self.format_combo.addItem(label, key)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(message.format)))
        self.request_check = QCheckBox("Send as request (adds a requestId, waits for the reply)")
        self.request_check.setChecked(message.as_request)
        self.body_edit = QPlainTextEdit(message.body)
        self.body_edit.setFont(monospace())
        self.body_edit.setPlaceholderText("{{variables}} are resolved when sent")
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(theme.style("error"))
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Collection:", self.collection_combo)
        form.addRow("&Folder:", self.folder_edit)
        form.addRow("F&ormat:", self.format_combo)
        form.addRow("", self.request_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.body_edit, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.resize(520, 420)

    def message(self) -> SavedMessage:
        folder = "/".join(part.strip() for part in self.folder_edit.text().split("/")
                          if part.strip())
        return SavedMessage(
            name=self.name_edit.text().strip(),
            body=self.body_edit.toPlainText(),
            format=self.format_combo.currentData(),
            folder=folder,
            as_request=self.request_check.isChecked(),
        )

    def error(self) -> str | None:
        message = self.message()
        if not message.name:
            return "Give the message a name"
        if not self.collection_combo.currentText().strip():
            return "Choose or type a collection"
        if message.format in ("hex", "base64"):  # text and JSON may hold {{variables}}: at send
            try:
                message.payload()
            except ValueError as exc:
                return str(exc)
        return None

    def accept(self) -> None:
        problem = self.error()
        if problem:
            self.error_label.setText(problem)
            self.error_label.setVisible(True)
            return
        self.result_message = self.message()
        self.result_collection = self.collection_combo.currentText().strip()
        super().accept()
