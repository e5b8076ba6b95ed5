"""Our code uses other libraries (websockets, asyncio, pyqtgraph, Qt) through public APIs only.

A private attribute, a generator's frame or an undocumented knob of another library can change in
any release and switch a feature off silently (issue 14). This AST guard reads core/, ui/ and
main.py and flags:
- `x._name` (single leading underscore) unless `_name` is defined by our own code: a `self._x` or
  `cls._x` assignment, a class-level `_x`, a `def _x`/`class _x`, a module-level `_x`. On `self`,
  `cls` or `super()` that is all (a name we never define is inherited from a library's class);
  on any other object, a name that websockets, asyncio, pyqtgraph or qasync also use privately is
  flagged as well (`transport._sock` stays an offence even if a class of ours has a `_sock`).
  `getattr`/`hasattr`/`setattr`/`delattr` with a literal `"_name"` count as the same access, and
  `from lib import _name` / `import lib._mod` as reaching into the library.
- reads of generator, coroutine and frame internals (`gi_frame`, `f_locals`, `__code__`, ...);
- undocumented attributes we once relied on (`.writes`, `.recv_messages`, `.parser_exc`,
  pyqtgraph's `.opts`) unless our own code defines them; `max_size` assigned on a transport;
  protocol methods replaced on an object (`x.send_frame = ...`: monkeypatching).
Annotations are skipped in modules with `from __future__ import annotations` (never evaluated:
`argparse._SubParsersAction` there is a type for mypy, not a use at run time).
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("core", "ui", "main.py")
LIBRARIES = ("asyncio", "websockets", "pyqtgraph", "qasync")

FRAME_INTERNALS = frozenset({
    "gi_frame", "gi_yieldfrom", "gi_code", "cr_frame", "cr_await", "cr_code", "ag_frame",
    "ag_await", "ag_code", "f_locals", "f_globals", "f_back", "f_code", "__code__",
    "currentframe",
})
UNDOCUMENTED = frozenset({"writes", "recv_messages", "parser_exc", "opts"})
PATCHED_METHODS = frozenset({
    "send_frame", "send_data", "data_received", "connection_made", "connection_lost",
    "eof_received", "pause_writing", "resume_writing", "receive_data", "data_to_send",
    "events_received", "resume", "pause",
})
# Underscore names that are documented public API: namedtuple's methods, os._exit.
DOCUMENTED = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults", "_exit"})
ATTR_FUNCS = frozenset({"getattr", "hasattr", "setattr", "delattr"})

@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}: {self.why}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_self(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
        node.func.id == "super")


def own_names(tree: ast.Module) -> set[str]:
    """The attribute and module-level names this module defines (private or not)."""
    names: set[str] = set()

    def targets(node: ast.AST) -> list[ast.expr]:
        if isinstance(node, ast.Assign):
            return node.targets
        if isinstance(node, ast.AnnAssign | ast.AugAssign):
            return [node.target]
        return []

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):  # class-level attributes, dataclass fields
                for stmt in node.body:
                    names.update(t.id for t in targets(stmt) if isinstance(t, ast.Name))
        for target in targets(node):  # `self._x = ...`, also inside a tuple target
            elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            names.update(t.attr for t in elements
                         if isinstance(t, ast.Attribute) and _is_self(t.value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id == "setattr") and len(node.args) >= 2 and _is_self(node.args[0]):
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    for stmt in tree.body:  # module-level names
        for target in targets(stmt):
            names.update(t.id for t in ast.walk(target) if isinstance(t, ast.Name))
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
    return names


@cache
def library_private_names() -> frozenset[str]:
    """Every `_name` the libraries we drive use as an attribute or define, from their sources."""
    names: set[str] = set()
    for package in LIBRARIES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        roots = spec.submodule_search_locations or []
        files = [p for r in roots for p in Path(r).rglob("*.py")] or [Path(spec.origin)]
        for path in files:
            if {"examples", "tests"} & set(path.parts):
                continue
            for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
                if isinstance(node, ast.Attribute) and _private(node.attr):
                    names.add(node.attr)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
                    _private(node.name)
                ):
                    names.add(node.name)
    return frozenset(names)


class Checker(ast.NodeVisitor):
    def __init__(self, path: str, own: set[str], library: frozenset[str],
                 lazy_annotations: bool = False) -> None:
        self.path = path
        self.own = own
        self.library = library
        self.lazy_annotations = lazy_annotations  # never evaluated: types for mypy only
        self.found: list[Offence] = []

    def flag(self, node: ast.AST, name: str, why: str) -> None:
        self.found.append(Offence(self.path, getattr(node, "lineno", 0), name, why))

    def access(self, node: ast.AST, receiver: ast.expr, name: str) -> None:
        if name in FRAME_INTERNALS:
            self.flag(node, name, "reads generator/frame internals")
        elif name in UNDOCUMENTED and name not in self.own:
            self.flag(node, name, "undocumented attribute of another library")
        elif not _private(name) or name in DOCUMENTED:
            return
        elif name not in self.own:
            self.flag(node, name, "private attribute our code never defines")
        elif not _is_self(receiver) and name in self.library:
            self.flag(node, name, "private name of another library, on an object not self")

    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None and not self.lazy_annotations:
            self.visit(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in ast.iter_child_nodes(node):
            if child is not node.returns or not self.lazy_annotations:
                self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.assigned(node, node.target)
        for child in (node.target, node.value):
            if child is not None:
                self.visit(child)
        if not self.lazy_annotations:
            self.visit(node.annotation)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.access(node, node.value, node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ATTR_FUNCS and len(node.args) >= 2:
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.access(node, node.args[0], arg.value)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.assigned(node, target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.assigned(node, node.target)
        self.generic_visit(node)

    def assigned(self, node: ast.AST, target: ast.expr) -> None:
        if not isinstance(target, ast.Attribute):
            return
        if target.attr == "max_size" and "transport" in ast.unparse(target.value).lower():
            self.flag(node, "max_size", "undocumented asyncio transport attribute set")
        elif target.attr in PATCHED_METHODS and (
            not _is_self(target.value) or target.attr not in self.own
        ):
            self.flag(node, target.attr, "replaces a method of another library's object")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and module.split(".")[0] not in ("core", "ui", "bench", "tests"):
            if any(_private(part) for part in module.split(".")):
                self.flag(node, module, "imports a private module of another library")
            for alias in node.names:
                if _private(alias.name):
                    self.flag(node, alias.name, "imports a private name of another library")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if any(_private(part) for part in alias.name.split(".")):
                self.flag(node, alias.name, "imports a private module of another library")


def check(sources: dict[str, str], extra_own: set[str] | None = None) -> list[Offence]:
    """Offences in `sources` ({path: code}); the names our code defines come from all of them."""
    trees = {path: ast.parse(code, path) for path, code in sources.items()}
    own = set(extra_own or ())
    for tree in trees.values():
        own |= own_names(tree)
    found: list[Offence] = []
    for path, tree in trees.items():
        lazy = any(isinstance(s, ast.ImportFrom) and s.module == "__future__" and
                   any(a.name == "annotations" for a in s.names) for s in tree.body)
        checker = Checker(path, own, library_private_names(), lazy)
        checker.visit(tree)
        found += checker.found
    return found


def our_sources() -> dict[str, str]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in files}


# ----- the tests --------------------------------------------------------------------------------


def test_no_module_touches_another_librarys_private_parts() -> None:
    found = check(our_sources())
    assert not found, "private API use:\n" + "\n".join(map(str, found))


PLANTED = '''
import asyncio
from asyncio.selector_events import _SelectorSocketTransport
import websockets._internal

class Mine(asyncio.Protocol):
    def __init__(self, transport, sock):
        self._sock = sock  # our own "_sock"
        self._tally = 0

    def connection_made(self, transport):
        transport._sock.setsockopt(1, 2, 3)
        transport.max_size = 1024
        self._tally += 1
        self._buffer.clear()  # inherited: defined by a library class, not ours
        super()._read_ready()

    def steal(self, conn, gen, item, parts):
        conn.protocol.send_frame = print
        conn.protocol.writes.append(b"")
        conn.recv_messages.resume()
        getattr(conn, "_loop_ready")
        code = gen.gi_frame.f_locals["n"]
        item.opts["autoDownsampleFactor"] = 2
        self.other._tally  # ours, on another object of ours: fine
        return parts._replace(query=""), code, self._sock
'''


def test_the_guard_catches_planted_offences() -> None:
    found = check({"planted.py": PLANTED})
    names = sorted((o.line, o.name) for o in found)
    assert names == [
        (3, "_SelectorSocketTransport"), (4, "websockets._internal"),
        (12, "_sock"), (13, "max_size"), (15, "_buffer"), (16, "_read_ready"),
        (19, "send_frame"), (20, "writes"), (21, "recv_messages"), (22, "_loop_ready"),
        (23, "f_locals"), (23, "gi_frame"), (24, "opts"),
    ], "\n".join(map(str, found))


def test_the_guard_leaves_our_own_private_names_alone() -> None:
    code = (
        "_CACHE = {}\n"
        "class Store:\n"
        "    _limit = 3\n"
        "    def __init__(self):\n"
        "        self._rows = []\n"
        "    def _trim(self):\n"
        "        return self._rows[: self._limit]\n"
        "def peek(store, other):\n"
        "    other._trim()\n"
        "    return store._rows, _CACHE, hasattr(store, '_rows')\n"
    )
    assert check({"ours.py": code}) == []


def test_annotations_count_only_where_they_are_evaluated() -> None:
    code = "import argparse\ndef add(sub: argparse._SubParsersAction) -> argparse._Action: ...\n"
    assert [o.name for o in check({"eager.py": code})] == ["_SubParsersAction", "_Action"]
    lazy = "from __future__ import annotations\n" + code
    assert check({"lazy.py": lazy}) == []
