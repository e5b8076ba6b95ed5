"""Finding decoders and picking one for a connection.

Decoders are found through the entry-point group ENTRY_POINT_GROUP (httpie's plug-in manager is
the model): the built-ins register there in pyproject.toml exactly as a third-party package
would, so one code path loads both. A plug-in that fails to load is logged and skipped; the rest
still load. Detection asks every decoder for a score (mitmproxy's contentviews' render_priority)
and takes the highest one at or above zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from core.decoders.api import (
    ENTRY_POINT_GROUP,
    FIRST_FRAMES,
    NOT_MINE,
    URL_SIGNATURE,
    Decoder,
    Frame,
    Handshake,
)
from core.events import Opcode

log = logging.getLogger(__name__)

AUTO = "auto"
RAW = "raw"  # the override that means "no decoder"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A plug-in that could not be loaded, said in words for the user (and the log)."""

    name: str
    value: str
    error: str


def load_entry_point(ep: EntryPoint) -> Decoder:
    """The decoder an entry point names; TypeError when it is not shaped like a Decoder."""
    obj = ep.load()
    if isinstance(obj, type):  # a class: instantiate it with no arguments
        obj = obj()
    if not isinstance(obj, Decoder) or not isinstance(getattr(obj, "name", None), str):
        raise TypeError(f"{ep.value} is not a decoder (needs name, title, subprotocols, score, "
                        f"session, templates, encode)")
    return obj


class Registry:
    """The decoders known to this process, by name, in a stable order."""

    def __init__(self, decoders: Iterable[Decoder] = ()) -> None:
        self._by_name: dict[str, Decoder] = {}
        self.failures: list[LoadFailure] = []
        for decoder in decoders:
            self.add(decoder)

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> Registry:
        registry = cls()
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            try:
                registry.add(load_entry_point(ep))
            except Exception as exc:  # a broken plug-in must not stop the others
                failure = LoadFailure(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
                registry.failures.append(failure)
                log.warning("decoder plug-in %s (%s) not loaded: %s", ep.name, ep.value,
                            failure.error)
        return registry

    def add(self, decoder: Decoder) -> None:
        """Adds a decoder; a second one with the same name replaces the first (logged). The
        override words "auto" and "raw" are no decoder's name (ValueError)."""
        if not decoder.name or decoder.name in (AUTO, RAW):
            raise ValueError(f"{decoder.name!r} cannot name a decoder")
        if decoder.name in self._by_name:
            log.warning("decoder %r registered twice; the later one wins", decoder.name)
        self._by_name[decoder.name] = decoder

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def decoders(self) -> list[Decoder]:
        return list(self._by_name.values())

    def get(self, name: str) -> Decoder | None:
        return self._by_name.get(name)

    def choose(self, handshake: Handshake, first: Sequence[Frame],
               override: str | None = None) -> Decoder | None:
        """The user's override by name ("raw": none, "auto" or None: detect); ValueError in words
        for a name no decoder has."""
        if override in (None, "", AUTO):
            return detect(handshake, first, self.decoders)
        if override == RAW:
            return None
        found = self.get(override)
        if found is None:
            known = ", ".join([*self.names, AUTO, RAW])
            raise ValueError(f"no decoder named {override!r} (known: {known})")
        return found


def safe_score(decoder: Decoder, handshake: Handshake, first: Sequence[Frame]) -> float:
    """A decoder's score; one that raises or answers nonsense is "not mine" (logged)."""
    try:
        value = float(decoder.score(handshake, first))
    except Exception as exc:
        log.warning("decoder %s failed to score: %s: %s", getattr(decoder, "name", decoder),
                    type(exc).__name__, exc)
        return NOT_MINE
    return value if value == value else NOT_MINE  # NaN: not mine


def best(handshake: Handshake, first_frames: Sequence[Frame],
         decoders: Iterable[Decoder]) -> tuple[Decoder | None, float]:
    """The decoder with the highest score at or above zero (the first one wins a tie) and its
    score; (None, NOT_MINE) when every decoder says "not mine"."""
    found: Decoder | None = None
    found_score = NOT_MINE
    for decoder in decoders:
        value = safe_score(decoder, handshake, first_frames)
        if value >= 0 and (found is None or value > found_score):
            found, found_score = decoder, value
    return found, found_score


def detect(handshake: Handshake, first_frames: Sequence[Frame],
           decoders: Iterable[Decoder]) -> Decoder | None:
    """The decoder with the highest score at or above zero; None when none claims the
    connection. The tiers in api.py make an exact subprotocol beat a URL signature, which beats
    the first frames' shape, which beats generic JSON."""
    return best(handshake, first_frames, decoders)[0]


class Detector:
    """Holds a connection's first data frames until detection is sure enough: at once when the
    handshake alone scores at the URL-signature tier or above, at the first frame that brings a
    score to the first-frame tier, else after `max_frames` data frames (or at `finish()`, e.g.
    when the connection closes). The caller then feeds the held frames to the chosen decoder's
    session in order, and lets it answer their messages (a Socket.IO open packet asks for "40");
    at most `max_frames` are held."""

    def __init__(self, decoders: Iterable[Decoder], handshake: Handshake,
                 max_frames: int = 4) -> None:
        self.decoders = list(decoders)
        self.handshake = handshake
        self.max_frames = max_frames
        self.first: list[Frame] = []
        self.decided = False
        self.decoder: Decoder | None = None
        self.score = NOT_MINE

    def start(self) -> bool:
        """Judges the handshake alone; True when decided."""
        return self._judge(URL_SIGNATURE)

    def offer(self, frame: Frame) -> bool:
        """One frame of the connection, in order; True once decided (later frames are ignored)."""
        if self.decided:
            return True
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
            self.first.append(frame)
        return self._judge(FIRST_FRAMES if len(self.first) < self.max_frames else NOT_MINE)

    def finish(self) -> Decoder | None:
        """Decides with what has been seen."""
        if not self.decided:
            self._judge(NOT_MINE)
        return self.decoder

    @property
    def confident(self) -> bool:
        """Sure enough to run the protocol client unasked (first-frame tier or above)."""
        return self.decoder is not None and self.score >= FIRST_FRAMES

    def _judge(self, enough: float) -> bool:
        self.decoder, self.score = best(self.handshake, self.first, self.decoders)
        self.decided = self.score >= enough
        return self.decided
