"""The connection dialog edits every field of a ConnectionConfig and saves it as a profile."""

from __future__ import annotations

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from tests.helpers_ui import dispose
from ui.connection_dialog import ConnectionDialog


def _full_config() -> ConnectionConfig:
    return ConnectionConfig(
        url="wss://example.com:8443/socket?x=1",
        name="prod",
        headers=[("X-Trace", "abc")],
        subprotocols=["graphql-ws"],
        token="t0k3n",
        token_mode="bearer",
        origin="https://app.example.com",
        cafile="/tmp/ca.pem",
        compression=False,
        max_size=3 * 1024 * 1024,
        open_timeout=3.5,
        close_timeout=2.0,
        queue_size=50,
        request_timeout=4.25,
        on_open=['{"type":"subscribe","topic":"{{topic}}"}', "hello"],
        heartbeat=HeartbeatConfig(interval=2.5, timeout=7.0, app_template='{"type":"ping"}',
                                  app_reply_type="pong2"),
        reconnect=ReconnectPolicy(enabled=False, initial=0.25, factor=1.5, max_delay=12.0,
                                  jitter=0.1, max_attempts=9, stable_after=8.0,
                                  max_protocol_errors=5, max_dns_errors=2),
    )


def test_every_field_round_trips(qtbot):
    config = _full_config()
    dialog = ConnectionDialog(config)
    assert dialog.config() == config
    dialog.advanced.on_open_edit.setPlainText('{"a":1}\n\n  \nsecond')
    dialog.advanced.queue_spin.setValue(7)
    dialog.advanced.jitter_spin.setValue(0)
    edited = dialog.config()
    assert edited.on_open == ['{"a":1}', "second"]  # blank lines are not messages
    assert edited.queue_size == 7 and edited.reconnect.jitter == 0
    assert edited.reconnect.factor == 1.5 and edited.reconnect.max_attempts == 9
    dispose(dialog)


def test_save_as_profile_takes_the_name_field_and_stays_open(qtbot):
    saved: list[ConnectionConfig] = []

    def sink(config: ConnectionConfig) -> str:
        saved.append(config)
        return f"Saved profile {config.name!r}"

    dialog = ConnectionDialog(None, save_profile=sink)
    dialog.url_edit.setText("ws://127.0.0.1:9/x")
    assert dialog.save_profile_button.isEnabled()
    dialog.save_profile_button.click()  # no name yet: it says so, saves nothing
    assert saved == []
    assert "Name" in dialog.form_error.text()
    dialog.name_edit.setText("  local x ")
    dialog.token_edit.setText("s3cret")
    dialog.save_profile_button.click()
    assert [c.name for c in saved] == ["local x"] and saved[0].token == "s3cret"
    assert dialog.form_error.text() == "Saved profile 'local x'"
    assert dialog.result() == 0 and dialog.result_config is None  # still open, not accepted

    def failing(config: ConnectionConfig) -> str:
        raise OSError("disk full")

    other = ConnectionDialog(_full_config(), save_profile=failing)
    other.save_profile_button.click()
    assert other.form_error.text() == "Not saved: disk full"
    dispose(dialog, other)


def test_without_a_workspace_the_button_is_off(qtbot):
    dialog = ConnectionDialog(_full_config())
    assert not dialog.save_profile_button.isEnabled()
    dispose(dialog)
