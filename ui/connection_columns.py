"""Which columns of the connections table show, and how wide: the defaults, the header's
context menu that shows and hides them, and the choice remembered for the next launch."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QMenu, QWidget

from ui.connections_model import HEADERS, Column
from ui.settings import app_settings

# State, Name, RTT and the rates fit the default ~400 px column; the rest scroll into view.
COLUMN_WIDTHS = {
    Column.STATE: 92,
    Column.NAME: 124,
    Column.RTT: 60,
    Column.RATE_IN: 46,
    Column.RATE_OUT: 48,
    Column.MSGS_IN: 50,
    Column.MSGS_OUT: 50,
    Column.UPTIME: 76,
    Column.RTT_AVG: 70,
    Column.BYTES_IN: 78,
    Column.BYTES_OUT: 78,
    Column.ATTEMPT: 60,
    Column.URL: 210,
    Column.CLOSE: 180,
    Column.ERROR: 320,
}
# Shown until the user picks others in the header's context menu (remembered in the settings).
DEFAULT_HIDDEN = frozenset({Column.RTT_AVG, Column.BYTES_IN, Column.BYTES_OUT, Column.ATTEMPT,
                            Column.URL, Column.CLOSE})
HIDDEN_KEY = "connections/hidden_columns"  # Column names, comma-separated


def load_hidden() -> set[Column]:
    """The columns hidden last time (DEFAULT_HIDDEN the first time)."""
    value = app_settings().value(HIDDEN_KEY)
    if not isinstance(value, str):
        return set(DEFAULT_HIDDEN)
    names = {name.strip() for name in value.split(",")}
    return {c for c in Column if c.name in names and c is not Column.STATE}


def save_hidden(hidden: set[Column]) -> None:
    settings = app_settings()
    settings.setValue(HIDDEN_KEY, ",".join(c.name for c in sorted(hidden)))
    settings.sync()


def set_up_columns(header: QHeaderView) -> None:
    """Default widths, and the columns hidden last time hidden."""
    for column, width in COLUMN_WIDTHS.items():
        header.resizeSection(column, width)
    for column in load_hidden():
        header.setSectionHidden(column, True)


def columns_menu(header: QHeaderView, parent: QWidget) -> QMenu:
    """A checkable entry per column (State always shows)."""
    menu = QMenu(parent)
    for column in Column:
        act = menu.addAction(HEADERS[column])
        act.setCheckable(True)
        act.setChecked(not header.isSectionHidden(column))
        act.setEnabled(column is not Column.STATE)
        act.toggled.connect(lambda on, c=column: show_column(header, c, on))
    return menu


def show_column(header: QHeaderView, column: Column, shown: bool) -> None:
    """Show or hide a column, and remember it for the next launch."""
    header.setSectionHidden(column, not shown)
    if shown and header.sectionSize(column) < 20:
        header.resizeSection(column, COLUMN_WIDTHS[column])
    save_hidden({c for c in Column if header.isSectionHidden(c)})
