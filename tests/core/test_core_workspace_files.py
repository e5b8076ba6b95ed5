"""Workspace files on a real disk: every field survives, bad files get one clear error and are
left as they were, saves are atomic under kill -9, and secrets never land in a file."""

from __future__ import annotations

import base64
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from keyrings.alt.file import PlaintextKeyring

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.workspace import (
    Collection,
    Environment,
    Resolver,
    SavedMessage,
    SecretStore,
    SessionState,
    Variable,
    Workspace,
    WorkspaceError,
    default_workspace_path,
    load_workspace,
    save_workspace,
)
from core.workspace.secrets import forget_launch_secrets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_launch():
    forget_launch_secrets()
    yield
    forget_launch_secrets()


def full_profile(name: str = "full") -> ConnectionConfig:
    """Every field away from its default, so a field that is not saved shows up."""
    config = ConnectionConfig(
        url="wss://example.test:8443/live?room=1",
        name=name,
        headers=[("X-Trace", "abc"), ("Authorization", "Bearer hdr-secret"), ("X-Trace", "2")],
        subprotocols=["msgpack", "json"],
        token="tok-secret",
        token_mode="bearer",
        origin="https://app.example.test",
        cafile="/etc/ssl/ca.pem",
        insecure=True,
        compression=False,
        max_size=1234,
        open_timeout=3.5,
        close_timeout=1.5,
        queue_size=77,
        request_timeout=4.25,
        on_open=['{"type":"join","room":"{{room}}"}', "second"],
        decoder="socketio",
        protocol_client=False,
        protocol_options={"namespaces": "/chat,/admin", "init_payload": '{"t": "{{key}}"}'},
        heartbeat=HeartbeatConfig(interval=2.5, timeout=7.0, app_template='{"type":"ping"}',
                                  app_reply_type="pong!"),
        reconnect=ReconnectPolicy(enabled=False, initial=0.1, factor=3.0, max_delay=9.0,
                                  jitter=0.5, max_attempts=4, stable_after=2.0,
                                  max_protocol_errors=7, max_dns_errors=5),
    )
    defaults = ConnectionConfig(url="")
    for f in dataclasses.fields(ConnectionConfig):
        assert getattr(config, f.name) != getattr(defaults, f.name), f.name
    for part in ("heartbeat", "reconnect"):
        for f in dataclasses.fields(getattr(config, part)):
            assert getattr(getattr(config, part), f.name) != getattr(
                getattr(defaults, part), f.name), f"{part}.{f.name}"
    return config


def full_workspace() -> Workspace:
    return Workspace(
        profiles=[full_profile(), ConnectionConfig("ws://127.0.0.1:1/", name="plain")],
        collections=[Collection("chat", [
            SavedMessage("hello", "hi {{name}}"),
            SavedMessage("join", '{"type": "join_room", "room": "lobby"}', "json", "rooms/a",
                         as_request=True),
            SavedMessage("bin", "deadbeef", "hex", "raw"),
            SavedMessage("b64", "3q2+7w==", "base64"),
        ]), Collection("empty")],
        environments=[Environment("dev", [Variable("room", "lobby"),
                                          Variable("key", "var-secret", secret=True)]),
                      Environment("prod")],
        active_environment="dev",
        session=SessionState(open=["full", "ws://127.0.0.1:1/"], reopen_last=False),
    )


def test_round_trip_keeps_every_field(tmp_path) -> None:
    path = tmp_path / "w.toml"
    ws = full_workspace()
    save_workspace(ws, path, SecretStore(use_keyring=False))
    assert ws.path == path
    back = load_workspace(path, SecretStore(use_keyring=False))
    assert back.profiles == full_workspace().profiles
    assert back.collections == ws.collections and back.environments == ws.environments
    assert back.session == ws.session and back.active_environment == "dev"
    assert back.path == path and back.ignored == [] and back.extra == {}
    again = tmp_path / "again.toml"
    save_workspace(back, again, SecretStore(use_keyring=False))
    assert again.read_bytes() == path.read_bytes()  # stable: it diffs well


