"""Connection ▸ Decoder: the protocol decoder of the selected connections, detected (Automatic),
none (Raw) or one chosen by the user from the decoders installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from core.connection import Connection
from core.decoders.layer import default_registry
from core.decoders.registry import AUTO, RAW
from ui.bridge import CoreBridge


def choices() -> list[tuple[str, str]]:
    """(name, label) of every choice: Automatic, Raw, then each decoder by its title."""
    decoders = sorted(default_registry().decoders, key=lambda d: d.title.casefold())
    return [(AUTO, "Automatic"), (RAW, "Raw (no decoder)"),
            *((d.name, d.title) for d in decoders)]


def decoder_of(conn: Connection) -> str:
    """The decoder a connection is set to: its override, else its config's ("auto")."""
    return conn.decoder_override or conn.config.decoder or AUTO


def set_decoder(conn: Connection, name: str) -> str | None:
    """Override a connection's decoder (Connection.set_decoder may be called from any thread:
    it hops to the connection's loop); an error in words, or None."""
    try:
        conn.set_decoder(name)
    except ValueError as exc:
        return str(exc)
    return None


class DecoderMenu(QMenu):
    """Filled each time it opens; the selected connection's choice is checked."""

    def __init__(self, bridge: CoreBridge, selected: Callable[[], Sequence[Connection]],
                 parent: QWidget | None = None) -> None:
        super().__init__("&Decoder", parent)
        self.bridge = bridge
        self.selected = selected
        self.setToolTipsVisible(True)
        self.menuAction().setStatusTip("The protocol decoder of the selected connections")
        self.aboutToShow.connect(self.refill)  # (not now: loading the decoders takes ~0.1 s)

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
            error = set_decoder(conn, name)
            if error:
                self.bridge.message.emit(f"Decoder of {conn.config.label}: {error}")
