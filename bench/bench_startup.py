"""Benchmark 4, start-up: from exec to the main window shown, embedded default running.

app   `python bench/bench_startup.py --role app` runs `main.py` with no arguments (embedded demo
      server + a connection to it) exactly as `main.py` does, with one addition made from outside
      (ui/ has no hook for it): MainWindow.showEvent is wrapped so that the first show prints
      `SHOWN <CLOCK_MONOTONIC>`. It also prints when the demo connection is open, and its RSS
      after some idle seconds of demo traffic, then closes the window (the normal exit path).
bare  a bare PySide6 QApplication + QMainWindow shown, same marker.
Each is started N times, alternating; the time is the child's monotonic clock at the show minus
the parent's just before exec (one clock for every process on Linux). Medians are compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET, RSS_TARGET_MB = 1.5, 160.0


def role_app(idle: float) -> int:
    from PySide6.QtCore import QTimer

    import ui.main_window as mw

    shown = {"done": False}
    original = mw.MainWindow.showEvent

    def show_event(self, event):  # type: ignore[no-untyped-def]
        original(self, event)
        if shown["done"]:
            return
        shown["done"] = True
        print(f"SHOWN {time.monotonic():.6f}", flush=True)
        started = time.monotonic()
        state = {"open": False}

        def poll() -> None:
            from core.states import ConnState

            conns = self.bridge.manager.list()
            if not state["open"] and conns and all(c.state is ConnState.OPEN for c in conns):
                state["open"] = True
                print(f"OPEN {time.monotonic():.6f}", flush=True)
            if time.monotonic() - started >= idle:
                timer.stop()
                from bench.common import rss_mb

                print(f"RSS {rss_mb():.1f}", flush=True)
                self.close()

        timer = QTimer(self)
        timer.setInterval(10)
        timer.timeout.connect(poll)
        timer.start()

    mw.MainWindow.showEvent = show_event  # type: ignore[method-assign]
    from main import main

    return main([])


def role_bare(idle: float) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class Window(QMainWindow):
        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def showEvent(self, event):  # type: ignore[no-untyped-def]
            super().showEvent(event)
            if not self.done:
                self.done = True
                print(f"SHOWN {time.monotonic():.6f}", flush=True)

                def finish() -> None:
                    from bench.common import rss_mb

                    print(f"RSS {rss_mb():.1f}", flush=True)
                    app.quit()

                QTimer.singleShot(int(idle * 1000), finish)

    app = QApplication(sys.argv[:1])
    window = Window()
    window.resize(1280, 800)
    window.show()
    return app.exec()


def launch(role: str, idle: float) -> dict[str, float | None]:
    from bench.common import Child, child_env

    with tempfile.TemporaryDirectory(prefix="socketscope-startup-") as tmp:
        env = child_env(SOCKETSCOPE_CONFIG_DIR=str(Path(tmp) / "config"),
                        SOCKETSCOPE_DATA_DIR=str(Path(tmp) / "data"))
        t0 = time.monotonic()
        child = Child([sys.executable, str(Path(__file__)), "--role", role, "--idle", str(idle)],
                      env=env, name=f"startup-{role}")
        with child:
            shown = float(child.expect("SHOWN ", 60)) - t0
            opened = None
            rss = None
            for _ in range(100):
                line = child.readline(idle + 30)
                if line is None:
                    break
                if line.startswith("OPEN "):
                    opened = float(line.split()[1]) - t0
                elif line.startswith("RSS "):
                    rss = float(line.split()[1])
                    break
            child.proc.wait(30)
    return {"shown_s": shown, "open_s": opened, "rss_mb": rss}


def times(runs: list[dict[str, float | None]]) -> str:
    return ", ".join(f"{r['shown_s']:.3f}" for r in runs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["app", "bare"])
    p.add_argument("--idle", type=float, default=3.0)
    p.add_argument("--runs", type=int)
    args = p.parse_args()
    if args.role == "app":
        sys.exit(role_app(args.idle))
    if args.role == "bare":
        sys.exit(role_bare(args.idle))

    from bench.common import ratio, result, rnd, say

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    runs = args.runs or (1 if args.smoke else 5)
    idle = 1.0 if args.smoke else 5.0
    app_runs, bare_runs = [], []
    launch("bare", 0.2)  # warm the page cache for both (Qt libraries are shared)
    for _ in range(runs):
        bare_runs.append(launch("bare", idle))
        app_runs.append(launch("app", idle))
    app_shown = statistics.median(r["shown_s"] for r in app_runs)  # type: ignore[misc]
    bare_shown = statistics.median(r["shown_s"] for r in bare_runs)  # type: ignore[misc]
    opens = [r["open_s"] for r in app_runs if r["open_s"] is not None]
    app_open = statistics.median(opens) if opens else None
    app_rss = statistics.median(r["rss_mb"] for r in app_runs if r["rss_mb"])  # type: ignore[misc]
    bare_rss = statistics.median(r["rss_mb"] for r in bare_runs if r["rss_mb"])  # type: ignore[misc]
    r = ratio(app_shown, bare_shown)
    say(f"app:  window shown {app_shown:.3f} s after exec (median of {runs}: "
        f"{times(app_runs)}); demo connection open at "
        f"{app_open if app_open is None else round(app_open, 3)} s; RSS after {idle:g} s idle "
        f"{app_rss:.0f} MiB")
    say(f"bare: QMainWindow shown {bare_shown:.3f} s after exec "
        f"({times(bare_runs)}); RSS {bare_rss:.0f} MiB")
    say(f"ratio {r:.2f}x (target <= {RATIO_TARGET}x); idle RSS {app_rss:.0f} MiB "
        f"(target <= {RSS_TARGET_MB:.0f} MB)")
    result("startup", {
        "runs": runs, "idle_s": idle, "app": app_runs, "bare": bare_runs,
        "app_shown_s": app_shown, "bare_shown_s": bare_shown, "ratio": r,
        "app_open_s": app_open, "app_idle_rss_mb": app_rss, "bare_idle_rss_mb": bare_rss,
        "summary": [
            ["start-up to window shown s", rnd(app_shown), rnd(bare_shown), rnd(r, 2),
             f"<= {RATIO_TARGET}x", bool(r is not None and r <= RATIO_TARGET)],
            ["start-up idle RSS MiB", rnd(app_rss, 0), rnd(bare_rss, 0), rnd(ratio(app_rss,
             bare_rss), 2), f"<= {RSS_TARGET_MB:.0f} MB", bool(app_rss <= RSS_TARGET_MB)],
        ],
    })


if __name__ == "__main__":
    main()
