"""The `match` expectation's filter, shared by the local runner and the generated locustfile
(which inlines this module, so it must import nothing of ours)."""

from __future__ import annotations

import json
from typing import Any


def matches(obj: dict[str, Any], wanted: dict[str, str]) -> bool:
    """Every dotted path of `wanted` has that value (text, or the value's JSON)."""
    for path, value in wanted.items():
        node: Any = obj
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        if node != value and (isinstance(node, str) or json.dumps(node) != value):
            return False
    return True
