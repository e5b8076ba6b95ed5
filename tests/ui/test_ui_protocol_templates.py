"""The composer's protocol templates: every decoder's templates in the Templates menu, a form
per placeholder, frames from Decoder.encode() loaded or sent (against a JSON-RPC websockets server
and the project's own MQTT decoder)."""

from __future__ import annotations

import json

from core.config import ConnectionConfig
from core.decoders.api import Frame
from core.decoders.mqtt import decoder as mqtt
from core.events import Direction, Opcode
from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from tests.ui.test_ui_topics_pairs import mqtt_handshake, rpc_server
from ui.composer_panel import ComposerPanel


async def test_composer_templates_mqtt_encodes_and_jsonrpc_call_is_answered(qtbot) -> None:
    bridge = make_bridge()
    composer = ComposerPanel(bridge)
    composer.show()
    server = await rpc_server()
    port = server.sockets[0].getsockname()[1]
    try:
        templates = composer.protocol_templates
        templates.rebuild()
        others = templates.others
        assert others is not None
        titles = {menu.title() for menu in others.findChildren(type(others))}
        assert {"MQTT 3.1.1 / 5.0", "JSON-RPC 2.0"} <= {t for t in titles if t}, titles
        # MQTT PUBLISH: binary, loaded as hex; the project's MQTT decoder reads it back
        assert templates.open(mqtt, "PUBLISH", {"topic": "room/1", "qos": "1",
                                                "payload": "hi there"})
        payload = bytes.fromhex(composer.editor.toPlainText())
        assert composer.mode == "hex"
        session = mqtt.session(mqtt_handshake())
        (message,) = session.feed(Frame(Direction.OUT, Opcode.BINARY, payload))
        assert (message.name, message.topic, message.fields["qos"]) == ("PUBLISH", "room/1", 1)
        assert message.payload == "hi there" or message.payload == b"hi there"
        # a wrong value is said in words, nothing loaded
        composer.load("")
        assert not templates.open(mqtt, "PUBLISH", {"topic": "a/#"})
        assert "wildcard" in composer.status.text() and composer.editor.toPlainText() == ""
        # JSON-RPC call: text, loaded and sent; the server answers it
        conn = bridge.manager.add(ConnectionConfig(url=f"ws://127.0.0.1:{port}", name="rpc"),
                                  connect=True)
        composer.set_connections([conn.id])
        await until(lambda: conn.state is ConnState.OPEN, 5, "open")
        rpc = next(d for d in templates_registry() if d.name == "jsonrpc")
        assert templates.open(rpc, "call", {"method": "add", "params": "[40, 2]", "id": "7"})
        assert json.loads(composer.editor.toPlainText()) == {
            "jsonrpc": "2.0", "method": "add", "params": [40, 2], "id": 7}
        replies: list[dict] = []
        bridge.tick.connect(lambda batch: replies.extend(
            json.loads(f.payload) for f in batch.frames
            if f.direction is Direction.IN and f.is_data))
        composer.send()
        await until(lambda: replies, 5, "the reply")
        assert replies[0] == {"jsonrpc": "2.0", "result": 42, "id": 7}
        # detected now: the connection's own protocol leads the menu
        await until(lambda: getattr(templates.target_decoder(), "name", None) == "jsonrpc", 5,
                    "detected")
        templates.rebuild()
        assert {"call", "notification"} <= {a.text() for a in composer.template_menu.actions()}
    finally:
        await bridge.manager.close_all()
        server.close()
        await server.wait_closed()
        bridge.stop()
        dispose(composer, bridge)


def templates_registry():  # type: ignore[no-untyped-def]
    from ui.decoded_feed import registry

    return registry().decoders


def test_template_dialog_has_one_field_per_placeholder_and_keeps_bad_input(qtbot) -> None:
    from core.decoders.stomp import decoder as stomp
    from ui.template_dialog import TemplateDialog
    from ui.templates import placeholders

    dialog = TemplateDialog(stomp, "SUBSCRIBE with receipt")
    qtbot.addWidget(dialog)
    assert list(dialog.fields) == placeholders(stomp.templates()["SUBSCRIBE with receipt"])
    assert dialog.fields["destination"].text() == "/queue/test"  # a default to edit
    dialog.fields["id"].setText("")
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted and "id is missing" in dialog.error.text()
    assert dialog.fields["destination"].text() == "/queue/test"  # nothing typed is lost
    dialog.fields["id"].setText("s-9")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    (frame,) = dialog.frames
    assert frame.payload.startswith(b"SUBSCRIBE\n") and b"id:s-9\n" in frame.payload
