"""PROTOCOL.md checked by an independent client (Node's `ws` package, tests/node) against
`python main.py serve`, exactly as a user starts it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.server import make_token
from tests.core.test_server_support import SECRET

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_ws_client_passes_every_check() -> None:
    assert NODE is not None
    if not (NODE_DIR / "node_modules" / "ws").is_dir():  # `make test` installs it beforehand.
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not: cannot install tests/node's `ws`"
        install = [npm, "install", "--no-audit", "--no-fund", "--silent"]
        subprocess.run(install, cwd=NODE_DIR, timeout=50, check=True)
    server = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--port", "0", "--secret", SECRET],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("listening ws://127.0.0.1:"), line
        result = subprocess.run(
            [NODE, str(NODE_DIR / "check_protocol.mjs"), line.split()[1],
             make_token(SECRET, "node")],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=45,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "FAIL" not in report and "all checks passed" in report, report
