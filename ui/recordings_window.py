"""Past sessions: the recordings list, browsed in the same inspector; exported as HAR or NDJSON,
HAR files imported as recordings, and a recording replayed against a server."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.config import ConnectionConfig
from core.events import FrameEvent
from core.facade import (
    ConnectionManager,
    HarError,
    Recording,
    RecordingInfo,
    list_recordings,
    recordings_dir,
)
from ui.bridge import CoreBridge
from ui.elided_label import ElidedLabel
from ui.har_actions import (
    Format,
    describe_import,
    export_recording,
    export_recording_dialog,
    format_of,
    import_har_file,
    show_error,
)
from ui.inspector_panel import InspectorPanel
from ui.replay_dialog import ReplayDialog

CHUNK = 5_000  # frames handed to the inspector per timer step, so the window never freezes


class RecordingsWindow(QMainWindow):
    """A replay bridge over a manager of idle connections named as in the recording lets the
    live inspector, filters included, show a past session unchanged."""

    def __init__(self, directory: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SocketScope: recordings")
        self.resize(1200, 700)
        self._directory = directory
        self._bridge: CoreBridge | None = None
        self._inspector: InspectorPanel | None = None
        self._frames: Iterator[FrameEvent] | None = None
        self._recording: Recording | None = None
        self.loaded = 0
        self._feeder = QTimer(self)
        self._feeder.setInterval(0)
        self._feeder.timeout.connect(self._feed)
        left = self._build_list()

        self.status = ElidedLabel("Open a recording to browse its frames with the inspector's "
                                  "filters.", min_chars=20)
        self._right = QWidget()
        self._right_layout = QVBoxLayout(self._right)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        for button in self._recording_buttons:
            top.addWidget(button)
        self._right_layout.addLayout(top)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self._right)
        splitter.setSizes([320, 880])
        self.setCentralWidget(splitter)
        self.refresh()

    def _build_list(self) -> QWidget:
        """The recordings and what to do with them."""
        self.list = QListWidget()
        self.list.itemActivated.connect(lambda item: self.open(item.data(Qt.ItemDataRole.UserRole)))
        open_button = QPushButton("Open")
        open_button.clicked.connect(self._open_selected)
        file_button = QPushButton("Open file…")
        file_button.clicked.connect(self._open_file)
        import_button = QPushButton("Import HAR…")
        import_button.setToolTip("A HAR with WebSocket messages (Chrome, Firefox, HTTP Toolkit, "
                                 "mitmproxy) becomes a new recording here")
        import_button.clicked.connect(self._import)
        self.export_har_button = QPushButton("Export as HAR…")
        self.export_har_button.clicked.connect(lambda: self._export("har"))
        self.export_button = QPushButton("Export as NDJSON…")
        self.export_button.clicked.connect(lambda: self._export("ndjson"))
        self.replay_button = QPushButton("Replay…")
        self.replay_button.setToolTip("Send this recording's outbound messages to a server and "
                                      "compare its replies with the recorded ones")
        self.replay_button.clicked.connect(self.replay)
        self._recording_buttons = (self.export_har_button, self.export_button, self.replay_button)
        for button in self._recording_buttons:
            button.setEnabled(False)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        buttons = QGridLayout()
        for n, button in enumerate((open_button, file_button, import_button, refresh)):
            buttons.addWidget(button, n // 2, n % 2)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("Recorded sessions (newest first)"))
        left_layout.addWidget(self.list)
        left_layout.addLayout(buttons)
        return left

    def refresh(self) -> None:
        self.list.clear()
        for info in list_recordings(self._directory):
            item = QListWidgetItem(_describe(info))
            item.setData(Qt.ItemDataRole.UserRole, str(info.path))
            item.setToolTip(str(info.path))
            self.list.addItem(item)

    def open(self, path: str | Path) -> None:
        """Show a recording in a fresh inspector; frames are loaded in chunks."""
        self._close_current()
        try:
            recording = Recording(path)
            info = recording.info()
        except Exception as exc:  # a damaged or foreign file: say so, keep the window
            show_error(self, "Cannot open recording", f"{path}:\n{exc}")
            return
        self._bridge = CoreBridge(ConnectionManager(), parent=self)  # idle: nothing connects
        for conn in recording.connections():
            self._bridge.commands.add(ConnectionConfig(conn.url, name=conn.name),
                                      conn_id=conn.conn_id)
        self._inspector = InspectorPanel(self._bridge, self._right)
        self._inspector.set_recorder(recording)  # large payloads are read back from it
        self._right_layout.addWidget(self._inspector, 1)
        self._recording = recording
        self._frames = recording.frames()
        self.loaded = 0
        gaps = f", {info.gaps} rows lost (gap records)" if info.gaps else ""
        self.status.setText(f"{Path(path).name}: {info.frames} frames, "
                            f"{info.connections} connections{gaps}")
        for button in self._recording_buttons:
            button.setEnabled(True)
        self._feeder.start()

    @property
    def inspector(self) -> InspectorPanel | None:
        return self._inspector

    def _feed(self) -> None:
        if self._frames is None or self._bridge is None:
            self._feeder.stop()
            return
        batch = list(itertools.islice(self._frames, CHUNK))
        publish = self._bridge.commands.publish
        for frame in batch:
            publish(frame)
        self.loaded += len(batch)
        if len(batch) < CHUNK:
            self._frames = None
            self._feeder.stop()

    def _open_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.open(item.data(Qt.ItemDataRole.UserRole))

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", "", "SQLite (*.sqlite)")
        if path:
            self.open(path)

    def _export(self, fmt: Format) -> None:
        if self._recording is None:
            return
        target = export_recording_dialog(self, self._recording.path, fmt)
        if target is not None:
            self.status.setText(f"Exported {self._recording.path.name} to {target}")

    def export(self, target: Path, fmt: Format | None = None) -> int:
        """Write the open recording to `target` (HAR or NDJSON, by default by its suffix),
        atomically; returns the HAR entries or NDJSON lines written."""
        assert self._recording is not None
        fmt = fmt or format_of(target)
        count = export_recording(self._recording.path, target, fmt)
        what = "connections" if fmt == "har" else "lines"
        self.status.setText(f"Exported {count} {what} as {fmt.upper()} to {target}")
        return count

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import HAR", "",
                                              "HAR (*.har *.json);;All files (*)")
        if path:
            self.import_har(Path(path))

    def import_har(self, har_path: Path) -> Path | None:
        """Import a HAR as a new recording, list and open it; None (one error shown) when the
        file is not a HAR we can read, and then no file is created."""
        try:
            target, result = import_har_file(har_path, self._directory or recordings_dir())
        except (HarError, OSError) as exc:
            show_error(self, "Cannot import HAR", str(exc))
            return None
        self.refresh()
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == str(target):
                self.list.setCurrentRow(row)
        self.open(target)
        self.status.setText(f"Imported {har_path.name}: {describe_import(result)}")
        return target

    def replay(self) -> ReplayDialog | None:
        """Open the replay dialog for the open recording, aimed at its first connection's URL."""
        if self._recording is None:
            return None
        conns = self._recording.connections()
        dialog = ReplayDialog(self, self._recording.path, conns[0].url if conns else "")
        dialog.show()
        return dialog

    def _close_current(self) -> None:
        self._feeder.stop()
        self._frames = None
        if self._inspector is not None:
            self._inspector.setParent(None)
            self._inspector.deleteLater()
            self._inspector = None
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge.deleteLater()
            self._bridge = None
        if self._recording is not None:
            self._recording.close()
            self._recording = None

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self._close_current()
        super().closeEvent(event)


def _describe(info: RecordingInfo) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.started))
    gaps = f", {info.gaps} lost" if info.gaps else ""
    text = f"{started} · {info.frames} frames · {info.connections} conn{gaps}"
    return text if info.path.name.startswith("session-") else f"{info.path.stem}\n{text}"
