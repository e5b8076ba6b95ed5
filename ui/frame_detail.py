"""The selected frame in full: pretty JSON, a tree, raw text, a hex dump and what the protocol
decoder read in it, rendered on demand.

Only the visible tab is rendered, when a frame is selected or the tab is opened; JSON is parsed
once per frame. Binary payloads that are MessagePack maps or arrays are decoded and shown in the
JSON and Tree tabs. Everything is shown as plain text and long content is cut with a note.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import msgpack
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.closecodes import describe_close
from core.decoders.api import Message
from core.events import FrameEvent, Opcode
from core.facade import readings
from ui import theme
from ui.decoded_view import NO_FRAME as NO_DECODED
from ui.decoded_view import NOTHING, RAW, DecodedView
from ui.elided_label import ElidedLabel
from ui.hex_view import HEX_LIMIT, HexView, monospace
from ui.inspector_model import DIR_LABEL, clock, human_size
from ui.json_tree import JsonTreeView
from ui.payload_store import is_preview

TEXT_LIMIT = 1024 * 1024  # characters shown in the Text and JSON tabs
PARSE_LIMIT = 8 * 1024 * 1024  # larger payloads are not parsed as JSON / MessagePack
LINE_CHARS = 1000  # longer lines are shown split (Qt lays out very long lines slowly)
TAB_JSON, TAB_TREE, TAB_TEXT, TAB_HEX, TAB_DECODED = range(5)
_ALL_TABS = frozenset(range(5))
NO_FRAME = "Select a frame in the table above to see its JSON, tree, text and hex here."
NOT_DECODED = "This frame is not JSON or MessagePack: see the Text or Hex tab."
SPLIT_NOTE = f"lines over {LINE_CHARS:,} characters shown split (Copy payload is exact)"


def split_long_lines(text: str, width: int = LINE_CHARS) -> tuple[str, bool]:
    """The text with lines longer than `width` broken up, and whether any was."""
    lines = text.split("\n")
    if max(map(len, lines)) <= width:
        return text, False
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
        else:
            out.extend(line[i : i + width] for i in range(0, len(line), width))
    return "\n".join(out), True


def decode_payload(event: FrameEvent) -> tuple[Any, str, str]:
    """(value, format, note): format is "json", "msgpack" or "" when the payload is neither."""
    payload = event.payload
    if not event.is_data:
        return None, "", ""
    if len(payload) > PARSE_LIMIT:
        return None, "", f"not decoded: {human_size(len(payload))} is over the decode limit"
    if event.opcode is Opcode.TEXT:
        try:
            value = json.loads(payload)
        except ValueError as exc:
            return None, "", f"not JSON: {getattr(exc, 'msg', exc)}" + _where(exc)
        return value, "json", f"JSON {_describe(value)}"
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception:  # msgpack raises several unrelated kinds
        return None, "", "binary, not MessagePack"
    if not isinstance(value, dict | list):
        return None, "", "binary, not a MessagePack map or array"
    return value, "msgpack", f"MessagePack {_describe(value)}, decoded"


def _where(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f" at line {exc.lineno}, column {exc.colno}"
    return ""


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"object, {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, list):
        return f"array, {len(value)} item{'s' if len(value) != 1 else ''}"
    return type(value).__name__


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, msgpack.ExtType):
        return {"$ext": value.code, "data": base64.b64encode(value.data).decode()}
    return repr(value)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def header_text(event: FrameEvent, conn_name: str) -> str:
    return "  ·  ".join(
        (
            DIR_LABEL[event.direction],
            conn_name,
            clock(event.time),
            event.opcode.label,
            f"{event.size:,} bytes" if event.size >= 1024 else human_size(event.size),
        )
    )


class _Page(QWidget):
    """A note line above a content widget."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content = content
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setStyleSheet(theme.style("hint"))
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.note)
        layout.addWidget(content, 1)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))


def _text_edit() -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setReadOnly(True)
    edit.setFont(monospace())
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    return edit


