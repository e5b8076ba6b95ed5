"""Package data of the app: the palette and its stylesheets (palette.toml), the app icon
(icons/) and the composer's templates (templates/). A package, so that `pip install` carries
these files beside it (pyproject.toml's package-data); pip installs packages as files, so they
are read from beside this module (importlib.resources would cost ~3 ms of imports before the
window shows, for zip imports we never make)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """A file of this folder, by its relative path (`"icons/socketscope.svg"`)."""
    return HERE / name
