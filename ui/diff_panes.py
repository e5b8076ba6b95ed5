"""One compared reply side by side: recorded JSON left, replayed right, differing lines marked.

The JSON is pretty-printed by a small printer that remembers which lines each path spans, so
the paths the diff names (`data.ts`, `items.2`) can be highlighted on both sides. Big payloads
are shown raw and cut (RENDER_LIMIT); everything is plain text.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from core.events import FrameEvent, Opcode
from core.facade import IgnoreRules, ReplyDiff
from ui import theme
from ui.hex_view import monospace
from ui.replay_model import paths_text

RENDER_LIMIT = 256 * 1024  # bytes of a payload pretty-printed and shown
NO_ROW = "Select a reply in the table to compare it here."

Spans = dict[str, tuple[int, int]]  # dotted path -> (first line, last line)


def pretty_with_spans(value: Any, indent: int = 2) -> tuple[list[str], Spans]:
    """`value` as indented JSON lines, and the lines each path covers ("$" is the whole)."""
    lines: list[str] = []
    spans: Spans = {}

    def emit(item: Any, path: tuple[str, ...], prefix: str, suffix: str, depth: int) -> None:
        start, pad = len(lines), " " * (indent * depth)
        children: list[tuple[str, str, Any]] = []
        if isinstance(item, dict) and item:
            opener, closer = "{", "}"
            children = [(str(k), json.dumps(k, ensure_ascii=False) + ": ", v)
                        for k, v in item.items()]
        elif isinstance(item, list) and item:
            opener, closer = "[", "]"
            children = [(str(i), "", v) for i, v in enumerate(item)]
        if children:
            lines.append(pad + prefix + opener)
            for n, (key, label, child) in enumerate(children):
                emit(child, (*path, key), label, "," if n < len(children) - 1 else "", depth + 1)
            lines.append(pad + closer + suffix)
        else:
            lines.append(pad + prefix + json.dumps(item, ensure_ascii=False) + suffix)
        spans[".".join(path) if path else "$"] = (start, len(lines) - 1)

    emit(value, (), "", "", 0)
    return lines, spans


def render(frame: FrameEvent | None) -> tuple[str, Spans]:
    """The text shown for one side, and its path spans (empty when not shown as JSON)."""
    if frame is None:
        return "(no reply on this side)", {}
    head = frame.payload[:RENDER_LIMIT]
    cut = f"\n… (first {RENDER_LIMIT // 1024} KiB of {frame.size:,} bytes)" \
        if frame.size > RENDER_LIMIT else ""
    if frame.opcode is not Opcode.TEXT:
        return f"binary, {frame.size:,} bytes:\n" + head.hex(" ") + cut, {}
    text = head.decode("utf-8", errors="replace")
    if not cut:
        try:
            lines, spans = pretty_with_spans(json.loads(frame.payload))
            return "\n".join(lines), spans
        except (ValueError, RecursionError):
            pass
    return text + cut, {}


class DiffPanes(QWidget):
    """Two read-only panes and the list of differing paths above them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths_label = QLabel(NO_ROW)
        self.paths_label.setTextFormat(Qt.TextFormat.PlainText)
        self.paths_label.setWordWrap(True)
        self.left, self.right = self._pane(), self._pane()
        sides = QHBoxLayout()
        for title, pane in (("Recorded", self.left), ("Replayed", self.right)):
            column = QVBoxLayout()
            heading = QLabel(title)
            heading.setStyleSheet("font-weight: bold;")
            column.addWidget(heading)
            column.addWidget(pane, 1)
            sides.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.paths_label)
        layout.addLayout(sides, 1)

    @staticmethod
    def _pane() -> QPlainTextEdit:
        pane = QPlainTextEdit()
        pane.setReadOnly(True)
        pane.setFont(monospace())
        pane.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        return pane

    def show_diff(self, diff: ReplyDiff | None, rules: IgnoreRules | None = None) -> None:
        """Show one compared reply; fields `rules` ignore are greyed on both sides."""
        if diff is None:
            self.paths_label.setText(NO_ROW)
            self.left.clear()
            self.right.clear()
            return
        words = {"same": "The same (ignored fields aside).",
                 "missing": "Recorded, but no such reply came in the replay.",
                 "extra": "Came in the replay, but was not recorded."}
        where = f"Differs at: {paths_text(diff, len(diff.paths))}" if diff.paths else ""
        text = words.get(diff.status, where)
        ignored_any = False
        for pane, frame in ((self.left, diff.recorded), (self.right, diff.replayed)):
            shown, spans = render(frame)
            pane.setPlainText(shown)
            ignored = [span for path, span in spans.items() if rules is not None
                       and path != "$" and rules.ignored(tuple(path.split(".")))]
            ignored_any = ignored_any or bool(ignored)
            self._highlight(pane, [spans[p] for p in diff.paths if p in spans], ignored)
        self.paths_label.setText(text + ("  (greyed: ignored fields)" if ignored_any else ""))

    @staticmethod
    def _highlight(pane: QPlainTextEdit, ranges: list[tuple[int, int]],
                   ignored: list[tuple[int, int]]) -> None:
        """Differing lines: a full-width band, dark text (readable on a dark theme too);
        ignored lines: grey text."""
        document = pane.document()
        band = [(line, None) for first, last in ranges for line in range(first, last + 1)]
        dark, grey = theme.color("diff_highlight_text"), theme.color("diff_ignored")
        texts = [(line, dark) for line, _ in band] + [
            (line, grey) for first, last in ignored for line in range(first, last + 1)]
        selections = []
        for line, color in band + texts:
            selection = QTextEdit.ExtraSelection()
            cursor = QTextCursor(document.findBlockByNumber(line))
            if color is None:  # the band: an empty cursor spans the line's full width
                selection.format.setBackground(theme.color("diff_highlight"))
                selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            else:
                selection.format.setForeground(color)
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock,
                                    QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        pane.setExtraSelections(selections)
        if ranges:
            pane.setTextCursor(QTextCursor(document.findBlockByNumber(min(r[0] for r in ranges))))
            pane.ensureCursorVisible()
