"""Churn and volume: 1,000 connect/join/send/disconnect cycles with abrupt resets mixed in, after
which the server is back where it started (file descriptors, tasks, rooms, memory); and one
connection that receives 10^6 small broadcasts without being dropped."""

from __future__ import annotations

import asyncio
import json
import time

import msgpack

from tests.attackers import ChildServer, FrameCounter, RawPeer, report, token
from tests.rawws import BINARY, CLOSE, client_frame, close_payload

KiB = 1024


def _text(obj: object) -> bytes:
    return client_frame(0x1, json.dumps(obj).encode())


async def _cycle(port: int, i: int, tokens: list[str]) -> str:
    """One client's life; how it ends depends on i: a clean close, a reset (SO_LINGER 0) after
    joining, an abort in the middle of a frame, or a reset before the handshake is answered."""
    endings = ("clean", "clean", "clean", "reset after join", "abort mid-frame", "reset early")
    ending = endings[i % len(endings)]
    room = f"room-{i % 20}"
    path = f"/?token={tokens[i % len(tokens)]}"
    if ending == "reset early":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = RawPeer(reader, writer)
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        await writer.drain()
        peer.rst()
        return ending
    peer = await RawPeer.connect(port, path, sub=None)
    try:
        assert peer.status == 101, peer.head
        await peer.send(
            _text({"type": "join_room", "room": room})
            + _text({"type": "broadcast", "room": room, "data": i})
        )
        if ending == "reset after join":
            await peer.read_frame()  # The "connected" message: the handler is running.
            peer.rst()
        elif ending == "abort mid-frame":
            await peer.send(_text({"type": "broadcast", "room": room, "data": "x" * 200})[:40])
            peer.abort()
        else:
            await peer.send(
                _text({"type": "leave_room", "room": room, "requestId": i})
                + client_frame(CLOSE, close_payload(1000))
            )
            code, _ = await peer.read_close()
            assert code == "1000", code
    finally:
        peer.abort()
    return ending


async def _churn(port: int, cycles: int, workers: int) -> dict[str, int]:
    tokens = [token(f"churn-{k}") for k in range(16)]
    counts: dict[str, int] = {}
    todo = iter(range(cycles))

    async def worker() -> None:
        for i in todo:
            ending = await _cycle(port, i, tokens)
            counts[ending] = counts.get(ending, 0) + 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return counts


async def test_churn_with_resets_leaves_nothing_behind() -> None:
    cycles = 1000
    async with ChildServer(trace=True, max_conns_per_ip=100) as server:
        await _churn(server.port, 200, 8)  # Warm-up: caches, free lists, dict tables.
        await server.call("drain_log")  # The log is bounded (2,000 entries) but not free.
        before = await server.probe(settle=0.3)
        start = time.perf_counter()
        counts = await _churn(server.port, cycles, 8)
        elapsed = time.perf_counter() - start
        await server.call("drain_log")
        after = await server.probe(settle=0.5)
    growth = after["traced"] - before["traced"]
    report("churn: cycles (8 workers)", sum(counts.values()), "", ">= 1000")
    report("churn: endings", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    report("churn: cycles per second", cycles / elapsed, "/s")
    report("churn: fds before/after", f"{before['fds']}/{after['fds']}", "", "equal")
    report("churn: server tasks before/after", f"{before['tasks']}/{after['tasks']}", "", "equal")
    report("churn: rooms/members/clients after", f"{len(after['rooms'])}/{after['members']}/"
           f"{after['clients']}", "", "0/0/0")
    report("churn: traced memory growth", growth / KiB, "KiB", "< 128 KiB")
    assert sum(counts.values()) == cycles
    assert after["fds"] == before["fds"]
    assert after["tasks"] == before["tasks"]
    assert after["rooms"] == {} and after["members"] == 0 and after["clients"] == 0
    assert after["connections"] == 0 and after["admitted"] == 0 and after["per_ip"] == 0
    assert growth < 128 * KiB  # Bounded caches still filling (urlsplit's, free lists).
    assert after["errors"] == [] and after["exceptions"] == []


async def test_one_connection_receives_a_million_broadcasts() -> None:
    """MessagePack, because the server encodes it ~4x faster than JSON (1.8 vs 6.4 us here):
    that keeps 10^6 messages within ~13 s on two shared cores, for CI."""
    count = 1_000_000
    async with ChildServer() as server:  # Default max_write_buffer (4 MiB): never reached.
        peer = await RawPeer.connect(
            server.port, sub="firehose", headers="Sec-WebSocket-Protocol: msgpack\r\n"
        )
        try:
            join = {"type": "join_room", "room": "firehose", "requestId": 1}
            await peer.send(client_frame(BINARY, msgpack.packb(join)))
            for _ in range(5):  # "connected", then the ack.
                _, payload = await peer.read_frame()
                if msgpack.unpackb(payload).get("type") == "ack":
                    break
            counter = FrameCounter(binary=True)

            async def receive() -> None:
                for _ in range(10_000_000):
                    chunk = await peer.reader.read(1 << 20)
                    if not chunk:
                        return
                    counter.feed(chunk)
                    if counter.next_seq >= count:
                        return

            start = time.perf_counter()
            reader = asyncio.ensure_future(receive())
            try:
                blast = await server.call("blast", room="firehose", count=count, timeout=60.0)
                await asyncio.wait_for(reader, 30.0)
            finally:
                reader.cancel()
            elapsed = time.perf_counter() - start
            probe = await server.probe()
        finally:
            peer.abort()
    dropped = [text for _, _, text in probe["log"] if "dropped" in text]
    report("firehose: broadcasts received by one connection", counter.next_seq, "", f"{count}")
    report("firehose: out of order or missing", counter.out_of_order, "", "0")
    report("firehose: seconds for all of them", elapsed, "s", "< 20 s")
    report("firehose: messages per second", count / elapsed, "/s")
    report("firehose: sender waits for the receiver (polite producer)", blast["waits"])
    report("firehose: drops", len(dropped), "", "0")
    assert blast["sent"] == count
    assert counter.next_seq == count and counter.out_of_order == 0 and counter.non_text == 0
    assert dropped == []
    assert probe["errors"] == [] and probe["exceptions"] == []
