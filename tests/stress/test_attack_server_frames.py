"""The malformed-frame storm: thousands of bad frames of every kind, each from an attacker that did
a valid handshake, while legitimate clients chat in a room and time their broadcasts.

The server runs in a child process, the attackers in another, the legitimate clients here; the
baseline and the attack are measured in interleaved windows so that machine noise hits both.
"""

from __future__ import annotations

from tests.attackers import (
    AttackProcess,
    Chat,
    ChildServer,
    compare,
    interleaved,
    malformed,
    report,
)

MAX_SIZE = 16 * 1024
ROUNDS = 4
PER_ROUND = 520  # 2,080 attacker connections, one bad frame (or bad ending) each.
CONCURRENCY = 2


async def test_malformed_frame_storm() -> None:
    async with ChildServer(max_size=MAX_SIZE, max_conns_per_ip=1000) as server:
        async with Chat(server.url) as chat, AttackProcess() as attackers:
            base, attacked, batches = await interleaved(
                chat,
                lambda: attackers.storm(
                    port=server.port, count=PER_ROUND, concurrency=CONCURRENCY, max_size=MAX_SIZE
                ),
                rounds=ROUNDS,
            )
            closed, out_of_order = list(chat.closed), chat.out_of_order
        probe = await server.probe(settle=0.2)

    outcomes: dict[str, dict[str, int]] = {}
    for batch in batches:
        for kind, seen in batch["results"].items():
            for outcome, n in seen.items():
                outcomes.setdefault(kind, {})[outcome] = outcomes.get(kind, {}).get(outcome, 0) + n
    expected = {kind: code for kind, _, code in malformed(MAX_SIZE)}
    wrong = {k: v for k, v in outcomes.items() if set(v) != {expected[k]}}
    total = sum(sum(v.values()) for v in outcomes.values())
    seconds = sum(b["seconds"] for b in batches)
    reasons = sorted({r for b in batches for r in b["reasons"]})

    report("storm: attacker connections (bad frames)", total, "", ">= 2000")
    report("storm: kinds of bad frame", len(expected))
    report("storm: attacks per second", total / seconds, "/s")
    report("storm: attackers closed with the wrong code", sum(
        sum(n for o, n in v.items() if o != expected[k]) for k, v in outcomes.items()), "", "0")
    report("storm: server ERROR records + loop exceptions",
           len(probe["errors"]) + len(probe["exceptions"]), "", "0")
    report("storm: legitimate clients dropped", len(closed), "", "0")
    assert total >= 2000
    assert not wrong, wrong
    assert probe["errors"] == [] and probe["exceptions"] == [], probe
    assert closed == [] and out_of_order == 0
    assert all(len(r.encode()) <= 123 for r in reasons), reasons
    assert probe["clients"] == 0 and probe["per_ip"] == 0 and probe["admitted"] == 0
    compare("storm", base, attacked, factor=3.0, floor_ms=10.0)
