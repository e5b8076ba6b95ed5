"""Comparing a replay's replies with the recorded ones: JSON-aware, ignoring named fields.

Replies are paired by requestId (or id) when both sides carry one that an outbound message
carried too (a server's own ids, e.g. of chat messages, differ on every run and pair nothing);
the others by order, aligned so that one missing reply does not shift every later one into
"changed": equal replies anchor the alignment, and between anchors replies pair in order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

from core.events import FrameEvent, Opcode

Status = Literal["same", "changed", "missing", "extra"]
ID_KEYS = ("requestId", "id")
PREVIEW_CHARS = 2000  # of each payload in a diff line
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """An inbound data frame and the outbound message it followed (-1: before the first)."""

    frame: FrameEvent
    after: int


@dataclass(frozen=True, slots=True)
class ReplyDiff:
    status: Status
    conn_id: int
    after: int  # index of the outbound message the reply followed (recorded side if any)
    recorded: FrameEvent | None
    replayed: FrameEvent | None
    paths: tuple[str, ...] = ()  # where a changed reply differs ("$" is the whole payload)
    key: str | None = None  # the requestId/id the pair was matched by

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"result": self.status, "conn": self.conn_id,
                                  "after": self.after}
        if self.key is not None:
            record["id"] = self.key
        if self.paths:
            record["paths"] = list(self.paths)
        if self.recorded is not None:
            record["recorded"] = _preview(self.recorded)
        if self.replayed is not None:
            record["replayed"] = _preview(self.replayed)
        return record


class IgnoreRules:
    """FIELD matches that key at any depth; a dotted path (`data.ts`, `items.*.ts`) matches
    from the top (`*` is any key or list index)."""

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self.keys = {f for f in fields if "." not in f}
        self.paths = [tuple(f.split(".")) for f in fields if "." in f]

    def ignored(self, path: tuple[str, ...]) -> bool:
        if path and path[-1] in self.keys:
            return True
        return any(len(p) == len(path) and all(a in ("*", b) for a, b in zip(p, path, strict=True))
                   for p in self.paths)

    def strip(self, value: Any, path: tuple[str, ...] = ()) -> Any:
        """`value` without the ignored fields (list items stay, so indexes do not move)."""
        if isinstance(value, dict):
            return {k: self.strip(v, (*path, k)) for k, v in value.items()
                    if not self.ignored((*path, k))}
        if isinstance(value, list):
            return [self.strip(v, (*path, str(i))) for i, v in enumerate(value)]
        return value


def compare(recorded: FrameEvent, replayed: FrameEvent, rules: IgnoreRules) -> tuple[str, ...]:
    """The paths where the two payloads differ; () when they are the same."""
    if recorded.opcode is not replayed.opcode:
        return ("$opcode",)
    left, right = _parsed(recorded), _parsed(replayed)
    if left is _MISSING or right is _MISSING:
        return () if recorded.payload == replayed.payload else ("$",)
    return tuple(_diff_paths(rules.strip(left), rules.strip(right), ()))


def _diff_paths(left: Any, right: Any, path: tuple[str, ...]) -> Iterable[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in list(left) + [k for k in right if k not in left]:
            yield from _diff_paths(left.get(key, _MISSING), right.get(key, _MISSING),
                                   (*path, key))
    elif isinstance(left, list) and isinstance(right, list):
        for i in range(max(len(left), len(right))):
            yield from _diff_paths(left[i] if i < len(left) else _MISSING,
                                   right[i] if i < len(right) else _MISSING, (*path, str(i)))
    elif not _equal(left, right):
        yield _dotted(path)


def _equal(left: Any, right: Any) -> bool:
    """JSON's equality: 1 and 1.0 are the same number, 1 and true are not."""
    numbers = (int, float)
    if (isinstance(left, numbers) and isinstance(right, numbers)
            and not isinstance(left, bool) and not isinstance(right, bool)):
        return bool(left == right)
    return type(left) is type(right) and left == right


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "$"


