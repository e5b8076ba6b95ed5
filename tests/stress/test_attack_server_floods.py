"""Floods: too many connections from one address, a message flooder, ping flooders (reading and
not), and a slow consumer during broadcasts. Legitimate clients chat in a room throughout; their
broadcast latency is compared between quiet and attacked windows taken in turn.

Ping policy (PROTOCOL.md leaves it open): every ping and pong a client sends spends its rate limit
like a message does. websockets answers each ping by itself, so the flooder gets its pongs, but
sustained flooding is abuse and ends in 1008, exactly like a message flood.
"""

from __future__ import annotations

import json

from tests.attackers import (
    AttackProcess,
    Chat,
    ChildServer,
    RawPeer,
    compare,
    flood,
    interleaved,
    report,
)
from tests.rawws import PING, TEXT, client_frame

KEY = b"\x11\x22\x33\x44"  # A fixed mask key lets one frame be repeated byte for byte.


def _text(obj: object) -> bytes:
    return client_frame(TEXT, json.dumps(obj).encode(), key=KEY)


async def test_per_ip_cap_refuses_extra_connections_before_the_upgrade() -> None:
    cap = 8
    async with ChildServer(max_conns_per_ip=cap) as server:
        async with Chat(server.url, size=3) as chat:  # 3 of the 8 slots.
            held: list[RawPeer] = []
            refused: list[tuple[int, bytes]] = []

            async def crowd() -> int:
                for i in range(60):
                    peer = await RawPeer.connect(server.port, sub=f"crowd-{i}")
                    if peer.status == 101:
                        held.append(peer)
                        continue
                    length = int(peer.head.lower().split(b"content-length: ")[1].split(b"\r")[0])
                    refused.append((peer.status, await peer.reader.readexactly(length)))
                    peer.abort()
                return len(held)

            try:
                base, attacked, _ = await interleaved(chat, crowd, rounds=2)
            finally:
                for peer in held:
                    peer.abort()
            closed = list(chat.closed)
        probe = await server.probe(settle=0.2)
    statuses = {status for status, _ in refused}
    bodies = {body for _, body in refused}
    report("per-IP cap: cap / legit clients", f"{cap}/3")
    report("per-IP cap: extra connections refused", len(refused), "", "all over the cap")
    report("per-IP cap: refusal status", ",".join(map(str, sorted(statuses))), "", "429 or 503")
    assert len(held) == cap - 3  # The first round filled the cap; nothing got in after that.
    assert len(refused) == 120 - (cap - 3)
    assert statuses == {429}
    assert bodies == {b"429 Too Many Requests: too many connections from this address\n"}
    assert closed == [] and probe["errors"] == [] and probe["exceptions"] == []
    assert probe["per_ip"] == 0 and probe["admitted"] == 0
    compare("per-IP cap", base, attacked, factor=3.0, floor_ms=10.0)


async def test_message_flooder_is_throttled_then_closed_1008() -> None:
    rate, burst, abuse = 100.0, 200, 200
    async with ChildServer(rate=rate, burst=burst, abuse_limit=abuse) as server:
        async with Chat(server.url) as chat, AttackProcess() as attackers:
            # Into a room of its own: what the limit lets through to the chat room would
            # otherwise be timed as the legit clients' own reading (see the next figure).
            join = _text({"type": "join_room", "room": "spam"})
            spam = _text({"type": "broadcast", "room": "spam", "data": "spam"})
            base, attacked, rounds = await interleaved(
                chat, lambda: attackers.floods(spam, first=join, port=server.port, count=4)
            )
            # And once into the chat room: how much of a flood reaches the others.
            into_chat = await flood(
                server.port,
                _text({"type": "broadcast", "room": chat.room, "data": "spam"}),
                first=_text({"type": "join_room", "room": chat.room}),
            )
            await chat.measure(0.5)
            foreign, closed = chat.foreign, list(chat.closed)
        probe = await server.probe(settle=0.2)
    results = [f for batch in rounds for f in batch]
    report("message flood: flooders", len(results))
    report("message flood: frames sent per flooder (max)", max(f.sent for f in results))
    report(
        "message flood: 'Rate limit exceeded' errors per flooder (min..max)",
        f"{min(f.rate_errors for f in results)}..{max(f.rate_errors for f in results)}",
        "",
        f"> 0, < abuse_limit {abuse}",
    )
    report("message flood: close codes", ",".join(sorted({f.close for f in results})), "", "1008")
    report("message flood: closed after (max)", max(f.seconds for f in results) * 1000, "ms")
    report(
        "message flood: flood broadcasts that reached each legit client",
        foreign / chat.size,
        "",
        f"<= burst {burst} + rate x {into_chat.seconds:.2f} s",
    )
    assert all(f.close == "1008" for f in [*results, into_chat]), results
    assert all(0 < f.rate_errors < abuse for f in results), results
    assert foreign <= chat.size * (burst + rate * into_chat.seconds + 1)
    assert closed == [] and probe["errors"] == [] and probe["exceptions"] == []
    compare("message flood", base, attacked, factor=3.0, floor_ms=10.0)


