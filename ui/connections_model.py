"""Adapter between the connections' latest figures (ui.series, fed by MetricsSnapshot and
StateChanged events) and a QAbstractTableModel.

The model keeps one row of plain values per connection (`read_fields`), formatted into display
strings (once per change) only when a view asks for a cell of it, so rows out of view are never
formatted. Each bridge tick re-reads

- the rows whose connection the tick brought news of (a snapshot or a state change), and
- the rows the view shows (`visible_rows`: the uptime and retry countdown run on between
  snapshots).

Rows are added and removed as the manager's list (`Commands.ids()`) changes; dataChanged is
emitted only for the rows (and the span of columns) that changed, adjacent rows in one range as
long as the view can still repaint just the visible part of it (PRECISE_UPDATE_CELLS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from core.events import ConnectionAdded, ConnectionRemoved, MetricsSnapshot
from core.facade import Commands
from core.states import ConnState
from ui import theme
from ui.connection_cells import (
    HEADER_TIPS,
    HEADERS,
    NUMERIC,
    Column,
    Row,
    changed_columns,
    read_fields,
)
from ui.connection_text import display_name, human_count
from ui.series import SeriesStore

__all__ = [  # with the names other modules and the tests import from here
    "BADGE_COLOR_ROLE", "CONN_ID_ROLE", "HEADERS", "PRECISE_UPDATE_CELLS", "SORT_ROLE",
    "STATE_COLORS", "STATE_ROLE", "Column", "ConnectionsModel", "display_name",
    "human_count",
]

Index = QModelIndex | QPersistentModelIndex

STATE_COLORS: dict[ConnState, str] = {  # a state's colour in the theme (resources/palette.toml)
    ConnState.CONNECTING: "state_connecting",
    ConnState.OPEN: "state_open",
    ConnState.CLOSING: "state_closing",
    ConnState.CLOSED: "state_closed",
    ConnState.WAITING: "state_waiting",
}

CONN_ID_ROLE = Qt.ItemDataRole.UserRole  # int: the connection id (every column)
STATE_ROLE = Qt.ItemDataRole.UserRole + 1  # str: ConnState value (every column)
BADGE_COLOR_ROLE = Qt.ItemDataRole.UserRole + 2  # QColor of the state badge (State column)
SORT_ROLE = Qt.ItemDataRole.UserRole + 3  # a number or string to sort by
# A QAbstractItemView repaints just the visible part of a dataChanged range of up to 200 cells,
# but its whole viewport for a larger one (measured with Qt 6.11): larger runs are split.
PRECISE_UPDATE_CELLS = 200


class ConnectionsModel(QAbstractTableModel):
    """One row per connection of the manager, in the manager's order.

    `visible_rows` (set by the view's owner) returns the rows on screen; without it every row
    counts as visible and each tick re-reads them all."""

    def __init__(
        self,
        commands: Commands,
        series: SeriesStore,
        parent: QObject | None = None,
        visible_rows: Callable[[], range] | None = None,
    ) -> None:
        super().__init__(parent)
        self._commands = commands
        self._series = series
        self.visible_rows = visible_rows
        self._rows: list[Row] = []
        self._ids: list[int] = []  # the connection of each row
        self._row_by_id: dict[int, int] = {}
        self.rows_read = 0  # how many times a row was re-read (for tests)
        # painted for every visible row on every repaint: made once, not parsed per call
        self._state_color = {state: theme.color(name) for state, name in STATE_COLORS.items()}
        self._error_color = theme.color("error_text")
        self.refresh()

    # ----- updates ---------------------------------------------------------------------------

    def refresh(self, batch: object = None) -> None:
        """Once per bridge tick with its TickBatch, after the series were fed (see the module
        docstring for what is re-read); without a batch, sync with the manager and re-read
        every row now."""
        if batch is None:
            now = time.time()
            self._sync_rows(self._commands.ids(), now)
            self._update_rows(range(len(self._rows)), now)
            return
        now = float(getattr(batch, "time", 0.0)) or time.time()
        others = getattr(batch, "others", ())
        if len(self._commands) != len(self._rows) or any(
            type(e) is ConnectionAdded or type(e) is ConnectionRemoved for e in others
        ):
            self._sync_rows(self._commands.ids(), now)
        n = len(self._rows)
        get = self._row_by_id.get
        rows = {row for row in map(get, self._series.updated) if row is not None}
        visible = self.visible_rows() if self.visible_rows is not None else range(n)
        rows.update(range(max(0, visible.start), min(n, visible.stop)))
        self._update_rows(sorted(rows), now)

    def refresh_connections(self, conn_ids: Iterable[int]) -> None:
        """Sync with the manager now and re-read these connections' rows (after a user action)."""
        now = time.time()
        self._sync_rows(self._commands.ids(), now)
        rows = (self._row_by_id.get(i) for i in conn_ids)
        self._update_rows(sorted(r for r in rows if r is not None), now)

    def _fields(self, conn_id: int, now: float) -> tuple[Any, ...]:
        snap = self._series.latest(conn_id)
        if snap is None:  # no news of it yet: as it was made
            try:
                config = self._commands.config(conn_id)
            except KeyError:
                config = None
            snap = MetricsSnapshot(
                conn_id, now, ConnState.CLOSED, 0, config.name if config else "",
                config.url if config else "", None, None, None, None, "", None, 0, 0, 0, 0,
                (0.0, 0.0, 0.0, 0.0), None, None, None, None, 0)
        return read_fields(snap, now)

    def _update_rows(self, rows: Iterable[int], now: float) -> None:
        """Re-read these rows (ascending) and emit dataChanged once per run of adjacent changed
        rows, over the columns that changed."""
        snaps, ids = self._rows, self._ids
        first = last = -1
        col_first = col_last = 0
        count = 0
        for row in rows:
            count += 1
            entry = snaps[row]
            old = entry.fields
            new = self._fields(ids[row], now)
            if new == old:
                continue
            entry.update(new)
            span = changed_columns(old, new)
            if span is None:
                continue
            if last >= 0 and row == last + 1:
                last = row
                col_first, col_last = min(col_first, span[0]), max(col_last, span[1])
                continue
            if last >= 0:
                self._emit(first, last, col_first, col_last)
            first = last = row
            col_first, col_last = span
        self.rows_read += count
        if last >= 0:
            self._emit(first, last, col_first, col_last)

    def _emit(self, first: int, last: int, col_first: int, col_last: int) -> None:
        """dataChanged over rows first..last, in ranges small enough that a view repaints only
        the part it shows (none at all for rows out of view)."""
        step = max(1, PRECISE_UPDATE_CELLS // (col_last - col_first + 1))
        for top in range(first, last + 1, step):
            bottom = min(last, top + step - 1)
            self.dataChanged.emit(self.index(top, col_first), self.index(bottom, col_last))

    def _sync_rows(self, ids: list[int], now: float) -> None:
        if ids == self._ids:
            return
        wanted = set(ids)
        gone = [row for row, c in enumerate(self._ids) if c not in wanted]
        while gone:  # from the end, each run of adjacent rows at once
            last = gone.pop()
            first = last
            while gone and gone[-1] == first - 1:
                first = gone.pop()
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            del self._ids[first : last + 1]
            self._reindex()
            self.endRemoveRows()
        count = len(self._ids)
        if ids[:count] == self._ids:
            added = ids[count:]
            if added:
                self.beginInsertRows(QModelIndex(), count, count + len(added) - 1)
                self._ids.extend(added)
                self._rows.extend(Row(c, self._fields(c, now)) for c in added)
                self._reindex()
                self.endInsertRows()
            return
        self.beginResetModel()  # the order changed some other way: start over
        self._ids = list(ids)
        self._rows = [Row(c, self._fields(c, now)) for c in ids]
        self._reindex()
        self.endResetModel()

    def _reindex(self) -> None:
        self._row_by_id = {entry.conn_id: row for row, entry in enumerate(self._rows)}

    # ----- lookups -----------------------------------------------------------------------------

    def conn_id(self, row: int) -> int:
        return self._rows[row].conn_id

    def row_of(self, conn_id: int) -> int:
        """The row of a connection, -1 when it is not (yet) in the model."""
        return self._row_by_id.get(conn_id, -1)

    def state_of(self, conn_id: int) -> ConnState | None:
        row = self.row_of(conn_id)
        return self._rows[row].state if row >= 0 else None

    def text(self, conn_id: int, column: Column) -> str:
        row = self.row_of(conn_id)
        return self._rows[row].cells()[0][column] if row >= 0 else ""

    # ----- QAbstractTableModel -------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        entry = self._rows[index.row()]
        col = index.column()
        if not 0 <= col < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.cells()[0][col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.cells()[1][col] or None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in NUMERIC:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == Column.STATE:
                return self._state_color[entry.state]
            if col == Column.ERROR and entry.cells()[0][col]:
                return self._error_color
            return None
        if role == CONN_ID_ROLE:
            return entry.conn_id
        if role == STATE_ROLE:
            return entry.state.value
        if role == BADGE_COLOR_ROLE and col == Column.STATE:
            return self._state_color[entry.state]
        if role == SORT_ROLE:
            return entry.cells()[2][col]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(Column(section))
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flag = Qt.ItemFlag
        return flag.ItemIsEnabled | flag.ItemIsSelectable | flag.ItemNeverHasChildren
