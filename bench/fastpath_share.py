"""How many data frames of the default session take the engine's fast path (issue 14).

Starts the app's default session exactly as `python main.py` with no arguments does (embedded
demo server, the demo connection joined to #lobby and #dev, the recorder, every panel), offscreen,
for `--seconds`, then asks each connection's wire for its counters: `conn.wire` (None while the
connection is not open) with the public ints `fast_frames` and `slow_frames` (core/wire.py).
Until that engine is in, the counters print as "n/a". The counters are read on the core's own
thread (one hop), not from the GUI thread. Data frames in, as the hub published them, are counted
beside them for a cross-check.

    python bench/fastpath_share.py [--seconds 5] [--smoke]

Ends with `RESULT {json}` like every benchmark (bench/run_all.py collects it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.apphost import run_qt  # noqa: E402  (sets the offscreen platform and temp dirs first)
from bench.common import result, rnd, say  # noqa: E402


def counters(manager: Any) -> list[dict[str, Any]]:
    """Each connection's wire counters; call on the core's loop."""
    rows = []
    for conn in manager.list():
        wire = getattr(conn, "wire", None)
        fast = getattr(wire, "fast_frames", None)
        slow = getattr(wire, "slow_frames", None)
        rows.append({"conn_id": conn.id, "name": conn.config.name, "state": str(conn.state),
                     "wire": wire is not None, "fast": fast, "slow": slow})
    return rows


async def session(seconds: float) -> dict[str, Any]:
    from core.events import Direction, FrameEvent, Opcode
    from ui.app import open_window
    from ui.app_options import parse_args

    window = open_window(parse_args([]))  # the default session: embedded server + demo
    manager = window.bridge.manager
    data_in: dict[int, int] = {}
    data = (Opcode.TEXT, Opcode.BINARY)

    def count(event: object) -> None:  # on the core thread
        if type(event) is FrameEvent and event.direction is Direction.IN and (
            event.opcode in data
        ):
            data_in[event.conn_id] = data_in.get(event.conn_id, 0) + 1

    unsubscribe = manager.hub.subscribe(count)
    await asyncio.sleep(seconds)

    async def snapshot() -> list[dict[str, Any]]:
        return counters(manager)

    rows = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(snapshot(), manager.loop))
    unsubscribe()
    for row in rows:
        row["data_in_seen"] = data_in.get(row["conn_id"], 0)
    window.hide()
    await window.shutdown()
    window.deleteLater()
    return {"seconds": seconds, "connections": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--smoke", action="store_true", help="3 s")
    args = p.parse_args()
    seconds = 3.0 if args.smoke else args.seconds
    figures = run_qt(lambda: session(seconds))
    rows = figures["connections"]
    known = [r for r in rows if isinstance(r["fast"], int) and isinstance(r["slow"], int)]
    fast = sum(r["fast"] for r in known) if known else None
    slow = sum(r["slow"] for r in known) if known else None
    seen = sum(r["data_in_seen"] for r in rows)
    for r in rows:
        counts = (f"fast {r['fast']}, slow {r['slow']}" if r in known
                  else "fast n/a, slow n/a" + ("" if r["wire"] else " (no conn.wire)"))
        say(f"{r['name']} [{r['state']}]: {counts}; data frames in on the hub {r['data_in_seen']}")
    share = fast / (fast + slow) if fast is not None and slow is not None and fast + slow else None
    say(f"default session, {seconds:g} s: data frames on the fast path "
        + (f"{fast} of {fast + slow} ({share:.0%})" if share is not None else "n/a")
        + f"; {seen} data frames in on the hub")
    result("fastpath", {
        **figures, "fast_frames": fast, "slow_frames": slow, "share": share,
        "data_in_seen": seen,
        "summary": [["default session: data frames on the fast path", fast, seen,
                     rnd(share), "all", None if share is None else share == 1.0]],
    })


if __name__ == "__main__":
    main()
