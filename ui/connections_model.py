"""Adapter between the ConnectionManager's connections and a QAbstractTableModel.

The model keeps one row of plain values per connection (`read_fields`), formatted into display
strings (once per change) only when a view asks for a cell of it, so rows out of view are never
formatted and their RTT average is never computed. Rows are re-read from the connection objects
(state, attempt, metrics) on the bridge tick, but not all of them on every tick: with a thousand
connections, rebuilding every row every 50 ms took a third of a core. Each tick re-reads

- the rows whose connection changed state in the batch (a state shows at once, wherever it is),
- the rows the view shows (`visible_rows`: live RTT, counters and retry countdown), and
- a slice of the rest in turn, sized so that every row is re-read about once a second
  (`SWEEP_S`): uptime, counters and RTT of rows out of view are at most that old.

Rows are added and removed as the manager's list changes; dataChanged is emitted only for the
rows (and the span of columns) that changed, adjacent rows in one range as long as the view can
still repaint just the visible part of it (PRECISE_UPDATE_CELLS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import IntEnum
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from core.closecodes import describe_close
from core.config import ConnectionConfig
from core.connection import Connection
from core.events import ConnectionAdded, ConnectionRemoved
from core.manager import ConnectionManager
from core.metrics import ConnectionMetrics
from core.states import ConnState
from ui import theme
from ui.numbers import compact, count
from ui.sweep import Sweep

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


class Column(IntEnum):
    """Most telling first, so a narrow dock still shows state, name, RTT and traffic."""

    STATE = 0
    NAME = 1
    RTT = 2
    RATE_IN = 3
    RATE_OUT = 4
    MSGS_IN = 5
    MSGS_OUT = 6
    UPTIME = 7
    RTT_AVG = 8
    BYTES_IN = 9
    BYTES_OUT = 10
    ATTEMPT = 11
    URL = 12
    CLOSE = 13
    ERROR = 14


HEADERS = {
    Column.STATE: "State",
    Column.NAME: "Name",
    Column.RTT: "RTT",
    Column.RATE_IN: "In/s",
    Column.RATE_OUT: "Out/s",
    Column.MSGS_IN: "In",
    Column.MSGS_OUT: "Out",
    Column.UPTIME: "Uptime",
    Column.RTT_AVG: "Avg RTT",
    Column.ATTEMPT: "Attempt",
    Column.URL: "URL",
    Column.BYTES_IN: "Bytes in",
    Column.BYTES_OUT: "Bytes out",
    Column.CLOSE: "Last close",
    Column.ERROR: "Last error",
}
HEADER_TIPS = {
    Column.RATE_IN: "Messages received per second, mean of the last 5 s (open connections)",
    Column.RATE_OUT: "Messages sent per second, mean of the last 5 s (open connections)",
    Column.MSGS_IN: "Messages received",
    Column.MSGS_OUT: "Messages sent",
    Column.RTT: "Round-trip time of the last protocol ping, in milliseconds",
    Column.RTT_AVG: "Mean round-trip time of the last 100 pings, in milliseconds",
    Column.ATTEMPT: "Connection attempt number since the last stable connection",
    Column.CLOSE: "Close code of the last closed connection, in words",
}
NUMERIC = frozenset(
    {
        Column.UPTIME,
        Column.ATTEMPT,
        Column.RTT,
        Column.RTT_AVG,
        Column.RATE_IN,
        Column.RATE_OUT,
        Column.MSGS_IN,
        Column.MSGS_OUT,
        Column.BYTES_IN,
        Column.BYTES_OUT,
    }
)
ERROR_CHARS = 160
NOT_OPEN = "\u2014"  # the RTT of a connection that is not open: its last one is history
SWEEP_S = 1.0  # every row is re-read at least this often (seconds of tick time), seen or not
# A QAbstractItemView repaints just the visible part of a dataChanged range of up to 200 cells,
# but its whole viewport for a larger one (measured with Qt 6.11): larger runs are split.
PRECISE_UPDATE_CELLS = 200


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def human_count(n: int) -> str:
    return count(n, "\u2009")  # thin space keeps big counts readable; compact past 99,999


def human_rate(rate: float | None) -> str:
    """Messages a second: '' while not open, '0' when idle, '12.5', '1.5k' from 1,000."""
    if rate is None:
        return ""
    if rate >= 1000:
        return compact(rate)
    return f"{rate:.1f}" if rate else "0"


def human_duration(seconds: float | None) -> str:
    """45 -> '45 s', 184 -> '3 m 04 s', 3720 -> '1 h 02 m'."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} m"


