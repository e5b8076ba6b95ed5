"""The New/Edit connection dialog: every ConnectionConfig field, and "Save as profile"."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from ui import theme
from ui.connection_advanced import AdvancedTab, seconds_spin
from ui.connection_protocol import ProtocolTab
from ui.connection_url import split_token, validate_url
from ui.headers_table import HeadersTable

__all__ = ["ConnectionDialog", "SaveProfile", "split_token", "validate_url"]  # as imported

MAX_SIZE_KIB = 1024 * 1024  # 1 GiB: large but never unlimited


SaveProfile = Callable[[ConnectionConfig], str]  # saves it, returns a line saying where


class ConnectionDialog(QDialog):
    """Build a ConnectionConfig; prefilled from `config` for Edit and Duplicate.

    After accept(), `result_config` holds the new configuration. "Save as profile" hands the
    form's configuration, named by the Name field, to `save_profile` (by default the
    `save_profile` of the first parent widget that has one: the main window), and stays open."""

    def __init__(
        self,
        config: ConnectionConfig | None = None,
        parent: QWidget | None = None,
        title: str = "New connection",
        save_profile: SaveProfile | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("ConnectionDialog")
        self._base = copy.deepcopy(config) if config else ConnectionConfig("ws://localhost:8765/")
        self.result_config: ConnectionConfig | None = None
        self._save_profile = save_profile

        tabs = QTabWidget()
        tabs.addTab(self._general_tab(), "General")
        tabs.addTab(self._security_tab(), "Auth && TLS")
        tabs.addTab(self._behaviour_tab(), "Heartbeat && reconnect")
        self.advanced = AdvancedTab()
        tabs.addTab(self.advanced, "On open && limits")
        self.protocol = ProtocolTab()
        tabs.addTab(self.protocol, "Protocol")
        self.tabs = tabs

        self._build_buttons()
        self.form_error = QLabel()
        self.form_error.setStyleSheet(theme.style("error"))
        self.form_error.setTextFormat(Qt.TextFormat.PlainText)
        self.form_error.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)
        self.resize(580, 500)

        self._load(self._base if config else None)
        self.url_edit.textChanged.connect(self._check_url)
        self.insecure_check.toggled.connect(self.insecure_warning.setVisible)
        self._check_url()

    def _build_buttons(self) -> None:
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.save_profile_button = self.buttons.addButton(
            "Save as &profile", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.save_profile_button.setToolTip(
            "Keep these settings in the workspace under the Name above (secrets go to the "
            "keyring, not the file)"
        )
        self.save_profile_button.clicked.connect(self.save_as_profile)
        self.save_profile_button.setEnabled(self._profile_sink() is not None)

    # ----- tabs ------------------------------------------------------------------------------

    def _general_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("ws://host:port/path or wss://…")
        self.url_error = QLabel()
        self.url_error.setStyleSheet(theme.style("error"))
        self.url_error.setTextFormat(Qt.TextFormat.PlainText)
        self.url_error.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("optional; the URL is shown when empty")
        self.subprotocols_edit = QLineEdit()
        self.subprotocols_edit.setPlaceholderText("comma-separated, e.g. msgpack, graphql-ws")
        form.addRow("&URL:", self.url_edit)
        form.addRow("", self.url_error)
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Subprotocols:", self.subprotocols_edit)

        self.headers_table = HeadersTable()
        add = QPushButton("Add header")
        add.clicked.connect(lambda: self.add_header("", ""))
        remove = QPushButton("Remove")
        remove.clicked.connect(self.headers_table.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        box = QGroupBox("Extra handshake headers")
        inner = QVBoxLayout(box)
        inner.addWidget(self.headers_table)
        inner.addLayout(buttons)
        form.addRow(box)
        return page

    def _security_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.token_edit.setPlaceholderText("JWT or other bearer token (optional)")
        self.token_mode_combo = QComboBox()
        self.token_mode_combo.addItem("URL query (?token=…)", "query")
        self.token_mode_combo.addItem("Authorization: Bearer header", "bearer")
        self.origin_edit = QLineEdit()
        self.origin_edit.setPlaceholderText("e.g. https://app.example.com (optional)")
        form.addRow("&Token:", self.token_edit)
        form.addRow("Send token &as:", self.token_mode_combo)
        form.addRow("&Origin:", self.origin_edit)

        self.cafile_edit = QLineEdit()
        self.cafile_edit.setPlaceholderText("system trust store")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_cafile)
        row = QHBoxLayout()
        row.addWidget(self.cafile_edit, 1)
        row.addWidget(browse)
        cafile_label = QLabel("CA &file:")  # a row of two widgets: the label needs its buddy
        cafile_label.setBuddy(self.cafile_edit)
        form.addRow(cafile_label, row)
        self.insecure_check = QCheckBox("insecure: skip certificate verification")
        self.insecure_warning = QLabel(
            "Warning: the server's certificate will not be checked. Anyone on the network path "
            "can read and change this traffic. Use only for local testing."
        )
        self.insecure_warning.setWordWrap(True)
        self.insecure_warning.setStyleSheet(theme.style("error"))
        self.insecure_warning.setVisible(False)
        form.addRow("", self.insecure_check)
        form.addRow("", self.insecure_warning)
        return page

    def _behaviour_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        general = QFormLayout()
        self.compression_check = QCheckBox("permessage-deflate compression")
        self.max_size_spin = QSpinBox()
        self.max_size_spin.setRange(1, MAX_SIZE_KIB)
        self.max_size_spin.setSuffix(" KiB")
        self.max_size_spin.setToolTip("Largest message accepted; bigger ones close with 1009")
        general.addRow("", self.compression_check)
        general.addRow("Max message &size:", self.max_size_spin)
        layout.addLayout(general)

        hb = QGroupBox("Heartbeat")
        hb_form = QFormLayout(hb)
        self.hb_interval_spin = seconds_spin(0, 3600, "off")
        self.hb_timeout_spin = seconds_spin(0.1, 3600)
        self.app_template_edit = QLineEdit()
        self.app_template_edit.setPlaceholderText('optional, e.g. {"type":"ping"}')
        self.app_reply_edit = QLineEdit()
        self.app_reply_edit.setPlaceholderText("pong")
        hb_form.addRow("Ping &interval:", self.hb_interval_spin)
        hb_form.addRow("Pong &timeout:", self.hb_timeout_spin)
        hb_form.addRow("App-level &ping:", self.app_template_edit)
        hb_form.addRow("Reply &type:", self.app_reply_edit)
        layout.addWidget(hb)

        self.reconnect_group = QGroupBox("Reconnect automatically")
        self.reconnect_group.setCheckable(True)
        rc_form = QFormLayout(self.reconnect_group)
        self.initial_spin = seconds_spin(0.05, 3600)
        self.max_delay_spin = seconds_spin(0.1, 24 * 3600)
        self.max_attempts_spin = QSpinBox()
        self.max_attempts_spin.setRange(0, 1_000_000)
        self.max_attempts_spin.setSpecialValueText("forever")
        rc_form.addRow("First &delay:", self.initial_spin)
        rc_form.addRow("Ma&x delay:", self.max_delay_spin)
        rc_form.addRow("Max &attempts:", self.max_attempts_spin)
        layout.addWidget(self.reconnect_group)
        layout.addStretch(1)
        return page

    # ----- headers ---------------------------------------------------------------------------

    def add_header(self, key: str, value: str) -> None:
        self.headers_table.add_header(key, value)

    def headers(self) -> list[tuple[str, str]]:
        return self.headers_table.headers()

    def _pick_cafile(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA certificate file", "", "PEM certificates (*.pem *.crt *.cer);;All files (*)"
        )
        if path:
            self.cafile_edit.setText(path)

    # ----- load / build ------------------------------------------------------------------------

    def _load(self, cfg: ConnectionConfig | None) -> None:
        base = cfg or self._base
        self.url_edit.setText(cfg.url if cfg else "")
        self.name_edit.setText(base.name)
        self.subprotocols_edit.setText(", ".join(base.subprotocols))
        for key, value in base.headers:
            self.add_header(key, value)
        self.token_edit.setText(base.token or "")
        self.token_mode_combo.setCurrentIndex(0 if base.token_mode == "query" else 1)
        self.origin_edit.setText(base.origin or "")
        self.cafile_edit.setText(base.cafile or "")
        self.insecure_check.setChecked(base.insecure)
        self.insecure_warning.setVisible(base.insecure)
        self.compression_check.setChecked(base.compression)
        self.max_size_spin.setValue(max(1, min(MAX_SIZE_KIB, base.max_size // 1024)))
        hb = base.heartbeat
        self.hb_interval_spin.setValue(hb.interval)
        self.hb_timeout_spin.setValue(hb.timeout)
        self.app_template_edit.setText(hb.app_template or "")
        self.app_reply_edit.setText(hb.app_reply_type)
        rc = base.reconnect
        self.reconnect_group.setChecked(rc.enabled)
        self.initial_spin.setValue(rc.initial)
        self.max_delay_spin.setValue(rc.max_delay)
        self.max_attempts_spin.setValue(rc.max_attempts or 0)
        self.advanced.load(base)
        self.protocol.load(base)

    def error(self) -> str | None:
        """What keeps the form from being accepted, or None."""
        problem = validate_url(self.url_edit.text())
        if problem:
            return problem
        if self.max_delay_spin.value() < self.initial_spin.value():
            return "The max reconnect delay is shorter than the first delay"
        return self.protocol.error()

    def config(self) -> ConnectionConfig:
        """The configuration the form describes; raises ValueError when it is invalid."""
        problem = self.error()
        if problem:
            raise ValueError(problem)
        base = self._base
        subprotocols = [p.strip() for p in self.subprotocols_edit.text().split(",") if p.strip()]
        template = self.app_template_edit.text().strip() or None
        heartbeat = replace(
            base.heartbeat,
            interval=self.hb_interval_spin.value(),
            timeout=self.hb_timeout_spin.value(),
            app_template=template,
            app_reply_type=self.app_reply_edit.text().strip() or "pong",
        )
        attempts = self.max_attempts_spin.value()
        base = self.protocol.apply(self.advanced.apply(base))
        reconnect = replace(
            base.reconnect,
            enabled=self.reconnect_group.isChecked(),
            initial=self.initial_spin.value(),
            max_delay=self.max_delay_spin.value(),
            max_attempts=attempts or None,
        )
        url, url_token = split_token(self.url_edit.text().strip())
        return replace(
            base,
            url=url,
            name=self.name_edit.text().strip(),
            headers=self.headers(),
            subprotocols=subprotocols,
            token=self.token_edit.text().strip() or url_token,
            token_mode=self.token_mode_combo.currentData(),
            origin=self.origin_edit.text().strip() or None,
            cafile=self.cafile_edit.text().strip() or None,
            insecure=self.insecure_check.isChecked(),
            compression=self.compression_check.isChecked(),
            max_size=self.max_size_spin.value() * 1024,
            heartbeat=heartbeat,
            reconnect=reconnect,
        )

    def _profile_sink(self) -> SaveProfile | None:
        if self._save_profile is not None:
            return self._save_profile
        widget = self.parentWidget()
        while widget is not None:
            sink = getattr(widget, "save_profile", None)
            if callable(sink):
                return sink  # type: ignore[no-any-return]
            widget = widget.parentWidget()
        return None

    def save_as_profile(self) -> bool:
        """Save the form as a profile named by the Name field; the dialog stays open."""
        sink = self._profile_sink()
        problem = self.error()
        if sink is None:
            problem = "There is no workspace to save profiles in"
        elif not problem and not self.name_edit.text().strip():
            problem = "Enter a name in the Name field: the profile is saved under it"
        if problem:
            self._say(problem, error=True)
            if not self.name_edit.text().strip():
                self.tabs.setCurrentIndex(0)
                self.name_edit.setFocus()
            return False
        try:
            said = sink(self.config())
        except Exception as exc:  # a workspace that cannot be written: say so, lose nothing
            self._say(f"Not saved: {exc}", error=True)
            return False
        self._say(said, error=False)
        return True

    def _say(self, text: str, error: bool) -> None:
        self.form_error.setStyleSheet(theme.style("error" if error else "saved"))
        self.form_error.setText(text)
        self.form_error.setVisible(True)

    def _check_url(self) -> None:
        problem = validate_url(self.url_edit.text())
        self.url_error.setText(problem or "")
        self.url_error.setVisible(bool(problem))
        # an empty field is not a mistake yet: its hint is grey until OK is pressed
        empty = not self.url_edit.text().strip()
        self.url_error.setStyleSheet(theme.style("hint" if empty else "error"))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(problem is None)
        self.save_profile_button.setEnabled(problem is None and self._profile_sink() is not None)

    def accept(self) -> None:
        problem = self.error()
        if problem:
            url_problem = validate_url(self.url_edit.text()) is not None
            label = self.url_error if url_problem else self.form_error
            label.setStyleSheet(theme.style("error"))
            label.setText(problem)
            label.setVisible(True)
            if url_problem:
                self.tabs.setCurrentIndex(0)
                self.url_edit.setFocus()
            return
        self.result_config = self.config()
        super().accept()

