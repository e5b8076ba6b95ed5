"""The composer's message editor."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from ui import theme
from ui.hex_view import monospace


class MessageEditor(QPlainTextEdit):
    """The message editor: Ctrl+Enter submits instead of typing a newline (a subclass, not an
    event filter on the panel: a filter would be called while the panel is being destroyed);
    the spot of a JSON error is underlined."""

    submit = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(monospace())
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 2)
        self.setPlaceholderText(
            'Message to send, e.g. {"type": "ping"}  (Templates for every protocol message;'
            " {{variables}} are resolved when sent; Ctrl+Enter sends)"
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            self.submit.emit()
            return
        super().keyPressEvent(event)

    def mark_error(self, where: tuple[int, int] | None) -> None:
        if where is None:
            self.setExtraSelections([])
            return
        line, column = where
        block = self.document().findBlockByLineNumber(line - 1)
        if not block.isValid():
            self.setExtraSelections([])
            return
        cursor = QTextCursor(block)
        cursor.movePosition(
            QTextCursor.MoveOperation.Right,
            QTextCursor.MoveMode.MoveAnchor,
            min(column - 1, max(0, block.length() - 1)),
        )
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(theme.color("editor_error_bg"))
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(theme.color("error_mark"))
        selection.format = fmt  # type: ignore[attr-defined]
        selection.cursor = cursor  # type: ignore[attr-defined]
        self.setExtraSelections([selection])