@lru_cache(maxsize=4096)
def masked_url(url: str) -> str:
    """The URL with any token in the query replaced, so a screenshot never shows a secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "token" not in parts.query:
        return url
    query = [(k, "…" if k.lower() in {"token", "access_token"} else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="…")))


@lru_cache(maxsize=4096)
def host_path(url: str) -> str:
    """'wss://user@example.com:8443/feed?token=x' -> 'example.com:8443/feed': short, no secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.netloc.rpartition("@")[2]
    return host + parts.path if host else url


def display_name(config: ConnectionConfig) -> str:
    """What every panel calls a connection: its name, else its host and path."""
    return config.name or host_path(config.url)


# What a row shows, read from its connection as a tuple of plain values: cheap to read and to
# compare. The texts, tooltips and sort keys are formatted from it only when a view (or a test)
# asks for a cell of the row, so the rows out of view cost a read and a compare a second. The
# RTT average is a numpy mean over the last 100 samples, taken each time one arrives: the
# fields hold which samples it is over, and the mean is taken when the row is formatted.
(F_STATE, F_COUNTDOWN, F_ATTEMPT, F_LABEL, F_URL, F_SUBPROTOCOL, F_RTT, F_AVG, F_MSGS_IN,
 F_MSGS_OUT, F_BYTES_IN, F_BYTES_OUT, F_UPTIME, F_CLOSE_CODE, F_CLOSE_REASON, F_ERROR,
 F_RATES) = range(17)
LAST_COLUMN = len(HEADERS) - 1
# The columns (first, last) whose text, tooltip or sort key each field goes into.
FIELD_COLUMNS: tuple[tuple[int, int], ...] = (
    (0, LAST_COLUMN),  # state: the state and its colour are on every cell (STATE_ROLE)
    (Column.STATE, Column.STATE),  # retry countdown
    (Column.STATE, Column.ATTEMPT),  # attempt: the state's tooltip and the Attempt column
    (Column.NAME, Column.NAME),
    (Column.NAME, Column.URL),  # url: the name's tooltip and the URL column
    (Column.STATE, Column.STATE),  # subprotocol: the state's tooltip
    (Column.RTT, Column.RTT),
    (Column.RTT_AVG, Column.RTT_AVG),  # (ping or app, samples so far): the average's version
    (Column.MSGS_IN, Column.MSGS_IN),
    (Column.MSGS_OUT, Column.MSGS_OUT),
    (Column.BYTES_IN, Column.BYTES_IN),
    (Column.BYTES_OUT, Column.BYTES_OUT),
    (Column.UPTIME, Column.UPTIME),
    (Column.CLOSE, Column.CLOSE),
    (Column.CLOSE, Column.CLOSE),  # close reason: the close column's tooltip
    (Column.ERROR, Column.ERROR),
    (Column.RATE_IN, Column.RATE_OUT),  # (msgs/s in, out) to 0.1, while open
)
Fields = tuple[Any, ...]
Cells = tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]  # texts, tooltips, sort keys


def read_fields(conn: Connection, now: float) -> Fields:
    """Everything a row shows, as of `now` (whole seconds of uptime, tenths of the countdown)."""
    m = conn.metrics
    rtt, kind = m.last_rtt("ping"), "ping"
    if rtt is None:  # servers that ignore protocol pings may still answer the app heartbeat
        rtt, kind = m.last_rtt("app"), "app"
    avg = None if rtt is None else (kind, (m.rtt if kind == "ping" else m.app_rtt).total)
    totals = m.totals()  # one lock, not one per figure
    state = conn.state
    countdown = uptime = rates = None
    if state is ConnState.OPEN:
        opened = conn.opened_at
        uptime = None if opened is None else int(max(0.0, now - opened))
        # cached per second by the metrics: a row re-read on every tick costs a lookup
        rate_in, _, rate_out, _ = m.rate(now)
        rates = (round(rate_in, 1), round(rate_out, 1))
    elif state is ConnState.WAITING and conn.retry_at is not None:
        countdown = round(max(0.0, conn.retry_at - now), 1)
    cfg = conn.config
    return (state, countdown, conn.attempt, display_name(cfg), cfg.url, conn.subprotocol, rtt,
            avg, totals.msgs_in, totals.msgs_out, totals.bytes_in, totals.bytes_out, uptime,
            conn.close_code, conn.close_reason, conn.last_error, rates)


