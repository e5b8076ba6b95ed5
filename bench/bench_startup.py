"""Benchmark 4, start-up: from exec to the main window shown, embedded default running.

app   `python main.py` with no arguments (embedded demo server + a connection to it), exactly as
      a user starts it, with SOCKETSCOPE_STARTUP_PROBE=1: the app prints `shown <CLOCK_MONOTONIC>`
      at the first showEvent of its main window, `painted` once that first paint is done, `open`
      when the demo connection opens and `ready` once every dock has its panel (the window shows
      first, with placeholders, and builds the panels right after: see ui/app.py). Its RSS is read
      from /proc after some idle seconds of demo traffic; then SIGTERM (the app's normal exit
      path: connections closed, recording flushed) and it must exit 0.
bare  a bare PySide6 QApplication + QMainWindow shown, with the same `shown` and `painted` lines.
Each is started N times, alternating; the times are the child's monotonic clock minus the
parent's just before exec (one clock for every process on Linux). Medians are compared; the
target is on `shown`, the other figures are information.

Bytecode: the project's modules are byte-compiled to their (git-ignored) __pycache__ first, as
any earlier run leaves them; the installed packages come with theirs. Without it, in an
environment with PYTHONDONTWRITEBYTECODE=1 (as some sandboxes and CI set), every start compiles
ui/ and core/ from source again, which no user sees: ~60 ms before the window shows on the
benchmark machine. `--no-compile` measures that case.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET, RSS_TARGET_MB = 1.5, 160.0
MARKS = ("shown", "painted", "open", "ready")


def role_bare(idle: float) -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):  # as ui/main_window.py does it for the app
        def eventFilter(self, watched, event):  # type: ignore[no-untyped-def]
            if event.type() == QEvent.Type.UpdateRequest:
                watched.removeEventFilter(self)
                QTimer.singleShot(0, lambda: print(f"painted {time.monotonic():.6f}", flush=True))
            return False

    class Window(QMainWindow):
        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def showEvent(self, event):  # type: ignore[no-untyped-def]
            super().showEvent(event)
            if not self.done:
                self.done = True
                print(f"shown {time.monotonic():.6f}", flush=True)

    app = QApplication(sys.argv[:1])
    window = Window()
    window.installEventFilter(first_paint := FirstPaint(window))
    assert first_paint is not None
    window.resize(1280, 800)
    window.show()
    QTimer.singleShot(int(idle * 1000), app.quit)
    return app.exec()


def launch(role: str, idle: float) -> dict[str, float | None]:
    """One start: the times of the marks (s after exec), RSS (MiB) after `idle` s, exit code."""
    from bench.common import Child, child_env, rss_mb

    with tempfile.TemporaryDirectory(prefix="socketscope-startup-") as tmp:
        env = child_env(SOCKETSCOPE_CONFIG_DIR=str(Path(tmp) / "config"),
                        SOCKETSCOPE_DATA_DIR=str(Path(tmp) / "data"),
                        SOCKETSCOPE_STARTUP_PROBE="1")
        if role == "app":
            args = [sys.executable, str(ROOT / "main.py")]
        else:
            args = [sys.executable, str(Path(__file__)), "--role", "bare", "--idle", str(idle + 1)]
        t0 = time.monotonic()
        child = Child(args, env=env, name=f"startup-{role}")
        with child:
            marks: dict[str, float | None] = dict.fromkeys(MARKS)
            marks["shown"] = float(child.expect("shown ", 60)) - t0
            wanted = {"painted"} if role == "bare" else {"painted", "open", "ready"}
            deadline = time.monotonic() + 30
            while wanted and time.monotonic() < deadline:
                line = child.readline(max(0.0, deadline - time.monotonic()))
                if line is None:
                    break
                word, _, value = line.partition(" ")
                if word in wanted:
                    wanted.discard(word)
                    marks[word] = float(value) - t0
            time.sleep(max(0.0, t0 + marks["shown"] + idle - time.monotonic()))
            rss = rss_mb(child.pid)
            if role == "app":
                child.proc.send_signal(signal.SIGTERM)
            code = child.proc.wait(30)
            if code != 0:
                raise RuntimeError(f"startup-{role} exited {code}:\n{child.stderr_tail()}")
    return {**{f"{m}_s": marks[m] for m in MARKS}, "rss_mb": rss}


def compile_project() -> None:
    import compileall

    for path in (ROOT / "core", ROOT / "ui"):
        compileall.compile_dir(path, quiet=1)
    compileall.compile_file(ROOT / "main.py", quiet=1)


def median(runs: list[dict[str, float | None]], key: str) -> float | None:
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None  # type: ignore[type-var]


def times(runs: list[dict[str, float | None]], key: str) -> str:
    return ", ".join("-" if r[key] is None else f"{r[key]:.3f}" for r in runs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--role", choices=["bare"])
    p.add_argument("--idle", type=float, default=3.0)
    p.add_argument("--runs", type=int)
    p.add_argument("--no-compile", action="store_true",
                   help="do not byte-compile the project first (see the module docstring)")
    args = p.parse_args()
    if args.role == "bare":
        sys.exit(role_bare(args.idle))

    from bench.common import ratio, result, rnd, say

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    runs = args.runs or (1 if args.smoke else 5)
    idle = 1.0 if args.smoke else 5.0
    app_runs, bare_runs = [], []
    if not args.no_compile:
        compile_project()
    launch("bare", 0.2)  # warm the page cache for both (Qt libraries are shared)
    for _ in range(runs):
        bare_runs.append(launch("bare", idle))
        app_runs.append(launch("app", idle))
    app = {m: median(app_runs, f"{m}_s") for m in MARKS}
    bare = {m: median(bare_runs, f"{m}_s") for m in ("shown", "painted")}
    app_rss, bare_rss = median(app_runs, "rss_mb"), median(bare_runs, "rss_mb")
    r = ratio(app["shown"], bare["shown"])
    r_painted = ratio(app["painted"], bare["painted"])

    def s(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    say(f"app:  window shown {s(app['shown'])} s after exec (median of {runs}: "
        f"{times(app_runs, 'shown_s')}); first paint {s(app['painted'])} s "
        f"({times(app_runs, 'painted_s')}); demo connection open {s(app['open'])} s "
        f"({times(app_runs, 'open_s')}); every panel built {s(app['ready'])} s "
        f"({times(app_runs, 'ready_s')}); RSS after {idle:g} s idle {app_rss:.0f} MiB")
    say(f"bare: QMainWindow shown {s(bare['shown'])} s after exec "
        f"({times(bare_runs, 'shown_s')}); first paint {s(bare['painted'])} s "
        f"({times(bare_runs, 'painted_s')}); RSS {bare_rss:.0f} MiB")
    say(f"ratio {r:.2f}x (target <= {RATIO_TARGET}x), first paint {r_painted:.2f}x; idle RSS "
        f"{app_rss:.0f} MiB (target <= {RSS_TARGET_MB:.0f} MB); project bytecode "
        f"{'not compiled (--no-compile)' if args.no_compile else 'compiled first'}")
    result("startup", {
        "runs": runs, "idle_s": idle, "app": app_runs, "bare": bare_runs,
        "app_shown_s": app["shown"], "bare_shown_s": bare["shown"], "ratio": r,
        "app_painted_s": app["painted"], "bare_painted_s": bare["painted"],
        "painted_ratio": r_painted, "app_open_s": app["open"], "app_ready_s": app["ready"],
        "app_idle_rss_mb": app_rss, "bare_idle_rss_mb": bare_rss,
        "project_bytecode_compiled": not args.no_compile,
        "summary": [
            ["start-up to window shown s", rnd(app["shown"]), rnd(bare["shown"]), rnd(r, 2),
             f"<= {RATIO_TARGET}x", bool(r is not None and r <= RATIO_TARGET)],
            ["start-up to first paint s (info)", rnd(app["painted"]), rnd(bare["painted"]),
             rnd(r_painted, 2), None, None],
            ["start-up to demo connection open / every panel built s (info)",
             f"{s(app['open'])} / {s(app['ready'])}", None, None, None, None],
            ["start-up idle RSS MiB", rnd(app_rss, 0), rnd(bare_rss, 0), rnd(ratio(app_rss,
             bare_rss), 2), f"<= {RSS_TARGET_MB:.0f} MB", bool(app_rss <= RSS_TARGET_MB)],
        ],
    })


if __name__ == "__main__":
    main()
