"""The inspector's table: it paints its visible rows itself, from the model's cached cells."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QBrush, QCursor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView

from ui.inspector_model import InspectorModel

_ENABLED = QStyle.StateFlag.State_Enabled
_SELECTED = QStyle.StateFlag.State_Selected
_MOUSE_OVER = QStyle.StateFlag.State_MouseOver
_HAS_FOCUS = QStyle.StateFlag.State_HasFocus
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate
_HAS_DISPLAY = QStyleOptionViewItem.ViewItemFeature.HasDisplay
_Features = QStyleOptionViewItem.ViewItemFeature
_ROW_PANEL = QStyle.PrimitiveElement.PE_PanelItemViewRow
_ITEM = QStyle.ControlElement.CE_ItemViewItem
_DISPLAY_ROLE = Qt.ItemDataRole.DisplayRole.value
_FONT_ROLE = Qt.ItemDataRole.FontRole.value
_ALIGN_ROLE = Qt.ItemDataRole.TextAlignmentRole.value
_FOREGROUND_ROLE = Qt.ItemDataRole.ForegroundRole.value


@functools.cache
def _alignment(value: int) -> Qt.AlignmentFlag:
    return Qt.AlignmentFlag(value)


class FrameTable(QTableView):
    """The inspector's table. It paints the visible cells itself, from the model's cached cells,
    in one call into Python per paint; a QTableView calls the model's index() and multiData()
    for every cell on every repaint, and each of those calls from Qt into Python has to take the
    GIL from the network thread (up to the switch interval each while it reads a flood). What
    it draws is what QTableView and QStyledItemDelegate draw, with the same style calls.
    `painted`, if given, is called after each paint (the end of a redraw's priority claim)."""

    def __init__(self, painted: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._painted = painted

    def paintEvent(self, event: QPaintEvent) -> None:
        try:
            self._paint(event)
        finally:
            if self._painted is not None:
                self._painted()
    def _paint(self, event: QPaintEvent) -> None:
        model = self.model()
        vh, hh = self.verticalHeader(), self.horizontalHeader()
        if (
            not isinstance(model, InspectorModel)
            or type(self.itemDelegate()) is not QStyledItemDelegate
            or self.showGrid()
            or self.isRightToLeft()
            or vh.sectionsHidden()
            or hh.sectionsHidden()
        ):
            super().paintEvent(event)
            return
        span = self._visible_span(model, event.rect())
        if span is not None:
            top, bottom, columns = span
            self._paint_cells(model, map(vh.logicalIndex, range(top, bottom + 1)), columns)

    def _visible_span(
        self, model: InspectorModel, area: QRect
    ) -> tuple[int, int, list[tuple[int, int, int]]] | None:
        """The visual rows (top, bottom) and the columns (logical, x, width) `area` shows."""
        vh, hh = self.verticalHeader(), self.horizontalHeader()
        rows, cols = model.rowCount(), hh.count()
        if not rows or not cols:
            return None
        top = vh.visualIndexAt(area.top())
        if top < 0:
            return None  # below the last row
        bottom = vh.visualIndexAt(area.bottom())
        bottom = rows - 1 if bottom < 0 else bottom
        left = max(0, hh.visualIndexAt(area.left()))
        right = hh.visualIndexAt(area.right())
        right = cols - 1 if right < 0 else right
        columns = [
            (c, self.columnViewportPosition(c), self.columnWidth(c))
            for c in map(hh.logicalIndex, range(left, right + 1))
        ]
        return top, bottom, columns

    def _base_option(
        self,
    ) -> tuple[QStyleOptionViewItem, _Features, _Features, dict[_Features, _Features]]:
        """The view's item option every cell starts from; the features of even and odd rows, and
        those features when a cell has text."""
        base = QStyleOptionViewItem()
        self.initViewItemOption(base)
        enabled = bool(base.state & _ENABLED)
        if enabled:  # as QTableView's drawCell(): the item's colour group follows the item
            palette = QPalette(base.palette)
            palette.setCurrentColorGroup(QPalette.ColorGroup.Normal)
            base.palette = palette
        even = base.features & ~_ALTERNATE
        odd = base.features | _ALTERNATE
        shown = {even: even | _HAS_DISPLAY, odd: odd | _HAS_DISPLAY}
        return base, even, odd, shown

    def _focus_and_hover(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The (row, column) of the focused cell and of the one under the mouse, if any."""
        viewport = self.viewport()
        current = self.currentIndex()
        focus = (self.hasFocus() or viewport.hasFocus()) and current.isValid()
        current_cell = (current.row(), current.column()) if focus else None
        hover = None
        if viewport.testAttribute(Qt.WidgetAttribute.WA_Hover) and viewport.underMouse():
            under = self.indexAt(viewport.mapFromGlobal(QCursor.pos()))
            hover = (under.row(), under.column()) if under.isValid() else None
        return current_cell, hover

    def _paint_cells(
        self, model: InspectorModel, rows: Iterable[int], columns: list[tuple[int, int, int]]
    ) -> None:
        """What QTableView and QStyledItemDelegate draw, cell by cell, with the same style calls."""
        style = self.style()
        base, even, odd, shown = self._base_option()
        alternate = self.alternatingRowColors()
        selection = self.selectionModel()
        current_cell, hover = self._focus_and_hover()
        fonts: dict[int, tuple[QFont, QFontMetrics]] = {}
        palettes: dict[int, QPalette] = {}
        painter = QPainter(self.viewport())
        for row in rows:
            cells = model.cells_at(row)
            y, h = self.rowViewportPosition(row), self.rowHeight(row)
            features = odd if alternate and row & 1 else even
            for col, x, w in columns:
                index = model.index(row, col)
                opt = QStyleOptionViewItem(base)
                opt.rect = QRect(x, y, w, h)
                opt.features = features
                selected = selection is not None and selection.isSelected(index)
                if selected or hover or current_cell:
                    state = base.state
                    if selected:
                        state |= _SELECTED
                    if hover == (row, col):
                        state |= _MOUSE_OVER
                    if current_cell == (row, col):
                        state |= _HAS_FOCUS
                    opt.state = state
                style.drawPrimitive(_ROW_PANEL, opt, painter, self)
                # what QStyledItemDelegate.initStyleOption() takes from the model
                cell = cells[col]
                opt.index = index
                font = cell.get(_FONT_ROLE)
                if font is not None:
                    key = id(font)
                    if key not in fonts:
                        resolved = font.resolve(base.font)
                        fonts[key] = (resolved, QFontMetrics(resolved))
                    opt.font, opt.fontMetrics = fonts[key]
                align = cell.get(_ALIGN_ROLE)
                if align is not None:
                    opt.displayAlignment = _alignment(align)
                color = cell.get(_FOREGROUND_ROLE)
                if color is not None:
                    key = id(color)
                    if key not in palettes:
                        palette = QPalette(opt.palette)
                        palette.setBrush(QPalette.ColorRole.Text, QBrush(color))
                        palettes[key] = palette
                    opt.palette = palettes[key]
                text = cell.get(_DISPLAY_ROLE)
                if text is not None:
                    opt.features = shown[features]
                    opt.text = text
                opt.styleObject = None
                style.drawControl(_ITEM, opt, painter, self)
        painter.end()
