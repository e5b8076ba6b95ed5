"""The theme: resources/palette.toml names every colour the ui asks for, in light and dark;
no ui module holds a colour literal; the app icon is set; the resources ship with the package."""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path
from typing import get_args

import pytest
from PySide6.QtGui import QPalette

from core.recording.diff import Status
from tests.helpers_ui import dispose
from ui import theme
from ui.app import Options, show_window
from ui.connections_model import STATE_COLORS
from ui.json_tree import KIND_COLORS
from ui.replay_model import STATUSES
from ui.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "ui"
LOOKUPS = {"color", "style", "css", "colors_of"}  # theme calls that take a name
# Modules allowed a colour literal, with the reason. None today.
EXCEPTIONS: dict[str, str] = {}
LITERAL = re.compile(
    r"#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?\b"  # "#rrggbb", "#rrggbbaa"
    r"|QColor\(\s*[\"'\d]"  # QColor("red"), QColor(30, 31, 34)
    r"|\brgba?\(|mkBrush\(\s*[\"'\d]|mkPen\(\s*[\"'\d]|GlobalColor\."
)


def names_asked() -> tuple[set[str], set[str]]:
    """(colour names, style names) in the ui's theme calls, every string constant in their
    arguments (so `style("error" if bad else "saved")` counts both), and the name tables."""
    colors: set[str] = set(STATE_COLORS.values()) | set(KIND_COLORS.values())
    colors |= {f"diff_{status}" for status in STATUSES}
    styles: set[str] = set()
    for path in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOOKUPS and node.args):
                continue
            found = set(_strings(node.args[0]))
            (styles if node.func.attr == "style" else colors).update(found)
    return colors, styles


def _strings(node: ast.expr) -> list[str]:
    """A name argument's possible values: a string, or either side of a conditional (f-strings
    are the name tables' business, added above)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def test_every_name_the_ui_asks_for_is_in_both_schemes():
    colors, styles = names_asked()
    assert {"dir_in", "state_open", "chart_series", "error", "bad_search"} <= colors | styles
    assert set(STATUSES) == set(get_args(Status))
    data = theme.palette_file()
    for scheme in theme.SCHEMES:
        assert colors - data[scheme].keys() == set(), scheme
        assert styles - data["styles"].keys() == set()
        loaded = theme.load(scheme)
        for name in styles:  # every {name} in the stylesheet is filled from the scheme
            assert not theme.NAME.search(loaded.style(name)), (scheme, name)


def test_light_and_dark_are_complete_and_valid():
    data = theme.palette_file()
    assert data["light"].keys() == data["dark"].keys()
    assert data["qt"]["light"].keys() == data["qt"]["dark"].keys()
    for table in (data["light"], data["dark"], data["qt"]["light"], data["qt"]["dark"]):
        for name, value in table.items():
            for text in value if isinstance(value, list) else [value]:
                assert theme.qcolor(text).isValid(), (name, text)
    for scheme in theme.SCHEMES:
        for name in data["styles"]:
            used = theme.NAME.findall(data["styles"][name])
            assert set(used) <= data[scheme].keys(), (scheme, name)
    with pytest.raises(ValueError, match="not a colour"):
        theme.qcolor("red")


def test_light_keeps_the_colours_the_ui_had():
    light = theme.load("light")
    assert light.css("state_open") == "#2e9d4c"
    assert light.css("dir_out") == "#c7641a"
    assert light.css("chart_legend") == "rgba(30, 31, 34, 150)"
    assert light.style("bad_search") == "QLineEdit { border: 1px solid #c01c28; }"
    assert len(light.colors_of("chart_series")) == 12


def test_dark_text_colours_read_on_a_dark_window():
    dark = theme.load("dark")
    window = theme.qcolor(theme.palette_file()["qt"]["dark"]["base"])
    for name in ("error_text", "error_mark", "ok_text", "dir_in", "dir_out", "json_string",
                 "json_number", "state_waiting", "diff_extra", "control_frame"):
        assert dark.color(name).lightness() - window.lightness() > 90, name


def test_no_ui_module_holds_a_colour_literal():
    offenders = []
    for path in sorted(UI.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name == "ui/theme.py" or name in EXCEPTIONS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if LITERAL.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


def test_the_scheme_can_be_forced(qapp, monkeypatch, capsys):
    monkeypatch.setenv(theme.ENV, "dark")
    assert theme.wanted_scheme() == "dark"
    palette = theme.qt_palette("dark", qapp.palette())
    assert palette.color(QPalette.ColorRole.Window).lightness() < 80
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    assert disabled != palette.color(QPalette.ColorRole.ButtonText)
    monkeypatch.setenv(theme.ENV, "purple")
    assert theme.wanted_scheme() == theme.system_scheme()
    assert "SOCKETSCOPE_THEME='purple' is not light, dark or auto" in capsys.readouterr().err


def test_the_app_icon_is_set(qapp, qtbot, config_dir, no_quit_on_close):
    assert not theme.app_icon().isNull()
    assert not theme.app_icon().pixmap(32, 32).isNull()  # the SVG renders
    theme.apply(qapp)
    assert not qapp.windowIcon().isNull()
    window = show_window(Options([], None, None, (800, 600), True))
    try:
        assert not window.windowIcon().isNull()
    finally:
        window.close()
        dispose(window)


def test_the_resources_ship_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    assert {"resources", "resources.*"} <= set(setuptools["packages"]["find"]["include"])
    data = setuptools["package-data"]
    files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*")
             if p.is_file() and p.suffix != ".pyc" and p.name != "__init__.py"]
    assert {"resources/palette.toml", "resources/icons/socketscope.svg",
            "resources/templates/embedded.toml"} <= set(files)
    unshipped = [f for f in files if not any(
        fnmatch.fnmatch(Path(f).name, glob)
        for glob in data.get(Path(f).parent.as_posix().replace("/", "."), []))]
    assert unshipped == []
    assert [t.name for t in TEMPLATES][:2] == ["ping", "join_room"]
    assert TEMPLATES[3].message == {"type": "broadcast", "room": "lobby",
                                    "data": {"text": "hello, room"}}
