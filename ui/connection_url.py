"""A connection URL checked and its token taken out, for the dialog and the command line."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def validate_url(url: str) -> str | None:
    """None when `url` is a usable ws:// or wss:// URL, else what is wrong, in words."""
    url = url.strip()
    if not url:
        return "Enter a URL, e.g. ws://localhost:8765/"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"Not a valid URL: {exc}"
    if parts.scheme not in ("ws", "wss"):
        shown = parts.scheme or "no scheme"
        return f"The URL must start with ws:// or wss:// (got {shown})"
    if not parts.hostname:
        return "The URL has no host name"
    if any(c.isspace() for c in url):
        return "The URL contains spaces"
    return None


def split_token(url: str) -> tuple[str, str | None]:
    """Move a `token` query parameter out of the URL: (URL without it, the token or None).

    The connection puts the token back on the wire; kept apart, it is never shown in lists."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return url, None
    tokens = [v for k, v in query if k == "token"]
    if not tokens:
        return url, None
    rest = [(k, v) for k, v in query if k != "token"]
    return urlunsplit(parts._replace(query=urlencode(rest))), tokens[-1] or None
