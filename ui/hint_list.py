"""A list widget that says what will appear in it while it is empty, and the painter for such hints.

`paint_hint(view, text)` draws a grey, word-wrapped line in an empty item view's viewport; views
call it at the end of their `paintEvent` (the JSON tree does too).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QAbstractScrollArea, QListWidget, QWidget

HINT_MARGIN = 8


def paint_hint(view: QAbstractScrollArea, text: str) -> None:
    """Draw `text` in the view's viewport, top-left, word-wrapped, in the placeholder colour."""
    if not text:
        return
    viewport = view.viewport()
    painter = QPainter(viewport)
    try:
        painter.setPen(view.palette().color(QPalette.ColorRole.PlaceholderText))
        rect = viewport.rect().adjusted(HINT_MARGIN, HINT_MARGIN, -HINT_MARGIN, -HINT_MARGIN)
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        painter.drawText(rect, int(flags), text)
    finally:
        painter.end()


class HintList(QListWidget):
    """A QListWidget that shows `hint` while it has no items."""

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hint = hint

    @property
    def hint(self) -> str:
        return self._hint

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count() == 0:
            paint_hint(self, self._hint)
