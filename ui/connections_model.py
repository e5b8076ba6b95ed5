"""Adapter between the ConnectionManager's connections and a QAbstractTableModel.

The model keeps one snapshot row of display strings per connection, rebuilt once per bridge tick
by polling the connection objects (state, attempt, metrics); views only ever read the snapshot, so
painting never touches numpy or the network code. Rows are added and removed as the manager's list
changes, and dataChanged is emitted only for rows whose text changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from core.closecodes import describe_close
from core.connection import Connection
from core.manager import ConnectionManager
from core.states import ConnState

Index = QModelIndex | QPersistentModelIndex

STATE_COLORS: dict[ConnState, str] = {
    ConnState.CONNECTING: "#d99a00",  # amber
    ConnState.OPEN: "#2e9d4c",  # green
    ConnState.CLOSING: "#e06c00",  # orange
    ConnState.CLOSED: "#8a8f98",  # grey
    ConnState.WAITING: "#2f6fdb",  # blue
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
    MSGS_IN = 3
    MSGS_OUT = 4
    UPTIME = 5
    RTT_AVG = 6
    BYTES_IN = 7
    BYTES_OUT = 8
    ATTEMPT = 9
    URL = 10
    CLOSE = 11
    ERROR = 12


HEADERS = {
    Column.STATE: "State",
    Column.NAME: "Name",
    Column.RTT: "RTT",
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
        Column.MSGS_IN,
        Column.MSGS_OUT,
        Column.BYTES_IN,
        Column.BYTES_OUT,
    }
)
ERROR_CHARS = 160


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
    return f"{n:,}".replace(",", "\u2009")  # thin space keeps big counts readable


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


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True, slots=True)
class RowSnapshot:
    conn_id: int
    state: ConnState
    texts: tuple[str, ...]  # one per Column
    tips: tuple[str, ...]
    sort: tuple[Any, ...]


def snapshot(conn: Connection, now: float) -> RowSnapshot:
    cfg = conn.config
    state = conn.state
    m = conn.metrics
    rtt, avg = m.last_rtt("ping"), m.mean_rtt("ping")
    if rtt is None:  # servers that ignore protocol pings may still answer the app heartbeat
        rtt, avg = m.last_rtt("app"), m.mean_rtt("app")
    uptime = conn.uptime
    if state is ConnState.WAITING and conn.retry_at is not None:
        badge = f"retry in {max(0.0, conn.retry_at - now):.1f} s"
        state_tip = f"Waiting to reconnect (attempt {conn.attempt} failed or dropped)"
    else:
        badge = state.value
        state_tip = {
            ConnState.CONNECTING: f"Connecting (attempt {conn.attempt})",
            ConnState.OPEN: "Open" + (f", subprotocol {conn.subprotocol}"
                                      if conn.subprotocol else ""),
            ConnState.CLOSING: "Closing handshake in progress",
            ConnState.CLOSED: "Closed: not connected and not retrying",
            ConnState.WAITING: "Waiting to reconnect",
        }[state]
    close = describe_close(conn.close_code) if conn.close_code is not None else ""
    close_tip = f"{close}: {conn.close_reason}" if close and conn.close_reason else close
    error_full = conn.last_error or ""
    error = error_full.splitlines()[0] if error_full else ""
    if len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 1] + "…"
    url = masked_url(cfg.url)
    cells: dict[Column, tuple[str, str, Any]] = {  # display, tooltip, sort key
        Column.STATE: (badge, state_tip, state.value),
        Column.NAME: (cfg.label, url, cfg.label),
        Column.RTT: (_ms(rtt), HEADER_TIPS[Column.RTT], -1.0 if rtt is None else rtt),
        Column.MSGS_IN: (human_count(m.msgs_in), f"{m.msgs_in} messages received", m.msgs_in),
        Column.MSGS_OUT: (human_count(m.msgs_out), f"{m.msgs_out} messages sent", m.msgs_out),
        Column.UPTIME: (human_duration(uptime), "Time since the connection opened", uptime or 0.0),
        Column.RTT_AVG: (_ms(avg), HEADER_TIPS[Column.RTT_AVG], -1.0 if avg is None else avg),
        Column.BYTES_IN: (human_bytes(m.bytes_in), f"{m.bytes_in} bytes received", m.bytes_in),
        Column.BYTES_OUT: (human_bytes(m.bytes_out), f"{m.bytes_out} bytes sent", m.bytes_out),
        Column.ATTEMPT: (str(conn.attempt) if conn.attempt else "", HEADER_TIPS[Column.ATTEMPT],
                         conn.attempt),
        Column.URL: (url, url, url),
        Column.CLOSE: (close, close_tip, conn.close_code or 0),
        Column.ERROR: (error, error_full, error),
    }
    ordered = [cells[c] for c in Column]
    return RowSnapshot(
        conn.id,
        state,
        tuple(c[0] for c in ordered),
        tuple(c[1] for c in ordered),
        tuple(c[2] for c in ordered),
    )


class ConnectionsModel(QAbstractTableModel):
    """One row per connection of the manager, in the manager's order."""

    def __init__(self, manager: ConnectionManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._manager = manager
        self._rows: list[RowSnapshot] = []
        self.refresh()

    # ----- updates ---------------------------------------------------------------------------

    def refresh(self, _batch: object = None) -> None:
        """Sync rows with the manager, then re-read every connection (call once per tick)."""
        now = time.time()
        conns = self._manager.list()
        self._sync_rows([c.id for c in conns])
        last = len(HEADERS) - 1
        for row, conn in enumerate(conns):
            new = snapshot(conn, now)
            if new != self._rows[row]:
                self._rows[row] = new
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))

    def _sync_rows(self, ids: list[int]) -> None:
        current = [r.conn_id for r in self._rows]
        if current == ids:
            return
        wanted = set(ids)
        for row in range(len(self._rows) - 1, -1, -1):
            if self._rows[row].conn_id not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        current = [r.conn_id for r in self._rows]
        if current == ids[: len(current)]:
            added = ids[len(current) :]
            if added:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
                self._rows.extend(self._placeholder(i) for i in added)
                self.endInsertRows()
            return
        self.beginResetModel()  # the order changed some other way: start over
        self._rows = [self._placeholder(i) for i in ids]
        self.endResetModel()

    @staticmethod
    def _placeholder(conn_id: int) -> RowSnapshot:
        empty = ("",) * len(HEADERS)
        return RowSnapshot(conn_id, ConnState.CLOSED, empty, empty, empty)

    # ----- lookups -----------------------------------------------------------------------------

    def conn_id(self, row: int) -> int:
        return self._rows[row].conn_id

    def row_of(self, conn_id: int) -> int:
        """The row of a connection, -1 when it is not (yet) in the model."""
        for row, snap in enumerate(self._rows):
            if snap.conn_id == conn_id:
                return row
        return -1

    def state_of(self, conn_id: int) -> ConnState | None:
        row = self.row_of(conn_id)
        return self._rows[row].state if row >= 0 else None

    def text(self, conn_id: int, column: Column) -> str:
        row = self.row_of(conn_id)
        return self._rows[row].texts[column] if row >= 0 else ""

    # ----- QAbstractTableModel -------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        snap = self._rows[index.row()]
        col = index.column()
        if not 0 <= col < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return snap.texts[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return snap.tips[col] or None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in NUMERIC:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == Column.STATE:
                return QColor(STATE_COLORS[snap.state])
            if col == Column.ERROR and snap.texts[col]:
                return QColor("#c0392b")
            return None
        if role == CONN_ID_ROLE:
            return snap.conn_id
        if role == STATE_ROLE:
            return snap.state.value
        if role == BADGE_COLOR_ROLE and col == Column.STATE:
            return QColor(STATE_COLORS[snap.state])
        if role == SORT_ROLE:
            return snap.sort[col] if snap.sort else None
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
