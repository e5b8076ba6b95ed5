"""The inspector table's columns and how a cell is shown: labels, roles, time and size text."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from core.events import Direction

COL_TIME, COL_CONN, COL_DIR, COL_TYPE, COL_SIZE, COL_MESSAGE, COL_PREVIEW = range(7)
HEADERS = ("Time", "Connection", "Dir", "Type", "Size", "Message", "Preview")
_COLUMNS = len(HEADERS)
DIR_LABEL = {Direction.OUT: "↑ out", Direction.IN: "↓ in"}
EVENT_LABEL = "⇄ conn"  # the Dir column of a connection event
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_FONT = Qt.ItemDataRole.FontRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_USER = Qt.ItemDataRole.UserRole.value

Index = QModelIndex | QPersistentModelIndex


def clock(t: float) -> str:
    """HH:MM:SS.mmm in local time."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _role(role: Any) -> int:
    return role if type(role) is int else int(getattr(role, "value", role))
