"""How a connection and its figures read in every panel: its name, its URL without a secret,
sizes, counts, rates and durations."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.config import ConnectionConfig
from ui.numbers import compact, count


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def human_count(n: int) -> str:
    return count(n, "\u2009")  # thin space keeps big counts readable; compact past 99,999


def human_rate(rate: float | None) -> str:
    """Messages a second: '' while not open, '0' when idle, '12.5', '1.5k' from 1,000."""
    if rate is None:
        return ""
    if rate >= 1000:
        return compact(rate)
    return f"{rate:.1f}" if rate else "0"


def human_duration(seconds: float | None) -> str:
    """45 -> '45 s', 184 -> '3 m 04 s', 3720 -> '1 h 02 m'."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} m"


@lru_cache(maxsize=4096)
def masked_url(url: str) -> str:
    """The URL with any token in the query replaced, so a screenshot never shows a secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "token" not in parts.query:
        return url
    query = [(k, "…" if k.lower() in {"token", "access_token"} else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="…")))


@lru_cache(maxsize=4096)
def host_path(url: str) -> str:
    """'wss://user@example.com:8443/feed?token=x' -> 'example.com:8443/feed': short, no secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.netloc.rpartition("@")[2]
    return host + parts.path if host else url


def display_name(config: ConnectionConfig) -> str:
    """What every panel calls a connection: its name, else its host and path."""
    return config.name or host_path(config.url)
