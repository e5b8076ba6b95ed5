"""HAR in and out of the desktop app: import a HAR as a new recording, export a recording as
HAR or NDJSON.

Each action is a plain function that takes paths (what tests and other windows call) and a thin
dialog wrapper over it. Errors are shown in one non-blocking message box in plain text; files
are written beside their target and renamed when complete, so a failure leaves nothing behind.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from core.facade import (
    HarError,
    ImportResult,
    Recording,
    export_recording_har,
    import_har,
    recordings_dir,
    replaced,
)

Format = Literal["har", "ndjson"]
HAR_FILTER = "HAR, Chrome's format (*.har)"
NDJSON_FILTER = "NDJSON (*.ndjson)"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
STEM_CHARS = 40  # of the HAR's name kept in the recording's name


def import_har_file(har_path: str | Path, directory: Path | None = None) -> tuple[Path,
                                                                                 ImportResult]:
    """Import a HAR as a new recording `imported-<time>-<name>.sqlite` in `directory` (the
    recordings directory by default). Raises HarError or OSError; then nothing is written."""
    har_path = Path(har_path)
    directory = directory or recordings_dir()
    stem = _UNSAFE.sub("-", har_path.stem).strip("-.")[:STEM_CHARS] or "har"
    base = f"imported-{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    target = directory / f"{base}.sqlite"
    n = 1
    while target.exists():
        n += 1
        target = directory / f"{base}-{n}.sqlite"
    return target, import_har(har_path, target)


def import_har_path(parent: QWidget, har_path: str | Path,
                    directory: Path | None = None) -> Path | None:
    """`import_har_file` with its error shown to the user; the new recording, or None."""
    try:
        target, _result = import_har_file(har_path, directory)
    except (HarError, OSError) as exc:
        show_error(parent, "Cannot import HAR", str(exc))
        return None
    return target


def import_har_dialog(parent: QWidget, directory: Path | None = None) -> Path | None:
    """File > Import HAR…: pick a HAR, import it as a new recording; its path, or None."""
    path, _ = QFileDialog.getOpenFileName(parent, "Import HAR", "",
                                          "HAR (*.har *.json);;All files (*)")
    return import_har_path(parent, path, directory) if path else None


def describe_import(result: ImportResult) -> str:
    """One line for a status bar: what came in and what was left out."""
    plural = "" if result.connections == 1 else "s"
    text = f"{result.frames} messages in {result.connections} connection{plural}"
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(result.skipped_by_type.items()))
    return text + (f"; skipped {skipped}" if skipped else "")


def export_recording(recording_path: str | Path, target: str | Path, fmt: Format) -> int:
    """Write the recording as HAR (entries) or NDJSON (lines) to `target`, atomically; returns
    the count. Raises OSError or sqlite3.DatabaseError; the target is then left as it was."""
    target = Path(target)
    with Recording(recording_path) as rec, replaced(target) as out:
        return export_recording_har(rec, out) if fmt == "har" else rec.export_ndjson(out)


def format_of(path: str | Path, chosen_filter: str = "") -> Format:
    """The export format a file name (or else the dialog's chosen filter) asks for."""
    suffix = Path(path).suffix.lower()
    if suffix in (".har", ".ndjson", ".jsonl"):
        return "har" if suffix == ".har" else "ndjson"
    return "ndjson" if chosen_filter == NDJSON_FILTER else "har"


def export_recording_dialog(parent: QWidget, recording_path: str | Path,
                            fmt: Format = "har") -> Path | None:
    """File > Export recording…: HAR or NDJSON by the file type chosen; the file, or None."""
    source = Path(recording_path)
    first, second = (HAR_FILTER, NDJSON_FILTER) if fmt == "har" else (NDJSON_FILTER, HAR_FILTER)
    suggested = source.with_suffix(".har" if fmt == "har" else ".ndjson")
    path, chosen = QFileDialog.getSaveFileName(parent, "Export recording", str(suggested),
                                               f"{first};;{second}", first)
    if not path:
        return None
    chosen_fmt = format_of(path, chosen)
    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(f".{chosen_fmt}")
    try:
        export_recording(source, target, chosen_fmt)
    except (OSError, sqlite3.DatabaseError) as exc:
        show_error(parent, "Cannot export recording", f"{source.name}: {exc}")
        return None
    return target


def show_error(parent: QWidget, title: str, text: str) -> QMessageBox:
    """One warning box, window-modal but not blocking (no nested event loop), in plain text."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
