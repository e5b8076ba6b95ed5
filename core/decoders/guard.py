"""A decoder session behind a fuse: one that raises or is too slow is switched off for that
connection, with a note, and from then on decodes nothing (the frames stay visible raw).

A slow call cannot be interrupted (decoders run on the connection's loop, no threads): it is
measured and the session is switched off after it returns. Machines are noisy, so a single call
over the per-call budget only counts a strike; `strikes` of them in a row, one call over
`hard_limit`, or more than `max_share` of the wall time since the first frame (once
`share_after` seconds have passed) switch it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.decoders.api import Decoder, DecoderSession, Frame, Handshake, Kind, Message, Outgoing

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Budget:
    per_call: float = 0.020  # seconds one call may take without a strike
    strikes: int = 3  # over-budget calls in a row that switch the decoder off
    hard_limit: float = 0.250  # one call this slow switches it off at once
    max_share: float = 0.6  # of wall time since the first frame
    share_after: float = 5.0  # seconds of wall time before the share is judged


class GuardedSession:
    """Wraps one DecoderSession of one connection; the same four methods, never raising."""

    def __init__(self, name: str, session: DecoderSession, budget: Budget | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.name = name
        self.session = session
        self.budget = budget or Budget()
        self.clock = clock
        self.off_reason: str | None = None
        self._strikes = 0
        self._spent = 0.0
        self._started: float | None = None
        self._notes: list[Message] = []

    @property
    def off(self) -> bool:
        return self.off_reason is not None

    def feed(self, frame: Frame) -> Sequence[Message]:
        result = self._call("feed", Message, self.session.feed, frame)
        messages = list(result) if result is not None else []
        if self._notes:
            messages.extend(self._notes)
            self._notes.clear()
        return messages

    def on_open(self) -> Sequence[Outgoing]:
        return self._call("on_open", Outgoing, self.session.on_open) or ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return self._call("answer", Outgoing, self.session.answer, message) or ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return self._call("tick", Outgoing, self.session.tick, now) or ()

    @property
    def has_ready(self) -> bool:
        """Whether the session says when its handshake is complete (DecoderSession.ready)."""
        return callable(getattr(self.session, "ready", None))

    def ready(self, message: Message) -> bool | None:
        """The session's `ready(message)`: True, False or None; a session that raises or
        answers something else is switched off (None)."""
        if self.off:
            return None
        try:
            verdict = self.session.ready(message)  # type: ignore[attr-defined]
        except Exception as exc:
            self.switch_off(f"ready raised {type(exc).__name__}: {exc}"[:300])
            return None
        if verdict is not None and not isinstance(verdict, bool):
            self.switch_off(f"ready returned a {type(verdict).__name__}, not a bool")
            return None
        return verdict

    def take_notes(self) -> list[Message]:
        """The switch-off note when it happened outside feed() (it also rides on the next
        feed's result)."""
        notes, self._notes = self._notes, []
        return notes

    def switch_off(self, why: str) -> None:
        if self.off:
            return
        self.off_reason = why
        log.warning("%s decoder switched off: %s", self.name, why)
        note = f"{self.name} decoder switched off: {why}"
        self._notes.append(Message(self.name, Kind.ERROR, note,
                                   fields={"switched_off": True, "reason": why}))

    def _call(self, what: str, wanted: type, method: Callable[..., Any], *args: Any) -> Any:
        """The method's result as a list of `wanted`; None (and switched off) when it raised or
        returned something else. Too slow: switched off after this result."""
        if self.off:
            return None
        start = self.clock()
        if self._started is None:
            self._started = start
        try:
            result = list(method(*args))  # a generator runs here, inside the budget
        except Exception as exc:
            self.switch_off(f"{what} raised {type(exc).__name__}: {exc}"[:300])
            return None
        self._judge(what, self.clock() - start, start - self._started)
        wrong = next((item for item in result if not isinstance(item, wanted)), None)
        if wrong is not None:
            self.switch_off(f"{what} returned a {type(wrong).__name__}, not a {wanted.__name__}")
            return None
        return result  # a slow call's result is still right; it is the last one

    def _judge(self, what: str, took: float, since_first: float) -> None:
        budget = self.budget
        self._spent += took
        if took > budget.hard_limit:
            self.switch_off(f"{what} took {took * 1000:.0f} ms (limit "
                            f"{budget.hard_limit * 1000:.0f} ms)")
            return
        self._strikes = self._strikes + 1 if took > budget.per_call else 0
        if self._strikes >= budget.strikes:
            self.switch_off(f"{self._strikes} calls in a row over {budget.per_call * 1000:.0f} "
                            f"ms (last {took * 1000:.0f} ms)")
            return
        elapsed = since_first + took
        if elapsed >= budget.share_after and self._spent > budget.max_share * elapsed:
            self.switch_off(f"used {self._spent / elapsed:.0%} of the time since the first frame "
                            f"(limit {budget.max_share:.0%})")


class _Silent:
    """Stands in for a session that could not be opened (its guard is already off)."""

    def feed(self, frame: Frame) -> Sequence[Message]:
        return ()

    def on_open(self) -> Sequence[Outgoing]:
        return ()

    def answer(self, message: Message) -> Sequence[Outgoing]:
        return ()

    def tick(self, now: float) -> Sequence[Outgoing]:
        return ()


def open_session(decoder: Decoder, handshake: Handshake, options: Mapping[str, Any] | None = None,
                 budget: Budget | None = None) -> GuardedSession:
    """A guarded session of `decoder` for one connection. `options` (protocol-client settings)
    are passed only when given, so decoders whose session() takes none keep working. A decoder
    that fails to open a session gives a guard already switched off, whose note says why."""
    try:
        # Decoder.session's `options` is an optional extension the protocol does not declare.
        inner = (decoder.session(handshake, options)  # type: ignore[call-arg]
                 if options else decoder.session(handshake))
    except Exception as exc:
        guarded = GuardedSession(decoder.name, _Silent(), budget)
        guarded.switch_off(f"session raised {type(exc).__name__}: {exc}"[:300])
        return guarded
    return GuardedSession(decoder.name, inner, budget)
