"""A protocol story's client: a plain `websockets` connection whose every frame, both ways, goes
through the project's decoders exactly as the app would see it: detection from the real
handshake and first frames (the registry's entry points), one decoder session, and a Pairer.

    async with Story.connect(endpoint) as story:
        await story.send(frame)                  # str, bytes or decoder Outgoing
        await story.until(lambda m: m.kind is Kind.RESPONSE)

`answer=True` makes it a protocol client (the session's on_open/answer/tick frames are sent),
which is how a story shows the connection surviving the server's ping timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from core.decoders.api import Decoder, DecoderSession, Frame, Handshake, Kind, Message, Outgoing
from core.decoders.pairing import Pair, Pairer
from core.decoders.registry import Detector, Registry
from core.events import Direction, Opcode
from tests.servers.common import Endpoint

MAX_FRAMES = 10_000  # a story that sees more has run away


class Story:
    def __init__(self, ws: ClientConnection, endpoint: Endpoint,
                 options: Mapping[str, Any] | None, answer: bool) -> None:
        self.ws = ws
        self.endpoint = endpoint
        self.options = options
        self.answer = answer
        headers = tuple(ws.response.headers.raw_items()) if ws.response else ()
        self.handshake = Handshake(endpoint.url, ws.subprotocol, (), headers)
        self.registry = Registry.from_entry_points()
        self.detector = Detector(self.registry.decoders, self.handshake)
        self.session: DecoderSession | None = None
        self.frames: list[Frame] = []
        self.messages: list[Message] = []
        self.pairs: list[Pair] = []
        self.pairer = Pairer()
        self._cursor = 0  # messages before it were looked at by `until`
        if self.detector.start():
            self._open_session()

    @classmethod
    @asynccontextmanager
    async def connect(cls, endpoint: Endpoint, options: Mapping[str, Any] | None = None,
                      answer: bool = False) -> Any:
        async with connect(endpoint.url, subprotocols=endpoint.subprotocols, open_timeout=10,
                           ping_interval=None, max_size=2**22) as ws:
            story = cls(ws, endpoint, options, answer)
            if answer and story.session is not None:
                await story._send_all(story.session.on_open())
            yield story

    @property
    def decoder(self) -> Decoder | None:
        return self.detector.decoder if self.detector.decided else None

    def _open_session(self) -> list[Message]:
        decoder = self.detector.decoder
        assert decoder is not None, "no decoder claimed the connection"
        self.session = (decoder.session(self.handshake, self.options) if self.options
                        else decoder.session(self.handshake))
        out: list[Message] = []
        for frame in self.detector.first:
            out.extend(self._decode(frame))
        return out

    def _decode(self, frame: Frame) -> list[Message]:
        assert self.session is not None
        found = list(self.session.feed(frame))
        for message in found:
            self.messages.append(message)
            pair = self.pairer.add("story", message, frame.time)
            if pair is not None:
                self.pairs.append(pair)
        return found

    def _record(self, frame: Frame) -> list[Message]:
        assert len(self.frames) < MAX_FRAMES, "the story ran away"
        self.frames.append(frame)
        if self.session is None:
            if not self.detector.offer(frame):
                return []
            return self._open_session()
        return self._decode(frame)

    async def send(self, data: str | bytes | Outgoing | Sequence[Outgoing]) -> list[Message]:
        """Sends one frame (or a template's frames) and decodes it as the app would."""
        if isinstance(data, Outgoing):
            data = [data]
        if isinstance(data, (list, tuple)):
            out: list[Message] = []
            for item in data:
                out += await self.send(item.payload.decode() if item.text else item.payload)
            return out
        await self.ws.send(data)
        text = isinstance(data, str)
        payload = data.encode() if isinstance(data, str) else data
        return self._record(Frame(Direction.OUT, Opcode.TEXT if text else Opcode.BINARY,
                                  payload, time.monotonic()))

    async def _send_all(self, frames: Sequence[Outgoing]) -> None:
        for item in frames:
            await self.send(item)

    async def recv(self, timeout: float = 5.0) -> list[Message]:
        """One received frame's messages (answering them when a protocol client)."""
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        opcode = Opcode.TEXT if isinstance(data, str) else Opcode.BINARY
        payload = data.encode() if isinstance(data, str) else data
        found = self._record(Frame(Direction.IN, opcode, payload, time.monotonic()))
        if self.answer and self.session is not None:
            for message in found:
                await self._send_all(self.session.answer(message))
        await self._tick()
        return found

    async def until(self, wanted: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """The first decoded message after the last one `until` returned that matches,
        receiving (and, as a protocol client, answering and ticking) until it comes;
        AssertionError with what came instead. Messages decoded by `send` count too."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            while self._cursor < len(self.messages):
                message = self.messages[self._cursor]
                self._cursor += 1
                if wanted(message):
                    return message
                seen.append(message.summary)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await self.recv(min(left, 0.5))
            except TimeoutError:
                await self._tick()
        raise AssertionError(f"no matching message within {timeout} s; saw {seen[-10:]}")

    async def collect(self, wanted: Callable[[Message], bool], count: int,
                      timeout: float = 10.0) -> list[Message]:
        """All decoded messages so far that match, receiving until there are `count`."""
        deadline = time.monotonic() + timeout
        while len(found := [m for m in self.messages if wanted(m)]) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(found)} of {count} matching messages in {timeout} s")
            try:
                await self.recv(min(left, 0.5))
            except TimeoutError:
                await self._tick()
        return found

    async def idle(self, seconds: float) -> None:
        """Receives (and answers, when a protocol client) for `seconds`, as an open app would."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                await self.recv(min(left, 0.5))
            except TimeoutError:
                await self._tick()
        self._cursor = len(self.messages)

    async def _tick(self) -> None:
        if self.answer and self.session is not None:
            await self._send_all(self.session.tick(time.monotonic()))

    async def closed_by_server(self, timeout: float = 10.0) -> tuple[int | None, list[Message]]:
        """Waits for the server's close; its code and what the decoder said about the close."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await self.recv(timeout)
        except ConnectionClosed:
            pass
        code = self.ws.close_code
        payload = code.to_bytes(2, "big") + (self.ws.close_reason or "").encode() if code else b""
        return code, self._record(Frame(Direction.IN, Opcode.CLOSE, payload, time.monotonic()))

    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.kind is Kind.ERROR]

    def malformed(self) -> list[str]:
        """Decoder complaints (not protocol errors the server meant to send)."""
        return [m.summary for m in self.messages if m.kind is Kind.ERROR and (
            m.summary.startswith(("malformed", "dropped")) or "switched off" in m.summary)]

    def kinds(self, direction: Direction | None = None) -> list[Kind]:
        return [m.kind for m in self.messages if direction is None or m.direction is direction]
