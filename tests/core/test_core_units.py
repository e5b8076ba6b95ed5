"""Pure pieces of the core: ring buffers, metrics, the transition table, the hub, codecs."""

from __future__ import annotations

import asyncio
import socket

import msgpack
import pytest

from core.closecodes import describe_close
from core.codecs import hexdump, message_type, parse_object, preview
from core.errors import describe_error
from core.events import ErrorEvent, Opcode
from core.hub import EventHub
from core.metrics import ConnectionMetrics
from core.ringbuffer import RingBuffer
from core.states import TRANSITIONS, ConnState, InvalidTransition, check_transition


def test_ring_buffer_is_chronological_and_bounded() -> None:
    ring = RingBuffer(4, 2)
    for i in range(10):
        ring.append((i, i * 10))
        view = ring.view()
        expected = list(range(max(0, i - 3), i + 1))
        assert view[:, 0].tolist() == expected
        assert view.base is not None  # a view, not a copy
    assert len(ring) == 4 and ring.total == 10


def test_metrics_roll_seconds_and_fill_silent_ones_with_zeros() -> None:
    m = ConnectionMetrics(seconds_capacity=100)
    m.record_in(10, 1000.1)
    m.record_in(20, 1000.9)
    m.record_out(5, 1001.5)
    m.roll(1004.0)
    rows = m.throughput.view()
    assert rows[:, 0].tolist() == [1000, 1001, 1002, 1003]
    assert rows[0, 1:].tolist() == [2, 30, 0, 0]
    assert rows[1, 1:].tolist() == [0, 0, 1, 5]
    assert rows[2:, 1:].sum() == 0
    assert m.totals().bytes_in == 30
    assert m.rate(1004.0, window=2) == (0.0, 0.0, 0.0, 0.0)


def test_metrics_memory_is_bounded_over_a_long_silence() -> None:
    m = ConnectionMetrics(seconds_capacity=50)
    m.record_in(1, 1.0)
    m.roll(1_000_000.0)
    assert len(m.throughput) == 50


def test_rtt_series_are_separate() -> None:
    m = ConnectionMetrics()
    m.record_rtt(0.010, 1.0, "ping")
    m.record_rtt(0.020, 1.0, "app")
    assert m.last_rtt("ping") == 0.010 and m.last_rtt("app") == 0.020
    assert m.mean_rtt() == pytest.approx(0.010)
    assert m.mean_rtt("app") == pytest.approx(0.020)
    assert ConnectionMetrics().mean_rtt() is None


def test_transition_table_is_enforced() -> None:
    check_transition(ConnState.CLOSED, ConnState.CONNECTING)
    with pytest.raises(InvalidTransition):
        check_transition(ConnState.CLOSED, ConnState.OPEN)
    assert set(TRANSITIONS) == set(ConnState)


async def test_slow_stream_observer_drops_oldest_and_counts() -> None:
    hub = EventHub()
    stream = hub.stream(maxlen=3)
    seen: list[object] = []
    hub.subscribe(seen.append)
    for i in range(5):
        hub.publish(ErrorEvent(1, float(i), f"e{i}"))
    assert stream.dropped == 2
    assert [e.message for e in stream.drain()] == ["e2", "e3", "e4"]  # type: ignore[union-attr]
    assert len(seen) == 5
    stream.close()
    hub.publish(ErrorEvent(1, 9.0, "after"))
    assert stream.drain() == []
    got = hub.stream(maxlen=2)
    asyncio.get_running_loop().call_later(0.01, hub.publish, ErrorEvent(1, 1.0, "late"))
    assert (await asyncio.wait_for(got.get(), 2)).message == "late"  # type: ignore[union-attr]


def test_failing_observer_does_not_break_the_others() -> None:
    hub = EventHub()
    seen: list[object] = []

    def broken(event: object) -> None:
        raise RuntimeError("observer bug")

    hub.subscribe(broken)
    hub.subscribe(seen.append)
    hub.publish(ErrorEvent(1, 0.0, "x"))
    assert len(seen) == 1


def test_codecs() -> None:
    assert parse_object(Opcode.TEXT, b'{"type":"pong"}') == {"type": "pong"}
    assert parse_object(Opcode.TEXT, b"[1]") is None
    assert parse_object(Opcode.TEXT, b"not json") is None
    packed = msgpack.packb({"type": "rooms", "rooms": []})
    assert message_type(Opcode.BINARY, packed) == "rooms"
    assert preview(Opcode.TEXT, b"a\x1b[31mb\x00") == "a\u241b[31mb\u2400"
    assert preview(Opcode.TEXT, b"x" * 500, limit=10) == "x" * 10 + "…"
    assert preview(Opcode.BINARY, b"\x00\xff") == "00 ff"
    assert preview(Opcode.PING, b"\x01\x02") == "01 02"
    assert preview(Opcode.TEXT, "a\u202eb".encode()) == "a<U+202E>b"
    assert preview(Opcode.CLOSE, b"\x03\xe9bye").startswith("1001 going away")
    assert preview(Opcode.CLOSE, b"\x03\xe9bye").endswith("left): bye")
    assert hexdump(b"AB\x00").startswith("00000000  41 42 00")
    assert hexdump(b"AB\x00").endswith("AB.")


def test_errors_in_words() -> None:
    assert describe_error(socket.gaierror(-2, "Name or service not known"),
                          "ws://nowhere.invalid/").message == (
        "Host name not found: nowhere.invalid — check the URL")
    assert describe_error(TimeoutError(), "wss://h:9/").message == (
        "Timed out opening the connection to h:9")
    assert describe_close(1008) == "1008 policy violation"
    assert describe_close(4001) == "4001 application-defined"
    assert describe_close(None) == "no close code"