def test_the_documented_example_loads(tmp_path, monkeypatch) -> None:
    doc = (ROOT / "docs" / "workspaces.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.toml"
    path.write_text(example)
    ws = load_workspace(path, SecretStore(use_keyring=False))
    assert ws.ignored == [] and ws.extra == {}
    profile = ws.profile("staging feed")
    assert profile.reconnect.max_attempts == 10 and profile.heartbeat.app_template
    assert [m.format for m in ws.collection("chat").messages] == ["json", "text", "hex"]
    secrets = SecretStore(use_keyring=False)
    secrets.set("profile/staging feed/header/authorization", "Bearer from-the-store")
    monkeypatch.setenv("STAGING_TOKEN", "t0k")
    resolver = Resolver(ws.environment(), secrets)
    assert resolver(profile.url) == "wss://staging.example.com/feed?room=lobby"
    assert resolver(profile.token) == "t0k"
    assert resolver(profile.headers[1][1]) == "Bearer from-the-store"


def test_missing_file_is_an_empty_workspace(config_dir) -> None:
    assert default_workspace_path() == config_dir / "workspace.toml"
    ws = load_workspace()
    assert ws.profiles == [] and ws.path == config_dir / "workspace.toml"
    assert not config_dir.exists()  # reading never writes


def test_unknown_keys_are_ignored_and_newer_tables_kept(tmp_path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        'format = 9\n[plugins]\nfoo = 1\n[[profiles]]\nurl = "ws://a"\ncolour = "red"\n'
        "[profiles.heartbeat]\ninterval = 1\nshape = 2\n"
    )
    ws = load_workspace(path)
    assert ws.profiles[0].url == "ws://a" and ws.profiles[0].heartbeat.interval == 1.0
    assert ws.ignored == ["profiles[0].colour", "profiles[0].heartbeat.shape"]
    save_workspace(ws, path)
    assert load_workspace(path).extra == {"plugins": {"foo": 1}}


GOOD_PROFILES = '[[profiles]]\nurl = "ws://a"\nname = "a"\n\n[[profiles]]\nurl = "ws://b"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_PROFILES + "[profiles.heartbeat]\ninterval = \"x\"\n",
         'profiles[1].heartbeat.interval: expected a number, got "x"'),
        (GOOD_PROFILES + 'token_mode = "cookie"\n',
         'profiles[1].token_mode: expected one of "query", "bearer", got "cookie"'),
        (GOOD_PROFILES + "max_size = 0\n", "profiles[1]: max_size must be a positive number"),
        (GOOD_PROFILES + "max_size = 1.5\n", "profiles[1].max_size: expected a whole number"),
        (GOOD_PROFILES + "insecure = 1\n", "profiles[1].insecure: expected true or false, got 1"),
        (GOOD_PROFILES + "headers = [{name = \"A\", value = 3}]\n",
         "profiles[1].headers[0].value: expected text, got 3"),
        (GOOD_PROFILES + "on_open = \"hi\"\n", 'profiles[1].on_open: expected an array, got "hi"'),
        ('[[profiles]]\nname = "no url"\n', "profiles[0].url: missing (it is required)"),
        ("profiles = 3\n", "profiles: expected an array of tables ([[profiles]]), got 3"),
        ('[[environments]]\nname = "e"\nvariables = [{name = "v", secret = "yes"}]\n',
         'environments[0].variables[0].secret: expected true or false, got "yes"'),
        ('[[collections]]\nname = "c"\nmessages = [{name = "m", body = "", format = "xml"}]\n',
         'collections[0].messages[0].format: expected one of "text", "json", "hex", "base64"'),
        ("active_environment = 1\n", "active_environment: expected text, got 1"),
        ("[session]\nopen = [1]\n", "session.open[0]: expected text, got 1"),
        ("[profiles]\nurl = 1\n", "profiles: expected an array of tables"),
        ("a = 1\nb = \n", "not valid TOML: Invalid value (at line 2, column 5)"),
        ("a = " + "[" * 100_000, "not valid TOML: nested too deeply"),
        ("a = 1\nb = 'ok'\nc = '\xff\xfe'\n", None),  # written as latin-1 below: bad UTF-8
    ],
)
def test_bad_files_get_one_clear_line(tmp_path, text: str, message: str | None) -> None:
    path = tmp_path / "workspace.toml"
    data = text.encode("latin-1") if message is None else text.encode()
    path.write_bytes(data)
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(path)
    words = str(caught.value)
    assert words.startswith(f"{path}: ") and "\n" not in words
    assert (message or "not a text file (invalid UTF-8 at line 3, column 6)") in words
    assert path.read_bytes() == data  # nothing overwritten


