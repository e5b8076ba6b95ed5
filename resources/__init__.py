"""Package data of the app: the palette and its stylesheets (palette.toml), the app icon
(icons/) and the composer's templates (templates/). A package, so that `importlib.resources`
finds it the same way in a checkout and after `pip install`."""

from importlib.resources import files
from importlib.resources.abc import Traversable


def resource(name: str) -> Traversable:
    """A file of this folder, by its relative path (`"icons/socketscope.svg"`)."""
    return files(__name__).joinpath(name)
