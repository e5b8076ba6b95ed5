"""The server's small parts on their own: escaping encoder, token bucket, abuse meter, dedup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.server.dedup import SeenIds
from core.server.jsonsafe import dumps, loads
from core.server.ratelimit import AbuseMeter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_dumps_escapes_like_go_and_round_trips() -> None:
    value = {"a<b>": "<script>&\x00\x1f\x7f\x85\u2028\u2029 é 日本 🙂", "n": [1, 2.5, None]}
    text = dumps(value)
    assert json.loads(text) == value
    for raw in "<>&\x00\x1f\x7f\x85\u2028\u2029":
        assert raw not in text
    for escaped in ("\\u003c", "\\u003e", "\\u0026", "\\u0000", "\\u007f", "\\u0085", "\\u2028"):
        assert escaped in text
    assert "é 日本 🙂" in text  # Ordinary non-ASCII stays readable.
    assert dumps({"x": "plain"}) == '{"x":"plain"}'


def test_dumps_escapes_lone_surrogates_so_output_is_valid_utf8() -> None:
    text = dumps({"s": "\ud800"})
    text.encode("utf-8")
    assert text == '{"s":"\\ud800"}'


def test_loads_refuses_nan_and_dumps_refuses_non_json() -> None:
    for bad in ("NaN", "[Infinity]", "-Infinity"):
        with pytest.raises(ValueError):
            loads(bad)
    with pytest.raises(ValueError):
        dumps(float("nan"))
    with pytest.raises(TypeError):
        dumps(b"bytes")


def test_token_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # One token back.
    assert [bucket.take() for _ in range(2)] == [True, False]
    clock.now += 100  # Never more than the burst.
    assert sum(bucket.take() for _ in range(10)) == 3


def test_abuse_meter_counts_within_a_window() -> None:
    clock = FakeClock()
    meter = AbuseMeter(limit=3, window=10.0, clock=clock)
    assert [meter.hit(), meter.hit()] == [False, False]
    clock.now += 11  # Those two have aged out.
    assert [meter.hit(), meter.hit(), meter.hit()] == [False, False, True]


def test_seen_ids_window_and_bound() -> None:
    clock = FakeClock()
    seen = SeenIds(window=600.0, max_ids=3, clock=clock)
    seen.remember("alice", "m1")
    assert seen.seen("alice", "m1") and not seen.seen("bob", "m1")
    clock.now += 599
    assert seen.seen("alice", "m1")
    clock.now += 2
    assert not seen.seen("alice", "m1")
    for i in range(5):
        seen.remember("alice", i)
    assert [seen.seen("alice", i) for i in range(5)] == [False, False, True, True, True]
    assert len(seen) == 3
    clock.now += 1000
    seen.sweep()
    assert len(seen) == 0
    seen.remember("carol", 1)
    seen.forget("carol")
    assert not seen.seen("carol", 1)


def test_no_qt_under_core_server() -> None:
    package = Path(__file__).resolve().parents[2] / "core" / "server"
    for source in package.glob("*.py"):
        text = source.read_text()
        for name in ("PySide6", "PyQt", "qasync", "QtCore"):
            assert name not in text, f"{source.name} mentions {name}"
