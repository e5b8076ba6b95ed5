"""The benchmarks run end to end at tiny sizes (`bench/run_all.py --smoke`).

Only that each one finishes and reports figures is checked: timing never decides pass or fail.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("ingest", "rtt", "fanout", "startup", "scale", "fastpath")


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return []


@pytest.mark.timeout(260)
def test_every_benchmark_reports_a_result_line_with_numbers(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    printed = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(printed) == len(BENCHMARKS), proc.stdout[-4000:]
    results = json.loads(out.read_text())
    assert set(results["steal_s"]) == set(BENCHMARKS)  # the machine's lost CPU, per benchmark
    for name in BENCHMARKS:
        result = results.get(name)
        assert isinstance(result, dict), f"{name}: no RESULT"
        assert result["bench"] == name
        numbers = _numbers({k: v for k, v in result.items() if k != "summary"})
        assert numbers and all(math.isfinite(x) for x in numbers[:1]), name
        summary = result["summary"]
        assert summary and any(_numbers(row[1:5]) for row in summary), f"{name}: {summary}"
    ingest = [row[0] for row in results["ingest"]["summary"]]
    for size in (64, 1024):  # each size without and with permessage-deflate, in the table too
        for name in (f"ingest {size} B msgs/s", f"ingest {size} B deflate msgs/s"):
            assert name in ingest and name in proc.stdout, (name, ingest)
    assert results["ingest"]["s1024_deflate"]["negotiated"]["app"] is True
    assert results["ingest"]["s1024"]["negotiated"]["app"] is False
    assert "| bench" in proc.stdout  # the table
