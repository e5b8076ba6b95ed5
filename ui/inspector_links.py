"""What the inspector's row menu asks of the rest of the window: resend a frame, open it in the
composer, export a selection as HAR or NDJSON. The inspector only emits; this module acts, so the
inspector needs to know neither the composer nor the recording formats."""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QWidget

from core.events import ConnectionAdded, FrameEvent, HandshakeInfo, Opcode
from core.facade import Recording, event_to_json, export_events_har, replaced
from ui.connections_model import display_name

if TYPE_CHECKING:
    from ui.main_window import MainWindow

FILTERS = {"har": "HAR files (*.har)", "ndjson": "NDJSON files (*.ndjson *.jsonl)"}


def link_inspector(window: MainWindow, inspector: QWidget) -> None:
    """Connect the inspector's requests (signals it has) to the window's other parts."""
    for name, slot in (
        ("resend_requested", lambda frame: resend(window, frame)),
        ("compose_requested", lambda frame: compose(window, frame)),
        ("export_requested", lambda frames, fmt: export_dialog(window, frames, fmt)),
    ):
        signal = getattr(inspector, name, None)
        if signal is not None:
            signal.connect(slot)


def resend(window: MainWindow, frame: FrameEvent) -> None:
    """Send the frame's payload again, as it was (text or binary), on its own connection."""
    bridge = window.bridge
    try:
        config = bridge.commands.config(frame.conn_id)
    except KeyError:
        bridge.message.emit("Resend: that connection was removed")
        return
    is_text = frame.opcode is Opcode.TEXT
    bridge.run(bridge.commands.send(frame.conn_id, frame.payload, text=is_text),
               f"Resend to {display_name(config)}")


def compose(window: MainWindow, frame: FrameEvent) -> None:
    """Put the payload in the composer: text as text, binary as base64 (lossless)."""
    composer = window.panels.get("composer")
    load = getattr(composer, "load", None)
    if load is None:
        window.bridge.message.emit("The composer is not available")
        return
    if frame.opcode is Opcode.BINARY:
        load(base64.b64encode(frame.payload).decode("ascii"), "base64")
    else:
        load(frame.payload.decode("utf-8", errors="replace"), "text")
    dock = window.docks.get("composer")
    if dock is not None:
        dock.show()
        dock.raise_()


def export_dialog(window: MainWindow, frames: list[FrameEvent], fmt: str) -> None:
    path, _ = QFileDialog.getSaveFileName(
        window, f"Export {len(frames)} frames", f"selection.{fmt}", FILTERS.get(fmt, "")
    )
    if path:
        window.bridge.message.emit(export_frames(window, frames, fmt, Path(path)))


def export_frames(window: MainWindow, frames: list[FrameEvent], fmt: str, path: Path) -> str:
    """Write the frames as HAR (with their connections' handshakes, when recorded) or NDJSON,
    to a temporary file renamed at the end; returns what to tell the user."""
    conn_ids = {f.conn_id for f in frames}
    try:
        with replaced(path) as out:
            if fmt == "har":
                export_events_har(out, _connections(window, conn_ids), frames,
                                  handshakes=_handshakes(window, conn_ids))
            else:
                for frame in frames:
                    out.write(json.dumps(event_to_json(frame), ensure_ascii=False) + "\n")
    except OSError as exc:
        return f"Export failed: cannot write {path} ({exc.strerror or exc})"
    return f"Exported {len(frames)} frames to {path}"


def _connections(window: MainWindow, conn_ids: Iterable[int]) -> list[ConnectionAdded]:
    out = []
    for conn_id in sorted(conn_ids):
        try:
            config = window.bridge.commands.config(conn_id)
        except KeyError:
            continue  # removed since: the HAR names it by its id
        out.append(ConnectionAdded(conn_id, time.time(), config.url, display_name(config)))
    return out


def _handshakes(window: MainWindow, conn_ids: set[int]) -> list[HandshakeInfo]:
    """The newest recorded handshake of each connection (the live view keeps none)."""
    recorder = getattr(window, "recorder", None)
    if recorder is None:
        return []
    newest: dict[int, HandshakeInfo] = {}
    with contextlib.suppress(OSError, sqlite3.Error), Recording(recorder.path) as rec:
        for shake in rec.handshakes():
            if shake.conn_id in conn_ids:
                newest[shake.conn_id] = shake
    return list(newest.values())
