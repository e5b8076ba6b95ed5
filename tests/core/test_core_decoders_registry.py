"""Finding decoders through real entry points (distribution metadata on sys.path, as pip
installs it), surviving a broken plug-in, and detecting the right decoder by tier."""

from __future__ import annotations

import logging
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from core.decoders.api import ENTRY_POINT_GROUP, Decoder, Frame, Handshake
from core.decoders.registry import Detector, Registry, detect, load_entry_point
from core.events import Direction, Opcode
from tests.decoder_helpers import text

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "example_decoder"
BUILTINS = ["json", "embedded", "jsonrpc", "socketio", "graphql", "stomp", "mqtt"]


def install_metadata(site: Path, pyproject: Path) -> dict[str, str]:
    """Writes the .dist-info directory pip would write for `pyproject`'s project (just what
    importlib.metadata reads: METADATA and entry_points.txt); its entry points."""
    project = tomllib.loads(pyproject.read_text())["project"]
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    points = project["entry-points"][ENTRY_POINT_GROUP]
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return points


def test_example_plugin_package_is_found_through_its_entry_point(tmp_path, monkeypatch) -> None:
    install_metadata(tmp_path / "site", PLUGIN / "pyproject.toml")
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = Registry.from_entry_points()
    lines = registry.get("lines")
    assert lines is not None and isinstance(lines, Decoder)
    assert registry.choose(Handshake("ws://h/", "lines.v1"), []) is lines
    (m,) = lines.session(Handshake("ws://h/")).feed(text("PUB news hello"))
    assert (m.topic, m.payload) == ("news", "hello")


def test_builtins_register_through_the_same_group(tmp_path, monkeypatch, caplog) -> None:
    """Our own pyproject's entry points, installed as metadata, load every built-in; an entry
    whose module is missing (another branch's decoder not merged yet) is logged and skipped."""
    points = install_metadata(tmp_path / "site", ROOT / "pyproject.toml")
    assert set(BUILTINS) <= set(points)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with caplog.at_level(logging.WARNING):
        registry = Registry.from_entry_points()
    assert set(BUILTINS) <= set(registry.names)
    for failure in registry.failures:
        assert failure.name in points and failure.error
        assert failure.name in caplog.text
    for name in BUILTINS:
        decoder = registry.get(name)
        assert decoder.name == name and isinstance(decoder, Decoder)


def test_a_broken_plugin_is_logged_and_the_rest_load(tmp_path, monkeypatch, caplog) -> None:
    site = tmp_path / "site"
    bad = site / "broken_plugin-1.0.dist-info"
    bad.mkdir(parents=True)
    (bad / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (bad / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_xyz:decoder\n"
        f"notadecoder = json:dumps\n")
    install_metadata(site, PLUGIN / "pyproject.toml")
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    with caplog.at_level(logging.WARNING):
        registry = Registry.from_entry_points()
    assert "lines" in registry.names
    failed = {f.name: f.error for f in registry.failures}
    assert "ModuleNotFoundError" in failed["broken"]
    assert "not a decoder" in failed["notadecoder"]
    assert "broken" in caplog.text


def test_load_entry_point_accepts_a_class() -> None:
    ep = EntryPoint("jsonrpc", "core.decoders.jsonrpc:JsonRpcDecoder", ENTRY_POINT_GROUP)
    assert load_entry_point(ep).name == "jsonrpc"


def builtin_registry() -> Registry:
    points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    return Registry(load_entry_point(EntryPoint(name, value, ENTRY_POINT_GROUP))
                    for name, value in points[ENTRY_POINT_GROUP].items() if name in BUILTINS)


@pytest.mark.parametrize(("handshake", "first", "expected"), [
    (Handshake("ws://h/graphql", "graphql-transport-ws"), [], "graphql"),
    (Handshake("ws://h/socket.io/?EIO=4&transport=websocket"), [], "socketio"),
    (Handshake("ws://h/rpc"), [text('{"jsonrpc":"2.0","method":"a","id":1}')], "jsonrpc"),
    (Handshake("ws://h/"), [text('{"type":"connected","clientId":"c1","timestamp":1}')],
     "embedded"),
    (Handshake("ws://h/"), [text('{"op":"trade","id":5}')], "json"),
    (Handshake("ws://h/"), [], "json"),  # nothing seen yet: the generic fallback
    (Handshake("ws://h/"), [text("hello there")], None),
    # an exact subprotocol beats frames that look like another protocol
    (Handshake("ws://h/", "graphql-ws"), [text('{"jsonrpc":"2.0","method":"a","id":1}')],
     "graphql"),
    # a URL signature beats the first frames' shape
    (Handshake("ws://h/socket.io/?EIO=4"), [text('{"jsonrpc":"2.0","method":"a","id":1}')],
     "socketio"),
])
def test_detect_by_tier(handshake, first, expected) -> None:
    found = detect(handshake, first, builtin_registry().decoders)
    assert (found.name if found else None) == expected


def test_override_by_name_raw_and_unknown() -> None:
    registry = builtin_registry()
    hs = Handshake("ws://h/socket.io/?EIO=4")
    assert registry.choose(hs, [], "jsonrpc").name == "jsonrpc"
    assert registry.choose(hs, [], "raw") is None
    assert registry.choose(hs, [], "auto").name == "socketio"
    with pytest.raises(ValueError, match="no decoder named 'nope'"):
        registry.choose(hs, [], "nope")
    with pytest.raises(ValueError, match="cannot name a decoder"):
        registry.add(type("Raw", (), {"name": "raw"})())


def test_a_decoder_whose_score_raises_is_not_chosen(caplog) -> None:
    class Exploding:
        name = "boom"
        title = "boom"
        subprotocols = ()

        def score(self, handshake, first):
            raise RuntimeError("kaput")

    registry = builtin_registry()
    with caplog.at_level(logging.WARNING):
        found = detect(Handshake("ws://h/"), [text('{"type":"x"}')],
                       [Exploding(), *registry.decoders])
    assert found.name == "json" and "kaput" in caplog.text


def test_detector_decides_at_the_handshake_when_the_url_says_enough() -> None:
    d = Detector(builtin_registry().decoders, Handshake("ws://h/socket.io/?EIO=4"))
    assert d.start() and d.decoder.name == "socketio" and d.confident
    assert d.offer(text('{"jsonrpc":"2.0","method":"a","id":1}'))
    assert d.decoder.name == "socketio" and d.first == []


def test_detector_waits_for_a_telling_frame_and_holds_what_it_saw() -> None:
    d = Detector(builtin_registry().decoders, Handshake("ws://h/"), max_frames=3)
    assert not d.start()
    assert not d.offer(Frame(Direction.IN, Opcode.PING, b""))  # control frames are not held
    assert not d.offer(text("welcome"))  # says nothing: wait for more
    assert d.offer(text('{"jsonrpc":"2.0","method":"a","id":1}'))
    assert d.decoder.name == "jsonrpc" and d.confident and len(d.first) == 2


def test_detector_settles_for_the_fallback_after_max_frames_or_finish() -> None:
    d = Detector(builtin_registry().decoders, Handshake("ws://h/"), max_frames=2)
    d.start()
    assert not d.offer(text('{"op":"tick"}'))
    assert d.offer(text('{"op":"tick"}'))
    assert d.decoder.name == "json" and not d.confident
    quiet = Detector(builtin_registry().decoders, Handshake("ws://h/"))
    quiet.start()
    assert quiet.offer(text("plain words")) is False
    assert quiet.finish() is None  # nothing claims plain words: raw
