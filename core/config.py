"""Settings of one connection, as plain dataclasses the UI edits and the CLI fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_MAX_SIZE = 16 * 1024 * 1024


@dataclass
class HeartbeatConfig:
    interval: float = 5.0  # protocol ping every interval; 0 disables
    timeout: float = 10.0  # a pong missing this long closes the connection
    app_template: str | None = None  # e.g. '{"type":"ping"}' to also measure app-level RTT
    app_reply_type: str = "pong"


@dataclass
class ReconnectPolicy:
    enabled: bool = True
    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2  # +/- fraction of each delay, so many clients don't retry in lockstep
    max_attempts: int | None = None  # None retries forever
    stable_after: float = 5.0  # uptime after which the backoff starts again from `initial`
    max_protocol_errors: int = 3  # consecutive protocol errors before giving up
    max_dns_errors: int = 3  # consecutive "host name not found" before giving up (a typo)


@dataclass
class ConnectionConfig:
    url: str
    name: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    token: str | None = None
    token_mode: Literal["query", "bearer"] = "query"
    origin: str | None = None
    cafile: str | None = None
    insecure: bool = False  # explicit opt-out of TLS verification, per connection
    compression: bool = True
    max_size: int = DEFAULT_MAX_SIZE  # never unlimited
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    queue_size: int = 1000
    request_timeout: float = 10.0
    on_open: list[str] = field(default_factory=list)  # sent first on every open (subscribe, auth)
    # The application protocol (core.decoders): "auto" detects it at open, "raw" decodes nothing,
    # else a decoder's name. The protocol client answers for us (Engine.IO pongs, CONNECT, ...):
    # None turns it on when the protocol is sure (URL signature, subprotocol, or chosen).
    decoder: str = "auto"
    protocol_client: bool | None = None
    # The session's options, {{variables}} resolved at each open: {"namespaces": "/chat"}, ...
    protocol_options: dict[str, str] = field(default_factory=dict)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)

    def __post_init__(self) -> None:
        if self.max_size <= 0:
            raise ValueError("max_size must be a positive number of bytes")
        if self.queue_size <= 0:
            raise ValueError("queue_size must be positive")

    @property
    def label(self) -> str:
        return self.name or self.url
