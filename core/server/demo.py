"""Demo traffic: simulated clients that live inside the server, so a viewer shows life.

Bots are room members without a socket. They join a few rooms, chat at `rate` messages per second
each (Poisson arrivals) with varied, realistic payloads, now and then join or leave a room, and
answer private messages. Everything goes through the same `Hub` methods as real clients, so
real members see ordinary broadcast and presence traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from typing import Any

from .protocol import Hub, Rejected
from .rooms import Member

NAMES = (
    "ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "radia",
    "alan", "katherine", "guido", "hedy", "tim", "frances", "donald", "sophie",
)  # fmt: skip

LINES = (
    "morning all ☕",
    "did anyone look at the flaky test in CI?",
    "deploying to staging in 5",
    "LGTM, merging",
    "who broke the build 😅",
    "lunch? 🍜",
    "the p95 latency dropped after the cache change",
    "I'll take that ticket",
    "rebasing, hold on",
    "can someone review #482?",
    "works on my machine™",
    "café closes at 3 today",
    "naïve question: why is the queue backed up?",
    "日本語のテストです",
    "brb",
    "👍",
    "ok the fix is in, please retest",
    "heads up: db maintenance at 22:00 UTC",
)

SERVICES = ("api", "auth", "billing", "search", "gateway", "worker")


class DemoBots:
    """A changeable crowd of bots; all methods run on the server's loop."""

    def __init__(self, hub: Hub, rooms: tuple[str, ...], rng: random.Random | None = None) -> None:
        self._hub = hub
        self._rooms = rooms or ("lobby",)
        self._rng = rng or random.Random()
        self._bots: list[Member] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._rate = 0.0
        self._sent = 0

    @property
    def count(self) -> int:
        return len(self._bots)

    @property
    def sent(self) -> int:
        return self._sent

    def set(self, count: int, rate: float) -> None:
        """Grow or shrink the crowd to `count` bots chatting `rate` messages/s each."""
        count = max(0, int(count))
        while len(self._bots) > count:
            bot = self._bots.pop()
            self._stop_task(bot)
            self._hub.disconnect(bot)
        while len(self._bots) < count:
            self._bots.append(self._spawn(len(self._bots)))
        rate = max(0.0, float(rate))
        if rate != self._rate:
            self._rate = rate
            for bot in self._bots:
                self._stop_task(bot)
        for bot in self._bots:
            if rate > 0 and bot.client_id not in self._tasks:
                self._tasks[bot.client_id] = asyncio.get_running_loop().create_task(
                    self._chat(bot), name=f"demo-{bot.name}"
                )

    def stop(self) -> None:
        self.set(0, 0.0)

    # -- one bot --------------------------------------------------------------------------------

    def _spawn(self, index: int) -> Member:
        base = NAMES[index % len(NAMES)]
        lap = index // len(NAMES)
        name = f"{base}{lap + 1 if lap else ''}-bot"
        client_id = f"bot-{secrets.token_hex(4)}"
        bot = Member(client_id=client_id, name=name, dedup_key=client_id)
        bot.inbox = lambda message, bot=bot: self._heard(bot, message)
        self._hub.connect(bot)
        self._hub.join(bot, self._rooms[0])
        for room in self._rng.sample(self._rooms[1:], k=self._rng.randint(0, len(self._rooms) - 1)):
            self._hub.join(bot, room)
        return bot

    def _stop_task(self, bot: Member) -> None:
        task = self._tasks.pop(bot.client_id, None)
        if task is not None:
            task.cancel()

    async def _chat(self, bot: Member) -> None:
        rng = self._rng
        while True:
            await asyncio.sleep(rng.expovariate(self._rate))
            with contextlib.suppress(Rejected):
                self._act(bot)

    def _act(self, bot: Member) -> None:
        rng = self._rng
        roll = rng.random()
        outside = [room for room in self._rooms if room not in bot.rooms]
        if roll < 0.04 and outside:
            self._hub.join(bot, rng.choice(outside))
        elif roll < 0.08 and len(bot.rooms) > 1:
            self._hub.leave(bot, rng.choice(list(bot.rooms)))
        elif bot.rooms:
            self._hub.broadcast(bot, rng.choice(list(bot.rooms)), self._payload(bot))
            self._sent += 1
        else:
            self._hub.join(bot, self._rooms[0])

    def _heard(self, bot: Member, message: dict[str, Any]) -> None:
        """Answer private messages from real clients after a short, human-ish pause."""
        if message.get("type") != "private_message":
            return
        sender = self._hub.rooms.clients.get(str(message.get("from")))
        if sender is None or sender.is_bot:
            return
        reply = {"text": f"hi {sender.name}, {bot.name} here: I'm a demo bot 🤖", "echo": True}

        def answer() -> None:
            if bot in self._bots:
                with contextlib.suppress(Rejected):  # The sender may have left meanwhile.
                    self._hub.private_message(bot, sender.client_id, reply)

        asyncio.get_running_loop().call_later(self._rng.uniform(0.05, 0.4), answer)

    def _payload(self, bot: Member) -> Any:
        rng = self._rng
        roll = rng.random()
        if roll < 0.55:
            return {"text": rng.choice(LINES), "user": bot.name}
        if roll < 0.70:
            return {
                "kind": "metric",
                "host": f"{rng.choice(SERVICES)}-{rng.randint(1, 6)}",
                "cpu": round(rng.random(), 3),
                "mem_mb": rng.randint(180, 4096),
                "p95_ms": round(rng.lognormvariate(3.0, 0.6), 1),
            }
        if roll < 0.80:
            return {
                "kind": "deploy",
                "service": rng.choice(SERVICES),
                "version": f"1.{rng.randint(0, 24)}.{rng.randint(0, 9)}",
                "ok": rng.random() > 0.1,
                "tags": rng.sample(["canary", "hotfix", "blue", "green", "eu", "us"], k=2),
            }
        if roll < 0.88:
            return {"kind": "series", "values": [round(rng.gauss(50, 15), 2) for _ in range(12)]}
        if roll < 0.93:
            return {"kind": "typing", "user": bot.name}
        if roll < 0.97:
            return rng.choice(LINES)  # Plain string data, not an object.
        words = " ".join(rng.choice(LINES) for _ in range(40))
        return {"text": words, "long": True, "user": bot.name}
