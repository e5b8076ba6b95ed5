"""The composer: write a message, check it as you type, send it (or send it as a request).

Text is sent as is (a JSON error is shown but does not block: servers may take any text);
"MessagePack" encodes the JSON as a binary MessagePack frame; hex and base64 are binary input
modes and must be valid to send. Sends go through `bridge.run`, so a failure reaches the status
bar; a send while the connection is down lands in its offline queue, and the panel says so.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QKeyEvent,
    QKeySequence,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from core.codecs import encode_object, preview
from core.connection import Connection, NotOpen, RequestTimeout
from core.events import Opcode
from core.states import ConnState
from ui.bridge import CoreBridge, TickBatch
from ui.elided_label import ElidedLabel
from ui.hex_view import monospace
from ui.hint_list import HintList
from ui.templates import TEMPLATES

MODE_TEXT, MODE_MSGPACK, MODE_HEX, MODE_BASE64 = "text", "msgpack", "hex", "base64"
MODES = (
    (MODE_TEXT, "Text"),
    (MODE_MSGPACK, "Binary: MessagePack of the JSON"),
    (MODE_HEX, "Binary: hex"),
    (MODE_BASE64, "Binary: base64"),
)
HISTORY_LIMIT = 200
HISTORY_HINT = "Messages you send appear here, newest first; click one to load it again."
_NARROW = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
VALIDATE_DELAY_MS = 300
ERROR_COLOR = "#c01c28"
OK_COLOR = "#1f8a4c"


@dataclass(frozen=True)
class Checked:
    """The editor content checked for a mode: what to send, or why not."""

    ok: bool  # it can be sent
    message: str  # shown under the editor
    payload: bytes = b""
    is_text: bool = True
    value: Any = None  # the parsed JSON, when it is JSON
    is_json: bool = False
    error_at: tuple[int, int] | None = None  # (line, column) of a JSON error, 1-based


def check(text: str, mode: str) -> Checked:
    """Validate the editor text for `mode`."""
    if mode in (MODE_HEX, MODE_BASE64):
        return _check_binary(text, mode)
    if not text.strip():
        return Checked(False, "empty message")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        looks_json = text.lstrip()[:1] in ("{", "[", '"')
        if mode == MODE_MSGPACK:
            return Checked(False, f"not JSON: {where}", error_at=(exc.lineno, exc.colno))
        if looks_json:
            return Checked(
                True,
                f"{where} (it would go out as plain text)",
                text.encode(),
                error_at=(exc.lineno, exc.colno),
            )
        return Checked(True, f"plain text, {len(text.encode()):,} bytes", text.encode())
    kind = value.get("type") if isinstance(value, dict) else None
    what = "JSON object" if isinstance(value, dict) else f"JSON {type(value).__name__}"
    if isinstance(kind, str):
        what += f', type "{preview(Opcode.TEXT, kind.encode(), 40)}"'
    if mode == MODE_MSGPACK:
        if not isinstance(value, dict):
            return Checked(False, "MessagePack mode sends a JSON object", value=value, is_json=True)
        payload = encode_object(value, binary=True)
        return Checked(
            True, f"✓ {what} → {len(payload):,} bytes of MessagePack", payload, False, value, True
        )
    payload = text.encode()
    return Checked(True, f"✓ valid {what}, {len(payload):,} bytes", payload, True, value, True)


def _check_binary(text: str, mode: str) -> Checked:
    compact = "".join(text.split())
    if not compact:
        return Checked(False, "empty message")
    if mode == MODE_HEX:
        if compact[:2].lower() == "0x":
            compact = compact[2:]
        try:
            payload = bytes.fromhex(compact)
        except ValueError:
            bad = next((i for i, c in enumerate(compact) if c not in _HEX_DIGITS), None)
            if bad is not None:
                return Checked(False, f"not hex: {compact[bad]!r} at digit {bad + 1}")
            return Checked(False, f"odd number of hex digits ({len(compact)})")
    else:
        try:
            payload = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            return Checked(False, f"not base64: {exc}")
    return Checked(True, f"✓ {len(payload):,} bytes of binary", payload, False)


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def wrap_envelope(text: str) -> str:
    """`id` (kept or a new uuid), `type` (kept or "message"), the rest, `timestamp` (ms now).
    Text that is not JSON becomes the envelope's `data`; raises ValueError on broken JSON."""
    stripped = text.strip()
    try:
        value: Any = json.loads(stripped) if stripped else {}
    except json.JSONDecodeError as exc:
        if stripped[:1] in ("{", "["):
            raise ValueError(
                f"fix the JSON first: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        value = text
    if isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k not in ("id", "type", "timestamp")}
        msg_id = value.get("id") or str(uuid.uuid4())
        kind = value.get("type") if isinstance(value.get("type"), str) else "message"
    else:
        rest, msg_id, kind = {"data": value}, str(uuid.uuid4()), "message"
    obj = {"id": msg_id, "type": kind, **rest, "timestamp": int(time.time() * 1000)}
    return json.dumps(obj, indent=2, ensure_ascii=False)


