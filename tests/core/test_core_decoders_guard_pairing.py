"""The fuse around decoder sessions (a raising and a sleeping decoder are switched off with a
note) and request/reply pairing with its bounds and latency percentiles."""

from __future__ import annotations

import random
import time

from core.decoders.api import Handshake, Kind, Message, Outgoing
from core.decoders.guard import Budget, GuardedSession, open_session
from core.decoders.jsonrpc import decoder as jsonrpc
from core.decoders.pairing import OTHER, Pairer
from core.events import Direction
from tests.decoder_helpers import text


class Raising:
    def __init__(self, after: int) -> None:
        self.after = after
        self.calls = 0

    def feed(self, frame):
        self.calls += 1
        if self.calls > self.after:
            raise KeyError("boom")
        return [Message("bad", Kind.EVENT, "ok")]

    def on_open(self):
        return ()

    def answer(self, message):
        raise ValueError("cannot answer")

    def tick(self, now):
        return ()


class Sleeping(Raising):
    def __init__(self, seconds: float) -> None:
        super().__init__(10**9)
        self.seconds = seconds

    def feed(self, frame):
        self.calls += 1
        time.sleep(self.seconds)
        return [Message("slow", Kind.EVENT, "late")]


def test_a_raising_decoder_is_switched_off_with_a_note() -> None:
    inner = Raising(after=2)
    guarded = GuardedSession("socketio", inner)
    assert [m.summary for m in guarded.feed(text("1"))] == ["ok"]
    assert len(guarded.feed(text("2"))) == 1
    (note,) = guarded.feed(text("3"))
    assert note.kind is Kind.ERROR
    assert note.summary.startswith("socketio decoder switched off: feed raised KeyError")
    assert guarded.off
    for _ in range(5):
        assert list(guarded.feed(text("4"))) == []
    assert inner.calls == 3  # never called again
    assert guarded.tick(1.0) == () and guarded.on_open() == ()


def test_a_failing_answer_switches_off_and_the_note_rides_on_the_next_feed() -> None:
    guarded = GuardedSession("x", Raising(after=100))
    assert guarded.answer(Message("x", Kind.EVENT, "e")) == ()
    assert guarded.off and "answer raised ValueError" in guarded.off_reason
    (note,) = guarded.feed(text("1"))
    assert "switched off" in note.summary
    assert guarded.take_notes() == []


def test_a_decoder_returning_something_else_is_switched_off() -> None:
    class Sloppy(Raising):
        def feed(self, frame):
            return ["not a message"]

        def tick(self, now):
            return None  # not even a sequence

    guarded = GuardedSession("sloppy", Sloppy(0))
    (note,) = guarded.feed(text("x"))
    assert note.summary == "sloppy decoder switched off: feed returned a str, not a Message"
    other = GuardedSession("sloppy", Sloppy(0))
    assert other.tick(0.0) == () and "tick raised TypeError" in other.off_reason


def test_a_slow_decoder_is_switched_off_after_its_strikes() -> None:
    inner = Sleeping(0.05)
    guarded = GuardedSession("slow", inner, Budget(per_call=0.02, strikes=3, hard_limit=5.0))
    results = [guarded.feed(text(str(i))) for i in range(6)]
    assert inner.calls == 3
    late, note = results[2]
    assert late.summary == "late" and "3 calls in a row over 20 ms" in note.summary
    assert all(list(r) == [] for r in results[3:])


def test_one_very_slow_call_switches_off_at_once() -> None:
    guarded = GuardedSession("slow", Sleeping(0.3), Budget(hard_limit=0.1))
    messages = guarded.feed(text("1"))
    assert guarded.off and "limit 100 ms" in messages[-1].summary


