"""Run every benchmark and print one table: `python bench/run_all.py [--smoke] [--only NAME...]`.

Each benchmark runs in a process of its own, prints its figures and ends with a line
`RESULT {json}`; this script collects those lines and prints every summary row: ingest has one
group of rows per size without and with permessage-deflate ("ingest 64 B deflate ..."). Timing
never decides the exit status: it is non-zero only when a benchmark failed to produce its RESULT
line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH.parent) not in sys.path:
    sys.path.insert(0, str(BENCH.parent))

from bench.common import child_env, table  # noqa: E402

BENCHMARKS = {
    "ingest": "bench_ingest.py",
    "rtt": "bench_rtt.py",
    "fanout": "bench_fanout.py",
    "startup": "bench_startup.py",
    "scale": "bench_scale.py",
    "fastpath": "fastpath_share.py",  # the share of the default session's frames on the fast path
}


def steal_seconds() -> float | None:
    """CPU time the hypervisor gave to others while this guest wanted it (/proc/stat's steal,
    all CPUs): a benchmark whose threads need both cores of this VM slows down in it while a
    single-threaded baseline may not, so its ratio moves with no change to the code."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run(name: str, smoke: bool, timeout: float) -> tuple[dict | None, float]:
    cmd = [sys.executable, str(BENCH / BENCHMARKS[name]), *(["--smoke"] if smoke else [])]
    print(f"=== {name}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    found = None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=child_env(), cwd=str(BENCH.parent), bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                found = json.loads(line[len("RESULT "):])
                print(line.rstrip()[:300] + (" ..." if len(line) > 300 else ""), flush=True)
            else:
                print("  " + line.rstrip(), flush=True)
            if time.monotonic() - started > timeout:
                break
    finally:
        if proc.poll() is None:
            try:
                proc.wait(max(1.0, timeout - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return found, time.monotonic() - started


def fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, < 60 s in all")
    p.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these")
    p.add_argument("--json", metavar="FILE", help="also write every RESULT to this file")
    args = p.parse_args()
    names = args.only or list(BENCHMARKS)
    timeout = 120.0 if args.smoke else 1200.0
    results: dict[str, dict | None] = {}
    durations: dict[str, float] = {}
    steal: dict[str, float | None] = {}
    for name in names:
        before = steal_seconds()
        results[name], durations[name] = run(name, args.smoke, timeout)
        after = steal_seconds()
        steal[name] = None if before is None or after is None else after - before
    rows = []
    for name in names:
        res = results[name]
        if res is None:
            rows.append([name, "FAILED: no RESULT line", "", "", "", "", ""])
            continue
        for figure, value, baseline, ratio, target, met in res.get("summary", []):
            rows.append([name, figure, fmt(value), fmt(baseline), fmt(ratio), target or "",
                         fmt(met)])
    print()
    print(table(rows, ["bench", "figure", "value", "baseline", "ratio", "target", "met"]))
    print("time: " + ", ".join(f"{n} {d:.0f} s" for n, d in durations.items())
          + f"; total {sum(durations.values()):.0f} s")
    print("CPU stolen by the hypervisor: " + ", ".join(
        f"{n} {'-' if t is None else f'{t:.1f}'} s" for n, t in steal.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({**results, "steal_s": steal}, indent=1))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
