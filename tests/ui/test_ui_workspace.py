"""The workspace in the app, as a user meets it: a profile saved in the dialog survives a restart
and connects in one action; the last session comes back; a saved message's {{variables}} are
resolved when sent; secrets never reach a file; a bad workspace file is said once and kept."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from core.config import ConnectionConfig
from core.states import ConnState
from core.workspace import SavedMessage, Variable
from core.workspace.secrets import forget_launch_secrets, profile_token_key
from tests.helpers_ui import dispose, until
from ui.app import open_window, parse_args
from ui.main_window import MainWindow

TOKEN = "tok-5ecret-typed-in-the-dialog"
API_KEY = "k-5ecret-env-variable"


class Recorder:
    """A plain websockets server that echoes and keeps each handshake's headers and message."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.received: list[str] = []
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers.append(dict(ws.request.headers.raw_items()))
        self.paths.append(ws.request.path)
        async for message in ws:
            self.received.append(message if isinstance(message, str) else message.hex())
            await ws.send(message)


@asynccontextmanager
async def echo_server() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with serve(recorder.handler, "127.0.0.1", 0) as server:
        recorder.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        yield recorder


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("SOCKETSCOPE_DATA_DIR", str(path))
    return path


async def close(window: MainWindow) -> None:
    """As the user closes the app: the window first (the session is remembered), then the rest."""
    window.close()
    await window.shutdown()
    dispose(window)


def start(*argv: str) -> MainWindow:
    return open_window(parse_args(["--no-demo", *argv]))


async def test_profile_survives_a_restart_and_connects_in_one_action(
        qtbot, config_dir, data_dir, no_quit_on_close):
    async with echo_server() as server:
        window = start()
        try:
            dialog = window.connections.new_connection()
            dialog.url_edit.setText(server.url + "/feed")
            dialog.name_edit.setText("local feed")
            dialog.token_edit.setText(TOKEN)
            dialog.token_mode_combo.setCurrentIndex(dialog.token_mode_combo.findData("bearer"))
            dialog.add_header("X-Client", "socketscope")
            dialog.advanced.on_open_edit.setPlainText('{"type":"hello"}')
            dialog.save_profile_button.click()  # one click; the dialog stays open
            assert "Saved profile 'local feed'" in dialog.form_error.text()
            dialog.reject()
        finally:
            await close(window)
        workspace_file = config_dir / "workspace.toml"
        assert b"local feed" in workspace_file.read_bytes()

        # "restart the app": a new window and session, in the same process; with no OS keyring
        # here, secrets are kept in memory for one launch: a new launch forgets them
        forget_launch_secrets()
        window = start()
        try:
            assert window.bridge.manager.list() == []  # nothing was open when it closed
            action = window.profiles_menu.action_for("local feed")
            assert action is not None
            action.trigger()  # the one action; the token is asked for, once
            (prompt,) = window.workspace_controller.prompts
            assert prompt.dialog is not None and prompt.dialog.isVisible()
            assert profile_token_key("local feed") in prompt.dialog.labelText()
            prompt.dialog.setTextValue(TOKEN)
            prompt.dialog.accept()
            (conn,) = window.bridge.manager.list()
            await until(lambda: conn.state is ConnState.OPEN, 5, "the profile's connection open")
            await until(lambda: server.received == ['{"type":"hello"}'], 5, "the on-open message")
            assert server.paths == ["/feed"]
            assert server.headers[0]["Authorization"] == f"Bearer {TOKEN}"
            assert server.headers[0]["X-Client"] == "socketscope"
        finally:
            await close(window)  # with the profile's connection open

        window = start()  # no URL given: the last session's connection comes back
        try:
            (conn,) = window.bridge.manager.list()
            assert conn.config.name == "local feed"
            await until(lambda: len(server.headers) == 2, 5, "the reopened connection")
            assert server.headers[1]["Authorization"] == f"Bearer {TOKEN}"
        finally:
            await close(window)
    _assert_nowhere(TOKEN, config_dir, data_dir)


