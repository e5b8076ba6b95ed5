"""Control and watch the embedded test server: start/stop, auth, demo crowd, clients, rooms, log."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.facade import (
    EmbeddedServer,
    LocalCluster,
    ServerConfig,
    ServerStartError,
    make_token,
)
from ui import theme
from ui.bridge import CoreBridge, TickBatch
from ui.server_form import ServerForm

SNAPSHOT_EVERY_S = 0.5  # clients and rooms refresh at most twice a second
TOKEN_TTL = 24 * 3600
STACKED_LIVE_HEIGHT = 270  # least height of clients/rooms + log below the settings
LEVEL_TAGS = {"info": "INFO", "warning": "WARN", "error": "ERR "}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class ServerPanel(ServerForm, QWidget):
    """The server in `bridge.server` (started here or by the app); `bridge.server` follows it."""

    server_started = Signal(object)  # EmbeddedServer
    server_stopped = Signal()

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ServerPanel")
        self.bridge = bridge
        self._server: EmbeddedServer | None = None
        self._cluster: LocalCluster | None = None  # With more than one instance.
        self._stopping: asyncio.Task[None] | None = None
        self._next_snapshot = 0.0
        self._build()
        self._show_config(bridge.server.config if bridge.server else ServerConfig(
            port=0, secret=new_secret(), demo_bots=6, demo_rate=2.0, ping_interval=5.0))
        bridge.tick.connect(self._on_tick)
        self._follow_bridge()

    # ----- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setWordWrap(False)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start or stop the embedded test server")
        self.start_button.clicked.connect(self.toggle)
        top = QHBoxLayout()
        top.addWidget(self.status_label, 1)
        top.addWidget(self.start_button)
        settings = self._build_settings()
        split = self._build_live()

        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.setContentsMargins(0, 0, 0, 0)
        controls_layout.addLayout(top)
        controls_layout.addLayout(settings)
        controls_layout.addStretch(1)
        self._controls = controls
        # Settings above the live views in a tall dock, beside them in a wide one; in a small
        # dock the whole panel scrolls rather than forcing the window to grow.
        content = QWidget()
        self._layout = QBoxLayout(QBoxLayout.Direction.TopToBottom, content)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self._layout.addWidget(controls)
        self._layout.addWidget(split, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        size = event.size()
        wide = size.width() >= 620 and size.width() >= 1.6 * size.height()
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self._layout.direction() != direction:
            self._layout.setDirection(direction)
            self._controls.setMaximumWidth(360 if wide else 16_777_215)
        # stacked under the settings, the live views keep a useful height (several rooms, a few
        # log lines) and the panel scrolls to them, rather than squeezing them to one row
        self._split.setMinimumHeight(0 if wide else STACKED_LIVE_HEIGHT)

    def _show_config(self, cfg: ServerConfig) -> None:
        self.host_edit.setText(cfg.host)
        self.port_spin.setValue(cfg.port)
        self.auth_check.setChecked(cfg.auth)
        self.secret_edit.setText(cfg.secret)
        for spin, value in ((self.bots_spin, cfg.demo_bots), (self.rate_spin, cfg.demo_rate)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    # ----- server lifecycle --------------------------------------------------------------------

    @property
    def server(self) -> EmbeddedServer | None:
        return self._server

    @property
    def cluster(self) -> LocalCluster | None:
        """The local cluster the panel started (None for one server)."""
        return self._cluster

    def config(self) -> ServerConfig:
        """The settings the form describes (port 0 = any free port)."""
        base = self._server.config if self._server else ServerConfig()
        return replace(
            base,
            host=self.host_edit.text().strip() or "127.0.0.1",
            port=self.port_spin.value(),
            auth=self.auth_check.isChecked(),
            secret=self.secret_edit.text() or new_secret(),
            demo_bots=self.bots_spin.value(),
            demo_rate=self.rate_spin.value(),
        )

    def toggle(self) -> None:
        if self._server is not None and self._server.running:
            self.stop_server()
        else:
            self.start_server()

    def start_server(self) -> EmbeddedServer | None:
        """Start a server with the form's settings; None (and a log line) when it cannot."""
        if self._server is not None and self._server.running:
            return self._server
        if self._stopping is not None and not self._stopping.done():
            return None
        instances = self.instances_spin.value()
        cluster = LocalCluster(self.config(), instances) if instances > 1 else None
        try:
            if cluster is None:
                server = EmbeddedServer(self.config())
                server.start()
            else:
                server = cluster.start()[0]
        except ServerStartError as exc:
            self._log_line(time.time(), "ERR ", "start", str(exc))
            self.bridge.message.emit(f"Server: {exc}")
            return None
        self._cluster = cluster
        self.bridge.server = server
        self._follow_bridge()
        self.server_started.emit(server)
        return server

    def stop_server(self) -> asyncio.Task[None] | None:
        """Stop on a worker thread (closing clients may take a moment); returns the task."""
        server = self._server
        if server is None or (self._stopping is not None and not self._stopping.done()):
            return self._stopping
        self.start_button.setEnabled(False)
        self.status_label.setText("Stopping…")
        port = server.port
        cluster, self._cluster = self._cluster, None

        async def stop() -> None:
            try:
                await asyncio.to_thread(cluster.stop if cluster else server.stop)
            finally:
                self._drain(server)
                if self.bridge.server is server:
                    self.bridge.server = None
                self._follow_bridge()
                self.port_spin.setValue(port)  # Start again: same URL, clients reconnect
                self.server_stopped.emit()

        self._stopping = self.bridge.run(stop(), "Stop server")
        return self._stopping

    def _follow_bridge(self) -> None:
        """Adopt whatever server the bridge holds (the app may have started one)."""
        server = self.bridge.server
        if server is not self._server:
            if self._server is not None:
                self._drain(self._server)
            self._server = server
            if server is not None:
                self._show_config(server.config)
        running = server is not None and server.running
        self.start_button.setEnabled(True)
        self.start_button.setText("Stop" if running else "Start")
        for widget in (self.host_edit, self.port_spin, self.auth_check, self.secret_edit,
                       self.instances_spin):
            widget.setEnabled(not running)
        if running and server is not None:
            auth = "a token is required" if server.config.auth else "no token needed"
            urls = [s.url for s in self.servers]
            many = f"{len(urls)} instances " if len(urls) > 1 else ""
            self.status_label.setText(f"● Running {many}at {', '.join(urls)}")
            self.status_label.setToolTip(f"Clients connect to {urls[0]}/ ({auth})")
            self.status_label.setStyleSheet(theme.style("server_running"))
        else:
            self.status_label.setText("○ Stopped")
            self.status_label.setStyleSheet(theme.style("server_stopped"))
        self._next_snapshot = 0.0
        self._refresh_snapshot()

    # ----- actions -----------------------------------------------------------------------------

    def token(self) -> str:
        secret = self._server.config.secret if self._server else self.secret_edit.text()
        return make_token(secret, self.subject_edit.text().strip() or "tester", TOKEN_TTL)

    def copy_token(self) -> str:
        token = self.token()
        QGuiApplication.clipboard().setText(token)
        self.bridge.message.emit(
            f"Token for {self.subject_edit.text().strip() or 'tester'} copied to the clipboard"
        )
        return token

    def _apply_demo(self) -> None:
        if self._server is not None:
            self._server.set_demo(self.bots_spin.value(), self.rate_spin.value())

    # ----- live updates ------------------------------------------------------------------------

    def _on_tick(self, batch: TickBatch) -> None:
        if self.bridge.server is not self._server and (
            self._stopping is None or self._stopping.done()
        ):
            self._follow_bridge()
        if self._server is not None:
            for server in self.servers:
                self._drain(server)
            if batch.time >= self._next_snapshot:
                self._refresh_snapshot()

    @property
    def servers(self) -> list[EmbeddedServer]:
        """The running instances: the cluster's, or the one server."""
        if self._cluster is not None and self._cluster.servers:
            return self._cluster.servers
        return [self._server] if self._server is not None else []

    def _drain(self, server: EmbeddedServer) -> None:
        where = f"{server.config.cluster_instance} " if server.config.cluster_instance else ""
        for entry in server.drain_log():
            tag = LEVEL_TAGS.get(entry.level, entry.level[:4].upper())
            self._log_line(entry.time, tag, entry.kind, where + entry.text)

    def _log_line(self, when: float, tag: str, kind: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"
        self.log_view.appendPlainText(f"{stamp} {tag} {kind:<10} {text}")

    def _refresh_snapshot(self) -> None:
        self._next_snapshot = time.time() + SNAPSHOT_EVERY_S
        server = self._server
        if server is None or not server.running:
            self.totals_label.setText("No server running. Press Start for a local test server.")
            self.rooms_tree.clear()
            return
        snap = server.snapshot()  # An instance of a cluster sees every instance's rooms.
        clients = sum(s.snapshot().clients for s in self.servers)
        bots = sum(s.snapshot().bots for s in self.servers)
        self.totals_label.setText(
            f"{_plural(clients, 'client')} · {_plural(bots, 'bot')} · "
            f"{_plural(len(snap.rooms), 'room')} · "
            f"{snap.messages_in:,} in / {snap.messages_out:,} out · "
            f"{snap.rejections} rejected"
        )
        tree = self.rooms_tree
        tree.setUpdatesEnabled(False)
        try:
            while tree.topLevelItemCount() > len(snap.rooms):
                tree.takeTopLevelItem(tree.topLevelItemCount() - 1)
            for i, room in enumerate(snap.rooms):
                item = tree.topLevelItem(i)
                if item is None:
                    item = QTreeWidgetItem()
                    tree.addTopLevelItem(item)
                members = ", ".join(room.members)
                item.setText(0, room.name)
                item.setText(1, str(len(room.members)))
                item.setText(2, members)
                item.setToolTip(2, members)
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
        finally:
            tree.setUpdatesEnabled(True)

    @property
    def clients(self) -> int:
        """Real WebSocket clients of the server (from its latest snapshot)."""
        return self._server.snapshot().clients if self._server else 0

    def log_text(self) -> str:
        return self.log_view.toPlainText()
