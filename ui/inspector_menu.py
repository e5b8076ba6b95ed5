"""The inspector rows' context menu: copy (row, payload, JSON) done here; resend, open in
composer, save to a collection and export handed on as the panel's signals, always with the
full payloads (read back from the recording when the table keeps only a preview)."""

from __future__ import annotations

import base64
import json
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QMenu

from core.events import FrameEvent, Opcode
from ui.conn_rows import ConnectionRow
from ui.frame_detail import payload_as_text
from ui.inspector_model import HEADERS
from ui.payload_store import is_preview, whole_frames

if TYPE_CHECKING:
    from ui.inspector_panel import InspectorPanel

Row = FrameEvent | ConnectionRow
HAR, NDJSON = "har", "ndjson"
EXPORT_LIMIT = 256 * 2**20  # payload bytes an export of the view gathers in memory
COPY_LIMIT = 32 * 2**20  # payload bytes put on the clipboard at once (binary doubles as hex)
_INSTEAD = "export the recording itself instead (File > Recordings, or main.py export)"


def frame_json(item: Row, conn_name: str) -> dict[str, Any]:
    """A row as a JSON object: the payload as text (text frames) or base64 (anything else)."""
    if isinstance(item, ConnectionRow):
        return {"time": item.time, "connection": conn_name, "conn_id": item.conn_id,
                "event": item.kind, "summary": item.summary}
    obj: dict[str, Any] = {
        "time": item.time,
        "connection": conn_name,
        "conn_id": item.conn_id,
        "direction": item.direction.value,
        "opcode": item.opcode.label,
        "size": item.size,
    }
    if item.opcode is Opcode.TEXT:
        obj["payload"] = item.payload.decode("utf-8", errors="replace")
        obj["encoding"] = "text"
    else:
        obj["payload"] = base64.b64encode(item.payload).decode("ascii")
        obj["encoding"] = "base64"
    return obj


class RowMenu:
    """Built once; `popup(pos)` shows it for the panel's selection."""

    def __init__(self, panel: InspectorPanel) -> None:
        self._panel = weakref.ref(panel)  # the panel holds this menu: no cycle through Qt
        self.menu = QMenu(panel)
        add = self.menu.addAction
        self.copy_row = add("Copy row", self.copy_rows)
        self.copy_payload = add("Copy payload", self.copy_payloads)
        self.copy_json = add("Copy as JSON", self.copy_as_json)
        self.menu.addSeparator()
        self.resend = add("Resend", lambda: self._one("resend_requested", "Resend"))
        self.compose = add(
            "Open in composer", lambda: self._one("compose_requested", "Open in composer")
        )
        self.save = add("Save to collection…", lambda: self._one("save_requested", "Save"))
        self.menu.addSeparator()
        self.export_har = add("Export selection as HAR…", lambda: self.export(HAR))
        self.export_ndjson = add("Export selection as NDJSON…", lambda: self.export(NDJSON))

    @property
    def panel(self) -> InspectorPanel:
        panel = self._panel()
        if panel is None:
            raise RuntimeError("the inspector panel is gone")
        return panel

    def popup(self, pos: QPoint) -> None:
        items = self.panel.selected_items()
        frames = [i for i in items if isinstance(i, FrameEvent)]
        one = self.panel.current_item()
        data = isinstance(one, FrameEvent) and one.is_data
        self.copy_row.setEnabled(bool(items))
        self.copy_payload.setEnabled(bool(frames))
        self.copy_json.setEnabled(bool(items))
        for action in (self.resend, self.compose, self.save):
            action.setEnabled(data)
        for action in (self.export_har, self.export_ndjson):
            action.setEnabled(bool(frames))
        self.menu.popup(pos)

    # ----- actions --------------------------------------------------------------------------

    def copy_rows(self) -> None:
        panel = self.panel
        lines = ["\t".join(HEADERS)] if len(panel.selected_rows()) > 1 else []
        lines += [panel.row_text(row) for row in panel.selected_rows()]
        QApplication.clipboard().setText("\n".join(lines))

    def copy_payloads(self) -> None:
        frames = [i for i in self.panel.selected_items() if isinstance(i, FrameEvent)]
        if self._too_big(frames, COPY_LIMIT, "Copy payload"):
            return
        self._with_whole(
            frames, "Copy payload",
            lambda whole: QApplication.clipboard().setText("\n".join(map(payload_as_text, whole))),
        )

    def copy_as_json(self) -> None:
        items = self.panel.selected_items()
        frames = [i for i in items if isinstance(i, FrameEvent)]
        if self._too_big(frames, COPY_LIMIT, "Copy as JSON"):
            return

        def copy(whole: list[FrameEvent]) -> None:
            full = iter(whole)
            rows = [next(full) if isinstance(i, FrameEvent) else i for i in items]
            objs = [frame_json(r, self.panel.conn_name(r.conn_id)) for r in rows]
            text = json.dumps(objs[0] if len(objs) == 1 else objs, indent=2, ensure_ascii=False)
            QApplication.clipboard().setText(text)

        self._with_whole(frames, "Copy as JSON", copy)

    def export(self, fmt: str) -> None:
        frames = [i for i in self.panel.selected_items() if isinstance(i, FrameEvent)]
        if self._too_big(frames, EXPORT_LIMIT, "Export"):
            return
        emit = self.panel.export_requested.emit
        self._with_whole(frames, "Export", lambda whole: emit(whole, fmt))

    def _too_big(self, frames: list[FrameEvent], limit: int, what: str) -> bool:
        """A selection whose full payloads would not fit the bound is refused, and told."""
        size = sum(f.size for f in frames)
        if size <= limit:
            return False
        self.panel.bridge.message.emit(
            f"{what}: the selection holds {size / 2**20:,.1f} MiB of payloads, more than "
            f"{limit // 2**20} MiB at once; {_INSTEAD}"
        )
        return True

    def _one(self, signal: str, what: str) -> None:
        """Emit the panel's `signal` with the current frame, whole."""
        item = self.panel.current_item()
        if isinstance(item, FrameEvent) and item.is_data:
            emit = getattr(self.panel, signal).emit
            self._with_whole([item], what, lambda whole: emit(whole[0]))

    def _with_whole(
        self, frames: list[FrameEvent], what: str, then: Callable[[list[FrameEvent]], None]
    ) -> None:
        """`then(frames)` with full payloads: now when the table holds them all, else once
        they are read back (the recorder may be a batch behind); a failure is told."""
        if not any(map(is_preview, frames)):
            then(frames)
            return
        self.panel.bridge.run(self._later(frames, what, then), what)

    async def _later(
        self, frames: list[FrameEvent], what: str, then: Callable[[list[FrameEvent]], None]
    ) -> None:
        whole, problem = await whole_frames(self.panel.payloads, frames)
        if problem:
            self.panel.bridge.message.emit(f"{what}: {problem}")
        else:
            then(whole)

