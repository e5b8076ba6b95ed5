"""Connection ▸ Decoder: the protocol decoder of the selected connections, detected (Automatic),
none (Raw) or one chosen by the user from the decoders installed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from core.decoders.registry import AUTO, RAW
from ui.bridge import CoreBridge
from ui.decoded_cache import default_registry

NOT_READY = "choosing a decoder needs a newer core (Connection.set_decoder)"


def choices() -> list[tuple[str, str]]:
    """(name, label) of every choice: Automatic, Raw, then each decoder by its title."""
    decoders = sorted(default_registry().decoders, key=lambda d: d.title.casefold())
    return [(AUTO, "Automatic"), (RAW, "Raw (no decoder)"),
            *((d.name, d.title) for d in decoders)]


def decoder_of(conn: Any) -> str:
    """The decoder a connection is set to: its override, else its config's ("auto")."""
    override = getattr(conn, "decoder_override", None)
    return override or getattr(getattr(conn, "config", None), "decoder", AUTO) or AUTO


def set_decoder(bridge: CoreBridge, conn: Any, name: str) -> str | None:
    """Override a connection's decoder; an error in words, or None. The config remembers the
    choice (saved with the workspace)."""
    setter = getattr(conn, "set_decoder", None)
    if setter is None:
        return NOT_READY
    try:
        result = setter(name)
    except ValueError as exc:
        return str(exc)
    if inspect.iscoroutine(result):
        bridge.run(result, f"Decoder of {conn.config.label}")
    return None


class DecoderMenu(QMenu):
    """Filled each time it opens; the selected connection's choice is checked."""

    def __init__(self, bridge: CoreBridge, selected: Callable[[], Sequence[Any]],
                 parent: QWidget | None = None) -> None:
        super().__init__("&Decoder", parent)
        self.bridge = bridge
        self.selected = selected
        self.setToolTipsVisible(True)
        self.menuAction().setStatusTip("The protocol decoder of the selected connections")
        self.aboutToShow.connect(self.refill)
        self.refill()

    def refill(self) -> None:
        self.clear()
        conns = list(self.selected())
        current = {decoder_of(c) for c in conns}
        group = QActionGroup(self)
        for number, (name, label) in enumerate(choices()):
            if number == 2:
                self.addSeparator()
            act = QAction(label, self)
            act.setCheckable(True)
            act.setChecked(current == {name})
            act.setEnabled(bool(conns))
            act.setData(name)
            act.triggered.connect(lambda _=False, n=name: self.choose(n))
            group.addAction(act)
            self.addAction(act)

    def choose(self, name: str) -> None:
        for conn in self.selected():
            error = set_decoder(self.bridge, conn, name)
            if error:
                self.bridge.message.emit(f"Decoder of {conn.config.label}: {error}")
