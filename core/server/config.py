"""Settings of the embedded test server, in one plain dataclass.

Every limit of PROTOCOL.md is a field here so that tests, the CLI and the GUI can shrink or grow it
without touching the server code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerConfig:
    """What the server listens on, whom it admits and how much it tolerates."""

    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port; RoomServer.port tells which one.
    secret: str = "socketscope-dev-secret"
    auth: bool = True
    ping_interval: float = 20.0  # 0 disables the server's health pings.
    ping_timeout: float = 20.0
    origins: tuple[str, ...] = ()  # Empty allows every Origin.
    max_size: int = 1 << 20
    rate: float = 100.0  # Messages per second per connection (token bucket refill).
    burst: int = 200  # Bucket capacity.
    abuse_limit: int = 200  # This many excess messages ...
    abuse_window: float = 10.0  # ... within this many seconds: close 1008.
    max_conns_per_ip: int = 64
    max_rooms_per_client: int = 100
    max_write_buffer: int = 4 << 20  # A slower reader than this gets dropped.
    demo_bots: int = 0
    demo_rate: float = 1.0  # Messages per second per bot.
    demo_rooms: tuple[str, ...] = ("lobby", "dev", "random")
    tls_cert: str | None = None
    tls_key: str | None = None
    dedup_window: float = 600.0
    dedup_max: int = 10_000  # Remembered ids per client name.
    close_timeout: float = 3.0  # How long a closing handshake may take before abort.
    open_timeout: float = 10.0  # How long an opening handshake may take.
    log_capacity: int = 2000  # Server events kept until drained.
    redis_url: str | None = None  # Set: one instance of a cluster sharing rooms through Redis.
    cluster_name: str = "socketscope"  # Prefix of the Redis keys and channel of one cluster.
    cluster_instance: str = ""  # This instance's name in the cluster, unique; "" picks one.
    cluster_heartbeat: float = 1.0  # Seconds between presence refreshes and cluster re-reads.
    cluster_ttl: float = 3.0  # A silent instance's members vanish from Redis after this long.
    cluster_outbox: int = 10_000  # Messages waiting to be published, at most ...
    cluster_outbox_bytes: int = 8 << 20  # ... and this many bytes; more are counted as lost.

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert else "ws"
