"""Whom the composer sends to: the connections selected in the connections panel, or, with
none selected, the one picked in a combo (labelled with each connection's state)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget

from core.connection import Connection
from core.manager import ConnectionManager
from ui.elided_label import ElidedLabel

NARROW = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


class TargetPicker(QWidget):
    """`refresh()` on state changes: the labels say each target's state."""

    def __init__(self, manager: ConnectionManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
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

    def targets(self) -> list[Connection]:
        manager = self.manager
        ids = self._conn_ids or [self.combo.currentData()]
        out = []
        for conn_id in ids:
            if conn_id is None:
                continue
            try:
                out.append(manager.get(int(conn_id)))
            except KeyError:
                continue
        return out

    def refresh(self, force: bool = False) -> None:
        manager = self.manager
        if self._conn_ids:
            self.combo.hide()
            parts = []
            for conn_id in self._conn_ids:
                try:
                    conn = manager.get(conn_id)
                except KeyError:
                    continue
                parts.append(f"{conn.config.label} ({conn.state})")
            self.label.setText(", ".join(parts) or "(removed)")
            self.label.show()
            return
        self.label.hide()
        self.combo.show()
        conns = manager.list()
        ids = tuple(c.id for c in conns)
        if ids != self._combo_ids or force:
            self._combo_ids = ids
            current = self.combo.currentData()
            self.combo.blockSignals(True)
            self.combo.clear()
            for conn in conns:
                self.combo.addItem(conn.config.label, conn.id)
            if not conns:
                self.combo.addItem("(no connection)", None)
            self.combo.setCurrentIndex(max(0, self.combo.findData(current)))
            self.combo.blockSignals(False)
        for i, conn in enumerate(conns):
            self.combo.setItemText(i, f"{conn.config.label} ({conn.state})")
