"""Connection ▸ Decoder: the protocol decoder of the selected connections, detected (Automatic),
none (Raw) or one chosen by the user from the decoders installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from core.facade import decoder_choices
from ui.bridge import CoreBridge


class DecoderMenu(QMenu):
    """Filled each time it opens; the selected connection's choice is checked."""

    def __init__(self, bridge: CoreBridge, selected: Callable[[], Sequence[int]],
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
        current = {self.bridge.commands.decoder(c) for c in conns}
        group = QActionGroup(self)
        for number, (name, label) in enumerate(decoder_choices()):
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
        commands = self.bridge.commands
        for conn_id in self.selected():
            try:
                commands.set_decoder(conn_id, name)
            except (ValueError, KeyError) as exc:
                label = commands.config(conn_id).label if isinstance(exc, ValueError) else "?"
                self.bridge.message.emit(f"Decoder of {label}: {exc}")
