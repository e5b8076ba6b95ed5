"""Whom the composer sends to: the connections selected in the connections panel, or, with
none selected, the one picked in a combo (labelled with each connection's state)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget

from ui.bridge import CoreBridge
from ui.elided_label import ElidedLabel

NARROW = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


class TargetPicker(QWidget):
    """`refresh()` on state changes: the labels say each target's state."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._conn_ids: list[int] = []
        self._combo_ids: tuple[int, ...] = ()
        self.label = ElidedLabel(min_chars=12)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizeAdjustPolicy(NARROW)
        self.combo.view().setMinimumWidth(220)
        self.combo.setToolTip("Target connection (select connections to send to several)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.combo, 1)

    def set_connections(self, conn_ids: list[int]) -> None:
        """Send to these connections; with none, to the one chosen in the combo."""
        self._conn_ids = list(conn_ids)
        self.refresh(force=True)

    def targets(self) -> list[int]:
        known = set(self.bridge.commands.ids())
        ids = self._conn_ids or [self.combo.currentData()]
        return [int(i) for i in ids if i is not None and int(i) in known]

    def _text(self, conn_id: int) -> str:
        return f"{self.bridge.label_of(conn_id)} ({self.bridge.state_of(conn_id)})"

    def refresh(self, force: bool = False) -> None:
        known = self.bridge.commands.ids()
        if self._conn_ids:
            self.combo.hide()
            parts = [self._text(i) for i in self._conn_ids if i in known]
            self.label.setText(", ".join(parts) or "(removed)")
            self.label.show()
            return
        self.label.hide()
        self.combo.show()
        ids = tuple(known)
        if ids != self._combo_ids or force:
            self._combo_ids = ids
            current = self.combo.currentData()
            self.combo.blockSignals(True)
            self.combo.clear()
            for conn_id in ids:
                self.combo.addItem(self.bridge.label_of(conn_id), conn_id)
            if not ids:
                self.combo.addItem("(no connection)", None)
            self.combo.setCurrentIndex(max(0, self.combo.findData(current)))
            self.combo.blockSignals(False)
        for i, conn_id in enumerate(ids):
            self.combo.setItemText(i, self._text(conn_id))
