"""Connection events as inspector rows: opens (with what the handshake negotiated), closes (code
and reason), reconnect attempts and errors. Plain Python, no Qt.

A row quacks like a frame where the table and the filter look (`conn_id`, `time`, an empty
`payload`, no `opcode` or `direction`), so the model stores both in one list; it is never
counted as a frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import ClassVar

from core.closecodes import describe_close
from core.events import ConnectionRemoved, ErrorEvent, Event, HandshakeInfo, StateChanged
from core.states import ConnState

OPEN, CLOSED, CONNECTING, RETRY, ERROR = "open", "closed", "connecting", "retry", "error"
_DUPLICATE_ERRORS = frozenset({"connection"})  # a state change already carries these
_AFTER_HANDSHAKE = frozenset({ConnState.OPEN, ConnState.WAITING, ConnState.CLOSED})


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    conn_id: int
    time: float
    kind: str  # OPEN, CLOSED, CONNECTING, RETRY or ERROR
    summary: str  # one line, what the Preview column shows
    handshake: HandshakeInfo | None = None  # for OPEN, when core published one
    state: StateChanged | None = None
    error: ErrorEvent | None = None

    payload: ClassVar[bytes] = b""
    opcode: ClassVar[None] = None
    direction: ClassVar[None] = None
    size: ClassVar[int] = 0
    is_data: ClassVar[bool] = False


def is_connection_row(row: object) -> bool:
    return type(row) is ConnectionRow


def _negotiated(hs: HandshakeInfo) -> str:
    parts = [f"subprotocol {hs.subprotocol}" if hs.subprotocol else "no subprotocol"]
    parts.append("extensions " + ", ".join(hs.extensions) if hs.extensions else "no extensions")
    if hs.tls_version:
        parts.append(hs.tls_version)
    return ", ".join(parts)


def _rejected(hs: HandshakeInfo | None) -> str:
    """A refused handshake's status (its response headers are in the handshake view)."""
    if hs is None or hs.status in (None, 101):
        return ""
    return f" (server answered HTTP {hs.status})"


def _state_row(state: StateChanged, handshake: HandshakeInfo | None) -> ConnectionRow | None:
    new = state.new
    if new is ConnState.OPEN:
        what = _negotiated(handshake) if handshake is not None else "handshake details unknown"
        return ConnectionRow(state.conn_id, state.time, OPEN, f"opened: {what}", handshake, state)
    if new is ConnState.CLOSED:
        if state.close_code is not None:
            text = describe_close(state.close_code)
            text += f": {state.close_reason}" if state.close_reason else ""
        else:
            text = "no close frame"
        if state.error:
            text += f"; {state.error}"
        text += _rejected(handshake)
        return ConnectionRow(state.conn_id, state.time, CLOSED, f"closed: {text}", handshake, state)
    if new is ConnState.WAITING:
        text = f"attempt {state.attempt} failed"
        if state.error:
            text += f": {state.error}"
        elif state.close_code is not None:
            text += f": {describe_close(state.close_code)}"
        text += _rejected(handshake)
        if state.retry_in is not None:
            text += f"; retry in {state.retry_in:.1f} s"
        return ConnectionRow(state.conn_id, state.time, RETRY, text, handshake, state)
    if new is ConnState.CONNECTING:
        text = "connecting" if state.attempt <= 1 else f"reconnecting (attempt {state.attempt})"
        return ConnectionRow(state.conn_id, state.time, CONNECTING, text, None, state)
    return None  # CLOSING: the CLOSED row that follows says it all


class RowMaker:
    """Turns one tick's events into rows, in time order. A HandshakeInfo is published right
    before its StateChanged to OPEN (or, refused, to WAITING or CLOSED), possibly in the tick
    before: it waits for it here."""

    def __init__(self) -> None:
        self._handshakes: dict[int, list[HandshakeInfo]] = {}

    def rows(self, states: Iterable[StateChanged], others: Iterable[Event]) -> list[ConnectionRow]:
        others = list(others)
        for event in others:
            if type(event) is HandshakeInfo:
                waiting = self._handshakes.setdefault(event.conn_id, [])
                waiting.append(event)
                del waiting[:-4]  # never more than a few: one per open
            elif type(event) is ConnectionRemoved:
                self._handshakes.pop(event.conn_id, None)
        rows: list[ConnectionRow] = []
        for state in states:
            hs = None
            if state.new in _AFTER_HANDSHAKE and self._handshakes.get(state.conn_id):
                hs = self._handshakes[state.conn_id].pop(0)
            row = _state_row(state, hs)
            if row is not None:
                rows.append(row)
        for event in others:
            if type(event) is ErrorEvent and event.kind not in _DUPLICATE_ERRORS:
                summary = f"error ({event.kind}): {event.message}"
                rows.append(ConnectionRow(event.conn_id, event.time, ERROR, summary, error=event))
        rows.sort(key=_TIME)
        return rows


_TIME = attrgetter("time")
