"""JSON in and out, with output that is safe to show in a naive viewer.

`dumps` escapes `<`, `>`, `&`, the C1 controls, DEL, U+2028/U+2029 and lone surrogates as
`\\uXXXX`, like Go's encoding/json (C0 controls are already escaped by `json.dumps`). Values are
unchanged for any JSON reader, but a reflected `<script>` or terminal escape never goes out raw.
These characters can only occur inside JSON strings, so rewriting the whole text is correct.

`loads` refuses NaN/Infinity, and numbers like 1e999 that overflow to infinity, so that everything
it returns can be written back out as JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps", "loads"]

_UNSAFE = re.compile("[<>&\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:16]} overflows")
    return value


def dumps(value: Any) -> str:
    """Compact JSON with the unsafe characters escaped; raises ValueError/TypeError if not JSON."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if _UNSAFE.search(text) is None:  # The common case: one C-speed scan, no copy.
        return text
    return _UNSAFE.sub(_escape, text)


def loads(text: str | bytes) -> Any:
    """Parse strict JSON; raises ValueError (or RecursionError when absurdly nested)."""
    return json.loads(text, parse_constant=_no_constants, parse_float=_finite)
