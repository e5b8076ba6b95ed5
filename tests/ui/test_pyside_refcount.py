"""Guard against the PySide6 6.12.0 / Python 3.11 refcount bug in Signal.emit (it aborts the
interpreter after enough emits). Run in a child process so an abort is a failure, not a crash."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = r"""
import asyncio, sys
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication
import qasync

class Emitter(QObject):
    fired = Signal(object)

app = QApplication([])
emitter = Emitter()
got = []
emitter.fired.connect(got.append)
before_none, before_true = sys.getrefcount(None), sys.getrefcount(True)
for i in range(3000):
    emitter.fired.emit(None if i % 2 else True)
got.clear()

async def callbacks():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0
    def step(value):
        nonlocal count
        count += 1
        if count == 3000:
            done.set_result(None)
    for i in range(3000):
        loop.call_soon(step, None if i % 2 else True)
    await done

qasync.run(callbacks())
drift = (sys.getrefcount(None) - before_none, sys.getrefcount(True) - before_true)
print("drift", drift)
assert all(abs(d) < 500 for d in drift), drift
"""


def test_signal_emit_and_qasync_callbacks_keep_refcounts_steady() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr[-2000:])
    assert "drift" in result.stdout
