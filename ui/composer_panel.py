"""The composer: write a message, check it as you type, send it (or send it as a request), or
repeat it on a schedule.

Text is sent as is (a JSON error is shown but does not block: servers may take any text);
"MessagePack" encodes the JSON as a binary MessagePack frame; hex and base64 are binary input
modes and must be valid to send. `{{variables}}` are resolved when sent, through the resolver
the window gives (`set_resolver`), so the inspector shows what went out. Sends go through
`bridge.run`, so a failure reaches the status bar; a send while the connection is down lands in
its offline queue, and the panel says so until the queue is delivered. The sending itself is
ui/composer_send.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.events import ConnectionRemoved, QueueFlushed
from core.facade import Scheduler
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.composer_editor import MessageEditor
from ui.composer_history import HISTORY_LIMIT, SAVE_ACTIONS, HistoryList
from ui.composer_send import ComposerSend
from ui.composer_targets import NARROW, TargetPicker
from ui.composer_text import (
    MODE_BASE64,
    MODE_HEX,
    MODE_MSGPACK,
    MODE_TEXT,
    MODES,
    Checked,
    Resolve,
    check,
    check_unresolved,
    pretty,
    wrap_envelope,
)
from ui.repeat_box import Collected, RepeatBox
from ui.template_dialog import ProtocolTemplates
from ui.templates import TEMPLATES

__all__ = [
    "HISTORY_LIMIT", "MODE_BASE64", "MODE_HEX", "MODE_MSGPACK", "MODE_TEXT", "ComposerPanel",
    "check", "pretty", "wrap_envelope",
]  # fmt: skip

VALIDATE_DELAY_MS = 300


class ComposerPanel(ComposerSend, QWidget):
    """Send to the selected connection(s) (`set_connections`), or to the one picked in the combo
    when none is selected."""

    sent = Signal(str)  # a line about what was sent or queued
    reply_received = Signal(object)  # core.connection.Reply of a "Send as request"
    save_requested = Signal(str, str, bool)  # text as typed, mode, as_request: to a collection

    def __init__(
        self,
        bridge: CoreBridge,
        parent: QWidget | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        """`scheduler`: the session's (one is made for the bridge's manager when not given)."""
        super().__init__(parent)
        self.bridge = bridge
        self.scheduler = scheduler or bridge.commands.scheduler()
        self._resolve: Resolve | None = None
        self._queued_ids: set[int] = set()  # connections the "queued offline" line is about
        self.last_reply: Any = None
        self.checked = Checked(False, "")

        self._build_top()
        self._build_middle()
        self._build_bottom()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(self._top)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.repeat_box)
        layout.addWidget(self.status)
        layout.addLayout(self._bottom)
        self._wire()
        self.protocol_templates = ProtocolTemplates(self)
        bridge.tick.connect(self._on_tick)
        self.target.refresh()
        self.validate()

    def _build_top(self) -> None:
        """Target and mode above the editor (the editing helpers sit with the send buttons
        below, so the panel stays narrow enough to leave the charts most of the bottom row)."""
        self.target = TargetPicker(self.bridge)
        self.target_label, self.target_combo = self.target.label, self.target.combo
        self.mode_combo = QComboBox()
        for mode, label in MODES:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setMinimumContentsLength(13)
        self.mode_combo.setSizeAdjustPolicy(NARROW)
        self.mode_combo.view().setMinimumWidth(240)
        self.mode_combo.setToolTip("How the editor text is sent: as text, or as binary bytes")
        self.template_button = QPushButton("Templates")  # a push button draws its menu arrow
        self.template_button.setToolTip("Load an example of every protocol message")
        menu = QMenu(self.template_button)
        for tpl in TEMPLATES:
            action = QAction(tpl.title, menu)
            action.setToolTip(tpl.hint)
            action.triggered.connect(lambda _=False, t=tpl: self.load(t.text, MODE_TEXT))
            menu.addAction(action)
        menu.setToolTipsVisible(True)
        self.template_button.setMenu(menu)
        self.template_menu = menu
        self._top = top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("To:"))
        top.addWidget(self.target, 1)
        top.addWidget(self.mode_combo)
        top.addWidget(self.template_button)

    def _build_middle(self) -> None:
        """The editor with its check line, beside the history."""
        self.editor = MessageEditor()
        self.check_label = QLabel()
        self.check_label.setTextFormat(Qt.TextFormat.PlainText)
        self.check_label.setWordWrap(True)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the message to a collection")
        self.save_menu = QMenu(self.save_button)
        for title, as_request in SAVE_ACTIONS:
            action = QAction(title, self.save_menu)
            action.triggered.connect(lambda _=False, r=as_request: self.save_requested.emit(
                self.editor.toPlainText(), self.mode, r))  # fmt: skip
            self.save_menu.addAction(action)
        self.save_button.setMenu(self.save_menu)
        below = QHBoxLayout()
        below.setContentsMargins(0, 0, 0, 0)
        below.addWidget(self.check_label, 1)
        below.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        editor_box = QWidget()
        ev = QVBoxLayout(editor_box)
        ev.setContentsMargins(0, 0, 0, 0)
        ev.setSpacing(2)
        ev.addWidget(self.editor, 1)
        ev.addLayout(below)

        self.history_list = HistoryList()
        self.history = self.history_list.entries  # (text, mode), newest first
        history_box = QWidget()
        hv = QVBoxLayout(history_box)
        hv.setContentsMargins(0, 0, 0, 0)
        hv.setSpacing(2)
        hv.addWidget(QLabel("History"))
        hv.addWidget(self.history_list, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(editor_box)
        self.splitter.addWidget(history_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([620, 380])  # proportions; scaled to the real width

    def _build_bottom(self) -> None:
        """The Repeat row (hidden until asked for), the outcome line, the send buttons."""
        self.repeat_box = RepeatBox(self.scheduler)
        self.repeat_box.hide()
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()  # shown with the first outcome
        self.format_button = QPushButton("Format")
        self.format_button.setToolTip("Pretty-print, or wrap the message in an envelope")
        self.format_menu = QMenu(self.format_button)
        self.pretty_action = self.format_menu.addAction("Pretty-print")
        self.pretty_action.setToolTip("Indent the JSON; hex in rows of 16 bytes")
        self.envelope_action = self.format_menu.addAction("Wrap in envelope")
        self.envelope_action.setToolTip("Add id (uuid), type and timestamp (ms)")
        self.format_menu.setToolTipsVisible(True)
        self.format_button.setMenu(self.format_menu)
        self.repeat_button = QPushButton("Repeat…")
        self.repeat_button.setCheckable(True)
        self.repeat_button.setToolTip("Send the message again and again, at an interval")
        self.request_button = QPushButton("Send as request")
        self.request_button.setToolTip(
            "Add a requestId and wait for the reply carrying it (shows its round trip)"
        )
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self._bottom = bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.format_button)
        bottom.addStretch(1)
        bottom.addWidget(self.repeat_button)
        bottom.addWidget(self.request_button)
        bottom.addWidget(self.send_button)

    def _wire(self) -> None:
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(VALIDATE_DELAY_MS)
        self._check_timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._check_timer.start)
        self.mode_combo.currentIndexChanged.connect(self.validate)
        self.pretty_action.triggered.connect(self.pretty_print)
        self.envelope_action.triggered.connect(self.wrap_in_envelope)
        self.send_button.clicked.connect(self.send)
        self.request_button.clicked.connect(self.send_request)
        self.repeat_button.toggled.connect(self.repeat_box.setVisible)
        self.repeat_box.start_clicked.connect(self.start_repeat)
        self.history_list.load_requested.connect(self.load)
        self.history_list.save_requested.connect(self.save_requested)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(
                QKeySequence(keys),
                self,
                self.send,
                context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
            )
        self.editor.submit.connect(self.send)

    # ----- public API -----------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        """Send to these connections; with none, to the one chosen in the target combo."""
        self.target.set_connections(conn_ids)

    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))

    def set_resolver(self, resolve: Resolve | None) -> None:
        """Resolve `{{variables}}` through this when sending (None: send the text as typed).
        Called for every send; a repeat calls it for its first round here, on the GUI thread,
        and then on the connections' thread for every further message."""
        self._resolve = resolve
        self.validate()

    def load(self, text: str, mode: str | None = None) -> None:
        if mode is not None:
            self.set_mode(mode)
        self.editor.setPlainText(text)
        self.editor.setFocus()
        self.validate()

    def targets(self) -> list[int]:
        return self.target.targets()

    def validate(self) -> Checked:
        """Check the editor now (also runs by itself shortly after typing stops)."""
        self._check_timer.stop()
        text = self.editor.toPlainText()
        result = check(text, self.mode) if self._resolve is None else check_unresolved(
            text, self.mode)  # fmt: skip
        self.checked = result
        bad = not result.ok or result.error_at is not None
        if not self.editor.toPlainText():
            self.check_label.setText("")
        else:
            self.check_label.setText(result.message)
        self.check_label.setStyleSheet(theme.style("error_mark" if bad else "valid"))
        self.editor.mark_error(result.error_at)
        return result

    def pretty_print(self) -> None:
        try:
            text = pretty(self.editor.toPlainText(), self.mode)
        except ValueError as exc:
            self._say(f"cannot pretty-print: {exc}", error=True)
            return
        self.editor.setPlainText(text)
        self.validate()

    def wrap_in_envelope(self) -> None:
        if self.mode in (MODE_HEX, MODE_BASE64):
            self._say("envelopes are JSON: switch to Text or MessagePack mode", error=True)
            return
        try:
            text = wrap_envelope(self.editor.toPlainText())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.editor.setPlainText(text)
        self.validate()

    def set_collections(self, collections: Callable[[], Sequence[Collected]]) -> None:
        """Where the Repeat row finds collections to repeat (the workspace's)."""
        self.repeat_box.set_collections(collections)

    def stop_repeat(self) -> None:
        """Stop every repeat started here."""
        self.repeat_box.stop()

    # ----- helpers --------------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        self._queued_ids = set()
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.status.setStyleSheet(theme.style("error_mark") if error else "")
        if text:
            self.sent.emit(text)

    def _remember(self, text: str, mode: str) -> None:
        self.history_list.remember(text, mode)

    def _on_tick(self, batch: TickBatch) -> None:
        if batch.states:
            self.target.refresh()
        if not batch.others:
            return
        for event in batch.others:
            kind = type(event)
            if kind is QueueFlushed or kind is ConnectionRemoved:
                self._on_delivered(event.conn_id, kind is ConnectionRemoved)
        self.repeat_box.on_events(batch.others, self._label_of)

    def _on_delivered(self, conn_id: int, removed: bool) -> None:
        """The "queued offline" line goes once every queue it is about is delivered (or its
        connection removed)."""
        if conn_id not in self._queued_ids:
            return
        self._queued_ids.discard(conn_id)
        if self._queued_ids:
            return
        if removed:
            self._say("the connection was removed: its queued messages were not sent", True)
        else:
            self._say(f"the queued messages were delivered to {self._label_of(conn_id)}")

    def _label_of(self, conn_id: int) -> str:
        try:
            return self.bridge.commands.config(conn_id).label
        except KeyError:
            return f"#{conn_id} (removed)"

