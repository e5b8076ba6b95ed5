"""The GUI thread's GC policy (ui/collector.py) with Python's real collector: a flood's objects are
frozen, not walked; they are still freed by reference counting; a cycle frozen during a flood is
reclaimed by the next full collection, which a flood defers only up to its latest time."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ui.collector import FLOOD_YOUNG, Collector


class Node:
    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture(autouse=True)
def _thaw() -> Iterator[None]:
    gc.collect()
    yield
    gc.unfreeze()


def settled() -> Collector:
    collector = Collector()
    assert collector.step(now=100.0) == "full"  # the first step collects and freezes start-up
    return collector


def test_a_floods_young_objects_are_frozen_and_still_freed_by_refcount() -> None:
    collector = settled()
    frozen_before = gc.get_freeze_count()
    flood = [Node() for _ in range(FLOOD_YOUNG + 5_000)]
    probe = weakref.ref(flood[-1])
    assert collector.step(now=101.0) == "freeze"
    assert gc.get_freeze_count() - frozen_before >= FLOOD_YOUNG
    assert gc.get_count()[0] < 100  # nothing young left to walk
    del flood
    assert probe() is None  # freed at once: frozen only means the collector skips it


def test_a_cycle_frozen_in_a_flood_waits_for_the_next_full_collection() -> None:
    collector = settled()
    a, b = Node(), Node()
    a.other, b.other = b, a
    probe = weakref.ref(a)
    flood = [Node() for _ in range(FLOOD_YOUNG + 5_000)]
    assert collector.step(now=101.0) == "freeze"
    del a, b, flood
    assert collector.step(now=102.0) in ("none", "young")
    assert probe() is not None  # garbage, but frozen: no young collection sees it
    assert collector.step(now=100.0 + collector.full_every) == "full"
    assert probe() is None


def test_a_flood_defers_the_full_collection_only_until_its_latest_time() -> None:
    collector = settled()
    flood = [Node() for _ in range(FLOOD_YOUNG + 5_000)]
    assert collector.step(now=100.0 + collector.full_every) == "freeze"  # due, but a flood
    more = [Node() for _ in range(FLOOD_YOUNG + 5_000)]
    assert collector.step(now=100.0 + collector.full_at_latest) == "full"
    del flood, more


def test_quiet_traffic_gets_ordinary_young_collections() -> None:
    collector = settled()
    a = Node()
    a.other = a
    probe = weakref.ref(a)
    del a
    junk = [Node() for _ in range(gc.get_threshold()[0] + 10)]
    assert collector.step(now=101.0) == "young"
    assert probe() is None
    del junk