def test_truncated_file_names_the_line(tmp_path) -> None:
    path = tmp_path / "w.toml"
    save_workspace(full_workspace(), path, SecretStore(use_keyring=False))
    whole = path.read_bytes()
    cut = whole[: whole.index(b'url = "ws://127.0.0.1') + 12]  # inside a string
    path.write_bytes(cut)
    line = cut.count(b"\n") + 1
    words = rf"not valid TOML: Unterminated string \(at the end of the file, line {line}\)"
    with pytest.raises(WorkspaceError, match=words):
        load_workspace(path)
    assert path.read_bytes() == cut


def test_fifty_megabytes_of_garbage_is_refused_quickly(tmp_path) -> None:
    path = tmp_path / "workspace.toml"
    with path.open("wb") as f:
        for _ in range(50):
            f.write(random.randbytes(1 << 20))
    started = time.monotonic()
    with pytest.raises(WorkspaceError, match=r"50\.0 MiB is too big for a workspace file "
                                              r"\(the limit is 16 MiB\)"):
        load_workspace(path)
    assert time.monotonic() - started < 5  # generous: it does not even read it
    assert path.stat().st_size == 50 << 20
    small = tmp_path / "small.toml"
    small.write_bytes(random.Random(7).randbytes(1 << 20))
    with pytest.raises(WorkspaceError, match=r"not a text file|not valid TOML"):
        load_workspace(small)


# ----- atomic saves under kill -9 ----------------------------------------------------------

CHILD = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from tests.core.test_core_workspace_files import big_workspace
from core.workspace import save_workspace, SecretStore
path, mode = sys.argv[2], sys.argv[3]
if mode == "pause":  # stop right before the rename: the new file is written, not yet in place
    real_replace = os.replace
    def replace(src, dst):
        sys.stdout.write("renaming\\n"); sys.stdout.flush(); time.sleep(30); real_replace(src, dst)
    os.replace = replace
store = SecretStore(use_keyring=False)
for i in range(10_000):
    save_workspace(big_workspace("B" if i % 2 == 0 else "A"), path, store)
    if i == 0:
        sys.stdout.write("saved\\n"); sys.stdout.flush()
