"""core/ must stay usable without Qt (headless, from the CLI and from benchmarks), and ui/ must
reach the core through one door.

The ui modules may import only these core modules:

- core.events: what happened (frames, state changes, RTT samples, metrics snapshots, ...);
- core.config: the connection settings the dialogs edit;
- core.facade: every action (Commands, by connection id, with the thread hop), and by name the
  rest of the core the UI may use (recordings, workspace, server, decoders' helpers);
- pure value modules the panels format with, which hold no state and do no I/O:
  core.states (the ConnState enum), core.closecodes (close codes in words), core.codecs
  (previews and JSON/msgpack parsing of payloads) and core.decoders.api (the decoded-message
  value types: the events of the application protocols).

And no widget reaches past the door: only ui/bridge.py (which adapts the manager) and ui/app.py
(which assembles the session) name the manager, and no ui module reads a connection's
metrics, which the core thread writes: the UI keeps its own series (ui/series.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
UI = CORE.parent / "ui"
UI_MAY_IMPORT = frozenset({
    "core.events", "core.config", "core.facade",
    "core.states", "core.closecodes", "core.codecs", "core.decoders.api",
})
ASSEMBLY = frozenset({"bridge.py", "app.py"})  # the only ui modules that hold the manager
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "qasync", "pyqtgraph", "shiboken6")


def test_no_core_module_imports_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_importing_the_whole_core_loads_no_qt() -> None:
    modules = sorted(
        ".".join(p.relative_to(CORE.parent).with_suffix("").parts)
        for p in CORE.rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "assert not bad, bad\nprint(len(sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=CORE.parent, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _core_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return [n for n in names if n == "core" or n.startswith("core.")]


def test_ui_imports_only_the_core_s_door() -> None:
    offenders = sorted(
        f"{path.relative_to(UI.parent)}: {name}"
        for path in UI.rglob("*.py")
        for name in _core_imports(path)
        if name not in UI_MAY_IMPORT
    )
    assert offenders == []


def test_no_widget_reaches_past_the_door() -> None:
    offenders = []
    for path in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            if node.attr == "metrics" or (node.attr == "manager" and path.name not in ASSEMBLY):
                offenders.append(f"{path.relative_to(UI.parent)}:{node.lineno}: .{node.attr}")
    assert offenders == []


def test_the_facade_exports_what_it_names() -> None:
    """Every name the facade lends the UI resolves (its table is only checked when used)."""
    import core.facade

    missing = [name for name in core.facade.__all__ if not hasattr(core.facade, name)]
    assert missing == []
