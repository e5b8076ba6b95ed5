"""The server panel's widgets: the settings form (host, port, auth, token, instances, demo
bots) and the live views (clients and rooms above the server's log). Built once by the panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from core.facade import MAX_INSTANCES

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget as _Base
else:
    _Base = object

LOG_LINES = 2000


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class ServerForm(_Base):
    """The building half of ServerPanel (a mixin on its QWidget)."""

    copy_token: Callable[[], str]  # the panel's
    _apply_demo: Callable[[], None]

    def _build_settings(self) -> QFormLayout:
        """Host and port, auth and the token to copy, the demo bots."""
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(0, 65535)
        self.port_spin.setSpecialValueText("auto")
        self.port_spin.setToolTip("0 (auto) picks a free port")
        self.auth_check = QCheckBox("require a token (JWT HS256)")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.secret_edit.setToolTip("Secret that signs and checks tokens")
        self.subject_edit = QLineEdit("tester")
        self.subject_edit.setToolTip("Display name (sub claim) of the copied token")
        self.copy_token_button = QPushButton("Copy token")
        self.copy_token_button.setToolTip("Copy a 24 h token for this name to the clipboard")
        self.copy_token_button.clicked.connect(self.copy_token)
        hostport = QHBoxLayout()
        hostport.addWidget(self.host_edit, 1)
        hostport.addSpacing(6)
        hostport.addWidget(QLabel("port"))
        hostport.addWidget(self.port_spin)
        token_row = QHBoxLayout()
        token_row.addWidget(self.subject_edit, 1)
        token_row.addWidget(self.copy_token_button)
        settings = QFormLayout()
        settings.setVerticalSpacing(4)
        settings.addRow("Host:", hostport)
        settings.addRow("Auth:", self.auth_check)
        settings.addRow("Secret:", self.secret_edit)
        settings.addRow("Token for:", token_row)
        self.instances_spin = QSpinBox()
        self.instances_spin.setRange(1, MAX_INSTANCES)
        self.instances_spin.setSpecialValueText("1 (no cluster)")
        self.instances_spin.setToolTip(
            "More than 1: a local cluster, the instances sharing rooms through a redis-server "
            "started here (docs/scaling.md)"
        )
        settings.addRow("Instances:", self.instances_spin)

        self.bots_spin = QSpinBox()
        self.bots_spin.setRange(0, 500)
        self.bots_spin.setSuffix(" bots")
        self.rate_spin = QDoubleSpinBox()
        self.rate_spin.setRange(0.0, 1000.0)
        self.rate_spin.setDecimals(1)
        self.rate_spin.setSingleStep(0.5)
        self.rate_spin.setSuffix(" msg/s each")
        self.bots_spin.valueChanged.connect(self._apply_demo)
        self.rate_spin.valueChanged.connect(self._apply_demo)
        demo = QHBoxLayout()
        demo.addWidget(self.bots_spin)
        demo.addWidget(self.rate_spin, 1)
        settings.addRow("Demo:", demo)
        return settings

    def _build_live(self) -> QSplitter:
        """Clients and rooms above the server's log."""
        self.totals_label = QLabel()
        self.totals_label.setTextFormat(Qt.TextFormat.PlainText)
        self.totals_label.setWordWrap(True)
        self.rooms_tree = QTreeWidget()
        self.rooms_tree.setHeaderLabels(["Room", "#", "Members"])
        self.rooms_tree.setRootIsDecorated(False)
        self.rooms_tree.setUniformRowHeights(True)
        header = self.rooms_tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.rooms_tree.setColumnWidth(0, 90)
        self.rooms_tree.setColumnWidth(1, 32)
        self.rooms_tree.setMinimumHeight(40)

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setMinimumHeight(40)
        self.log_view.setPlaceholderText("Server events (handshakes, rejections, errors)")

        live = QWidget()
        live_layout = QVBoxLayout(live)
        live_layout.setContentsMargins(0, 0, 0, 2)
        live_layout.setSpacing(2)
        live_layout.addWidget(_heading("Clients and rooms"))
        live_layout.addWidget(self.totals_label)
        live_layout.addWidget(self.rooms_tree, 1)
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 2, 0, 0)
        log_layout.setSpacing(2)
        log_layout.addWidget(_heading("Server log"))
        log_layout.addWidget(self.log_view, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(live)
        split.addWidget(log_box)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([150, 150])
        split.setChildrenCollapsible(False)
        self._split = split
        return split