async def test_saved_message_variables_are_resolved_when_sent(
        qtbot, config_dir, data_dir, no_quit_on_close):
    async with echo_server() as server:
        window = start(server.url + "/echo")
        try:
            controller = window.workspace_controller
            assert controller is not None
            (conn,) = window.bridge.manager.list()
            await until(lambda: conn.state is ConnState.OPEN, 5, "open")

            envs = controller.edit_environments()  # the Environment editor
            envs.add_environment("dev")
            envs.add_variable(Variable("user", "ada"))
            envs.add_variable(Variable("apiKey", API_KEY, secret=True))
            envs.accept()
            window.environment_menu.rebuild()
            dev = next(a for a in window.environment_menu.actions() if a.text() == "dev")
            dev.trigger()
            assert controller.session.workspace.active_environment == "dev"

            panel = window.panels["collections"]
            dialog = panel.new_message(SavedMessage(
                "greet", '{"hello":"{{user}}","n":{{$seq}}}', "json"))
            dialog.collection_combo.setCurrentText("Demo")
            dialog.folder_edit.setText("people/hello")
            dialog.accept()
            assert panel.select_message("Demo", "greet")
            window.connections.select(conn.id)
            panel.send_selected()
            panel.send_selected()
            await until(lambda: len(server.received) == 2, 5, "two messages")
            assert [json.loads(m) for m in server.received] == [
                {"hello": "ada", "n": 1}, {"hello": "ada", "n": 2}]  # resolved on every send
            inspector = window.panels["inspector"]

            def payloads() -> set[bytes]:
                model = inspector.model
                return {model.frame(row).payload for row in range(model.rowCount())}

            await until(lambda: b'{"hello":"ada","n":2}' in payloads(), 5, "resolved in the view")

            # the secret variable in an ordinary header: sent, but masked in what is recorded
            controller.save_profile(ConnectionConfig(server.url + "/keyed", name="keyed",
                                                     headers=[("X-Api", "k={{apiKey}}")]))
            keyed_id = window.open_profile("keyed")
            assert keyed_id is not None
            keyed = window.bridge.commands.connection(keyed_id)
            await until(lambda: "/keyed" in server.paths, 5, "the keyed connection")
            assert server.headers[server.paths.index("/keyed")]["X-Api"] == f"k={API_KEY}"
            await until(lambda: keyed.state is ConnState.OPEN, 5, "open")
        finally:
            await close(window)
    text = (config_dir / "workspace.toml").read_text()
    assert "{{user}}" in text and "apiKey" in text  # kept as written; the secret's name only
    _assert_nowhere(API_KEY, config_dir, data_dir)


async def test_a_bad_workspace_file_is_said_once_and_left_alone(
        qtbot, config_dir, no_quit_on_close):
    config_dir.mkdir(parents=True)
    bad = config_dir / "workspace.toml"
    content = b'[[profiles]]\nurl = "ws://127.0.0.1:9/"\nname = "x"\n[profiles.heartbeat]\n' \
              b'interval = "often"\n'
    bad.write_bytes(content)
    window = start("--no-record")
    try:
        session = window.workspace_controller.session
        assert "heartbeat.interval" in session.problem and "workspace.toml" in session.problem
        boxes = [w for w in window.findChildren(object) if w.objectName() == "WorkspaceProblem"]
        assert len(boxes) == 1 and session.problem in boxes[0].text()
        assert window.status.message_label.text().startswith("Workspace not loaded: ")
        assert session.workspace.profiles == []  # the app runs with an empty workspace

        dialog = window.connections.new_connection()  # saving is refused, and says why
        dialog.url_edit.setText("ws://127.0.0.1:9/")
        dialog.name_edit.setText("y")
        assert not dialog.save_as_profile()
        assert "Save workspace as" in dialog.form_error.text()
        dialog.reject()
        assert bad.read_bytes() == content

        other = config_dir / "mended.toml"
        assert window.workspace_controller.save_as(str(other))  # the user's choice
        assert b'name = "y"' in other.read_bytes()
    finally:
        await close(window)
    assert bad.read_bytes() == content  # closing wrote the session to mended.toml only


@pytest.mark.parametrize("content, where", [
    (b"[[profiles]\nurl = ", "line 1"),
    (b"\x00\xff" * 1000, "workspace.toml"),
])
async def test_garbage_and_truncated_files(qtbot, config_dir, no_quit_on_close, content, where):
    config_dir.mkdir(parents=True)
    bad = config_dir / "workspace.toml"
    bad.write_bytes(content)
    window = start("--no-record")
    try:
        assert where in window.workspace_controller.session.problem
    finally:
        await close(window)
    assert bad.read_bytes() == content


