"""JSON-RPC 2.0: requests (a present `"id": null` is still a request), notifications,
responses, errors by code with the standard names, and batches (one message per member)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from core.decoders.api import (
    EXACT_SUBPROTOCOL,
    FIRST_FRAMES,
    NOT_MINE,
    Frame,
    Handshake,
    Kind,
    Message,
    Outgoing,
)
from core.decoders.jsonbits import (
    NOT_JSON,
    Recent,
    StatelessSession,
    by_server,
    error,
    first_objects,
    parse,
    short,
    text_frame,
    value_of,
)

NAME = "jsonrpc"
MAX_BATCH = 10_000  # members decoded from one batch; the rest are counted in one message
CODES = {
    -32700: "Parse error",
    -32600: "Invalid Request",
    -32601: "Method not found",
    -32602: "Invalid params",
    -32603: "Internal error",
}


def code_name(code: Any) -> str:
    if isinstance(code, int) and not isinstance(code, bool):
        if code in CODES:
            return CODES[code]
        if -32099 <= code <= -32000:
            return "Server error"
    return "error"


def correlation(ident: Any, server: bool) -> str:
    """"rpc:" + the id as JSON (so 1 and "1" stay different, as the spec says they are);
    "rpc-srv:" when the server asked (LSP and MCP servers send requests too)."""
    return ("rpc-srv:" if server else "rpc:") + json.dumps(ident, separators=(",", ":"))


class JsonRpcSession(StatelessSession):
    """Remembers each request's method (bounded) so its reply is named after it."""

    def __init__(self) -> None:
        super().__init__(self.decode)
        self.methods = Recent()

    def decode(self, frame: Frame) -> Sequence[Message]:
        value = parse(frame)
        if value is NOT_JSON:
            return (error(NAME, "not JSON", frame),) if frame.payload.strip() else ()
        if not isinstance(value, list):
            return (self.decode_one(value, frame, None),)
        if not value:
            return (error(NAME, "empty batch", frame),)
        messages = [self.decode_one(item, frame, i) for i, item in enumerate(value[:MAX_BATCH])]
        if len(value) > MAX_BATCH:
            messages.append(error(NAME, f"batch of {len(value)}: only the first {MAX_BATCH} "
                                  "decoded", frame))
        return messages

    def decode_one(self, obj: Any, frame: Frame, batch: int | None) -> Message:
        fields: dict[str, Any] = {} if batch is None else {"batch_index": batch}
        if not isinstance(obj, dict):
            return error(NAME, f"batch member is not an object: {short(obj, 40)}", frame, **fields)
        method = obj.get("method")
        has_id = "id" in obj
        ident = obj.get("id")
        if isinstance(method, str):
            params = obj.get("params")
            if not has_id:
                fields["notification"] = True
                return Message(NAME, Kind.EVENT, f"notify {method} {short(params)}",
                               frame.direction, method, None, None, False, params, fields)
            corr = correlation(ident, by_server(True, frame.direction))
            self.methods.put(corr, method)
            return Message(NAME, Kind.REQUEST, f"call {method} {short(params)} id {short(ident)}",
                           frame.direction, method, None, corr, False, params, fields)
        if not has_id or ("error" not in obj and "result" not in obj):
            return error(NAME, "neither a request, a notification nor a response", frame,
                         **fields)
        corr = correlation(ident, by_server(False, frame.direction))
        method = self.methods.pop(corr)
        about = f"{method} " if method else ""
        if "error" in obj:
            err = obj["error"]
            code = err.get("code") if isinstance(err, dict) else None
            text = err.get("message") if isinstance(err, dict) else None
            fields.update(code=code, code_name=code_name(code))
            return Message(NAME, Kind.ERROR, f"error {about}{code} {code_name(code)}: "
                           f"{short(text, 60)} id {short(ident)}", frame.direction, method, None,
                           corr, False, err, fields)
        result = obj["result"]
        return Message(NAME, Kind.RESPONSE, f"result {about}id {short(ident)} {short(result)}",
                       frame.direction, method, None, corr, False, result, fields)


class JsonRpcDecoder:
    name = NAME
    title = "JSON-RPC 2.0"
    subprotocols: tuple[str, ...] = ("jsonrpc", "json-rpc", "jsonrpc-2.0")

    def score(self, handshake: Handshake, first: Sequence[Frame]) -> float:
        if handshake.subprotocol in self.subprotocols:
            return EXACT_SUBPROTOCOL
        objects = first_objects(first)
        if objects and all(obj.get("jsonrpc") == "2.0" for obj in objects):
            return FIRST_FRAMES + 5
        return NOT_MINE

    def session(self, handshake: Handshake) -> JsonRpcSession:
        return JsonRpcSession()

    def templates(self) -> Mapping[str, str]:
        return {
            "call": '{"jsonrpc": "2.0", "method": "{{method}}", "params": {{params}}, '
                    '"id": {{id}}}',
            "notification": '{"jsonrpc": "2.0", "method": "{{method}}", "params": {{params}}}',
        }

    def encode(self, template: str, values: Mapping[str, Any]) -> Sequence[Outgoing]:
        if template not in ("call", "notification"):
            raise ValueError(f"no template {template!r} for {NAME}")
        obj: dict[str, Any] = {"jsonrpc": "2.0", "method": value_of(values, "method")}
        params = value_of(values, "params", None, as_json=True)
        if params is not None:
            if not isinstance(params, (list, dict)):
                raise ValueError("params must be a JSON array or object")
            obj["params"] = params
        if template == "call":
            ident = value_of(values, "id", 1, as_json=True)
            if not isinstance(ident, (int, str)) or isinstance(ident, bool):
                raise ValueError("id must be a number or a string")
            obj["id"] = ident
        return (text_frame(obj),)


decoder = JsonRpcDecoder()