class FrameDetail(QWidget):
    """Detail pane; `show_frame(event, conn_name)` (None clears it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current: FrameEvent | None = None  # the frame shown
        self._value: Any = None
        self._format = ""
        self._dirty: set[int] = set()
        self._messages: tuple[Message, ...] | None = None  # None: the connection is raw
        self._decoder_title = ""

        self.header = QLabel("Select a frame to see it in full")
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setMinimumWidth(60)  # a long connection name must not widen the window
        self.decoded = ElidedLabel(min_chars=6)
        self.decoded.setStyleSheet(theme.style("hint"))
        self.copy_button = QPushButton("Copy payload")
        self.copy_button.setToolTip("Copy the payload: text as is, binary as hex")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_payload)
        # where the full payload is when only a preview is shown (being written, not kept)
        self.notice = QLabel()
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        font = self.notice.font()
        font.setBold(True)
        self.notice.setFont(font)
        self.notice.hide()

        self._build_tabs()

        # One line above the tabs: what the frame is, how it decoded, and the copy button; the
        # tabs get the height (the header's tooltip repeats a line cut short).
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(12)
        top.addWidget(self.header)
        top.addWidget(self.decoded, 1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs, 1)
        self.show_frame(None)

    def _build_tabs(self) -> None:
        """The JSON, Tree, Text, Hex and Decoded tabs."""
        self.json_edit = _text_edit()
        self.tree = JsonTreeView()
        self.text_edit = _text_edit()
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text_edit.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.hex_view = HexView()
        for edit in (self.json_edit, self.text_edit, self.hex_view):
            edit.setPlaceholderText(NO_FRAME)
        self.tree.set_hint(NO_FRAME)
        self.pages = [_Page(w) for w in (self.json_edit, self.tree, self.text_edit, self.hex_view)]
        self.tabs = QTabWidget()
        for page, title in zip(self.pages, ("JSON", "Tree", "Text", "Hex"), strict=True):
            self.tabs.addTab(page, title)
        self.decoded_view = DecodedView()
        self.tabs.addTab(self.decoded_view, "Decoded")
        self.tabs.setTabToolTip(TAB_DECODED, "What the connection's protocol decoder read")
        self.tabs.currentChanged.connect(self._render_current)

    # ----- public ---------------------------------------------------------------------------

    def show_frame(self, event: FrameEvent | None, conn_name: str = "", notice: str = "") -> None:
        """`notice` says why only the start of a large payload (a FramePreview) is shown."""
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))
        if event is not None and event is self.current:
            return
        self.current = event
        self._dirty = set(_ALL_TABS)
        if event is None:
            self._messages = None
        whole = event is not None and not is_preview(event)
        self.copy_button.setEnabled(whole)
        self.copy_button.setToolTip(
            "Copy the payload: text as is, binary as hex"
            if whole or event is None
            else "Only the start of this payload is here: see the note above"
        )
        if event is None:
            self._value, self._format = None, ""
            self.header.setText("Select a frame to see it in full")
            self.decoded.setText("")
        else:
            self._value, self._format, note = decode_payload(event)
            if self._messages and not self._format:  # "not JSON" says little: what it is
                note = f"{self._decoder_title}: see Decoded"
            self.header.setText(header_text(event, conn_name or f"#{event.conn_id}"))
            self.decoded.setText(note or _control_note(event))
        self._render_current()

    def set_decoded(self, messages: Sequence[Message] | None, title: str = "") -> None:
        """What the frame about to be shown (or shown) decodes to, and the decoder's title;
        None when its connection shows raw frames."""
        self._messages = None if messages is None else tuple(messages)
        self._decoder_title = title
        self._dirty.add(TAB_DECODED)
        self._render_current()

    @property
    def messages(self) -> tuple[Message, ...] | None:
        return self._messages

    @property
    def value(self) -> Any:
        """The decoded JSON / MessagePack value of the frame shown, or None."""
        return self._value

    @property
    def format(self) -> str:
        return self._format

    def copy_payload(self) -> None:
        if self.current is not None and not is_preview(self.current):
            QApplication.clipboard().setText(payload_as_text(self.current))

    # ----- rendering ------------------------------------------------------------------------

    def _render_current(self, *_: Any) -> None:
        tab = self.tabs.currentIndex()
        if tab not in self._dirty:
            return
        self._dirty.discard(tab)
        event = self.current
        if tab == TAB_DECODED:
            if event is None:
                self.decoded_view.show_hint(NO_DECODED)
                return
            found = readings(event.payload) if event.opcode is Opcode.BINARY and \
                not self._messages and not is_preview(event) else []
            if found:  # binary that no decoder explained: what MessagePack/CBOR/protobuf say
                self.decoded_view.show_readings(found, RAW if self._messages is None else NOTHING)
            elif self._messages is None:
                self.decoded_view.show_hint(RAW)
            else:
                self.decoded_view.show_messages(self._messages, self._decoder_title)
            return
        page = self.pages[tab]
        if tab == TAB_JSON:
            self._render_json(page)
        elif tab == TAB_TREE:
            self._render_tree(page)
        elif tab == TAB_TEXT:
            self._render_text(page)
        else:
            self.hex_view.setPlaceholderText("empty payload" if event else NO_FRAME)
            self.hex_view.set_payload(event.payload if event else b"")
            size = event.size if event else 0  # a preview's is more than it holds
            shown = min(HEX_LIMIT, len(event.payload)) if event else 0
            cut = f"first {human_size(shown)} of {human_size(size)}"
            page.set_note(cut if shown < size else "")

    def _render_json(self, page: _Page) -> None:
        if self._format:
            text = pretty_json(self._value)
            note = "decoded from MessagePack" if self._format == "msgpack" else ""
            if len(text) > TEXT_LIMIT:
                note = _join(note, f"cut at {human_size(TEXT_LIMIT)} of {human_size(len(text))}")
                text = text[:TEXT_LIMIT]
            text, split = split_long_lines(text)
            if split:
                note = _join(note, SPLIT_NOTE)
            self.json_edit.setPlainText(text)
            page.set_note(note)
        else:
            self.json_edit.setPlaceholderText(NO_FRAME if self.current is None else NOT_DECODED)
            self.json_edit.setPlainText("")
            page.set_note(self.decoded.text() if self.current is not None else "")

    def _render_tree(self, page: _Page) -> None:
        if self._format:
            self.tree.set_value(self._value)
            page.set_note("decoded from MessagePack" if self._format == "msgpack" else "")
        else:
            self.tree.set_hint(NO_FRAME if self.current is None else NOT_DECODED)
            self.tree.clear()
            page.set_note(self.decoded.text() if self.current is not None else "")

    def _render_text(self, page: _Page) -> None:
        event = self.current
        if event is None:
            self.text_edit.setPlaceholderText(NO_FRAME)
            self.text_edit.setPlainText("")
            page.set_note("")
            return
        self.text_edit.setPlaceholderText("empty payload")
        payload = event.payload
        note = ""
        if event.opcode is Opcode.CLOSE:
            text = _close_text(payload)
        else:
            text = payload[: TEXT_LIMIT * 4].decode("utf-8", errors="replace")
            if event.opcode is Opcode.BINARY:
                note = "binary payload read as UTF-8 (invalid bytes shown as �); see Hex"
        if len(text) > TEXT_LIMIT or len(payload) > TEXT_LIMIT * 4:
            text = text[:TEXT_LIMIT]
            note = _join(note, f"cut at {human_size(TEXT_LIMIT)} of {human_size(len(payload))}")
        text, split = split_long_lines(text)
        if split:
            note = _join(note, SPLIT_NOTE)
        self.text_edit.setPlainText(text)
        page.set_note(note)


def payload_as_text(event: FrameEvent) -> str:
    """What "Copy payload" puts on the clipboard: text as is, anything else as hex."""
    if event.opcode is Opcode.TEXT:
        return event.payload.decode("utf-8", errors="replace")
    return event.payload.hex()


def _close_text(payload: bytes) -> str:
    if len(payload) < 2:
        return "close frame without a status code"
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", errors="replace")
    return f"{describe_close(code)}\n{reason}" if reason else describe_close(code)


def _control_note(event: FrameEvent) -> str:
    if event.opcode is Opcode.CLOSE:
        return _close_text(event.payload).splitlines()[0]
    if event.opcode in (Opcode.PING, Opcode.PONG):
        return f"{event.opcode.label} control frame"
    return ""


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b
