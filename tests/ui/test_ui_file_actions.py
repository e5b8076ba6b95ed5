"""File > Import HAR and Profile from HAR, as a user meets them: a Chrome-format HAR becomes a
recording the Recordings window shows, and its connection a profile without its secrets."""

from __future__ import annotations

import base64
import json
import tomllib

from core.events import Opcode
from core.recording import Recording
from tests.helpers_ui import dispose
from ui.app import open_window, parse_args
from ui.file_actions import save_profile_from_har

SECRET = "s3cret-bearer-from-the-har"


def chrome_har(path) -> None:  # type: ignore[no-untyped-def]
    entry = {
        "startedDateTime": "2026-12-07T10:00:00.000Z", "time": 0, "_resourceType": "websocket",
        "request": {"method": "GET", "url": f"wss://chat.example/live?room=1&token={SECRET}",
                    "headers": [{"name": "Sec-WebSocket-Protocol", "value": "chat.v2"},
                                {"name": "Authorization", "value": f"Bearer {SECRET}"},
                                {"name": "X-Client", "value": "devtools"}]},
        "response": {"status": 101, "headers": []},
        "_webSocketMessages": [
            {"type": "send", "time": 1765101600.5, "opcode": 1, "data": '{"join":1}'},
            {"type": "receive", "time": 1765101600.75, "opcode": 2,
             "data": base64.b64encode(b"\x00\xffbin").decode()},
        ],
    }
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))


async def test_import_har_and_profile_from_har(qtbot, tmp_path, config_dir, monkeypatch) -> None:
    monkeypatch.setenv("SOCKETSCOPE_DATA_DIR", str(tmp_path / "data"))
    har = tmp_path / "devtools.har"
    chrome_har(har)
    window = open_window(parse_args(["--no-demo", "--no-record"]))
    try:
        recordings = window.show_recordings()
        target = recordings.import_har(har)
        assert target is not None and target.parent == tmp_path / "data" / "recordings"
        with Recording(target) as rec:
            assert [(f.opcode, f.payload) for f in rec.frames()] == [
                (Opcode.TEXT, b'{"join":1}'), (Opcode.BINARY, b"\x00\xffbin")]

        said = save_profile_from_har(window, har)
        assert said is not None and "devtools" in said
        workspace = config_dir / "workspace.toml"
        profile = tomllib.loads(workspace.read_text())["profiles"][0]
        assert profile["subprotocols"] == ["chat.v2"]
        assert profile["url"].startswith("wss://chat.example/live?room=1")
        assert SECRET not in workspace.read_text()
        assert window.workspace_controller.session.profile(profile["name"]) is not None
    finally:
        recordings.close()
        window.close()
        await window.shutdown()
        dispose(window)
