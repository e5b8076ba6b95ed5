"""The connection dialog's "Protocol" tab: which decoder reads the connection (detected, none,
or one chosen), whether its protocol client answers for us (Engine.IO pongs, connection_init,
STOMP/MQTT CONNECT and keep-alives), and the client's options as key=value lines."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from core.facade import AUTO, decoder_choices

CLIENT_CHOICES = (("Automatic (on when the protocol is recognised)", None), ("On", True),
                  ("Off (raw: nothing is sent for us)", False))
OPTIONS_HINT = ("one key=value per line, e.g.\nnamespaces=/chat,/admin\n"
                'init_payload={"token": "{{token}}"}\nkeep-alive=30')


def parse_options(text: str) -> dict[str, str]:
    """key=value lines (blank lines and # comments skipped); ValueError in words."""
    options: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Protocol options, line {number}: expected key=value, got {line!r}")
        options[key.strip()] = value.strip()
    return options


class ProtocolTab(QWidget):
    """Edits `decoder`, `protocol_client` and `protocol_options` of a ConnectionConfig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        group = QGroupBox("Protocol")
        form = QFormLayout(group)
        self.decoder_combo = QComboBox()
        self.decoder_combo.setToolTip("The protocol decoder of this connection (Automatic: "
                                      "detected from the handshake and the first frames)")
        for name, label in decoder_choices():
            self.decoder_combo.addItem(label, name)
        self.client_combo = QComboBox()
        self.client_combo.setToolTip("Let the decoder answer pings, send connection_init or "
                                     "CONNECT, and keep the connection alive like a real client")
        for label, value in CLIENT_CHOICES:
            self.client_combo.addItem(label, value)
        self.options_edit = QPlainTextEdit()
        self.options_edit.setPlaceholderText(OPTIONS_HINT)
        self.options_edit.setTabChangesFocus(True)
        form.addRow("&Decoder:", self.decoder_combo)
        form.addRow("Protocol &client:", self.client_combo)
        form.addRow("&Options:", self.options_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(group, 1)

    def load(self, cfg: ConnectionConfig) -> None:
        name = cfg.decoder or AUTO
        index = self.decoder_combo.findData(name)
        if index < 0:  # a plug-in that is not installed here: kept as it is
            self.decoder_combo.addItem(f"{name} (not installed)", name)
            index = self.decoder_combo.count() - 1
        self.decoder_combo.setCurrentIndex(index)
        client = cfg.protocol_client
        self.client_combo.setCurrentIndex(next(
            (i for i, (_, value) in enumerate(CLIENT_CHOICES) if value is client), 0))
        self.options_edit.setPlainText(
            "\n".join(f"{k}={v}" for k, v in cfg.protocol_options.items()))

    def error(self) -> str | None:
        try:
            parse_options(self.options_edit.toPlainText())
        except ValueError as exc:
            return str(exc)
        return None

    def apply(self, cfg: ConnectionConfig) -> ConnectionConfig:
        """The config with this tab's fields; ValueError for bad options."""
        return replace(
            cfg,
            decoder=self.decoder_combo.currentData(),
            protocol_client=self.client_combo.currentData(),
            protocol_options=parse_options(self.options_edit.toPlainText()),
        )
