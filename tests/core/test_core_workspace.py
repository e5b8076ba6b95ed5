"""Workspace model, {{variable}} resolution and the secret store, without files or sockets."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import keyring
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from core.errors import describe_error
from core.workspace import (
    Environment,
    Resolver,
    SavedMessage,
    SecretStore,
    UnresolvedVariable,
    Variable,
    Workspace,
)
from core.workspace.secrets import forget_launch_secrets, keyring_usable


@pytest.fixture(autouse=True)
def _fresh_launch():
    forget_launch_secrets()
    yield
    forget_launch_secrets()


def env(**values: str) -> Environment:
    return Environment("dev", [Variable(k, v) for k, v in values.items()])


def test_variables_resolve_from_the_environment_and_nested_references() -> None:
    environment = env(host="127.0.0.1:9", token="${env:SS_TEST_TOKEN}", url="ws://{{host}}/x")
    resolver = Resolver(environment, environ={"SS_TEST_TOKEN": "t-123", "HOME": "/h"})
    assert resolver.resolve("{{url}}?token={{ token }}") == "ws://127.0.0.1:9/x?token=t-123"
    assert resolver("home ${env:HOME}") == "home /h"
    assert resolver('{"a": {"b": 1}} {{ not a name }}') == '{"a": {"b": 1}} {{ not a name }}'
    assert resolver.names("{{url}} {{$seq}} {{url}} ${env:HOME}") == ["url", "$seq"]


def test_builtins_are_fresh_on_every_call() -> None:
    resolver = Resolver()
    assert [resolver("{{$seq}}") for _ in range(3)] == ["1", "2", "3"]
    assert Resolver()("{{$seq}}") == "1"  # one sequence per resolver
    first, second = resolver("{{$uuid}}"), resolver("{{$uuid}}")
    assert first != second and uuid.UUID(first).version == 4
    assert 0 <= int(resolver("{{$randomInt}}")) <= 1000
    stamp = int(resolver("{{$timestamp}}"))
    iso = resolver("{{$isoTimestamp}}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso)
    assert abs(datetime.fromisoformat(iso).timestamp() - stamp) < 5


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{{missing}}", "unknown variable {{missing}} (environment 'dev')"),
        ("${env:SS_SURELY_UNSET}", "environment variable SS_SURELY_UNSET is not set"),
        ("{{$nope}}", "unknown built-in variable {{$nope}}"),
        ("{{loop}}", "refers to itself (loop -> again -> loop)"),
        ("${secret:nowhere}", "${secret:nowhere} has no value in the secret store"),
    ],
)
def test_unresolved_names_the_variable(text: str, words: str) -> None:
    resolver = Resolver(env(loop="{{again}}", again="{{loop}}"), SecretStore(use_keyring=False),
                        environ={})
    with pytest.raises(UnresolvedVariable) as caught:
        resolver(text)
    assert words in str(caught.value)
    info = describe_error(caught.value, "ws://h/")
    assert info.retry is False and info.message == str(caught.value)


def test_unknown_variable_without_an_environment() -> None:
    with pytest.raises(UnresolvedVariable, match="no active environment"):
        Resolver()("{{token}}")


def test_secret_variable_is_read_from_the_store() -> None:
    secrets = SecretStore(use_keyring=False)
    secrets.set("env/dev/api", "from-store")
    environment = Environment("dev", [Variable("api", "", secret=True),
                                      Variable("typed", "in-memory {{api}}", secret=True)])
    resolver = Resolver(environment, secrets)
    assert resolver("{{api}}|{{typed}}") == "from-store|in-memory from-store"


@pytest.mark.parametrize("backend", [fail.Keyring, PlaintextKeyring])
def test_no_keyring_or_a_plain_file_one_means_memory(backend, tmp_path) -> None:
    """The fail backend (this machine's default before keyrings.alt) stores nothing, and
    keyrings.alt's file backends keep secrets in a file: neither is used by default."""
    instance = backend()
    if isinstance(instance, PlaintextKeyring):
        instance.file_path = str(tmp_path / "keyring.cfg")
    assert not keyring_usable(instance)
    previous = keyring.get_keyring()
    keyring.set_keyring(instance)
    try:
        store = SecretStore()
        assert store.backend == "memory"
        store.set("k", "v")
        assert store.get("k") == "v" and SecretStore().peek("k") == "v"  # one launch, one memory
        store.delete("k")
        assert store.peek("k") is None
    finally:
        keyring.set_keyring(previous)
    assert not (tmp_path / "keyring.cfg").exists()


def test_a_missing_secret_is_asked_for_once_per_launch() -> None:
    asked: list[str] = []

    def ask(key: str) -> str | None:
        asked.append(key)
        return "typed" if key == "a" else None

    store = SecretStore(ask=ask, use_keyring=False)
    assert [store.get("a"), store.get("a"), store.get("b"), store.get("b")] == [
        "typed", "typed", None, None]
    assert asked == ["a", "b"]
    assert SecretStore(ask=ask, use_keyring=False).get("b") is None and asked == ["a", "b"]
    forget_launch_secrets()  # the next launch asks again
    assert SecretStore(ask=ask, use_keyring=False).get("a") == "typed" and asked[-1] == "a"


def test_keyring_backend_keeps_the_secret(tmp_path) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    store = SecretStore(keyring_backend=backend)
    assert store.backend == "keyring (PlaintextKeyring)"
    store.set("profile/x/token", "kv")
    forget_launch_secrets()  # survives a new launch, unlike memory
    assert SecretStore(keyring_backend=backend).get("profile/x/token") == "kv"
    store.delete("profile/x/token")
    assert store.peek("profile/x/token") is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (SavedMessage("t", "hi {{name}}"), (b"hi ana", True)),
        (SavedMessage("j", '{"to": "{{name}}"}', "json"), (b'{"to": "ana"}', True)),
        (SavedMessage("h", "de ad\nBE EF", "hex"), (b"\xde\xad\xbe\xef", False)),
        (SavedMessage("b", "3q2+7w==", "base64"), (b"\xde\xad\xbe\xef", False)),
        (SavedMessage("raw", "{{x}}", "hex", as_request=True), None),
    ],
)
def test_saved_message_payloads(message: SavedMessage, expected) -> None:
    resolver = Resolver(env(name="ana"))
    if expected is None:
        with pytest.raises(ValueError, match="'raw' is not valid hex"):
            message.payload(resolver)
    else:
        assert message.payload(resolver) == expected


def test_bad_json_and_base64_are_clear() -> None:
    with pytest.raises(ValueError, match="'j' is not valid JSON"):
        SavedMessage("j", '{"a": {{n}}', "json").payload(Resolver(env(n="1,")))
    with pytest.raises(ValueError, match="'b' is not valid base64"):
        SavedMessage("b", "@@@", "base64").payload()


def test_workspace_helpers() -> None:
    from core.config import ConnectionConfig

    ws = Workspace(environments=[env(a="1"), Environment("prod")], active_environment="prod")
    assert ws.environment().name == "prod" and ws.environment("dev").variable("a").value == "1"
    assert ws.environment("nope") is None
    ws.save_profile(ConnectionConfig("ws://a", name="one"))
    ws.save_profile(ConnectionConfig("ws://b", name="two"))
    ws.save_profile(ConnectionConfig("ws://c", name="one"))
    assert [(p.name, p.url) for p in ws.profiles] == [("one", "ws://c"), ("two", "ws://b")]
    assert ws.profile("two").url == "ws://b" and ws.profile("x") is None
    created = ws.collection("saved")
    assert ws.collection("saved") is created and len(ws.collections) == 1
