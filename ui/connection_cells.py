"""A connection's row in the connections table as plain values: the columns, the fields read
from its latest MetricsSnapshot (cheap to read and compare on every tick), and the texts,
tooltips and sort keys formatted from them only when a view asks."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from core.closecodes import describe_close
from core.events import MetricsSnapshot
from core.states import ConnState
from ui.connection_text import (
    host_path,
    human_bytes,
    human_count,
    human_duration,
    human_rate,
    masked_url,
)


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


# What a row shows, read from the connection's latest snapshot as a tuple of plain values: cheap
# to read and to compare. The texts, tooltips and sort keys are formatted from it only when a
# view (or a test) asks for a cell of the row, so the rows out of view cost a read and a compare.
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
    (Column.RTT_AVG, Column.RTT_AVG),
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


def read_fields(snap: MetricsSnapshot, now: float) -> Fields:
    """Everything a row shows, as of `now` (whole seconds of uptime, tenths of the countdown)."""
    rtt, avg = snap.rtt, snap.rtt_mean
    if rtt is None:  # servers that ignore protocol pings may still answer the app heartbeat
        rtt, avg = snap.app_rtt, snap.app_rtt_mean
    state = snap.state
    countdown = uptime = rates = None
    if state is ConnState.OPEN:
        opened = snap.opened_at
        uptime = None if opened is None else int(max(0.0, now - opened))
        rates = (round(snap.rates[0], 1), round(snap.rates[2], 1))
    elif state is ConnState.WAITING and snap.retry_at is not None:
        countdown = round(max(0.0, snap.retry_at - now), 1)
    return (state, countdown, snap.attempt, snap.name or host_path(snap.url), snap.url,
            snap.subprotocol, rtt, avg, snap.msgs_in, snap.msgs_out, snap.bytes_in,
            snap.bytes_out, uptime, snap.close_code, snap.close_reason, snap.last_error, rates)


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


def format_cells(f: Fields) -> Cells:
    """The display texts, tooltips and sort keys of a row, one per Column."""
    (state, countdown, attempt, label, raw_url, subprotocol, rtt, avg, msgs_in, msgs_out,
     bytes_in, bytes_out, uptime, close_code, close_reason, error_full, rates) = f
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

    __slots__ = ("_cells", "conn_id", "fields")

    def __init__(self, conn_id: int, fields: Fields) -> None:
        self.conn_id = conn_id
        self.fields = fields
        self._cells: Cells | None = None

    @property
    def state(self) -> ConnState:
        return self.fields[F_STATE]  # type: ignore[no-any-return]

    def cells(self) -> Cells:
        cells = self._cells
        if cells is None:
            cells = self._cells = format_cells(self.fields)
        return cells

    def update(self, fields: Fields) -> None:
        self.fields = fields
        self._cells = None