"""


def big_workspace(version: str) -> Workspace:
    return Workspace(
        profiles=[ConnectionConfig(f"ws://127.0.0.1:{1000 + i}/{version}", name=f"p{i}",
                                   on_open=[version * 2000, f"{version}-{i}"])
                  for i in range(300)],
        active_environment=version,
    )


@pytest.mark.parametrize("mode", ["random", "pause"])
def test_kill_during_save_leaves_old_or_new_file(tmp_path, mode: str) -> None:
    path = tmp_path / "workspace.toml"
    save_workspace(big_workspace("A"), path)
    expected = {v: big_workspace(v).profiles for v in "AB"}
    rng = random.Random(12)
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(path), mode],
                                 cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() in ("saved", "renaming"), line
            if mode == "random":
                time.sleep(rng.uniform(0.0, 0.3))
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        ws = load_workspace(path)
        assert ws.active_environment in expected
        assert ws.profiles == expected[ws.active_environment]
    if mode == "pause":  # each kill left a complete temporary file that never replaced the old
        assert load_workspace(path).active_environment == "A"
        assert len(list(tmp_path.glob(".workspace.toml.*.tmp"))) == 5


def test_stale_temporary_files_are_removed(tmp_path) -> None:
    path = tmp_path / "workspace.toml"
    stale = tmp_path / ".workspace.toml.abc.tmp"
    fresh = tmp_path / ".workspace.toml.def.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"someone else's save in progress")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    save_workspace(Workspace(), path)
    assert not stale.exists() and fresh.exists()


# ----- secrets ----------------------------------------------------------------------------

SECRETS = ("s3cr3t-TOKEN-7f1e", "s3cr3t-HEADER-91ab", "s3cr3t-VAR-55cd", "s3cr3t-QUERY-0e0e",
           "s3cr3t-COOKIE-77aa")


def secret_workspace() -> Workspace:
    token, header, var, query, cookie = SECRETS
    return Workspace(
        profiles=[ConnectionConfig(
            "ws://127.0.0.1:9/live?room=1", name="prod {feed}",
            headers=[("Authorization", f"Bearer {header}"), ("Cookie", f"sid={cookie}"),
                     ("X-Api-Token", "{{var}}"), ("X-Plain", "visible")],
            token=token, on_open=["auth {{var}}"])],
        environments=[Environment("env", [Variable("var", var, secret=True)])],
        active_environment="env",
        session=SessionState(open=["prod {feed}",
                                   f"ws://u:pw@127.0.0.1:9/?token={query}&room=2"]),
    )


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def check_secrets_back(ws: Workspace, store: SecretStore) -> None:
    token, header, var, _, cookie = SECRETS
    profile = ws.profile("prod {feed}")
    assert profile.token == token
    assert profile.headers[:2] == [("Authorization", f"Bearer {header}"),
                                   ("Cookie", f"sid={cookie}")]
    resolver = Resolver(ws.environment(), store)
    assert resolver(profile.headers[2][1]) == var and resolver(profile.on_open[0]) == f"auth {var}"


@pytest.mark.parametrize("backend", ["memory", "keyring"])
def test_secrets_never_land_in_a_file(
    tmp_path, tmp_path_factory, config_dir, monkeypatch, backend: str
) -> None:
    """The keyring stands in for the OS's, so its file is elsewhere (keyrings.alt's plaintext
    backend only base64-encodes: exactly why the app refuses it as a default)."""
    monkeypatch.setenv("SOCKETSCOPE_DATA_DIR", str(tmp_path / "data"))
    if backend == "keyring":
        ring = PlaintextKeyring()
        ring.file_path = str(tmp_path_factory.mktemp("os-keyring") / "keyring.cfg")
        store = SecretStore(keyring_backend=ring)
    else:
        store = SecretStore(use_keyring=False)
    save_workspace(secret_workspace(), None, store)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert config_dir / "workspace.toml" in written
    for secret in SECRETS:
        for needle in (secret.encode(), base64.b64encode(secret.encode())):
            assert files_holding(tmp_path, needle) == [], secret
    text = (config_dir / "workspace.toml").read_text()
    assert "${secret:profile/prod (feed)/token}" in text
    assert '"{{var}}"' in text and "visible" in text
    assert "ws://127.0.0.1:9/?room=2" in text  # the session's URL lost its token and password
    check_secrets_back(load_workspace(None, store), store)  # the same launch
    if backend == "keyring":  # it is there, in the keyring's own file
        assert Path(ring.file_path).is_file()
        assert ring.get_password("SocketScope", "profile/prod (feed)/token") == SECRETS[0]
        assert ring.get_password("SocketScope", "env/env/var") == SECRETS[2]
    forget_launch_secrets()  # a new launch
    if backend == "keyring":
        relaunched = SecretStore(keyring_backend=ring)
        check_secrets_back(load_workspace(None, relaunched), relaunched)
        return
    asked: list[str] = []
    answers = {"profile/prod (feed)/token": SECRETS[0], "env/env/var": SECRETS[2]}
    fresh = SecretStore(ask=lambda key: asked.append(key) or answers.get(key), use_keyring=False)
    ws = load_workspace(None, fresh)
    profile = ws.profile("prod {feed}")
    assert profile.token == "${secret:profile/prod (feed)/token}"  # a reference until it is needed
    resolver = Resolver(ws.environment(), fresh)
    assert resolver(profile.token) == SECRETS[0] and resolver("{{var}}") == SECRETS[2]
    assert resolver(profile.token) == SECRETS[0]
    assert asked == ["profile/prod (feed)/token", "env/env/var"]
