"""`main.py load SCENARIO`: a load scenario on Locust (master and workers as subprocesses) or,
with --local, on the core's own connections in a child process. NDJSON stats every second on
stdout, then a summary line; exit 1 when an expectation (or a connect or send) failed, 2 when
the run could not happen."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from core.load.local_run import LocalRunError, run_local
from core.load.locust_run import LocustCluster, LocustError, LocustOptions, run_locust
from core.load.plan import LoadPlan, make_plan
from core.load.scenario import ScenarioError, find_scenario
from core.load.stats import LoadStats
from core.paths import data_dir
from core.workspace import (
    Resolver,
    SecretStore,
    Workspace,
    WorkspaceError,
    default_workspace_path,
    load_workspace,
)


def add_load_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    load = sub.add_parser("load", help="run a load scenario (Locust, or --local), print NDJSON "
                          "stats every second and a summary; exit 1 if an expectation failed")
    load.add_argument("scenario", help="a scenario TOML file, or a [[scenarios]] name in the "
                      "workspace")
    load.add_argument("--workspace", metavar="FILE", help="for profiles, collections and "
                      "[[scenarios]] (default: the one in the config dir)")
    load.add_argument("--env", metavar="NAME", help="environment for {{variables}}")
    load.add_argument("--users", type=int, help="simulated clients (default: the scenario's)")
    load.add_argument("--spawn-rate", type=float, help="clients started per second")
    load.add_argument("--duration", type=float, help="seconds")
    load.add_argument("--local", action="store_true",
                      help="the core's own connections in a child process (up to ~1,000)")
    load.add_argument("--workers", type=int, default=1, help="Locust workers started here")
    load.add_argument("--remote-workers", type=int, default=0, metavar="N",
                      help="also wait for N workers started on other machines")
    load.add_argument("--master-bind-host", default="127.0.0.1", metavar="HOST",
                      help="address remote workers reach the master on (e.g. 0.0.0.0)")
    load.add_argument("--master-port", type=int, default=0, help="0 picks a free port")
    load.add_argument("--out", metavar="DIR",
                      help="where Locust's CSV/JSON and logs go (default: the data dir)")
    load.add_argument("--headless", action="store_true",
                      help="do not mention Locust's web UI (it listens on 127.0.0.1 anyway)")


def _plan(args: argparse.Namespace) -> LoadPlan:
    ws: Workspace | None = None
    path = Path(args.workspace) if args.workspace else default_workspace_path()
    if args.workspace and not path.exists():
        raise ScenarioError(f"no workspace file at {path}")
    try:
        ws = load_workspace(path)
    except WorkspaceError as exc:
        raise ScenarioError(str(exc)) from None
    scenario = find_scenario(args.scenario, ws)
    env = ws.environment(args.env)
    if env is None and args.env:
        raise ScenarioError(f"no environment {args.env!r} in {ws.path}")
    resolve = Resolver(env, SecretStore()).resolve
    return make_plan(scenario, ws, resolve, users=args.users, spawn_rate=args.spawn_rate,
                     duration=args.duration)


def load(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.workers < 0 or args.remote_workers < 0 or args.workers + args.remote_workers < 1:
        return _fail("--workers and --remote-workers: at least one worker is needed")
    try:
        plan = _plan(args)
    except ScenarioError as exc:
        return _fail(str(exc))

    def emit(stats: LoadStats) -> None:
        out.write(json.dumps(stats.to_json()) + "\n")
        out.flush()

    try:
        if args.local:
            final = run_local(plan, emit)
            results = None
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            results = Path(args.out) if args.out else data_dir() / "load" / f"{plan.name}-{stamp}"
            options = LocustOptions(
                workers=args.workers, out_dir=results, bind_host=args.master_bind_host,
                master_port=args.master_port, extra_workers=args.remote_workers)
            final = run_locust(plan, options, emit, on_ready=lambda c: _announce(c, args))
    except (LocustError, LocalRunError, OSError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    out.write(json.dumps({"summary": summary(plan, final, results)}) + "\n")
    out.flush()
    return 1 if final.failures else 0


def summary(plan: LoadPlan, final: LoadStats, results: Path | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "scenario": plan.name, "users": plan.users, "duration": plan.duration,
        "runner": "local" if results is None else "locust",
        "connects": final.connect.requests, "sends": final.send.requests,
        "replies": final.reply.requests, "failures": final.failures,
        "expectation_failures": final.reply.failures,
        "reply_ms": {"p50": final.p50, "p95": final.p95, "p99": final.p99},
        "ok": final.failures == 0,
    }
    if results is not None:
        doc["results"] = str(results)
    return doc


def _announce(cluster: LocustCluster, args: argparse.Namespace) -> None:
    if not args.headless:
        print(f"Locust web UI: {cluster.api}", file=sys.stderr)
    print(f"results in {cluster.out}; workers on other machines (with locust and "
          f"websocket-client) join with:\n  {cluster.remote_worker_command()}", file=sys.stderr,
          flush=True)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