def test_a_decoder_that_eats_the_time_share_is_switched_off() -> None:
    reads = iter(range(10**6))
    budget = Budget(per_call=1.0, hard_limit=10.0, max_share=0.5, share_after=0.5)
    # a clock that advances 10 ms inside each call and never between calls: a 100 % share
    guarded = GuardedSession("busy", Raising(after=10**9), budget,
                             clock=lambda: (next(reads) + 1) // 2 * 0.01)
    for _ in range(200):
        guarded.feed(text("x"))
        if guarded.off:
            break
    assert guarded.off and "of the time since the first frame" in guarded.off_reason


def test_a_fast_decoder_stays_on() -> None:
    guarded = GuardedSession("jsonrpc", jsonrpc.session(Handshake("ws://h/")))
    for i in range(2000):
        guarded.feed(text(f'{{"jsonrpc":"2.0","method":"m","id":{i}}}'))
    assert not guarded.off


def test_open_session_passes_options_only_when_given_and_survives_a_failing_session() -> None:
    from core.decoders.socketio import decoder as socketio

    hs = Handshake("ws://h/socket.io/?EIO=4")
    guarded = open_session(socketio, hs, {"namespaces": ["/chat"]})
    (opened,) = guarded.feed(text('0{"sid":"s"}'))
    assert [o.payload for o in guarded.answer(opened)] == [b"40", b"40/chat,"]
    assert open_session(jsonrpc, hs).feed(text('{"jsonrpc":"2.0","method":"m"}'))[0].name == "m"

    class Refusing:
        name = "refusing"

        def session(self, handshake):
            raise RuntimeError("no")

    broken = open_session(Refusing(), hs)
    assert broken.off
    (note,) = broken.feed(text("x"))
    assert note.summary == "refusing decoder switched off: session raised RuntimeError: no"


def rpc(kind: Kind, ident: int, name: str = "get", direction=Direction.OUT) -> Message:
    return Message("jsonrpc", kind, f"{kind} {ident}", direction, name, None, f"rpc:{ident}")


def test_pairs_by_correlation_per_connection_with_latency() -> None:
    pairer = Pairer()
    assert pairer.add(1, rpc(Kind.REQUEST, 1), 10.0) is None
    assert pairer.add(2, rpc(Kind.REQUEST, 1), 10.5) is None
    assert pairer.add(1, rpc(Kind.EVENT, 1, direction=Direction.IN), 10.7) is None
    pair = pairer.add(1, rpc(Kind.RESPONSE, 1, direction=Direction.IN), 10.25)
    assert pair.conn_id == 1 and pair.latency == 0.25
    err = pairer.add(2, rpc(Kind.ERROR, 1, direction=Direction.IN), 11.5)
    assert err.latency == 1.0 and err.reply.kind is Kind.ERROR
    assert pairer.add(1, rpc(Kind.RESPONSE, 1), 12.0) is None and pairer.unmatched == 1
    pairer.add(1, rpc(Kind.REQUEST, 9, "slow"), 20.0)
    (waiting,) = pairer.unanswered(now=23.0)
    assert waiting.request.name == "slow" and waiting.age == 3.0
    assert pairer.forget(1) == 1 and pairer.pending_count == 0 and pairer.pending_bytes == 0


def test_pending_is_bounded_in_count_and_bytes() -> None:
    pairer = Pairer(max_pending=100, max_bytes=10_000)
    for i in range(1000):
        pairer.add(1, rpc(Kind.REQUEST, i), float(i), size=50)
    assert pairer.pending_count == 100 and pairer.evicted == 900
    assert pairer.unanswered(0.0)[0].request.correlation == "rpc:900"  # oldest evicted first
    for i in range(1000, 1100):
        pairer.add(1, rpc(Kind.REQUEST, i), float(i), size=1000)
    assert pairer.pending_bytes <= 10_000 and pairer.pending_count == 10
    assert pairer.add(1, rpc(Kind.RESPONSE, 5), 2000.0) is None  # evicted: unmatched


def test_latency_percentiles_per_name_from_a_bounded_reservoir() -> None:
    pairer = Pairer(reservoir=500, max_names=3)
    rng = random.Random(3)
    for i in range(20_000):
        pairer.add(1, rpc(Kind.REQUEST, i, "get"), 0.0)
        pairer.add(1, rpc(Kind.RESPONSE, i), rng.uniform(0.0, 1.0))
    stats = pairer.percentiles("get")
    assert stats.count == 20_000 and len(pairer.samples("get")) == 500
    assert 0.4 < stats.p50 < 0.6 and 0.9 < stats.p95 <= stats.p99 <= stats.max <= 1.0
    for name in ("a", "b", "c", "d"):
        pairer.add(1, rpc(Kind.REQUEST, 1, name), 0.0)
        pairer.add(1, rpc(Kind.RESPONSE, 1), 0.1)
    assert set(pairer.names()) == {"get", "a", "b", OTHER}
    assert pairer.percentiles("nothing").count == 0


def test_outgoing_is_not_a_message() -> None:
    assert Outgoing(b"x", True) != Message("x", Kind.EVENT, "x")