def diff_replies(
    conn_id: int,
    recorded: Sequence[Reply],
    replayed: Sequence[Reply],
    outbound_ids: set[str],
    rules: IgnoreRules,
) -> list[ReplyDiff]:
    """One ReplyDiff per recorded or replayed reply, in the recorded order, extras last."""
    left_ids, left_rest = _split_by_id(recorded, outbound_ids)
    right_ids, right_rest = _split_by_id(replayed, outbound_ids)
    results: list[ReplyDiff] = []
    for key, lefts in left_ids.items():
        rights = right_ids.pop(key, [])
        for i, left in enumerate(lefts):
            right = rights[i] if i < len(rights) else None
            results.append(_pair(conn_id, left, right, rules, key))
        results.extend(_pair(conn_id, None, r, rules, key) for r in rights[len(lefts):])
    results.extend(_aligned(conn_id, left_rest, right_rest, rules))
    for key, rights in right_ids.items():
        results.extend(_pair(conn_id, None, r, rules, key) for r in rights)
    order = {"same": 0, "changed": 0, "missing": 0, "extra": 1}
    results.sort(key=lambda d: (order[d.status],
                                (d.recorded or d.replayed).time))  # type: ignore[union-attr]
    return results


def _aligned(
    conn_id: int, left: list[Reply], right: list[Reply], rules: IgnoreRules
) -> list[ReplyDiff]:
    matcher = SequenceMatcher(None, [_canonical(r.frame, rules) for r in left],
                              [_canonical(r.frame, rules) for r in right], autojunk=False)
    results = []
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            a = left[i1 + k] if i1 + k < i2 else None
            b = right[j1 + k] if j1 + k < j2 else None
            results.append(_pair(conn_id, a, b, rules, None))
    return results


def _pair(
    conn_id: int, left: Reply | None, right: Reply | None, rules: IgnoreRules, key: str | None
) -> ReplyDiff:
    if left is None:
        assert right is not None
        return ReplyDiff("extra", conn_id, right.after, None, right.frame, (), key)
    if right is None:
        return ReplyDiff("missing", conn_id, left.after, left.frame, None, (), key)
    paths = compare(left.frame, right.frame, rules)
    return ReplyDiff("changed" if paths else "same", conn_id, left.after, left.frame,
                     right.frame, paths, key)


def _split_by_id(
    replies: Sequence[Reply], outbound_ids: set[str]
) -> tuple[dict[str, list[Reply]], list[Reply]]:
    keyed: dict[str, list[Reply]] = {}
    rest = []
    for reply in replies:
        key = message_id(reply.frame)
        if key is not None and key in outbound_ids:
            keyed.setdefault(key, []).append(reply)
        else:
            rest.append(reply)
    return keyed, rest


def message_id(frame: FrameEvent) -> str | None:
    """The requestId (else id) of a JSON object message, as text."""
    value = _parsed(frame)
    if not isinstance(value, dict):
        return None
    for key in ID_KEYS:
        if isinstance(value.get(key), str | int) and not isinstance(value.get(key), bool):
            return str(value[key])
    return None


def _canonical(frame: FrameEvent, rules: IgnoreRules) -> str:
    value = _parsed(frame)
    if value is _MISSING:
        return f"{int(frame.opcode)}:{frame.payload.hex()}"
    return "j:" + json.dumps(rules.strip(value), sort_keys=True)


def _parsed(frame: FrameEvent) -> Any:
    if frame.opcode is not Opcode.TEXT:
        return _MISSING
    try:
        return json.loads(frame.payload)
    except (ValueError, RecursionError):
        return _MISSING


def _preview(frame: FrameEvent) -> dict[str, Any]:
    if frame.opcode is Opcode.TEXT:
        text = frame.payload.decode("utf-8", errors="replace")
        shown: dict[str, Any] = {"text": text[:PREVIEW_CHARS]}
    else:
        shown = {"base64": base64.b64encode(frame.payload[:PREVIEW_CHARS]).decode("ascii")}
    if frame.size > PREVIEW_CHARS:
        shown["size"] = frame.size
    return {"time": round(frame.time, 6), "opcode": int(frame.opcode), **shown}


def summarize(diffs: Iterable[ReplyDiff]) -> dict[str, int]:
    counts = {"same": 0, "changed": 0, "missing": 0, "extra": 0}
    for diff in diffs:
        counts[diff.status] += 1
    return counts
