"""Ready-to-edit messages: one per client message of the room protocol (docs/protocol.md), kept in
resources/templates/embedded.toml; and the helpers for every decoder's templates
(`Decoder.templates()`, text with {{placeholders}} that `Decoder.encode()` fills)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from resources import resource


@dataclass(frozen=True)
class Template:
    name: str  # the message type
    title: str  # menu text
    message: dict[str, Any]
    hint: str = ""  # what the server answers

    @property
    def text(self) -> str:
        return json.dumps(self.message, indent=2, ensure_ascii=False)


def _load() -> tuple[Template, ...]:
    """resources/templates/embedded.toml, in its order."""
    data = tomllib.loads(resource(TEMPLATES_FILE).read_text(encoding="utf-8"))
    return tuple(Template(t["name"], t["title"], t["message"], t.get("hint", ""))
                 for t in data["template"])


TEMPLATES_FILE = "templates/embedded.toml"
TEMPLATES: tuple[Template, ...] = _load()


def template(name: str) -> Template:
    for t in TEMPLATES:
        if t.name == name:
            return t
    raise KeyError(name)


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")
# What a placeholder's field starts with (empty: the decoder's own default, or required).
DEFAULTS = {
    "qos": "0", "retain": "false", "id": "1", "ack": "1", "namespace": "/", "params": "[]",
    "data": "{}", "variables": "{}", "content-type": "application/json", "topic": "test/topic",
    "filter": "test/#", "destination": "/queue/test", "payload": "hello", "body": "{}",
    "event": "message", "method": "ping", "room": "lobby", "receipt": "r-1",
    "query": "subscription { time }",
}


def placeholders(text: str) -> list[str]:
    """The {{names}} of a template, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))