def pretty(text: str, mode: str) -> str:
    """Indented JSON, or hex in rows of 16 bytes; ValueError when the text does not parse."""
    if mode == MODE_HEX:
        data = check(text, MODE_HEX)
        if not data.ok:
            raise ValueError(data.message)
        rows = [data.payload[i : i + 16].hex(" ") for i in range(0, len(data.payload), 16)]
        return "\n".join(rows)
    if mode == MODE_BASE64:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None


class _Editor(QPlainTextEdit):
    """The message editor: Ctrl+Enter submits instead of typing a newline. (A subclass, not an
    event filter on the panel: a filter would be called while the panel is being destroyed.)"""

    submit = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            self.submit.emit()
            return
        super().keyPressEvent(event)


class ComposerPanel(QWidget):
    """Send to the selected connection(s) (`set_connections`), or to the one picked in the combo
    when none is selected."""

    sent = Signal(str)  # a line about what was sent or queued
    reply_received = Signal(object)  # core.connection.Reply of a "Send as request"

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._conn_ids: list[int] = []
        self._combo_ids: tuple[int, ...] = ()
        self.history: deque[tuple[str, str]] = deque(maxlen=HISTORY_LIMIT)  # (text, mode)
        self.last_reply: Any = None
        self.checked = Checked(False, "")

        # --- top bar: target, mode, editing helpers
        self.target_label = ElidedLabel(min_chars=12)
        self.target_combo = QComboBox()
        self.target_combo.setMinimumContentsLength(12)
        self.target_combo.setSizeAdjustPolicy(_NARROW)
        self.target_combo.view().setMinimumWidth(220)
        self.target_combo.setToolTip("Target connection (select connections to send to several)")
        self.mode_combo = QComboBox()
        for mode, label in MODES:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setMinimumContentsLength(13)
        self.mode_combo.setSizeAdjustPolicy(_NARROW)
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
        self.pretty_button = QPushButton("Pretty-print")
        self.envelope_button = QPushButton("Wrap in envelope")
        self.envelope_button.setToolTip("Add id (uuid), type and timestamp (ms)")

        # Target and mode above the editor; the editing helpers sit with the send buttons below,
        # so the panel stays narrow enough to leave the charts most of the bottom row.
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("To:"))
        top.addWidget(self.target_label, 1)
        top.addWidget(self.target_combo, 1)
        top.addWidget(self.mode_combo)
        top.addWidget(self.template_button)

        # --- editor and history
        self.editor = _Editor()
        self.editor.setFont(monospace())
        self.editor.setTabStopDistance(self.editor.fontMetrics().horizontalAdvance(" ") * 2)
        self.editor.setPlaceholderText(
            'Message to send, e.g. {"type": "ping"}  (Templates for every protocol message;'
            " Ctrl+Enter sends)"
        )
        self.check_label = QLabel()
        self.check_label.setTextFormat(Qt.TextFormat.PlainText)
        self.check_label.setWordWrap(True)
        editor_box = QWidget()
        ev = QVBoxLayout(editor_box)
        ev.setContentsMargins(0, 0, 0, 0)
        ev.setSpacing(2)
        ev.addWidget(self.editor, 1)
        ev.addWidget(self.check_label)

        self.history_list = HintList(HISTORY_HINT)
        self.history_list.setToolTip("Sent messages, newest first; click to load one")
        self.history_list.setUniformItemSizes(True)
        self.history_list.setFont(monospace())
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

        # --- bottom: outcome and send buttons
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.request_button = QPushButton("Send as request")
        self.request_button.setToolTip(
            "Add a requestId and wait for the reply carrying it (shows its round trip)"
        )
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.status.hide()  # shown with the first outcome
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.pretty_button)
        bottom.addWidget(self.envelope_button)
        bottom.addStretch(1)
        bottom.addWidget(self.request_button)
        bottom.addWidget(self.send_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)
        layout.addLayout(bottom)

        # --- wiring
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(VALIDATE_DELAY_MS)
        self._check_timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._check_timer.start)
        self.mode_combo.currentIndexChanged.connect(self.validate)
        self.pretty_button.clicked.connect(self.pretty_print)
        self.envelope_button.clicked.connect(self.wrap_in_envelope)
        self.send_button.clicked.connect(self.send)
        self.request_button.clicked.connect(self.send_request)
        self.history_list.itemClicked.connect(self._load_history)
        self.history_list.itemActivated.connect(self._load_history)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(
                QKeySequence(keys),
                self,
                self.send,
                context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
            )
        self.editor.submit.connect(self.send)
        bridge.tick.connect(self._on_tick)
        self._refresh_targets()
        self.validate()

    # ----- public API -----------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        """Send to these connections; with none, to the one chosen in the target combo."""
        self._conn_ids = list(conn_ids)
        self._refresh_targets(force=True)

    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))

    def load(self, text: str, mode: str | None = None) -> None:
        if mode is not None:
            self.set_mode(mode)
        self.editor.setPlainText(text)
        self.editor.setFocus()
        self.validate()

    def targets(self) -> list[Connection]:
        manager = self.bridge.manager
        ids = self._conn_ids or [self.target_combo.currentData()]
        out = []
        for conn_id in ids:
            if conn_id is None:
                continue
            try:
                out.append(manager.get(int(conn_id)))
            except KeyError:
                continue
        return out

    def validate(self) -> Checked:
        """Check the editor now (also runs by itself shortly after typing stops)."""
        self._check_timer.stop()
        result = check(self.editor.toPlainText(), self.mode)
        self.checked = result
        bad = not result.ok or result.error_at is not None
        if not self.editor.toPlainText():
            self.check_label.setText("")
        else:
            self.check_label.setText(result.message)
        self.check_label.setStyleSheet(f"color: {ERROR_COLOR if bad else OK_COLOR};")
        self._mark_error(result.error_at)
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

    def send(self) -> None:
        """Send the editor content to every target (Ctrl+Enter)."""
        result = self.validate()
        if not result.ok:
            self._say(f"not sent: {result.message}", error=True)
            return
        targets = self.targets()
        if not targets:
            self._say("not sent: no connection (add one in the connections panel)", error=True)
            return
        self._remember(self.editor.toPlainText(), self.mode)
        self.bridge.run(self._send(targets, result.payload, result.is_text), "send")

    def send_request(self) -> None:
        """Send a JSON object with a fresh requestId and show the reply and its round trip."""
        if self.mode in (MODE_HEX, MODE_BASE64):
            self._say("a request is a JSON object: switch to Text or MessagePack mode", error=True)
            return
        result = self.validate()
        if not result.is_json or not isinstance(result.value, dict):
            self._say("not sent: a request must be a JSON object", error=True)
            return
        targets = self.targets()
        if not targets:
            self._say("not sent: no connection (add one in the connections panel)", error=True)
            return
        self._remember(self.editor.toPlainText(), self.mode)
        value = {k: v for k, v in result.value.items() if k != "requestId"}
        self.bridge.run(self._requests(targets, value), "request")

    # ----- async work -----------------------------------------------------------------------

    async def _send(self, targets: list[Connection], payload: bytes, is_text: bool) -> None:
        lines = []
        for conn in targets:
            if await conn.send(payload, text=is_text):
                lines.append(f"sent {len(payload):,} bytes to {conn.config.label}")
            else:
                lines.append(_queued(conn))
        queued = any(line.startswith("queued") for line in lines)
        self._say("\n".join(lines), error=queued)

    async def _requests(self, targets: list[Connection], value: dict[str, Any]) -> None:
        waiting = []
        for conn in targets:
            timeout = conn.config.request_timeout
            if conn.state is ConnState.OPEN:
                waiting.append(f"{conn.config.label}: waiting up to {timeout:g} s for the reply…")
            else:
                waiting.append(f"{_queued(conn, extra=1)}; waiting up to {timeout:g} s")
        self._say("\n".join(waiting))
        lines = await asyncio.gather(*(self._request(conn, value) for conn in targets))
        self._say("\n".join(text for text, _ in lines), error=any(bad for _, bad in lines))

    async def _request(self, conn: Connection, value: dict[str, Any]) -> tuple[str, bool]:
        name = conn.config.label
        try:
            reply = await conn.request(value)
        except RequestTimeout:
            return f"{name}: no reply within {conn.config.request_timeout:g} s", True
        except NotOpen as exc:
            return f"{name}: {exc}", True
        self.last_reply = reply
        self.reply_received.emit(reply)
        kind = reply.message.get("type")
        kind_text = preview(Opcode.TEXT, str(kind).encode(), 40) if kind is not None else "?"
        detail = ""
        if kind == "error":
            why = reply.message.get("error") or reply.message.get("message") or ""
            detail = f": {preview(Opcode.TEXT, str(why).encode(), 120)}"
        rtt_ms = reply.rtt * 1000
        return f"{name}: reply {kind_text}{detail} in {rtt_ms:.1f} ms", kind == "error"

    # ----- helpers --------------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.status.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")
        if text:
            self.sent.emit(text)

    def _remember(self, text: str, mode: str) -> None:
        if self.history and self.history[0] == (text, mode):
            return
        self.history.appendleft((text, mode))
        stamp = time.strftime("%H:%M:%S")
        tag = "" if mode == MODE_TEXT else f"[{mode}] "
        line = preview(Opcode.TEXT, " ".join(text.split()).encode(), 120)
        item = QListWidgetItem(f"{stamp}  {tag}{line}")
        item.setData(Qt.ItemDataRole.UserRole, (text, mode))
        self.history_list.insertItem(0, item)
        while self.history_list.count() > HISTORY_LIMIT:
            self.history_list.takeItem(self.history_list.count() - 1)

    def _load_history(self, item: QListWidgetItem) -> None:
        text, mode = item.data(Qt.ItemDataRole.UserRole)
        self.load(text, mode)

    def _mark_error(self, where: tuple[int, int] | None) -> None:
        if where is None:
            self.editor.setExtraSelections([])
            return
        line, column = where
        block = self.editor.document().findBlockByLineNumber(line - 1)
        if not block.isValid():
            self.editor.setExtraSelections([])
            return
        cursor = QTextCursor(block)
        cursor.movePosition(
            QTextCursor.MoveOperation.Right,
            QTextCursor.MoveMode.MoveAnchor,
            min(column - 1, max(0, block.length() - 1)),
        )
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(ERROR_COLOR).lighter(170))
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor(ERROR_COLOR))
        selection.format = fmt  # type: ignore[attr-defined]
        selection.cursor = cursor  # type: ignore[attr-defined]
        self.editor.setExtraSelections([selection])

    def _on_tick(self, batch: TickBatch) -> None:
        if batch.states:
            self._refresh_targets()

    def _refresh_targets(self, force: bool = False) -> None:
        manager = self.bridge.manager
        if self._conn_ids:
            self.target_combo.hide()
            parts = []
            for conn_id in self._conn_ids:
                try:
                    conn = manager.get(conn_id)
                except KeyError:
                    continue
                parts.append(f"{conn.config.label} ({conn.state})")
            self.target_label.setText(", ".join(parts) or "(removed)")
            self.target_label.show()
            return
        self.target_label.hide()
        self.target_combo.show()
        conns = manager.list()
        ids = tuple(c.id for c in conns)
        if ids != self._combo_ids or force:
            self._combo_ids = ids
            current = self.target_combo.currentData()
            self.target_combo.blockSignals(True)
            self.target_combo.clear()
            for conn in conns:
                self.target_combo.addItem(conn.config.label, conn.id)
            if not conns:
                self.target_combo.addItem("(no connection)", None)
            self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(current)))
            self.target_combo.blockSignals(False)
        for i, conn in enumerate(conns):
            self.target_combo.setItemText(i, f"{conn.config.label} ({conn.state})")


def _queued(conn: Connection, extra: int = 0) -> str:
    count = len(conn.queue) + extra
    return (
        f"queued offline: will be sent when connection {conn.config.label} opens ({count} queued)"
    )
