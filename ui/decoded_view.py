"""The detail pane's "Decoded" tab: what the connection's protocol decoder read in the frame.

One frame may hold several messages (STOMP frames packed in one message, MQTT packets): each is
listed with its protocol, kind, name, topic, correlation id, heartbeat flag, protocol fields and
payload, as text on the left and as a tree on the right. Everything is shown as plain text and
long content is cut with a note.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from core.decoders.api import Message
from ui import theme
from ui.hex_view import monospace
from ui.json_tree import JsonTreeView

TEXT_LIMIT = 256 * 1024  # characters of the text listing
NO_FRAME = "Select a frame to see what its protocol decoder read in it."
RAW = "Not decoded: this connection shows raw frames (Connection ▸ Decoder to choose one)."
NOTHING = "The decoder found no complete message in this frame (it may continue in the next)."


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        if len(value) <= 64:
            return f"<{len(value)} bytes: {bytes(value).hex(' ')}>"
        return {"$bytes": base64.b64encode(value[:4096]).decode(), "size": len(value)}
    return repr(value)


def as_tree(message: Message) -> dict[str, Any]:
    """A message as one JSON-like object (what the tree shows)."""
    value: dict[str, Any] = {"kind": str(message.kind), "summary": message.summary}
    for key in ("name", "topic", "correlation"):
        if getattr(message, key) is not None:
            value[key] = getattr(message, key)
    value["heartbeat"] = message.heartbeat
    value["direction"] = message.direction.value
    if message.fields:
        value["fields"] = dict(message.fields)
    value["payload"] = message.payload
    return value


def as_text(messages: Sequence[Message], title: str) -> str:
    """The listing of the left side: one block per message."""
    lines = [f"{title}: {len(messages)} message{'s' if len(messages) != 1 else ''}"]
    for number, m in enumerate(messages, 1):
        lines.append("")
        lines.append(f"[{number}] {m.kind}  {m.summary}")
        named = [f"{key}: {getattr(m, key)}" for key in ("name", "topic", "correlation")
                 if getattr(m, key) is not None]
        if m.heartbeat:
            named.append("heartbeat")
        if named:
            lines.append("    " + "   ".join(named))
        for key, value in m.fields.items():
            lines.append(f"    {key}: {_one_line(value)}")
        if m.payload is not None:
            lines.append("    payload:")
            body = json.dumps(m.payload, indent=2, ensure_ascii=False, default=_default)
            lines.extend("      " + line for line in body.splitlines())
    return "\n".join(lines)


def _one_line(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=_default)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 500 else text[:499] + "…"


class DecodedView(QWidget):
    """`show_messages(messages, title)`; `show_hint(text)` when there is nothing to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messages: tuple[Message, ...] = ()
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setStyleSheet(theme.style("hint"))
        self.note.hide()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(monospace())
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tree = JsonTreeView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.text)
        self.splitter.addWidget(self.tree)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.note)
        layout.addWidget(self.splitter, 1)
        self.show_hint(NO_FRAME)

    def show_hint(self, text: str) -> None:
        self.messages = ()
        self.text.setPlaceholderText(text)
        self.text.setPlainText("")
        self.tree.set_hint(text)
        self.tree.clear()
        self.note.hide()

    def show_readings(self, readings: Sequence[tuple[str, Any]], why: str) -> None:
        """A binary payload no decoder explained, as each payload codec reads it."""
        self.messages = ()
        lines = [f"{why}", "", "As the payload codecs read it (several may accept the same "
                 "bytes: judge which one the server meant):"]
        for codec, value in readings:
            lines += ["", f"[{codec}]"]
            body = json.dumps(value, indent=2, ensure_ascii=False, default=_default)
            lines += ["  " + line for line in body.splitlines()]
        text = "\n".join(lines)
        cut = len(text) > TEXT_LIMIT
        self.text.setPlainText(text[:TEXT_LIMIT])
        self.tree.set_value({codec: value for codec, value in readings})
        self.note.setText(f"listing cut at {TEXT_LIMIT // 1024} KiB" if cut else "")
        self.note.setVisible(cut)

    def show_messages(self, messages: Sequence[Message], title: str) -> None:
        if not messages:
            self.show_hint(NOTHING)
            return
        self.messages = tuple(messages)
        text = as_text(messages, title)
        note = ""
        if len(text) > TEXT_LIMIT:
            note = f"listing cut at {TEXT_LIMIT // 1024} KiB of {len(text) // 1024} KiB"
            text = text[:TEXT_LIMIT]
        self.text.setPlainText(text)
        trees = [as_tree(m) for m in messages]
        self.tree.set_value(trees[0] if len(trees) == 1 else trees)
        self.note.setText(note)
        self.note.setVisible(bool(note))