# The cells below are written in Column order (faster than building them by Column member).
assert [c.value for c in Column] == list(range(len(HEADERS)))
_STATE_TIPS = {
    ConnState.CLOSING: "Closing handshake in progress",
    ConnState.CLOSED: "Closed: not connected and not retrying",
    ConnState.WAITING: "Waiting to reconnect",
}
_RTT_TIP = HEADER_TIPS[Column.RTT]
_RTT_AVG_TIP = HEADER_TIPS[Column.RTT_AVG]
_ATTEMPT_TIP = HEADER_TIPS[Column.ATTEMPT]
_UPTIME_TIP = "Time since the connection opened"
_RATE_IN_TIP = HEADER_TIPS[Column.RATE_IN]
_RATE_OUT_TIP = HEADER_TIPS[Column.RATE_OUT]


def format_cells(f: Fields, metrics: ConnectionMetrics) -> Cells:
    """The display texts, tooltips and sort keys of a row, one per Column."""
    (state, countdown, attempt, label, raw_url, subprotocol, rtt, avg_of, msgs_in, msgs_out,
     bytes_in, bytes_out, uptime, close_code, close_reason, error_full, rates) = f
    avg = None if avg_of is None else metrics.mean_rtt(avg_of[0])
    if countdown is not None:
        badge = f"retry in {countdown:.1f} s"
        state_tip = f"Waiting to reconnect (attempt {attempt} failed or dropped)"
    else:
        badge = state.value
        if state is ConnState.OPEN:
            state_tip = f"Open, subprotocol {subprotocol}" if subprotocol else "Open"
        elif state is ConnState.CONNECTING:
            state_tip = f"Connecting (attempt {attempt})"
        else:
            state_tip = _STATE_TIPS[state]
    close = describe_close(close_code) if close_code is not None else ""
    close_tip = f"{close}: {close_reason}" if close and close_reason else close
    error_full = error_full or ""
    error = error_full.splitlines()[0] if error_full else ""
    if len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 1] + "…"
    url = masked_url(raw_url)
    if state is not ConnState.OPEN:
        rtt_text = NOT_OPEN  # the last RTT is history while the row says "retry in"
    else:
        rtt_text = "" if rtt is None else f"{rtt * 1000:.1f} ms"
    rate_in, rate_out = rates if rates is not None else (None, None)
    avg_text = "" if avg is None else f"{avg * 1000:.1f} ms"
    texts = (
        badge, label, rtt_text, human_rate(rate_in), human_rate(rate_out),
        human_count(msgs_in), human_count(msgs_out),
        human_duration(uptime), avg_text, human_bytes(bytes_in), human_bytes(bytes_out),
        str(attempt) if attempt else "", url, close, error,
    )
    tips = (
        state_tip, url, _RTT_TIP, _RATE_IN_TIP, _RATE_OUT_TIP,
        f"{msgs_in} messages received", f"{msgs_out} messages sent",
        _UPTIME_TIP, _RTT_AVG_TIP, f"{bytes_in} bytes received", f"{bytes_out} bytes sent",
        _ATTEMPT_TIP, url, close_tip, error_full,
    )
    sort = (
        state.value, label, -1.0 if rtt is None else rtt, rate_in or 0.0, rate_out or 0.0,
        msgs_in, msgs_out, uptime or 0,
        -1.0 if avg is None else avg, bytes_in, bytes_out, attempt, url, close_code or 0, error,
    )
    return texts, tips, sort


def changed_columns(old: Fields, new: Fields) -> tuple[int, int] | None:
    """The first and last column a change from `old` to `new` shows in; None when equal."""
    if old[F_STATE] is not new[F_STATE]:
        return 0, LAST_COLUMN
    first, last = LAST_COLUMN + 1, -1
    for a, b, (lo, hi) in zip(old, new, FIELD_COLUMNS, strict=True):
        if a != b:
            first, last = min(first, lo), max(last, hi)
    return (first, last) if last >= 0 else None


class Row:
    """One connection's fields as last read, and their cells once something asked for them."""

    __slots__ = ("_cells", "conn_id", "fields", "metrics")

    def __init__(self, conn: Connection, fields: Fields) -> None:
        self.conn_id = conn.id
        self.metrics = conn.metrics
        self.fields = fields
        self._cells: Cells | None = None

    @property
    def state(self) -> ConnState:
        return self.fields[F_STATE]  # type: ignore[no-any-return]

    def cells(self) -> Cells:
        cells = self._cells
        if cells is None:
            cells = self._cells = format_cells(self.fields, self.metrics)
        return cells

    def update(self, fields: Fields) -> None:
        self.fields = fields
        self._cells = None


