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

from core.decoders.api import ENTRY_POINT_GROUP, Decoder, Frame, Handshake

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
        """Adds a decoder; a second one with the same name replaces the first (logged)."""
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
        """The user's override by name ("raw": none, "auto" or None: detect); KeyError in words
        for a name no decoder has."""
        if override in (None, "", AUTO):
            return detect(handshake, first, self.decoders)
        if override == RAW:
            return None
        found = self.get(override)
        if found is None:
            known = ", ".join([*self.names, AUTO, RAW])
            raise KeyError(f"no decoder named {override!r} (known: {known})")
        return found


def safe_score(decoder: Decoder, handshake: Handshake, first: Sequence[Frame]) -> float:
    """A decoder's score; one that raises or answers nonsense is "not mine" (logged)."""
    try:
        value = float(decoder.score(handshake, first))
    except Exception as exc:
        log.warning("decoder %s failed to score: %s: %s", getattr(decoder, "name", decoder),
                    type(exc).__name__, exc)
        return -1.0
    return value if value == value else -1.0  # NaN: not mine


def detect(handshake: Handshake, first_frames: Sequence[Frame],
           decoders: Iterable[Decoder]) -> Decoder | None:
    """The decoder with the highest score at or above zero (the first one wins a tie); None when
    every decoder says "not mine". The tiers in api.py make an exact subprotocol beat a URL
    signature, which beats the first frames' shape, which beats generic JSON."""
    best: Decoder | None = None
    best_score = 0.0
    for decoder in decoders:
        value = safe_score(decoder, handshake, first_frames)
        if value >= 0 and (best is None or value > best_score):
            best, best_score = decoder, value
    return best
