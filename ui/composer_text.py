"""The composer's text, checked and shaped without Qt: validation per mode, envelope,
pretty-printing, and `{{variables}}` (resolved when sent, so a check while typing must not
resolve them: `{{$seq}}` would count up on every keystroke)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.codecs import encode_object, preview
from core.events import Opcode

MODE_TEXT, MODE_MSGPACK, MODE_HEX, MODE_BASE64 = "text", "msgpack", "hex", "base64"
MODES = (
    (MODE_TEXT, "Text"),
    (MODE_MSGPACK, "Binary: MessagePack of the JSON"),
    (MODE_HEX, "Binary: hex"),
    (MODE_BASE64, "Binary: base64"),
)
Resolve = Callable[[str], str]
# {{name}}, {{$uuid}} ... as core.workspace resolves them (other text in braces is left alone).
VARIABLE = re.compile(r"\{\{\s*\$?[A-Za-z_][\w.\-]*\s*\}\}")


@dataclass(frozen=True)
class Checked:
    """The editor content checked for a mode: what to send, or why not."""

    ok: bool  # it can be sent
    message: str  # shown under the editor
    payload: bytes = b""
    is_text: bool = True
    value: Any = None  # the parsed JSON, when it is JSON
    is_json: bool = False
    error_at: tuple[int, int] | None = None  # (line, column) of a JSON error, 1-based


def check(text: str, mode: str) -> Checked:
    """Validate the editor text for `mode`."""
    if mode in (MODE_HEX, MODE_BASE64):
        return _check_binary(text, mode)
    if not text.strip():
        return Checked(False, "empty message")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        looks_json = text.lstrip()[:1] in ("{", "[", '"')
        if mode == MODE_MSGPACK:
            return Checked(False, f"not JSON: {where}", error_at=(exc.lineno, exc.colno))
        if looks_json:
            return Checked(
                True,
                f"{where} (it would go out as plain text)",
                text.encode(),
                error_at=(exc.lineno, exc.colno),
            )
        return Checked(True, f"plain text, {len(text.encode()):,} bytes", text.encode())
    kind = value.get("type") if isinstance(value, dict) else None
    what = "JSON object" if isinstance(value, dict) else f"JSON {type(value).__name__}"
    if isinstance(kind, str):
        what += f', type "{preview(Opcode.TEXT, kind.encode(), 40)}"'
    if mode == MODE_MSGPACK:
        if not isinstance(value, dict):
            return Checked(False, "MessagePack mode sends a JSON object", value=value, is_json=True)
        payload = encode_object(value, binary=True)
        return Checked(
            True, f"✓ {what} → {len(payload):,} bytes of MessagePack", payload, False, value, True
        )
    payload = text.encode()
    return Checked(True, f"✓ valid {what}, {len(payload):,} bytes", payload, True, value, True)


def _check_binary(text: str, mode: str) -> Checked:
    compact = "".join(text.split())
    if not compact:
        return Checked(False, "empty message")
    if mode == MODE_HEX:
        if compact[:2].lower() == "0x":
            compact = compact[2:]
        try:
            payload = bytes.fromhex(compact)
        except ValueError:
            bad = next((i for i, c in enumerate(compact) if c not in _HEX_DIGITS), None)
            if bad is not None:
                return Checked(False, f"not hex: {compact[bad]!r} at digit {bad + 1}")
            return Checked(False, f"odd number of hex digits ({len(compact)})")
    else:
        try:
            payload = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            return Checked(False, f"not base64: {exc}")
    return Checked(True, f"✓ {len(payload):,} bytes of binary", payload, False)


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def wrap_envelope(text: str) -> str:
    """`id` (kept or a new uuid), `type` (kept or "message"), the rest, `timestamp` (ms now).
    Text that is not JSON becomes the envelope's `data`; raises ValueError on broken JSON."""
    stripped = text.strip()
    try:
        value: Any = json.loads(stripped) if stripped else {}
    except json.JSONDecodeError as exc:
        if stripped[:1] in ("{", "["):
            raise ValueError(
                f"fix the JSON first: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        value = text
    if isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k not in ("id", "type", "timestamp")}
        msg_id = value.get("id") or str(uuid.uuid4())
        kind = value.get("type") if isinstance(value.get("type"), str) else "message"
    else:
        rest, msg_id, kind = {"data": value}, str(uuid.uuid4()), "message"
    obj = {"id": msg_id, "type": kind, **rest, "timestamp": int(time.time() * 1000)}
    return json.dumps(obj, indent=2, ensure_ascii=False)


def pretty(text: str, mode: str) -> str:
    """Indented JSON, or hex in rows of 16 bytes; ValueError when the text does not parse."""
    if mode == MODE_HEX:
        data = check(text, MODE_HEX)
        if not data.ok:
            raise ValueError(data.message)
        rows = [data.payload[i : i + 16].hex(" ") for i in range(0, len(data.payload), 16)]
        return "\n".join(rows)
    if mode == MODE_BASE64:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def check_unresolved(text: str, mode: str) -> Checked:
    """Check text whose `{{variables}}` are resolved only when sent: each stands in as `0`
    (a JSON number, or a digit inside a JSON string; nothing in hex or base64). The size is
    left out of the message: it is known only once resolved."""
    found = VARIABLE.findall(text)
    if not found:
        return check(text, mode)
    stand_in = "" if mode in (MODE_HEX, MODE_BASE64) else "0"
    result = check(VARIABLE.sub(stand_in, text), mode)
    count = len(set(found))
    note = f"{count} variable{'s' if count > 1 else ''}, resolved when sent"
    message = _SIZE_OF.sub(r" \1", _SIZE.sub("", result.message))
    return Checked(result.ok, f"{message} ({note})", b"", result.is_text, result.value,
                   result.is_json, result.error_at)  # fmt: skip


_SIZE = re.compile(r", [\d,]+ bytes$")
_SIZE_OF = re.compile(r" [\d,]+ bytes of (binary|MessagePack)")


def resolved(text: str, mode: str, resolve: Resolve | None) -> Checked:
    """The text resolved (through `resolve`, when given) and checked: what goes out now.
    A variable that does not resolve gives `ok` False and the resolver's words."""
    if resolve is not None:
        try:
            text = resolve(text)
        except Exception as exc:  # UnresolvedVariable, or a secret store that failed
            return Checked(False, str(exc) or type(exc).__name__)
    return check(text, mode)


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """The composer's text as a scheduled message (core.schedule.Message): resolved and
    encoded again for every send."""

    text: str
    mode: str

    def payload(self, resolve: Resolve | None = None) -> tuple[bytes, bool]:
        result = resolved(self.text, self.mode, resolve)
        if not result.ok:
            raise ValueError(result.message)
        return result.payload, result.is_text