class ConnectionsModel(QAbstractTableModel):
    """One row per connection of the manager, in the manager's order.

    `visible_rows` (set by the view's owner) returns the rows on screen; without it every row
    counts as visible and each tick re-reads them all."""

    def __init__(
        self,
        manager: ConnectionManager,
        parent: QObject | None = None,
        visible_rows: Callable[[], range] | None = None,
    ) -> None:
        super().__init__(parent)
        self._manager = manager
        self.visible_rows = visible_rows
        self._rows: list[Row] = []
        self._conns: list[Connection] = []  # the connection of each row
        self._row_by_id: dict[int, int] = {}
        self._sweep = Sweep(SWEEP_S)  # the round that re-reads off-screen rows
        self.rows_read = 0  # how many times a row was re-read from its connection (for tests)
        self.refresh()

    # ----- updates ---------------------------------------------------------------------------

    def refresh(self, batch: object = None) -> None:
        """Once per bridge tick with its TickBatch (see the module docstring for what is
        re-read); without a batch, sync with the manager and re-read every row now."""
        if batch is None:
            now = time.time()
            self._sync_rows(self._manager.list(), now)
            self._update_rows(range(len(self._rows)), now)
            return
        now = float(getattr(batch, "time", 0.0)) or time.time()
        others = getattr(batch, "others", ())
        if len(self._manager) != len(self._rows) or any(
            type(e) is ConnectionAdded or type(e) is ConnectionRemoved for e in others
        ):
            self._sync_rows(self._manager.list(), now)
        n = len(self._rows)
        rows: set[int] = set()
        get = self._row_by_id.get
        for event in getattr(batch, "states", ()):
            row = get(event.conn_id)
            if row is not None:
                rows.add(row)
        visible = self.visible_rows() if self.visible_rows is not None else range(n)
        rows.update(range(max(0, visible.start), min(n, visible.stop)))
        rows.update(self._sweep_rows(n, now))
        self._update_rows(sorted(rows), now)

    def refresh_connections(self, conn_ids: Iterable[int]) -> None:
        """Sync with the manager now and re-read these connections' rows (after a user action)."""
        now = time.time()
        self._sync_rows(self._manager.list(), now)
        rows = (self._row_by_id.get(i) for i in conn_ids)
        self._update_rows(sorted(r for r in rows if r is not None), now)

    def _sweep_rows(self, n: int, now: float) -> range | list[int]:
        """The next rows of the round that re-reads every row once per SWEEP_S of tick time."""
        rows, completed = self._sweep.due(n, now)
        if completed and not self._sync_check(now):  # the rows changed under the round: restart
            count = min(len(rows), len(self._rows))
            self._sweep.restart(count)
            return range(count)
        return rows

    def _sync_check(self, now: float) -> bool:
        """Once a round: re-sync when the rows no longer follow the manager's list; True when
        they did."""
        conns = self._manager.list()
        if conns == self._conns:
            return True
        self._sync_rows(conns, now)
        return False

    def _update_rows(self, rows: Iterable[int], now: float) -> None:
        """Re-read these rows (ascending) and emit dataChanged once per run of adjacent changed
        rows, over the columns that changed."""
        snaps, conns = self._rows, self._conns
        first = last = -1
        col_first = col_last = 0
        count = 0
        for row in rows:
            count += 1
            entry = snaps[row]
            old = entry.fields
            new = read_fields(conns[row], now)
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

    def _sync_rows(self, conns: list[Connection], now: float) -> None:
        if conns == self._conns:
            return
        wanted = {id(c) for c in conns}
        gone = [row for row, c in enumerate(self._conns) if id(c) not in wanted]
        while gone:  # from the end, each run of adjacent rows at once
            last = gone.pop()
            first = last
            while gone and gone[-1] == first - 1:
                first = gone.pop()
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            del self._conns[first : last + 1]
            self._reindex()
            self._sweep.removed(first, last - first + 1)
            self.endRemoveRows()
        count = len(self._conns)
        if conns[:count] == self._conns:
            added = conns[count:]
            if added:
                self.beginInsertRows(QModelIndex(), count, count + len(added) - 1)
                self._conns.extend(added)
                self._rows.extend(Row(c, read_fields(c, now)) for c in added)
                self._reindex()
                self.endInsertRows()
            return
        self.beginResetModel()  # the order changed some other way: start over
        self._conns = list(conns)
        self._rows = [Row(c, read_fields(c, now)) for c in conns]
        self._reindex()
        self._sweep.restart(0)
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
                return theme.color(STATE_COLORS[entry.state])
            if col == Column.ERROR and entry.cells()[0][col]:
                return theme.color("error_text")
            return None
        if role == CONN_ID_ROLE:
            return entry.conn_id
        if role == STATE_ROLE:
            return entry.state.value
        if role == BADGE_COLOR_ROLE and col == Column.STATE:
            return theme.color(STATE_COLORS[entry.state])
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
