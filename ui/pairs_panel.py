"""The Pairs panel: requests paired with their replies by the protocol's correlation (Socket.IO
ack, GraphQL operation id, JSON-RPC id, STOMP receipt, MQTT packet id, requestId), with each
pair's latency, percentiles and a latency histogram per name, and the requests still waiting."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.events import ConnectionRemoved
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.decoded_feed import other_events, shared_feed
from ui.elided_label import ElidedLabel
from ui.pairs_model import ConnPairs, LatencyTable, PairsTable, UnansweredTable

BINS = 20
REFRESH_S = 1.0  # percentiles and the histogram are redrawn about this often


def _table(model: object) -> QTableView:
    view = QTableView()
    view.setModel(model)  # type: ignore[arg-type]
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(20)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultSectionSize(70)
    return view


class PairsPanel(QWidget):
    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.feed = shared_feed(bridge)
        self.feed.watch(self)
        self.conn_id: int | None = None
        self.pairs: dict[int, ConnPairs] = {}
        self.histogram_name: str | None = None
        self._shown_at = 0.0
        self.title = ElidedLabel("Pairs: select a connection")
        self.table = PairsTable(self)
        self.latency = LatencyTable(self)
        self.unanswered = UnansweredTable(self)
        self.pairs_view = _table(self.table)
        advance = self.fontMetrics().horizontalAdvance
        for col, sample in enumerate(("00:00:00.000", "list_rooms", "Latency ms")):
            self.pairs_view.horizontalHeader().resizeSection(col, advance(sample) + 10)
        self.latency_view = _table(self.latency)
        header = self.latency_view.horizontalHeader()  # a few rows: fitting them is cheap
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.latency_view.selectionModel().currentRowChanged.connect(self._pick_name)
        self.unanswered_view = _table(self.unanswered)
        self.unanswered_view.horizontalHeader().resizeSection(0, 110)
        self.unanswered_view.horizontalHeader().resizeSection(1, 120)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(80)
        self.plot.setLabel("bottom", "latency ms")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.hideAxis("left")  # a few pixels high in the default layout: the shape says it
        self.plot.setMenuEnabled(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=theme.color("pairs_bar"))
        self.plot.addItem(self.bars)
        latency_box = QSplitter(Qt.Orientation.Vertical)
        latency_box.addWidget(self.latency_view)
        latency_box.addWidget(self.plot)
        latency_box.setSizes([110, 150])
        self.tabs = QTabWidget()
        self.tabs.addTab(latency_box, "Latency")
        self.tabs.addTab(self.unanswered_view, "Unanswered")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.pairs_view)
        splitter.addWidget(self.tabs)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([360, 280])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        bridge.tick.connect(self._on_tick)

    def set_connections(self, conn_ids: list[int]) -> None:
        conn_id = conn_ids[0] if conn_ids else None
        if conn_id == self.conn_id:
            return
        self.conn_id = conn_id
        self.histogram_name = None
        self.table.show(self.pairs.get(conn_id) if conn_id is not None else None)
        now = time.time()
        self._refresh(now, self._show_waiting(now))

    def _on_tick(self, batch: TickBatch) -> None:
        tick = self.feed.update(batch)
        shown: list = []
        for pair in tick.pairs:
            store = self.pairs.get(pair.conn_id)
            if store is None:
                store = self.pairs[pair.conn_id] = ConnPairs()
            row = store.add(pair, batch.time)
            if pair.conn_id == self.conn_id:
                shown.append(row)
        for event in other_events(batch):
            if type(event) is ConnectionRemoved:
                self.pairs.pop(event.conn_id, None)
        self.table.add(shown)
        waiting = self._show_waiting(batch.time)
        if shown or batch.time - self._shown_at >= REFRESH_S:
            self._refresh(batch.time, waiting)

    def _show_waiting(self, now: float) -> int:
        """The waiting requests with their ages (every tick); how many there are."""
        waiting = self.feed.pairer.unanswered(now, self.conn_id) if self.conn_id is not None \
            else []
        self.unanswered.show(waiting)
        self.tabs.setTabText(1, f"Unanswered ({len(waiting)})")
        return len(waiting)

    def _refresh(self, now: float, waiting: int) -> None:
        """Percentiles, the histogram and the title."""
        self._shown_at = now
        store = self.pairs.get(self.conn_id) if self.conn_id is not None else None
        self.latency.show(store)
        if self.histogram_name is None and self.latency.rows:
            self.histogram_name = self.latency.rows[0][0]
        self._draw_histogram(store)
        if self.conn_id is None:
            self.title.setText("Pairs: select a connection")
            return
        parts = [f"Pairs ({self.feed.protocol(self.conn_id) or 'raw or not detected yet'})",
                 f"{store.total if store else 0} matched", f"{waiting} waiting"]
        if self.feed.pairer.evicted:
            parts.append(f"{self.feed.pairer.evicted} waiting requests dropped (too many)")
        if self.feed.skipped_total:
            parts.append(f"{self.feed.skipped_total} frames not decoded (busy)")
        self.title.setText(" · ".join(parts))

    def _pick_name(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.histogram_name = self.latency.rows[current.row()][0]
            self._draw_histogram(self.pairs.get(self.conn_id) if self.conn_id else None)

    def _draw_histogram(self, store: ConnPairs | None) -> None:
        reservoir = store.latency.get(self.histogram_name or "") if store else None
        samples = reservoir.samples if reservoir else []
        if not samples:
            self.bars.setOpts(x=[], height=[], width=1.0)
            self.plot.setTitle("")
            return
        counts, edges = np.histogram(np.asarray(samples), bins=BINS)
        width = float(edges[1] - edges[0]) or 1.0
        self.bars.setOpts(x=(edges[:-1] + width / 2), height=counts, width=width * 0.9)
        self.plot.setTitle(f"{self.histogram_name}: {len(samples)} latencies", size="9pt")
