"""Carry stored JSON text inside a response without parsing it.

Search and history Bundles are made of stored resources; parsing each one only to serialise it
again costs more than the database round trip. `Raw` marks such text: JSON output splices it
in as it is, and only XML output or `_elements` parse it.
https://hl7.org/fhir/R4/json.html
"""

from __future__ import annotations

from typing import Any

import orjson


class Raw:
    """A resource as the JSON text it is stored as."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def parse(self) -> dict[str, Any]:
        """Return the resource as a dict."""
        parsed: dict[str, Any] = orjson.loads(self.text)
        return parsed


def _fragment(obj: Any) -> Any:
    if isinstance(obj, Raw):
        return orjson.Fragment(obj.text)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(body: Any, *, pretty: bool = False) -> bytes:
    """Serialise a response body that may hold `Raw` parts, or is stored text itself."""
    if isinstance(body, str):
        if not pretty:
            return body.encode()
        body = orjson.loads(body)
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(body, default=_fragment, option=option)


def materialize(body: Any) -> Any:
    """Return the body with every `Raw` part parsed, for code that must see it all.

    A body that is a string is a whole stored resource; strings inside it are just strings.
    """
    if isinstance(body, str):
        return orjson.loads(body)
    return _parse_raw(body)


def _parse_raw(node: Any) -> Any:
    if isinstance(node, Raw):
        return node.parse()
    if isinstance(node, dict):
        return {k: _parse_raw(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_parse_raw(v) for v in node]
    return node
