"""core/ must stay usable without Qt: headless, from the CLI and from benchmarks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
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
