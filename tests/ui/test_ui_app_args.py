"""`main.py URL [--header 'K: V']... [--bearer T] ... [--profile NAME]... [--workspace FILE]`."""

from __future__ import annotations

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.helpers_ui import dispose, until
from ui.app import open_window, parse_args


def test_connection_flags_apply_to_every_url():
    options = parse_args([
        "ws://a.example/x?token=fromurl", "wss://b.example/",
        "--header", "X-One: 1", "--header", "X-Two:two words ",
        "--subprotocol", "graphql-ws", "--subprotocol", "json",
        "--bearer", "B", "--origin", "https://o.example", "--cafile", "/tmp/ca.pem",
    ])
    first, second = options.url_configs()
    assert first.url == "ws://a.example/x" and second.url == "wss://b.example/"
    for config in (first, second):
        assert config.headers == [("X-One", "1"), ("X-Two", "two words")]
        assert config.subprotocols == ["graphql-ws", "json"]
        assert config.token == "B" and config.token_mode == "bearer"
        assert config.origin == "https://o.example" and config.cafile == "/tmp/ca.pem"
        assert not config.insecure
    assert not options.start_server and not options.reopen_last

    plain = parse_args(["ws://a.example/x?token=fromurl", "--token", "T", "--insecure"])
    (config,) = plain.url_configs()
    assert config.token == "T" and config.token_mode == "query" and config.insecure
    (kept,) = parse_args(["ws://a.example/x?token=fromurl"]).url_configs()
    assert kept.token == "fromurl" and kept.url == "ws://a.example/x"


def test_profiles_and_workspace():
    options = parse_args(["--profile", "prod", "--profile", "staging", "--workspace", "w.toml"])
    assert options.profiles == ("prod", "staging") and options.workspace == "w.toml"
    assert not options.start_server  # a profile, like a URL, replaces the embedded default
    assert not options.reopen_last
    default = parse_args([])
    assert default.start_server and default.reopen_last and default.workspace is None


@pytest.mark.parametrize("argv, words", [
    (["ws://a/", "--header", "no colon"], "is not of the form 'Name: value'"),
    (["ws://a/", "--header", ": v"], "is not of the form 'Name: value'"),
    (["ws://a/", "--token", "a", "--bearer", "b"], "not allowed with"),
    (["ws://a/", "--cafile", "f", "--insecure"], "not allowed with"),
    (["--bearer", "b"], "apply to the URLs given"),
    (["--header", "K: v", "--profile", "p"], "apply to the URLs given"),
    (["--profile", " "], "--profile needs the name"),
])
def test_bad_flags_are_one_clear_line(capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


async def test_headers_and_bearer_reach_the_server(qtbot, config_dir, no_quit_on_close):
    """A plain websockets server records the handshake the app's connection made."""
    seen: list[dict[str, str]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(dict(ws.request.headers.raw_items()))
        await ws.send(ws.subprotocol or "")
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2"]) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/feed"
        window = open_window(parse_args([
            url, url, "--header", "X-Api-Key: k-123", "--header", "X-Trace: t 1",
            "--bearer", "tok.en", "--subprotocol", "chat.v2", "--origin", "http://o.test",
            "--no-record",
        ]))
        try:
            assert window.bridge.server is None  # URLs given: no embedded server
            await until(lambda: len(seen) == 2, 5, "two handshakes")
        finally:
            await window.shutdown()
            dispose(window)
    for headers in seen:
        assert headers["X-Api-Key"] == "k-123" and headers["X-Trace"] == "t 1"
        assert headers["Authorization"] == "Bearer tok.en"
        assert headers["Origin"] == "http://o.test"
        assert headers["Sec-WebSocket-Protocol"] == "chat.v2"


def test_show_names_a_panel_or_is_refused(capsys) -> None:
    from ui.app import parse_args

    assert parse_args(["--show", "topics", "--show", "pairs"]).show == ("topics", "pairs")
    assert parse_args(["--show", "load"]).show == ("load",)
    with pytest.raises(SystemExit):
        parse_args(["--show", "nope"])
    assert "no such panel" in capsys.readouterr().err
