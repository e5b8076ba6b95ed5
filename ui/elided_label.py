"""A one-line label that may be narrower than its text: it then shows the text cut with "…".

`text()` is always the whole text and the tooltip repeats it, so nothing is lost to the cut.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text only; `min_chars` sets how narrow it may get (about that many characters)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = 8) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._min_chars = min_chars

    def setText(self, text: str) -> None:  # type: ignore[override]
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        narrow = self.fontMetrics().averageCharWidth() * self._min_chars
        return QSize(min(hint.width(), narrow), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter = QPainter(self)
        try:
            self.style().drawItemText(
                painter, rect, int(self.alignment()), self.palette(), self.isEnabled(), text,
                QPalette.ColorRole.WindowText,
            )
        finally:
            painter.end()
