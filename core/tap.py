"""A websockets client connection that hands every parsed frame straight to the engine.

The stock connection queues data frames for `recv()` and drops control frames from view; an
inspector needs every frame (ping, pong, close included) with its opcode, and handling each one
as it is parsed costs less than a queue plus a task wake-up per message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

FrameSink = Callable[[Frame], None]


class TapConnection(ClientConnection):
    """Frames that arrive before the engine attaches (right behind the handshake response)
    are held and replayed, so no frame is seen before the connection is reported open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink: FrameSink | None = None
        self._early: list[Frame] = []

    def attach(self, sink: FrameSink) -> None:
        self._sink = sink
        early, self._early = self._early, []
        for frame in early:
            sink(frame)

    def process_event(self, event: Event) -> None:
        if self.response is None:  # the handshake response comes first
            super().process_event(event)
            return
        assert isinstance(event, Frame)
        if event.opcode is Opcode.PONG:
            self.acknowledge_pings(bytes(event.data))
        if self._sink is None:
            self._early.append(event)
        else:
            self._sink(event)

    def fail(self, code: int, reason: str) -> None:
        """Close with an error code from inside the receive path (no await possible there)."""
        self.protocol.fail(code, reason)
        self.send_data()
