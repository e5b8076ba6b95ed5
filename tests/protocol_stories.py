"""What the Connection-level protocol stories share: a real `Connection` + `EventHub` recording
every event, bounded waits, and the decoded messages and pairs read back from the events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from core.config import ConnectionConfig, HeartbeatConfig, ReconnectPolicy
from core.connection import Connection
from core.decoders.api import Message
from core.decoders.layer import default_registry
from core.decoders.pairing import Pair
from core.events import (
    Direction,
    Event,
    FrameEvent,
    MessagesDecoded,
    Opcode,
    PairsMatched,
    ProtocolDetected,
)
from core.hub import EventHub
from core.states import ConnState
from tests.servers.common import Endpoint


class Recorded:
    """One connection to a real server and everything its hub published."""

    def __init__(self, endpoint: Endpoint, detected_at_open: bool = True, **fields: Any) -> None:
        self.detected_at_open = detected_at_open  # False: detection waits for the first frames
        hub = EventHub()
        self.events: list[Event] = []
        hub.subscribe(self.events.append)
        fields.setdefault("reconnect", ReconnectPolicy(enabled=False))
        fields.setdefault("heartbeat", HeartbeatConfig(interval=0))  # the protocol's own only
        fields.setdefault("subprotocols", endpoint.subprotocols or [])
        self.conn = Connection(ConnectionConfig(endpoint.url, **fields), hub)

    async def __aenter__(self) -> Recorded:
        self.conn.connect()
        await self.conn.wait_for_state(ConnState.OPEN, 10)
        if self.detected_at_open:
            await self.until(lambda: self.of(ProtocolDetected), what="ProtocolDetected")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.disconnect()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def detected(self) -> ProtocolDetected:
        return self.of(ProtocolDetected)[0]

    @property
    def messages(self) -> list[Message]:
        return [m for e in self.of(MessagesDecoded) for _, m in e.items]

    @property
    def pairs(self) -> list[Pair]:
        return [p for e in self.of(PairsMatched) for p in e.pairs]

    def frames(self, direction: Direction) -> list[bytes]:
        return [e.payload for e in self.of(FrameEvent)
                if e.direction is direction and e.opcode in (Opcode.TEXT, Opcode.BINARY)]

    async def until(self, predicate: Callable[[], object], timeout: float = 8.0,
                    what: str = "") -> Any:
        try:
            async with asyncio.timeout(timeout):
                while not (found := predicate()):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
        return found

    async def message(self, wanted: Callable[[Message], bool], what: str,
                      timeout: float = 8.0) -> Message:
        """The first decoded message `wanted` picks, waiting for it (bounded)."""
        def first() -> Message | None:
            return next((m for m in self.messages if wanted(m)), None)
        return await self.until(first, timeout, what)

    async def pair(self, correlation: str, timeout: float = 8.0) -> Pair:
        def first() -> Pair | None:
            return next((p for p in self.pairs if p.request.correlation == correlation), None)
        return await self.until(first, timeout, f"the pair {correlation}")

    async def compose(self, template: str, values: Mapping[str, Any]) -> None:
        """The decoder's composer template, encoded and sent through `Connection.send`."""
        decoder = default_registry().get(self.detected.protocol or "")
        assert decoder is not None and template in decoder.templates()
        for out in decoder.encode(template, values):
            assert await self.conn.send(out.payload, text=out.text)

    def browser_topics(self) -> dict[tuple[str, ...], str]:
        """The Topics panel's tree (ui/topics_model.ConnTopics, fed what the bridge feeds it:
        every MessagesDecoded item): path -> state."""
        from ui.topics_model import ConnTopics

        topics = ConnTopics()
        for event in self.of(MessagesDecoded):
            for when, message in event.items:
                topics.add(when, message)
        return {path: stats.state for path, stats in topics.topics.items()}

    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.kind.name == "ERROR"]
