"""Connection states and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class ConnState(StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    WAITING = "waiting"  # waiting to retry after a failure


TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    ConnState.CLOSED: frozenset({ConnState.CONNECTING}),
    ConnState.CONNECTING: frozenset({ConnState.OPEN, ConnState.WAITING, ConnState.CLOSED}),
    ConnState.OPEN: frozenset({ConnState.CLOSING, ConnState.WAITING, ConnState.CLOSED}),
    ConnState.CLOSING: frozenset({ConnState.CLOSED, ConnState.WAITING}),
    ConnState.WAITING: frozenset({ConnState.CONNECTING, ConnState.CLOSED}),
}


class InvalidTransition(RuntimeError):
    """A bug: the engine tried a transition the table forbids."""


def check_transition(old: ConnState, new: ConnState) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"{old} -> {new} is not allowed")
