"""A load run on its own thread (what a GUI panel drives): stats drained while it runs, stopped
early by the user with its final figures, every subprocess gone afterwards."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from core.load import make_plan
from core.load.locust_run import LocustOptions
from core.load.scenario import Scenario, SendPattern
from core.load.session import LoadSession
from core.load.stats import LoadStats


def until_stats(session: LoadSession, timeout: float) -> list[LoadStats]:
    seen: list[LoadStats] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(s.send.requests for s in seen):
        seen += session.drain()
        time.sleep(0.1)
    return seen


@pytest.mark.parametrize("local", [True, False], ids=["local", "locust"])
def test_a_session_stops_early_with_final_figures(
        embedded_server, tmp_path: Path, local: bool) -> None:
    server = embedded_server(auth=False)
    scenario = Scenario(name="long", url=server.url,
                        send=SendPattern(messages=['{"type":"ping"}'], rate=5))
    plan = make_plan(scenario, None, users=4, spawn_rate=20, duration=600)
    session = LoadSession(plan, local=local, options=LocustOptions(out_dir=tmp_path))
    session.start()
    try:
        seen = until_stats(session, 30)
        assert any(s.send.requests for s in seen), session.error
        stopped_at = time.monotonic()
        session.stop()
        assert session.join(30)
    finally:
        session.stop()
        session.join(30)
    assert session.error is None and session.final is not None
    assert session.final.state == "stopped" and session.final.t < 60
    assert time.monotonic() - stopped_at < 25
    rest = session.drain()
    assert rest and rest[-1] is session.final
    assert session.final.send.requests >= max(s.send.requests for s in seen)
    assert (session.remote_worker_command is None) == local
    assert not psutil.Process().children(recursive=True)
