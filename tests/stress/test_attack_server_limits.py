"""Attacks on the server's limits: slowloris handshakes, a decompression bomb, 10^5 one-byte
fragments, a 100 MiB declared frame. The server runs in a child process so that its memory (peak
RSS and tracemalloc) and CPU time are its own."""

from __future__ import annotations

import asyncio
import re
import time
import zlib

from tests.attackers import Chat, ChildServer, RawPeer, compare, report
from tests.rawws import BINARY, CONT, TEXT, client_frame, upgrade_request
from tests.timing import scaled

MiB = 1 << 20
WAVES = 3


# -- slowloris --------------------------------------------------------------------------------


async def _slowloris(port: int, style: str, step: float, delay: float) -> tuple[float, str]:
    """After `delay`, open TCP and never finish the handshake: "drip" sends the request one byte
    every `step` seconds, "stall" sends the request line and some headers then nothing, "mute"
    sends nothing. Returns (seconds until the server hung up, how)."""
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = loop.time()
    request = upgrade_request(port, "/?token=x")[:-2]  # Never the final CRLF.
    ended = asyncio.ensure_future(reader.read(1 << 16))
    how = "timeout"
    try:
        if style == "stall":
            writer.write(request[: len(request) // 2])
        for i in range(len(request) if style == "drip" else 1):
            if style == "drip":
                writer.write(request[i : i + 1])
            done, _ = await asyncio.wait([ended], timeout=step if style == "drip" else 5.0)
            if done:
                break
        try:
            data = await asyncio.wait_for(ended, 5.0)
            how = "closed" if data == b"" else f"answered {data[:12]!r}"
        except ConnectionResetError:
            how = "reset"
        except TimeoutError:
            how = "timeout"
    finally:
        ended.cancel()
        writer.transport.abort()
    return loop.time() - start, how


async def test_slowloris_handshakes_are_cut_at_open_timeout() -> None:
    open_timeout = 1.0
    async with ChildServer(open_timeout=open_timeout, max_conns_per_ip=200) as server:
        async with Chat(server.url, size=4) as chat:
            base = await chat.measure(0.8)
            styles = ["drip"] * 20 + ["stall"] * 10 + ["mute"] * 10
            attack = asyncio.gather(  # Arrivals spread over a second, like a real slowloris.
                *(_slowloris(server.port, s, 0.05, i * 0.025) for i, s in enumerate(styles))
            )
            attacked = await chat.measure(10.0, until=attack)
            results = await attack
            base.extend(await chat.measure(0.8))
            closed = list(chat.closed)
        probe = await server.probe()
    times = [t for t, _ in results]
    report("slowloris: connections (drip/stall/mute)", len(results))
    report(
        "slowloris: closed after (min..max)",
        f"{min(times):.2f}..{max(times):.2f}",
        "s",
        f"open_timeout {open_timeout:g} s (+0.5 s)",
    )
    assert {how for _, how in results} <= {"closed", "reset"}, results
    assert all(open_timeout - 0.1 <= t <= open_timeout + scaled(0.5) for t in times), times
    assert probe["errors"] == [] and probe["exceptions"] == []
    assert probe["connections"] == 0 and closed == []
    compare("slowloris", base, attacked, factor=3.0, floor_ms=10.0)


# -- decompression bomb -----------------------------------------------------------------------


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


async def _deflate_peer(port: int) -> tuple[RawPeer, int]:
    peer = await RawPeer.connect(
        port, headers="Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    )
    assert peer.status == 101, peer.head
    head = peer.head.decode().lower()
    assert "permessage-deflate" in head, head
    match = re.search(r"client_max_window_bits=(\d+)", head)
    return peer, int(match.group(1)) if match else 15


async def _bomb(port: int, bomb: bytes, fragmented: bool) -> str:
    """One bomb: a compressed frame of zeros, or a compressed message in two fragments (the
    limit counts the whole message); returns what closed the connection."""
    peer, _ = await _deflate_peer(port)
    try:
        if not fragmented:
            await peer.send(client_frame(BINARY, bomb, rsv=4))
        else:
            half = len(bomb) // 2
            await peer.send(
                client_frame(BINARY, bomb[:half], rsv=4, fin=False)
                + client_frame(CONT, bomb[half:])
            )
        return (await peer.read_close())[0]
    finally:
        peer.abort()


async def test_decompression_bomb_is_closed_1009_with_bounded_memory() -> None:
    max_size = MiB
    inflated = 64 * MiB
    async with ChildServer(max_size=max_size, trace=True) as server:
        peer, wbits = await _deflate_peer(server.port)
        try:  # The extension really works: a small compressed message gets its pong.
            ping = _deflate(b'{"type":"ping","requestId":1}', wbits)
            await peer.send(client_frame(TEXT, ping, rsv=4))
            inflate = zlib.decompressobj(-15)  # The server may keep its context: one object.
            for _ in range(5):
                _opcode, payload = await peer.read_frame()
                if peer.rsv1:
                    payload = inflate.decompress(payload + b"\x00\x00\xff\xff")
                if b"pong" in payload:
                    break
            else:
                raise AssertionError("no pong for a compressed ping")
        finally:
            peer.abort()
        bomb = _deflate(b"\0" * inflated, wbits)
        await server.probe(settle=0.1)
        before = await server.call("reset_peaks")
        probe0 = await server.probe()
        start = time.perf_counter()
        outcomes = []
        for _ in range(WAVES):  # Each wave: 8 attackers at once.
            outcomes += await asyncio.gather(
                *(_bomb(server.port, bomb, fragmented=i % 2 == 1) for i in range(8))
            )
        elapsed = time.perf_counter() - start
        probe = await server.probe(settle=0.1)
    traced_growth = probe["traced_peak"] - probe0["traced"]
    rss_growth = (probe["hwm_kb"] - before["hwm_kb"]) * 1024
    report("bomb: compressed size on the wire", len(bomb) / 1024, "KiB")
    report("bomb: inflated size offered, per bomb", inflated / MiB, "MiB")
    report("bomb: bombs (8 at a time)", len(outcomes))
    report("bomb: close codes", ",".join(sorted(set(outcomes))), "", "1009")
    report(
        "bomb: server traced-memory peak growth",
        traced_growth / MiB,
        "MiB",
        "< max_size per attacker at once = 8 MiB",
    )
    report("bomb: server peak-RSS growth", rss_growth / MiB, "MiB", "< 16 MiB")
    report("bomb: time for all bombs", elapsed, "s")
    assert outcomes == ["1009"] * (8 * WAVES), outcomes
    assert traced_growth < 8 * max_size
    assert rss_growth < 16 * MiB
    assert probe["errors"] == [] and probe["exceptions"] == []


# -- 10^5 one-byte fragments ------------------------------------------------------------------


async def test_hundred_thousand_one_byte_fragments_are_cut_off_early() -> None:
    count = 100_000
    key = b"\x01\x02\x03\x04"
    fragments = (
        client_frame(TEXT, b"x", fin=False, key=key)
        + client_frame(CONT, b"x", fin=False, key=key) * (count - 2)
        + client_frame(CONT, b"x", key=key)
    )
    async with ChildServer(trace=True, close_timeout=0.5) as server:
        await server.call("reset_peaks")
        probe0 = await server.probe()
        peer = await RawPeer.connect(server.port)
        start = time.perf_counter()
        try:
            sender = asyncio.ensure_future(peer.send(fragments, timeout=10.0))
            code, reason = await peer.read_close(timeout=10.0)
            closed_after = time.perf_counter() - start
            sender.cancel()  # The rest is never read: the server has failed the connection.
        finally:
            peer.abort()
        probe = await server.probe(settle=0.1)
    cpu = probe["cpu_s"] - probe0["cpu_s"]
    growth = probe["traced_peak"] - probe0["traced"]
    report("fragments: one-byte fragments sent", count)
    report("fragments: close", f"{code} {reason}", "", "1009 (websockets' 4096-fragment cap)")
    report("fragments: closed after", closed_after, "s", "< 2 s")
    report("fragments: server CPU spent", cpu, "s", "< 2 s")
    report("fragments: server traced-memory peak growth", growth / MiB, "MiB", "< 8 MiB")
    assert code == "1009"
    assert closed_after < scaled(2.0) and cpu < scaled(2.0)
    assert growth < 8 * MiB
    assert probe["errors"] == [] and probe["exceptions"] == []


# -- a 100 MiB declared frame -----------------------------------------------------------------


async def test_hundred_mib_declared_frame_is_closed_1009_without_reading_it() -> None:
    async with ChildServer(trace=True) as server:
        await server.call("reset_peaks")
        probe0 = await server.probe()
        peer = await RawPeer.connect(server.port)
        try:
            header = client_frame(BINARY, b"", length=100 * MiB)  # 14 bytes; no payload follows.
            start = time.perf_counter()
            await peer.send(header + b"\0" * 1024)
            code, reason = await peer.read_close(timeout=2.0)
            closed_after = time.perf_counter() - start
            ended = await peer.wait_eof(timeout=2.0)
        finally:
            peer.abort()
        probe = await server.probe(settle=0.1)
    growth = probe["traced_peak"] - probe0["traced"]
    report("100 MiB frame: bytes sent", len(header) + 1024)
    report("100 MiB frame: close", f"{code} {reason}", "", "1009")
    report("100 MiB frame: closed after", closed_after * 1000, "ms", "< 500 ms")
    report("100 MiB frame: server traced-memory peak growth", growth / 1024, "KiB", "< 1 MiB")
    assert code == "1009" and ended in ("eof", "reset")
    assert closed_after < scaled(0.5)
    assert growth < MiB
    assert probe["errors"] == [] and probe["exceptions"] == []
