"""Topics of one connection as a tree: where each decoded message belongs, by protocol.

Socket.IO: namespace > event; STOMP: destinations, and subscriptions (id > destination); MQTT:
topics split on "/" (retained flag), and subscriptions; GraphQL: operations (id name, state);
JSON-RPC: methods; the room protocol: rooms and events; plain JSON: topics or events. Each topic
keeps its message count, its rate over the last RATE_WINDOW seconds and a short preview of its
last message. Bounded: at most MAX_TOPICS per connection (the rest are counted), previews cut.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from core.decoders.api import Kind, Message

MAX_TOPICS = 5_000
PREVIEW = 120  # characters of the last message kept per topic
MAX_DEPTH = 12  # tree levels; deeper MQTT levels stay joined in the last one
MAX_SEGMENT = 120  # characters of one level's name
MAX_KEY = 1_024  # characters of a topic's key for the tree's actions; longer ones get none
RATE_WINDOW = 10  # seconds the rate is averaged over
COLUMNS = ("Topic", "Msgs", "/s", "State", "Last message")
COL_TOPIC, COL_COUNT, COL_RATE, COL_STATE, COL_LAST = range(len(COLUMNS))
PATH_ROLE = Qt.ItemDataRole.UserRole + 1

Path = tuple[str, ...]


@dataclass(slots=True)
class TopicStats:
    """One topic: counters, its last message, and what the tree's actions need (`key`: the MQTT
    filter, STOMP subscription id or destination, GraphQL operation id, room)."""

    count: int = 0
    last: str = ""
    state: str = ""
    key: str = ""
    seconds: deque[list[int]] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW + 1))

    def hit(self, when: float, preview: str) -> None:
        self.count += 1
        self.last = preview
        second = int(when)
        if self.seconds and self.seconds[-1][0] == second:
            self.seconds[-1][1] += 1
        else:
            self.seconds.append([second, 1])

    def rate(self, now: float) -> float:
        since = int(now) - RATE_WINDOW
        return sum(n for second, n in self.seconds if second > since) / RATE_WINDOW


def _where(message: Message) -> tuple[Path, str, str] | None:
    """(path, state, action key) of a message, or None when it belongs to no topic."""
    protocol, name, topic, f = message.protocol, message.name, message.topic, message.fields
    if protocol == "socketio":
        if not name or name in ("open", "ping", "pong", "noop", "upgrade", "close"):
            return None
        namespace = topic or "/"
        if name in ("connect", "disconnect", "connect_error"):
            return (namespace,), name, namespace
        return (namespace, name), "", namespace
    if protocol == "stomp":
        sub = f.get("subscription")
        if name in ("SUBSCRIBE", "UNSUBSCRIBE") and sub is not None:
            state = "subscribed" if name == "SUBSCRIBE" else "unsubscribed"
            return ("subscriptions", f"{sub} → {topic or '?'}"), state, str(sub)
        return (("destinations", topic), "", topic) if topic else None
    if protocol == "mqtt":
        if name in ("SUBSCRIBE", "UNSUBSCRIBE") and topic:
            state = "subscribed" if name == "SUBSCRIBE" else "unsubscribed"
            return ("subscriptions", topic), state, topic
        if name == "PUBLISH" and topic:
            return ("topics", *topic.split("/")), "retained" if f.get("retain") else "", topic
        return None
    if protocol == "graphql":
        op = f.get("id")
        if op is None:
            return None
        kind_name = f.get("type", "")
        state = {"complete": "complete", "error": "error", "stop": "complete"}.get(
            kind_name, "active")
        label = f"{op} {name}" if name and name != kind_name else str(op)
        return ("operations", label), state, str(op)
    if protocol == "jsonrpc":
        return (("methods", name), "", name) if name else None
    group = "rooms" if protocol == "embedded" else "topics"
    if topic:
        return (group, topic), "", topic
    return (("events", name), "", name) if name else None


def bounded(path: Path) -> Path:
    """A path at most MAX_DEPTH levels deep, each cut to MAX_SEGMENT characters (a topic can
    be 64 KiB; 5,000 of them must not be)."""
    if len(path) > MAX_DEPTH:
        path = (*path[:MAX_DEPTH - 1], "/".join(path[MAX_DEPTH - 1:]))
    if any(len(part) > MAX_SEGMENT for part in path):
        path = tuple(part if len(part) <= MAX_SEGMENT else part[:MAX_SEGMENT - 1] + "…"
                     for part in path)
    return path


class ConnTopics:
    """The topics of one connection (kept while it lives, whether shown or not)."""

    def __init__(self, max_topics: int = MAX_TOPICS) -> None:
        self.max_topics = max_topics
        self.topics: dict[Path, TopicStats] = {}
        self.more = 0  # messages of topics past max_topics
        self.more_topics: set[Path] = set()  # bounded like the topics themselves
        self.dirty: set[Path] = set()

    def add(self, when: float, message: Message) -> None:
        if message.heartbeat or message.kind is Kind.HEARTBEAT:
            return
        found = _where(message)
        if found is None:
            return
        path, state, key = found
        path = bounded(path)
        stats = self.topics.get(path)
        if stats is None:
            if len(self.topics) >= self.max_topics:
                self.more += 1
                if len(self.more_topics) < self.max_topics:
                    self.more_topics.add(path)
                return
            stats = self.topics[path] = TopicStats(key=key if len(key) <= MAX_KEY else "")
        stats.hit(when, message.summary[:PREVIEW])
        if state:
            stats.state = state
        self.dirty.add(path)


def _row(label: str, path: Path) -> list[QStandardItem]:
    items = [QStandardItem(label)] + [QStandardItem() for _ in COLUMNS[1:]]
    for item in items:
        item.setEditable(False)
    items[COL_TOPIC].setData(path, PATH_ROLE)
    for col in (COL_COUNT, COL_RATE):
        items[col].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return items


class TopicsModel(QStandardItemModel):
    """Shows one ConnTopics; `sync()` updates only the topics that changed (and every rate
    once a second)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.shown: ConnTopics | None = None
        self._items: dict[Path, QStandardItem] = {}
        self._more: list[QStandardItem] | None = None
        self._rates_at = 0

    def show(self, topics: ConnTopics | None, now: float) -> None:
        self.removeRows(0, self.rowCount())
        self._items.clear()
        self._more = None
        self.shown = topics
        if topics is not None:
            topics.dirty = set(topics.topics)
            self.sync(now)

    def sync(self, now: float) -> None:
        topics = self.shown
        if topics is None:
            return
        for path in topics.dirty:
            item = self._node(path)
            self._fill(item, topics.topics[path], now)
        topics.dirty.clear()
        if int(now) != self._rates_at:
            self._rates_at = int(now)
            for path, item in self._items.items():
                stats = topics.topics.get(path)
                if stats is not None:
                    self._rate(item, stats, now)
        if topics.more:
            self._show_more(topics)

    def _fill(self, item: QStandardItem, stats: TopicStats, now: float) -> None:
        parent = item.parent() or self.invisibleRootItem()
        row = item.row()
        parent.child(row, COL_COUNT).setText(str(stats.count))
        parent.child(row, COL_STATE).setText(stats.state)
        parent.child(row, COL_LAST).setText(stats.last)
        parent.child(row, COL_LAST).setToolTip(stats.last)
        self._rate(item, stats, now)

    def _rate(self, item: QStandardItem, stats: TopicStats, now: float) -> None:
        parent = item.parent() or self.invisibleRootItem()
        rate = stats.rate(now)
        parent.child(item.row(), COL_RATE).setText(f"{rate:.1f}" if rate else "")

    def _node(self, path: Path) -> QStandardItem:
        """The tree item of a path, made with its parents as needed."""
        found = self._items.get(path)
        if found is not None:
            return found
        parent = self._node(path[:-1]) if len(path) > 1 else self.invisibleRootItem()
        row = _row(path[-1] or '""', path)
        parent.appendRow(row)
        self._items[path] = row[0]
        return row[0]

    def _show_more(self, topics: ConnTopics) -> None:
        if self._more is None:
            self._more = _row("", ())
            self.invisibleRootItem().appendRow(self._more)
        self._more[COL_TOPIC].setText(f"… {len(topics.more_topics)} more topics")
        self._more[COL_COUNT].setText(str(topics.more))

    def stats_at(self, path: Path) -> TopicStats | None:
        return self.shown.topics.get(path) if self.shown else None

    def path_texts(self) -> list[str]:
        """Every shown path as "a > b" (for tests and copy)."""
        return [" > ".join(path) for path in self._items]
