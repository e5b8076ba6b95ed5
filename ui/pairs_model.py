"""Request/reply pairs of one connection: the recent pairs, latency percentiles per name, and
the requests still unanswered. Bounded: MAX_PAIRS rows, MAX_NAMES histograms (the rest share one),
a fixed reservoir of latencies per name, MAX_UNANSWERED rows shown."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from core.facade import OTHER, Pair, Percentiles, Reservoir, Unanswered
from core.facade import pair_label as label

MAX_PAIRS = 2_000
MAX_NAMES = 200
MAX_UNANSWERED = 500
RESERVOIR = 1_024
MAX_TEXT = 120  # characters of a name or correlation kept per row
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class PairRow:
    time: float  # of the reply
    name: str
    correlation: str
    latency_ms: float


@dataclass(slots=True)
class ConnPairs:
    """One connection's pairs (kept while it lives, whether shown or not)."""

    rows: deque[PairRow] = field(default_factory=lambda: deque(maxlen=MAX_PAIRS))
    latency: dict[str, Reservoir] = field(default_factory=dict)
    total: int = 0

    def add(self, pair: Pair, when: float) -> PairRow:
        name = label(pair.request)[:MAX_TEXT]
        row = PairRow(when, name, (pair.request.correlation or "")[:MAX_TEXT],
                      pair.latency * 1000)
        self.rows.append(row)
        self.total += 1
        reservoir = self.latency.get(name)
        if reservoir is None:
            if len(self.latency) >= MAX_NAMES:
                name = OTHER
                reservoir = self.latency.get(name)
            if reservoir is None:
                reservoir = self.latency[name] = Reservoir(RESERVOIR)
        reservoir.add(row.latency_ms)
        return row

    def percentiles(self) -> list[tuple[str, Percentiles]]:
        """Per name (ms), the busiest first."""
        found = [(name, r.percentiles()) for name, r in self.latency.items()]
        return sorted(found, key=lambda item: -item[1].count)


class _Table(QAbstractTableModel):
    columns: tuple[str, ...] = ()
    right: frozenset[int] = frozenset()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, ...]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole or role == Qt.ItemDataRole.ToolTipRole:
            return self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in self.right:
            return RIGHT
        return None

    def set_rows(self, rows: list[tuple[str, ...]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()


class PairsTable(_Table):
    """The recent pairs, newest first."""

    columns = ("Time", "Name", "Latency ms", "Correlation")
    right = frozenset({2})

    def __init__(self, parent: Any = None, max_rows: int = MAX_PAIRS) -> None:
        super().__init__(parent)
        self.max_rows = max_rows

    def show(self, pairs: ConnPairs | None) -> None:
        rows = list(pairs.rows)[-self.max_rows:] if pairs else []
        self.set_rows([_pair_cells(row) for row in reversed(rows)])

    def add(self, rows: list[PairRow]) -> None:
        """New pairs on top; the oldest beyond max_rows go."""
        if not rows:
            return
        cells = [_pair_cells(row) for row in reversed(rows[-self.max_rows:])]
        self.beginInsertRows(QModelIndex(), 0, len(cells) - 1)
        self.rows[:0] = cells
        self.endInsertRows()
        if len(self.rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self.rows) - 1)
            del self.rows[self.max_rows:]
            self.endRemoveRows()


class LatencyTable(_Table):
    columns = ("Name", "Pairs", "p50 ms", "p95", "p99", "max")
    right = frozenset({1, 2, 3, 4, 5})

    def show(self, pairs: ConnPairs | None) -> None:
        rows = [(name, str(p.count), _ms(p.p50), _ms(p.p95), _ms(p.p99), _ms(p.max))
                for name, p in (pairs.percentiles() if pairs else [])]
        if rows != self.rows:
            self.set_rows(rows)


class UnansweredTable(_Table):
    columns = ("Name", "Correlation", "Age s")
    right = frozenset({2})

    def show(self, waiting: list[Unanswered]) -> None:
        """Oldest first, at most MAX_UNANSWERED rows; when only the ages changed (every tick),
        only the age column is redrawn (selection and scroll stay)."""
        rows = [(label(w.request)[:MAX_TEXT], (w.request.correlation or "")[:MAX_TEXT],
                 f"{w.age:.1f}")
                for w in waiting[:MAX_UNANSWERED]]
        if [row[:2] for row in rows] != [row[:2] for row in self.rows]:
            self.set_rows(rows)
        elif rows:
            self.rows = rows
            self.dataChanged.emit(self.index(0, 2), self.index(len(rows) - 1, 2))


def _pair_cells(row: PairRow) -> tuple[str, ...]:
    clock = time.strftime("%H:%M:%S", time.localtime(row.time))
    return (f"{clock}.{int(row.time * 1000) % 1000:03d}", row.name, _ms(row.latency_ms),
            row.correlation)


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"
