"""Offset, hex and ASCII columns of a payload, read-only and monospace."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from core.codecs import hexdump

HEX_LIMIT = 64 * 1024  # bytes dumped; a note tells how many more there are


def monospace() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class HexView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(monospace())
        self.setPlaceholderText("no payload")

    def set_payload(self, payload: bytes) -> None:
        self.setPlainText(hexdump(payload, limit=HEX_LIMIT) if payload else "")
