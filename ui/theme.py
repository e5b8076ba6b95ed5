"""The app's colours and stylesheets by name, from resources/palette.toml, in the scheme that
follows the system: light or dark (`SOCKETSCOPE_THEME=light|dark` forces one, e.g. for a
screenshot). Widgets ask here (`color("dir_in")`, `style("error")`) instead of holding colour
literals, so one file restyles the app and a dark system gets colours readable on it.

The scheme is decided on first use with a QGuiApplication running (Qt's colour scheme, else the
window colour's lightness) and kept for the session; before an application exists it is light.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette

from resources import resource

SCHEMES = ("light", "dark")
ENV = "SOCKETSCOPE_THEME"  # light | dark | auto (the default: follow the system)
ICON = "icons/socketscope.svg"
HEX = re.compile(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")
NAME = re.compile(r"\{([a-z_]+)\}")  # a colour in a stylesheet; CSS's own braces hold spaces


@cache
def palette_file() -> dict[str, Any]:
    """resources/palette.toml, parsed once (when the first colour is asked for: after the
    window shows, unless SOCKETSCOPE_THEME forces a scheme)."""
    import tomllib

    return tomllib.loads(resource("palette.toml").read_text(encoding="utf-8"))


def qcolor(text: str) -> QColor:
    """"#rrggbb" or "#rrggbbaa" (CSS order; Qt reads 8 digits as #aarrggbb)."""
    if not HEX.fullmatch(text):
        raise ValueError(f"not a colour: {text!r} (expected #rrggbb or #rrggbbaa)")
    color = QColor(text[:7])
    if len(text) == 9:
        color.setAlpha(int(text[7:], 16))
    return color


def css(text: str) -> str:
    """A palette colour as a stylesheet value."""
    color = qcolor(text)
    if color.alpha() == 255:
        return color.name()
    return f"rgba({color.red()}, {color.green()}, {color.blue()}, {color.alpha()})"


@dataclass(frozen=True)
class Theme:
    scheme: str  # "light" or "dark"
    colors: dict[str, Any]  # name -> "#rrggbb" or a list of them
    styles: dict[str, str]

    def color(self, name: str) -> QColor:
        """A new QColor each call (callers may change it)."""
        return qcolor(self.colors[name])

    def css(self, name: str) -> str:
        return css(self.colors[name])

    def colors_of(self, name: str) -> list[QColor]:
        return [qcolor(value) for value in self.colors[name]]

    def style(self, name: str) -> str:
        return NAME.sub(lambda m: self.css(m.group(1)), self.styles[name])


def load(scheme: str) -> Theme:
    data = palette_file()
    if scheme not in SCHEMES:
        raise ValueError(f"{ENV}: unknown scheme {scheme!r} (light, dark or auto)")
    return Theme(scheme, dict(data[scheme]), dict(data["styles"]))


def system_scheme() -> str:
    """The scheme Qt paints the application's widgets with: its palette's window colour (light
    before an application exists). Our colours sit on those widgets, so this is what they must
    match; and unlike `QStyleHints.colorScheme()` it needs none of the Qt namespace's ~90
    enums, which PySide6 builds all at once on first use (~11 ms, before the window shows)."""
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return "light"
    return "dark" if app.palette().color(QPalette.ColorRole.Window).lightness() < 128 else "light"


def _env_scheme() -> str:
    return os.environ.get(ENV, "auto").strip().lower() or "auto"


def forced_scheme() -> str | None:
    """SOCKETSCOPE_THEME's scheme (light or dark); None to follow the system."""
    value = _env_scheme()
    return value if value in SCHEMES else None


def wanted_scheme() -> str:
    """SOCKETSCOPE_THEME's scheme, else the system's (with one line on stderr for a value that
    is none of light, dark, auto)."""
    value = _env_scheme()
    if value in SCHEMES:
        return value
    if value != "auto":
        print(f"{ENV}={value!r} is not light, dark or auto: following the system",
              file=sys.stderr)
    return system_scheme()


_current: Theme | None = None


def current() -> Theme:
    """The session's theme, decided on the first call made with an application running."""
    global _current
    if _current is None:
        theme = load(wanted_scheme())
        if QGuiApplication.instance() is None:
            return theme  # decided again once there is an application
        _current = theme
    return _current


def color(name: str) -> QColor:
    return current().color(name)


def style(name: str) -> str:
    return current().style(name)


def app_icon() -> QIcon:
    return QIcon(str(resource(ICON)))


def apply(app: QGuiApplication) -> None:
    """Set the app icon and, when SOCKETSCOPE_THEME forces a scheme the system does not show,
    the window colours of that scheme (palette.toml's [qt.<scheme>])."""
    app.setWindowIcon(app_icon())
    forced = forced_scheme()
    if forced is not None and forced != system_scheme():
        app.setPalette(qt_palette(forced, app.palette()))


def qt_palette(scheme: str, base: QPalette) -> QPalette:
    """`base` with palette.toml's [qt.<scheme>] roles (all colour groups), and its
    `disabled_text` for the text roles of disabled widgets."""
    palette = QPalette(base)
    roles = dict(palette_file()["qt"][scheme])
    disabled = qcolor(roles.pop("disabled_text"))
    for role, value in roles.items():
        palette.setColor(getattr(QPalette.ColorRole, _camel(role)), qcolor(value))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
