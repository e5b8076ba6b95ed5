"""The Topics panel: the selected connection's topics as its protocol names them, kept live, with
subscribe and unsubscribe where the protocol has them (frames made by the decoder's encode())."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from core.events import ConnectionRemoved
from ui.bridge import CoreBridge, TickBatch
from ui.decoded_feed import decoder_named, other_events, shared_feed
from ui.elided_label import ElidedLabel
from ui.template_dialog import send_all
from ui.topics_model import COL_COUNT, COL_RATE, COL_STATE, PATH_ROLE, ConnTopics, Path, TopicsModel

# What subscribe / unsubscribe mean per protocol: (template, values) from the topic's key.
SUBSCRIBE = {
    "mqtt": lambda key, n: ("SUBSCRIBE", {"filter": key, "qos": 0}),
    "stomp": lambda key, n: ("SUBSCRIBE with receipt",
                             {"id": f"sub-{n}", "destination": key, "receipt": f"sub-{n}"}),
    "embedded": lambda key, n: ("join room", {"room": key, "requestId": f"join-{n}"}),
}
UNSUBSCRIBE = {
    "mqtt": lambda key: ("UNSUBSCRIBE", {"filter": key}),
    "stomp": lambda key: ("UNSUBSCRIBE", {"id": key}),
    "graphql": lambda key: ("complete", {"id": key}),
    "embedded": lambda key: ("leave room", {"room": key}),
}
UNSUBSCRIBE_WORDS = {"graphql": "Complete", "embedded": "Leave"}
SUBSCRIBE_WORDS = {"embedded": "Join…"}


class TopicsPanel(QWidget):
    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.feed = shared_feed(bridge)
        self.feed.watch(self)
        self.conn_id: int | None = None
        self.topics: dict[int, ConnTopics] = {}
        self._ids = itertools.count(1)
        self.title = ElidedLabel("Topics: select a connection")
        self.model = TopicsModel(self)
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        header = self.view.header()
        header.setStretchLastSection(True)
        advance = self.fontMetrics().horizontalAdvance
        header.resizeSection(0, advance("a topic name") + 40)
        for col, sample in ((COL_COUNT, "00000"), (COL_RATE, "00.0"), (COL_STATE, "subscribed")):
            header.resizeSection(col, advance(sample) + 14)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.model.rowsInserted.connect(self._expand)
        self.subscribe_button = QPushButton("Subscribe…")
        self.subscribe_button.clicked.connect(self._ask_subscribe)
        self.unsubscribe_button = QPushButton("Unsubscribe")
        self.unsubscribe_button.clicked.connect(lambda: self.unsubscribe())
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.subscribe_button)
        buttons.addWidget(self.unsubscribe_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        bridge.tick.connect(self._on_tick)
        self._update_buttons()

    # ----- selection ---------------------------------------------------------------------

    def set_connections(self, conn_ids: list[int]) -> None:
        conn_id = conn_ids[0] if conn_ids else None
        if conn_id == self.conn_id:
            return
        self.conn_id = conn_id
        self.model.show(self.topics.get(conn_id) if conn_id is not None else None, time.time())
        self._update_title()
        self._update_buttons()

    @property
    def protocol(self) -> str | None:
        return self.feed.protocol(self.conn_id)

    def selected_path(self) -> Path | None:
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        path = index.siblingAtColumn(0).data(PATH_ROLE)
        return tuple(path) if path else None

    # ----- actions -------------------------------------------------------------------------

    def subscribe(self, key: str) -> asyncio.Task[Any] | None:
        """Subscribes to a topic (MQTT filter, STOMP destination, room) as the protocol does."""
        make = SUBSCRIBE.get(self.protocol or "")
        if make is None or not key:
            return None
        return self._send(*make(key, next(self._ids)))

    def unsubscribe(self, path: Path | None = None) -> asyncio.Task[Any] | None:
        """Unsubscribes from (or completes) the topic at `path` (default: the selected one)."""
        path = path or self.selected_path()
        make = UNSUBSCRIBE.get(self.protocol or "")
        stats = self.model.stats_at(path) if path else None
        if make is None or stats is None or not stats.key:
            return None
        return self._send(*make(stats.key))

    def _ask_subscribe(self) -> None:
        path = self.selected_path()
        stats = self.model.stats_at(path) if path else None
        guess = stats.key if stats else ""
        if self.protocol == "mqtt" and path and path[0] == "topics" and not stats:
            guess = "/".join(path[1:]) + "/#"
        text, ok = QInputDialog.getText(self, "Subscribe", self._topic_word() + ":", text=guess)
        if ok and text.strip():
            self.subscribe(text.strip())

    def _topic_word(self) -> str:
        return {"mqtt": "Topic filter", "stomp": "Destination", "embedded": "Room"}.get(
            self.protocol or "", "Topic")

    def _send(self, template: str, values: Mapping[str, Any]) -> asyncio.Task[Any] | None:
        decoder = decoder_named(self.protocol)
        conn_id = self.conn_id
        if decoder is None or conn_id is None or conn_id not in self.bridge.commands.ids():
            self._say("The connection is gone.")
            return None
        try:
            frames = decoder.encode(template, values)
        except ValueError as exc:
            self._say(f"{template}: {exc}")
            return None
        self._say("")
        return self.bridge.run(send_all(self.bridge.commands, [conn_id], frames), what=template)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    # ----- ticks ----------------------------------------------------------------------------

    def _on_tick(self, batch: TickBatch) -> None:
        tick = self.feed.update(batch)
        for conn_id, items in tick.messages.items():
            store = self.topics.get(conn_id)
            if store is None:
                store = self.topics[conn_id] = ConnTopics()
                if conn_id == self.conn_id:
                    self.model.show(store, batch.time)
            for when, message in items:
                store.add(when, message)
        for event in other_events(batch):
            if type(event) is ConnectionRemoved:
                self.topics.pop(event.conn_id, None)
        self.model.sync(batch.time)
        if tick.messages or tick.skipped or batch.handshakes or batch.others:
            self._update_title()
            self._update_buttons()

    def _update_title(self) -> None:
        if self.conn_id is None:
            self.title.setText("Topics: select a connection")
            return
        store = self.topics.get(self.conn_id)
        parts = [f"Topics ({self.protocol or 'raw or not detected yet'})"]
        if store is not None:
            parts.append(f"{len(store.topics)} topics")
            if store.more:
                parts.append(f"{store.more} messages past {store.max_topics} topics")
        if self.feed.skipped_total:
            parts.append(f"{self.feed.skipped_total} frames not decoded (busy)")
        self.title.setText(" · ".join(parts))

    def _update_buttons(self) -> None:
        protocol = self.protocol or ""
        self.subscribe_button.setEnabled(protocol in SUBSCRIBE)
        self.subscribe_button.setText(SUBSCRIBE_WORDS.get(protocol, "Subscribe…"))
        path = self.selected_path()
        stats = self.model.stats_at(path) if path else None
        self.unsubscribe_button.setEnabled(protocol in UNSUBSCRIBE and bool(stats and stats.key))
        self.unsubscribe_button.setText(UNSUBSCRIBE_WORDS.get(protocol, "Unsubscribe"))

    def _expand(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid() or not parent.parent().isValid():
            self.view.expand(parent)  # groups and their first level open; deeper stays shut

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for button in (self.subscribe_button, self.unsubscribe_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.exec(self.view.viewport().mapToGlobal(pos))