async def test_ping_flooder_spends_the_rate_limit_and_is_closed_1008() -> None:
    empty_ping = client_frame(PING, b"", key=KEY)
    async with ChildServer() as server:  # Default limits: 100/s, burst 200, abuse 200.
        async with Chat(server.url) as chat, AttackProcess() as attackers:
            base, attacked, rounds = await interleaved(
                chat, lambda: attackers.floods(empty_ping, port=server.port, count=4)
            )
            closed = list(chat.closed)
        probe = await server.probe(settle=0.2)
    results = [f for batch in rounds for f in batch]
    report("ping flood: flooders (empty pings, reading)", len(results))
    report("ping flood: pings sent per flooder (max)", max(f.sent for f in results))
    report("ping flood: pongs per flooder (max)", max(f.pongs for f in results))
    report("ping flood: close codes", ",".join(sorted({f.close for f in results})), "", "1008")
    report("ping flood: closed after (max)", max(f.seconds for f in results) * 1000, "ms")
    assert all(f.close == "1008" for f in results), results
    assert all(f.pongs < 10_000 for f in results), results
    assert closed == [] and probe["errors"] == [] and probe["exceptions"] == []
    compare("ping flood", base, attacked, factor=3.0, floor_ms=10.0)


async def test_ping_flooder_that_never_reads_cannot_grow_the_server_buffer() -> None:
    """Without a rate limit websockets' pongs for a peer that never reads used to pile up in
    the server (47 MB for 52 MB of pings); now the write-buffer cap aborts that peer."""
    ping = client_frame(PING, b"p" * 125, key=KEY)
    max_write_buffer, max_size = 256 * 1024, 64 * 1024
    limited = {"rate": 1e9, "burst": 10**9}  # The rate limit out of the way: the cap alone.
    async with ChildServer(
        max_write_buffer=max_write_buffer, max_size=max_size, sample=True, **limited
    ) as server:
        result = await flood(server.port, ping, read=False, rcvbuf=4096, max_frames=400_000)
        probe = await server.probe(settle=0.3)
    mib = 1 << 20
    limit = max_write_buffer + max_size
    report("silent ping flood: pings sent", result.sent)
    report("silent ping flood: bytes of pings sent", result.sent * len(ping) / mib, "MiB")
    report(
        "silent ping flood: server's largest unsent buffer",
        probe["peak_write_buffer"] / 1024,
        "KiB",
        f"<= max_write_buffer + max_size = {limit // 1024} KiB (+ one read's pongs)",
    )
    assert any("replies unread" in text for _, _, text in probe["log"]), probe["log"]
    assert probe["peak_write_buffer"] <= limit + 4 * 1024  # A 1 KiB read: ~8 pongs of 127 B.
    assert probe["connections"] == 0
    assert probe["errors"] == [] and probe["exceptions"] == []


async def test_slow_consumer_is_dropped_with_a_bounded_queue() -> None:
    max_write_buffer = 256 * 1024
    pad = 32 * 1024  # ~6 MB/s to each reader: the kernel's socket buffers (4 MiB) fill fast.
    fields = {"max_write_buffer": max_write_buffer, "rate": 10_000.0, "burst": 10_000}
    async with ChildServer(sample=True, **fields) as server:
        async with Chat(server.url, size=5, pad=pad) as chat:
            await chat.measure(0.3, interval=0.005)
            base = await chat.measure(1.0, interval=0.005)
            slow = await RawPeer.connect(server.port, sub="slow", rcvbuf=4096)
            try:
                await slow.send(_text({"type": "join_room", "room": chat.room}))
                await server.call("reset_peaks")
                attacked = await chat.measure(1.5, interval=0.005)
                probe = await server.probe()
                after = await chat.measure(0.5, interval=0.005)
            finally:
                slow.abort()
            attacked.extend(after)
            base.extend(await chat.measure(1.0, interval=0.005))
            closed, out_of_order = list(chat.closed), chat.out_of_order
        final = await server.probe(settle=0.2)
    dropped = [text for _, _, text in probe["log"] if "dropped slow client" in text]
    message = pad + 200
    report("slow consumer: broadcast size", message / 1024, "KiB")
    report(
        "slow consumer: largest unsent buffer of any connection",
        probe["peak_write_buffer"] / 1024,
        "KiB",
        f"<= max_write_buffer {max_write_buffer // 1024} KiB + one message",
    )
    report("slow consumer: dropped", len(dropped), "", "1")
    report("slow consumer: legit out-of-order or missing", out_of_order, "", "0")
    assert len(dropped) == 1 and "slow" in dropped[0]
    assert probe["peak_write_buffer"] <= max_write_buffer + message
    assert closed == [] and out_of_order == 0
    assert final["errors"] == [] and final["exceptions"] == []
    compare("slow consumer", base, attacked, factor=3.0, floor_ms=10.0)
