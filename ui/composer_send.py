"""What the composer's Send, Send as request and Repeat do: resolve and check the message, send it
to every target (or queue it offline), wait for replies, start repeats."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QPushButton

from core.codecs import preview
from core.events import Opcode
from core.facade import NotOpen, RequestTimeout, ScheduledMessage
from core.states import ConnState
from ui.bridge import CoreBridge
from ui.composer_editor import MessageEditor
from ui.composer_text import (
    MODE_BASE64,
    MODE_HEX,
    Checked,
    ComposedMessage,
    Resolve,
    resolved,
)
from ui.repeat_box import RepeatBox


class ComposerSend:
    """The sending half of ComposerPanel (a mixin): the panel shows, this sends."""

    bridge: CoreBridge
    editor: MessageEditor
    repeat_box: RepeatBox
    repeat_button: QPushButton
    reply_received: SignalInstance
    last_reply: Any
    _resolve: Resolve | None
    _queued_ids: set[int]

    if TYPE_CHECKING:  # the panel's, used here

        @property
        def mode(self) -> str: ...

        def validate(self) -> Checked: ...

        def targets(self) -> list[int]: ...

        def _say(self, text: str, error: bool = False) -> None: ...

        def _remember(self, text: str, mode: str) -> None: ...

        def _on_delivered(self, conn_id: int, removed: bool) -> None: ...

    def send(self) -> None:
        """Send the editor content to every target (Ctrl+Enter)."""
        result = self.validate()
        if not result.ok:
            self._say(f"not sent: {result.message}", error=True)
            return
        targets = self.targets()
        if not targets:
            self._say("not sent: no connection (add one in the connections panel)", error=True)
            return
        if (result := self._resolved()) is None:
            return
        self._remember(self.editor.toPlainText(), self.mode)
        self.bridge.run(self._send(targets, result.payload, result.is_text), "send")

    def send_request(self) -> None:
        """Send a JSON object with a fresh requestId and show the reply and its round trip."""
        if self.mode in (MODE_HEX, MODE_BASE64):
            self._say("a request is a JSON object: switch to Text or MessagePack mode", error=True)
            return
        result = self.validate()
        if not result.is_json or not isinstance(result.value, dict):
            self._say("not sent: a request must be a JSON object", error=True)
            return
        targets = self.targets()
        if not targets:
            self._say("not sent: no connection (add one in the connections panel)", error=True)
            return
        if (result := self._resolved()) is None:
            return
        if not isinstance(result.value, dict):  # a variable's value broke the object
            self._say("not sent: a request must be a JSON object", error=True)
            return
        self._remember(self.editor.toPlainText(), self.mode)
        value = {k: v for k, v in result.value.items() if k != "requestId"}
        self.bridge.run(self._requests(targets, value), "request")

    def start_repeat(self) -> None:
        """Repeat the editor content, or the collection chosen in the Repeat row, on every
        target, as the Repeat row is set."""
        try:
            collection = self.repeat_box.chosen()
        except ValueError as exc:
            self._say(f"not started: {exc}", error=True)
            return
        if collection is not None:
            self.repeat_messages(collection.messages, f"collection {collection.name}")
            return
        result = self.validate()
        if not result.ok:
            self._say(f"not started: {result.message}", error=True)
            return
        text, mode = self.editor.toPlainText(), self.mode
        label = preview(Opcode.TEXT, " ".join(text.split()).encode(), 40)
        if self.repeat_messages([ComposedMessage(text, mode)], label):
            self._remember(text, mode)

    def repeat_messages(self, messages: Sequence[ScheduledMessage], label: str) -> bool:
        """Repeat `messages` (ScheduledMessage: SavedMessage, ComposedMessage), in order,
        on every target as the Repeat row is set; False when none started."""
        self.repeat_button.setChecked(True)
        targets = self.targets()
        if not targets:
            self._say("not started: no connection (add one in the connections panel)", True)
            return False
        try:
            count = self.repeat_box.pace().count
            # The first round is built here, on the GUI thread: a variable that does not resolve
            # is an error now, and a secret the resolver must ask for is asked from here.
            first = messages[: min(len(messages), count or len(messages))]
            prepared = [message.payload(self._resolve) for message in first]
            described = [(i, self.bridge.label_of(i), self.bridge.state_of(i)) for i in targets]
            problems = self.repeat_box.start(described, messages, self._resolve, label, prepared)
        except Exception as exc:  # ValueError in words: settings, a variable, bad hex...
            self._say(f"not started: {exc}", error=True)
            return False
        self._say("\n".join(problems), error=bool(problems))
        return len(problems) < len(targets)

    async def _send(self, targets: list[int], payload: bytes, is_text: bool) -> None:
        commands = self.bridge.commands
        lines = []
        queued: set[int] = set()
        for conn_id in targets:
            if await commands.send(conn_id, payload, text=is_text):
                lines.append(f"sent {len(payload):,} bytes to {self.bridge.label_of(conn_id)}")
            else:
                lines.append(await self._queued(conn_id))
                queued.add(conn_id)
        self._say("\n".join(lines), error=bool(queued))
        self._queued_ids = queued  # after _say: the line now on show is about these
        for conn_id in queued:  # delivered already, before this line was up to hear of it
            if not await commands.queued(conn_id):
                self._on_delivered(conn_id, removed=False)

    async def _requests(self, targets: list[int], value: dict[str, Any]) -> None:
        waiting = []
        for conn_id in targets:
            timeout = self.bridge.commands.config(conn_id).request_timeout
            if self.bridge.state_of(conn_id) is ConnState.OPEN:
                label = self.bridge.label_of(conn_id)
                waiting.append(f"{label}: waiting up to {timeout:g} s for the reply…")
            else:
                waiting.append(f"{await self._queued(conn_id, extra=1)}; "
                               f"waiting up to {timeout:g} s")
        self._say("\n".join(waiting))
        lines = await asyncio.gather(*(self._request(conn_id, value) for conn_id in targets))
        self._say("\n".join(text for text, _ in lines), error=any(bad for _, bad in lines))

    async def _request(self, conn_id: int, value: dict[str, Any]) -> tuple[str, bool]:
        name = self.bridge.label_of(conn_id)
        try:
            reply = await self.bridge.commands.request(conn_id, value)
        except RequestTimeout:
            timeout = self.bridge.commands.config(conn_id).request_timeout
            return f"{name}: no reply within {timeout:g} s", True
        except (NotOpen, KeyError) as exc:
            return f"{name}: {exc}", True
        self.last_reply = reply
        self.reply_received.emit(reply)
        kind = reply.message.get("type")
        kind_text = preview(Opcode.TEXT, str(kind).encode(), 40) if kind is not None else "?"
        detail = ""
        if kind == "error":
            why = reply.message.get("error") or reply.message.get("message") or ""
            detail = f": {preview(Opcode.TEXT, str(why).encode(), 120)}"
        rtt_ms = reply.rtt * 1000
        return f"{name}: reply {kind_text}{detail} in {rtt_ms:.1f} ms", kind == "error"

    async def _queued(self, conn_id: int, extra: int = 0) -> str:
        count = await self.bridge.commands.queued(conn_id) + extra
        label = self.bridge.label_of(conn_id)
        return f"queued offline: will be sent when connection {label} opens ({count} queued)"

    def _resolved(self) -> Checked | None:
        """The editor content resolved and checked, ready to send; None (and why, in the
        status line) when a variable does not resolve or its value breaks the message."""
        result = resolved(self.editor.toPlainText(), self.mode, self._resolve)
        if not result.ok:
            self._say(f"not sent: {result.message}", error=True)
            return None
        return result