async def test_profile_and_workspace_from_the_command_line(
        qtbot, tmp_path, config_dir, no_quit_on_close):
    from core.workspace import Environment, Workspace, save_workspace

    async with echo_server() as server:
        file = tmp_path / "team.toml"
        profile = ConnectionConfig(server.url + "/{{room}}", name="team",
                                   headers=[("X-Room", "{{room}}")])
        save_workspace(Workspace(profiles=[profile],
                                 environments=[Environment("ci", [Variable("room", "r7")])],
                                 active_environment="ci"), file)
        window = start("--workspace", str(file), "--profile", "team", "--profile", "nope",
                       "--no-record")
        try:
            assert window.bridge.server is None  # a profile replaces the embedded default
            (conn,) = window.bridge.manager.list()
            await until(lambda: conn.state is ConnState.OPEN, 5, "open")
            assert server.paths == ["/r7"] and server.headers[0]["X-Room"] == "r7"
            said = window.status.message_label.text()
            assert "There is no profile named 'nope'" in said
            other = tmp_path / "other.toml"
            other.write_text("profiles = 3\n")
            assert not window.workspace_controller.open_file(str(other))  # bad: current kept
            assert "profiles" in window.status.message_label.text()
            assert window.workspace_controller.session.path == file
        finally:
            await close(window)
    assert not (config_dir / "workspace.toml").exists()  # the default one was not touched


def _assert_nowhere(secret: str, *dirs: Path) -> None:
    """No file under `dirs` holds the secret, in UTF-8 or as it would be in JSON or base64."""
    import base64

    needles = [secret.encode(), base64.b64encode(secret.encode())]
    files = [p for d in dirs for p in d.rglob("*") if p.is_file()]
    assert files, "the app wrote no files at all: nothing was checked"
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {path}"


async def test_composer_and_inspector_save_and_resolve(
        qtbot, config_dir, no_quit_on_close):
    """The composer and the inspector ask to save (their `save_requested`); the composer sends
    through the window's resolver (`set_resolver`). Checked when those panels have them."""
    from core.events import Direction, FrameEvent, Opcode
    from core.workspace import Environment
    from ui.composer_panel import ComposerPanel
    from ui.inspector_panel import InspectorPanel
    from ui.saved_message_dialog import SavedMessageDialog

    if not (hasattr(ComposerPanel, "save_requested") and hasattr(InspectorPanel, "save_requested")
            and hasattr(ComposerPanel, "set_resolver")):
        pytest.skip("the composer or inspector has no save_requested/set_resolver yet")
    async with echo_server() as server:
        window = start(server.url, "--no-record")
        try:
            composer, inspector = window.panels["composer"], window.panels["inspector"]
            (conn,) = window.bridge.manager.list()
            await until(lambda: conn.state is ConnState.OPEN, 5, "open")
            session = window.workspace_controller.session
            session.workspace.environments = [Environment("dev", [Variable("who", "ada")])]
            session.set_environment("dev")

            composer.save_requested.emit('{"hi":"{{who}}"}', "text", True)
            (dialog,) = window.findChildren(SavedMessageDialog)
            dialog.name_edit.setText("from composer")
            dialog.accept()
            frame = FrameEvent(conn.id, 0.0, Direction.IN, Opcode.BINARY, b"\x00\x01")
            inspector.save_requested.emit(frame)
            dialog = next(d for d in window.findChildren(SavedMessageDialog) if d.isVisible())
            dialog.name_edit.setText("from inspector")
            dialog.accept()
            (collection,) = session.workspace.collections
            saved = {m.name: m for m in collection.messages}
            assert saved["from composer"].as_request and saved["from composer"].format == "json"
            assert saved["from inspector"].payload() == (b"\x00\x01", False)

            composer.load('{"to":"{{who}}"}', "text")
            composer.send()
            await until(lambda: '{"to":"ada"}' in server.received, 5, "resolved by the composer")
        finally:
            await close(window)


async def test_last_session_comes_back_beside_the_embedded_default(
        qtbot, config_dir, no_quit_on_close):
    """URLs come back without their token; the embedded server's connection is not remembered
    (its port changes) but the embedded default still starts when nothing is asked for."""
    async with echo_server() as server:
        url = server.url + "/room?x=1"
        window = open_window(parse_args([url + "&token=s3cr3t-in-url", "--embedded",
                                         "--no-record"]))
        try:
            assert len(window.bridge.manager.list()) == 2
            await until(lambda: len(server.headers) == 1, 5, "connected")
        finally:
            await close(window)
        saved = tomllib.loads((config_dir / "workspace.toml").read_text())["session"]
        assert saved["open"] == [url]

        window = open_window(parse_args(["--no-record"]))  # no URL: the default start
        try:
            assert window.bridge.server is not None  # the embedded demo, as always
            urls = sorted(c.config.url for c in window.bridge.manager.list())
            assert urls == sorted([url, window.bridge.server.url + "/"])
            await until(lambda: len(server.headers) == 2, 5, "reopened")
            assert server.paths[1] == "/room?x=1"
        finally:
            await close(window)
