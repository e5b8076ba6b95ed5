"""RFC 6455 close codes in words, so a user never has to look one up."""

from __future__ import annotations

CLOSE_CODES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away (server shutting down or page left)",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code received",
    1006: "abnormal closure (connection lost without a close frame)",
    1007: "invalid payload data (e.g. bad UTF-8)",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension missing",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure",
}


def describe_close(code: int | None) -> str:
    """'1008 policy violation' style text; codes 3000-4999 are application-defined."""
    if code is None:
        return "no close code"
    if code in CLOSE_CODES:
        return f"{code} {CLOSE_CODES[code]}"
    if 3000 <= code <= 4999:
        return f"{code} application-defined"
    return f"{code} unknown"
