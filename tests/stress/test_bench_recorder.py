"""bench/bench_recorder.py runs end to end at its smoke size and records every frame on both sides.

Only that it finishes and reports figures is checked: timing never decides pass or fail.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
def test_the_recorder_benchmark_reports_both_sides() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_recorder.py"), "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=80,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["bench"] == "recorder" and result["complete"] is True
    for side in ("recorder", "baseline"):
        figures = result[side]
        assert figures["rows"] == figures["rows_in_file"] == result["count"]
        assert all(math.isfinite(figures[k]) and figures[k] > 0
                   for k in ("rows_per_s", "writer_cpu_us_per_row", "written_per_byte"))
    assert "| bytes written per byte recorded" in proc.stdout  # the table
