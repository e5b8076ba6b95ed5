"""The connection dialog's "On open && limits" tab: what is sent on every open, timeouts, the
offline queue and the finer reconnect backoff (the fields the other tabs do not show)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from ui import theme

MAX_QUEUE = 1_000_000


class AdvancedTab(QWidget):
    """Edits `on_open`, the timeouts, `queue_size` and the backoff's factor, jitter, stable time
    and protocol-error limit of a ConnectionConfig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        on_open = QGroupBox("Send on every open (also after a reconnect)")
        box = QVBoxLayout(on_open)
        self.on_open_edit = QPlainTextEdit()
        self.on_open_edit.setPlaceholderText(
            'one message per line, sent in order, e.g. {"type":"subscribe","topic":"x"}\n'
            "{{variables}} are resolved on every open"
        )
        self.on_open_edit.setTabChangesFocus(True)
        box.addWidget(self.on_open_edit)
        layout.addWidget(on_open, 1)

        limits = QGroupBox("Timeouts and queue")
        form = QFormLayout(limits)
        self.open_timeout_spin = seconds_spin(0.1, 600)
        self.close_timeout_spin = seconds_spin(0.1, 600)
        self.request_timeout_spin = seconds_spin(0.1, 3600)
        self.queue_spin = QSpinBox()
        self.queue_spin.setRange(1, MAX_QUEUE)
        self.queue_spin.setSuffix(" messages")
        self.queue_spin.setToolTip("Messages kept while offline; the oldest go beyond this")
        form.addRow("&Open timeout:", self.open_timeout_spin)
        form.addRow("C&lose timeout:", self.close_timeout_spin)
        form.addRow("&Request timeout:", self.request_timeout_spin)
        form.addRow("Offline &queue:", self.queue_spin)
        layout.addWidget(limits)

        backoff = QGroupBox("Reconnect backoff")
        rc = QFormLayout(backoff)
        self.factor_spin = QDoubleSpinBox()
        self.factor_spin.setRange(1.0, 10.0)
        self.factor_spin.setSingleStep(0.5)
        self.factor_spin.setPrefix("× ")
        self.jitter_spin = QDoubleSpinBox()
        self.jitter_spin.setRange(0.0, 100.0)
        self.jitter_spin.setSuffix(" %")
        self.stable_spin = seconds_spin(0, 3600)
        self.protocol_errors_spin = QSpinBox()
        self.protocol_errors_spin.setRange(1, 1000)
        self.dns_errors_spin = QSpinBox()
        self.dns_errors_spin.setRange(1, 1000)
        self.dns_errors_spin.setToolTip("A host name that is not found is most likely a typo")
        rc.addRow("Delay &factor:", self.factor_spin)
        rc.addRow("&Jitter:", self.jitter_spin)
        rc.addRow("&Stable after:", self.stable_spin)
        rc.addRow("Give up after protocol &errors:", self.protocol_errors_spin)
        rc.addRow("Give up after &host not found:", self.dns_errors_spin)
        hint = QLabel("The first and max delay and the attempts are on the Heartbeat tab.")
        hint.setWordWrap(True)
        hint.setStyleSheet(theme.style("hint"))
        rc.addRow(hint)
        layout.addWidget(backoff)

    def load(self, cfg: ConnectionConfig) -> None:
        self.on_open_edit.setPlainText("\n".join(cfg.on_open))
        self.open_timeout_spin.setValue(cfg.open_timeout)
        self.close_timeout_spin.setValue(cfg.close_timeout)
        self.request_timeout_spin.setValue(cfg.request_timeout)
        self.queue_spin.setValue(max(1, min(MAX_QUEUE, cfg.queue_size)))
        rc = cfg.reconnect
        self.factor_spin.setValue(rc.factor)
        self.jitter_spin.setValue(rc.jitter * 100)
        self.stable_spin.setValue(rc.stable_after)
        self.protocol_errors_spin.setValue(rc.max_protocol_errors)
        self.dns_errors_spin.setValue(rc.max_dns_errors)

    def apply(self, cfg: ConnectionConfig) -> ConnectionConfig:
        """`cfg` with this tab's fields (its reconnect policy's other fields kept)."""
        lines = self.on_open_edit.toPlainText().splitlines()
        reconnect = replace(
            cfg.reconnect,
            factor=self.factor_spin.value(),
            jitter=self.jitter_spin.value() / 100,
            stable_after=self.stable_spin.value(),
            max_protocol_errors=self.protocol_errors_spin.value(),
            max_dns_errors=self.dns_errors_spin.value(),
        )
        return replace(
            cfg,
            on_open=[line for line in lines if line.strip()],
            open_timeout=self.open_timeout_spin.value(),
            close_timeout=self.close_timeout_spin.value(),
            request_timeout=self.request_timeout_spin.value(),
            queue_size=self.queue_spin.value(),
            reconnect=reconnect,
        )


def seconds_spin(low: float, high: float, special: str = "") -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2)
    spin.setSingleStep(0.5)
    spin.setSuffix(" s")
    if special:
        spin.setSpecialValueText(special)
    return spin
