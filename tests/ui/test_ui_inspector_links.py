"""The inspector's row menu acted on by the window, against the embedded server's /echo: resend
sends the same bytes again, open in composer loads them, export writes a HAR that imports back."""

from __future__ import annotations

import json

from core.config import ConnectionConfig, HeartbeatConfig
from core.events import Direction, Opcode
from core.recorder import Recorder
from core.recording import import_har
from core.recording.reader import Recording
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.inspector_links import export_frames
from ui.main_window import MainWindow


async def test_resend_compose_and_export_from_inspector_rows(
    qtbot, tmp_path, config_dir, embedded_server
) -> None:
    srv = embedded_server(auth=False)
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    recorder = Recorder(tmp_path / "app.sqlite", bridge.manager.hub)
    window.recorder = recorder
    inspector, composer = window.panels["inspector"], window.panels["composer"]
    try:
        cfg = ConnectionConfig(url=srv.url + "/echo", name="echo",
                               heartbeat=HeartbeatConfig(interval=0))
        conn_id = window.connections.add_connection(cfg)
        assert conn_id is not None
        conn = bridge.commands.connection(conn_id)
        await until(lambda: conn.state is ConnState.OPEN, 5, "open")
        await bridge.run(conn.send(b"\x00\x01binary\xff", text=False))
        await bridge.run(conn.send('{"hello":"wörld"}'))
        model = inspector.model

        def data_frames(direction: Direction):  # type: ignore[no-untyped-def]
            frames = (model.frame(r) for r in range(model.rowCount()))
            return [f for f in frames if getattr(f, "direction", None) is direction
                    and getattr(f, "opcode", None) in (Opcode.TEXT, Opcode.BINARY)]

        await until(lambda: len(data_frames(Direction.IN)) == 2, 5, "two echoes")
        binary, text = data_frames(Direction.IN)

        inspector.resend_requested.emit(binary)  # the same bytes, binary again: echoed again
        await until(lambda: len(data_frames(Direction.IN)) == 3, 5, "the resent echo")
        again = data_frames(Direction.IN)[-1]
        assert (again.opcode, again.payload) == (Opcode.BINARY, b"\x00\x01binary\xff")

        inspector.compose_requested.emit(text)
        assert composer.editor.toPlainText() == '{"hello":"wörld"}' and composer.mode == "text"
        inspector.compose_requested.emit(binary)  # binary goes in losslessly, as base64
        assert composer.mode == "base64" and composer.editor.toPlainText() == "AAFiaW5hcnn/"

        await until(lambda: recorder.written >= 6, 5, "recorded")  # handshake note included
        har = tmp_path / "selection.har"
        said = export_frames(window, [binary, text], "har", har)
        assert said.startswith("Exported 2 frames")
        entry = json.loads(har.read_text())["log"]["entries"][0]
        assert entry["response"]["status"] == 101  # the recorded handshake came along
        result = import_har(har, tmp_path / "back.sqlite")
        assert result.frames == 2
        with Recording(tmp_path / "back.sqlite") as rec:
            back = [(f.opcode, f.payload) for f in rec.frames()]
        assert back == [(Opcode.BINARY, b"\x00\x01binary\xff"),
                        (Opcode.TEXT, '{"hello":"wörld"}'.encode())]
        bad = export_frames(window, [text], "ndjson", tmp_path / "missing-dir" / "x.ndjson")
        assert bad.startswith("Export failed") and not (tmp_path / "missing-dir").exists()
    finally:
        window.recorder = None
        recorder.close()
        await window.shutdown()
        dispose(window)
