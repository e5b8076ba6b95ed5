"""HS256 JSON Web Tokens for the handshake: make one, or verify one into its claims.

Only HS256 is accepted, whatever the token's header says, so `alg: none` and algorithm-confusion
tokens fail. `exp` and `nbf` are checked when present. Every failure raises the one `TokenError`,
whose message is a fixed reason that never contains the token itself.

PyJWT warns on every call when an HMAC key is under 32 bytes; the development secret is shorter
on purpose, so the key length is reported once by the server instead (see `weak_secret`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from jwt import exceptions as jwt_errors
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS

__all__ = ["TokenError", "make_token", "verify_token", "weak_secret"]

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32


class TokenError(Exception):
    """The token is missing, malformed, expired, not yet valid or not signed by our secret."""


class _QuietHS256(HMACAlgorithm):
    """HS256 without PyJWT's per-call key-length warning (reported once via `weak_secret`)."""

    def check_key_length(self, key: bytes) -> str | None:
        return None


_JWS = PyJWS(algorithms=[ALGORITHM])
_JWS.unregister_algorithm(ALGORITHM)
_JWS.register_algorithm(ALGORITHM, _QuietHS256(HMACAlgorithm.SHA256))


def weak_secret(secret: str) -> bool:
    """True when the secret is shorter than RFC 7518 recommends for HS256."""
    return len(secret.encode()) < MIN_SECRET_BYTES


def make_token(
    secret: str, sub: str = "socketscope", ttl: float | None = 3600, **claims: Any
) -> str:
    """A signed HS256 token for `sub`, expiring after `ttl` seconds (never when None)."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now}
    if ttl is not None:
        payload["exp"] = now + ttl
    payload.update(claims)
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _JWS.encode(body, secret, algorithm=ALGORITHM, headers={"typ": "JWT"})


def verify_token(token: str, secret: str) -> dict[str, Any]:
    """The claims of a valid token; raises TokenError with a fixed reason otherwise."""
    if not isinstance(token, str) or not token:
        raise TokenError("missing token")
    try:
        header = _JWS.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm not allowed")
        body = _JWS.decode(token, secret, algorithms=[ALGORITHM])
    except TokenError:
        raise
    except jwt_errors.InvalidSignatureError:
        raise TokenError("bad signature") from None
    except jwt_errors.InvalidAlgorithmError:
        raise TokenError("algorithm not allowed") from None
    except Exception:  # DecodeError, bad base64, bad key: all just "malformed".
        raise TokenError("malformed token") from None
    try:
        claims = json.loads(body)
    except (ValueError, RecursionError):
        raise TokenError("malformed token") from None
    if not isinstance(claims, dict):
        raise TokenError("malformed token")
    _check_times(claims, time.time())
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TokenError("invalid claims")
    if "exp" in claims and claims["exp"] <= now:
        raise TokenError("expired token")
    if "nbf" in claims and claims["nbf"] > now:
        raise TokenError("token not yet valid")
