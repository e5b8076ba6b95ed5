"""The Locust user that runs a load plan. SocketScope never imports this module (importing
locust patches the standard library for gevent): core/load/locustfile.py copies its source into
a generated locustfile and adds a subclass carrying the plan, so the file stands alone and a
worker on another machine can fetch it from the master (`locust -f - --worker`).

websocket-client blocks on sockets that gevent has patched, so each user's reader is a
(green) thread. permessage-deflate is not offered (websocket-client has none)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import random
import ssl
import threading
import time
import uuid
from typing import Any, ClassVar

import websocket
from locust import User, task
from locust.env import Environment

from core.load.match import matches  # inlined by locustfile.py

METHOD = "WS"


class ScenarioUser(User):
    abstract = True
    plan: ClassVar[dict[str, Any]] = {}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.ws: websocket.WebSocket | None = None
        self.lock = threading.Lock()
        self.pending: dict[str, float] = {}  # requestId -> send time (expect = "reply")
        self.waiting: list[float] = []  # send times awaiting a match (expect = "match")
        self.tag = uuid.uuid4().hex[:10]
        self.seq = itertools.count(1)
        self.cycle = itertools.cycle(self.plan["messages"])

    def wait_time(self) -> float:
        plan = self.plan
        interval = 1.0 / plan["rate"] * (1 + random.uniform(-plan["jitter"], plan["jitter"]))
        return float(interval + plan["think_time"])

    @task
    def step(self) -> None:
        self.expire()
        if self.ws is None:
            self.connect()
        else:
            self.send(next(self.cycle))

    def on_stop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.send_close()
            with contextlib.suppress(Exception):
                ws.shutdown()  # type: ignore[no-untyped-call]

    # ---- samples -----------------------------------------------------------------------------

    def fire(self, name: str, started: float, length: int = 0,
             error: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type=METHOD, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=length, exception=error, context={})

    def connect(self) -> None:
        plan, cfg = self.plan, self.plan["connection"]
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                plan["url"], header=[f"{n}: {v}" for n, v in plan["headers"]],
                subprotocols=cfg.get("subprotocols") or None, origin=cfg.get("origin"),
                timeout=cfg.get("open_timeout", 10.0), sslopt=_sslopt(cfg),
                enable_multithread=True)
        except Exception as exc:
            self.fire("connect", started, error=exc)
            return
        self.fire("connect", started)
        ws.settimeout(None)
        self.ws = ws
        threading.Thread(target=self.receive, args=(ws,), daemon=True).start()
        try:  # part of opening, as for the core's Connection: no samples of their own
            for text in cfg.get("on_open", []):
                ws.send(text)
        except Exception:
            self.ws = None  # connect again on the next step

    def send(self, message: dict[str, Any]) -> None:
        ws = self.ws
        assert ws is not None
        data: str | bytes
        request_id = ""
        if not message["text"]:
            data = base64.b64decode(message["data"])
        elif self.plan["expect"] == "reply":
            request_id = f"{self.tag}-{next(self.seq)}"
            data = json.dumps({**json.loads(message["data"]), "requestId": request_id},
                              separators=(",", ":"))
        else:
            data = message["data"]
        started = time.perf_counter()
        try:
            if isinstance(data, bytes):
                ws.send_binary(data)
            else:
                ws.send(data)
        except Exception as exc:
            self.fire("send", started, error=exc)
            self.ws = None  # connect again on the next step
            return
        self.fire("send", started, len(data))
        with self.lock:
            if self.plan["expect"] == "reply":
                self.pending[request_id] = started
            elif self.plan["expect"] == "match":
                self.waiting.append(started)

    def expire(self) -> None:
        """Expectations past `within` count as failures."""
        limit = time.perf_counter() - self.plan["within"]
        with self.lock:
            late = [t for t in self.pending.values() if t < limit]
            self.pending = {k: t for k, t in self.pending.items() if t >= limit}
            late += [t for t in self.waiting if t < limit]
            self.waiting = [t for t in self.waiting if t >= limit]
        for started in late:
            self.fire("reply", started,
                      error=TimeoutError(f"no reply within {self.plan['within']:g} s"))

    # ---- the reader --------------------------------------------------------------------------

    def receive(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                opcode, data = ws.recv_data()
            except Exception:
                break  # closed, by us or the server; pending expectations will expire
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self.received(data)
        if self.ws is ws:
            self.ws = None

    def received(self, data: bytes) -> None:
        try:
            obj = json.loads(data)
        except ValueError:
            return
        if not isinstance(obj, dict):
            return
        plan = self.plan
        if plan["expect"] == "reply":
            with self.lock:
                started = self.pending.pop(str(obj.get("requestId")), None)
            if started is not None:
                kind = obj.get("type")
                bad = kind in plan["fail_types"]
                error = RuntimeError(f"a {kind!r} reply: {obj.get('message', '')}") if bad else None
                self.fire("reply", started, len(data), error)
        elif plan["expect"] == "match" and matches(obj, plan["match"]):
            with self.lock:
                started = self.waiting.pop(0) if self.waiting else None
            if started is not None:
                self.fire("reply", started, len(data))


def _sslopt(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg.get("insecure"):
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    return {"ca_certs": cfg["cafile"]} if cfg.get("cafile") else {}
