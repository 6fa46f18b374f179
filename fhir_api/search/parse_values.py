"""Read one search value of a given parameter type into its parsed, normalised form.

Each reader raises ValueError with a message fit for the client; `parse_query` wraps it in a
BadRequest that names the parameter. Escapes (`\\,` `\\|` `\\$` `\\\\`) are honoured before
splitting on the separators of each type.
https://hl7.org/fhir/R4/search.html#escaping
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fhir_api.search.model import (
    CompositeValue,
    DateValue,
    NumberValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from fhir_api.search.values import (
    URI_MAX,
    date_range,
    decimal_range,
    normalize,
    split_escaped,
    split_prefix,
    unescape,
)


def read_string(raw: str, modifier: str | None = None) -> StringValue:
    """Read a string value; matching is case and accent blind unless :exact."""
    text = unescape(raw)
    return StringValue(text, normalize(text))


def read_token(raw: str, modifier: str | None = None) -> TokenValue:
    """Read `code`, `system|code`, `|code` or `system|` (or free text for :text)."""
    if modifier == "text":
        return TokenValue(None, None, normalize(unescape(raw)))
    parts = split_escaped(raw, "|")
    if len(parts) == 1:
        return TokenValue(None, unescape(parts[0])[:255])
    if len(parts) != 2:
        raise ValueError("a token is [system]|[code] with at most one unescaped '|'")
    system, code = unescape(parts[0])[:255], unescape(parts[1])[:255]
    if not system and not code:
        raise ValueError("a token needs a system or a code")
    return TokenValue(system, code or None)


def read_date(raw: str, modifier: str | None = None) -> DateValue:
    """Read `[prefix]date`; any precision from year to instant, with or without a zone."""
    prefix, rest = split_prefix(raw)
    try:
        low, high = date_range(rest)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date (expected e.g. 2024, 2024-05-01 or "
                         "2024-05-01T10:00:00+02:00, optionally after eq, ne, gt, lt, ge, le, sa, eb or ap)") from None
    return DateValue(prefix, low, high)


def read_number(raw: str, modifier: str | None = None) -> NumberValue:
    """Read `[prefix]number`; its significant figures set the range `eq` accepts."""
    prefix, rest = split_prefix(raw)
    value, low, high = decimal_range(rest)
    return NumberValue(prefix, value, low, high)


def read_quantity(raw: str, modifier: str | None = None) -> NumberValue:
    """Read `[prefix]number[|system|code]`; `number||code` matches a code or a unit."""
    prefix, rest = split_prefix(raw)
    parts = split_escaped(rest, "|")
    if len(parts) not in (1, 3):
        raise ValueError("a quantity is number, or number|system|code")
    value, low, high = decimal_range(parts[0])
    system = unescape(parts[1]) or None if len(parts) == 3 else None
    code = unescape(parts[2]) or None if len(parts) == 3 else None
    return NumberValue(prefix, value, low, high, system, code)


def read_uri(raw: str, modifier: str | None = None) -> UriValue:
    """Read a URI; for :above, list every parent path it could be below."""
    text = unescape(raw)[:URI_MAX]
    parents: list[str] = []
    if modifier == "above":
        head, sep, path = text.partition("://")
        segments = path.split("/") if sep else text.split("/")
        for n in range(len(segments), 0, -1):
            parents.append(head + sep + "/".join(segments[:n]) if sep else "/".join(segments[:n]))
    return UriValue(text, tuple(parents))


def reference_reader(known_types: Sequence[str], targets: Sequence[str],
                     base_url: str | None) -> Callable[[str, str | None], ReferenceValue]:
    """Make a reader for `Type/id`, a bare id, or an absolute URL (ours becomes relative)."""
    known = frozenset(known_types)
    base = base_url.rstrip("/") + "/" if base_url else None

    def read(raw: str, modifier: str | None = None) -> ReferenceValue:
        text = unescape(raw).strip()
        if base and text.startswith(base):
            text = text[len(base):]
        if ":" in text.split("/", 1)[0]:  # absolute URL, urn or canonical
            return ReferenceValue(None, None, text.split("|", 1)[0])
        parts = text.split("/_history/", 1)[0].split("/")
        if len(parts) == 2 and parts[0] in known and parts[1]:
            if modifier and modifier != parts[0]:
                raise ValueError(f"{text!r} is not a {modifier}")
            return ReferenceValue(parts[0], parts[1][:64])
        if len(parts) == 1 and parts[0]:
            kind = modifier or (targets[0] if len(targets) == 1 else None)
            return ReferenceValue(kind, parts[0][:64])
        raise ValueError(f"{text!r} is not a reference (expected Type/id, an id or a URL)")
    return read


READERS: dict[str, Callable[[str, str | None], Value]] = {
    "string": read_string,
    "token": read_token,
    "date": read_date,
    "number": read_number,
    "quantity": read_quantity,
    "uri": read_uri,
}


def read_composite(raw: str, kinds: Sequence[str],
                   reference: Callable[[str, str | None], ReferenceValue]) -> CompositeValue:
    """Read `a$b[$c]`: one value per component, each read by its component's type."""
    parts = split_escaped(raw, "$")
    if len(parts) != len(kinds):
        raise ValueError(f"a value of this composite has {len(kinds)} parts separated by '$'")
    values: list[Value] = []
    for kind, part in zip(kinds, parts, strict=True):
        reader = reference if kind == "reference" else READERS.get(kind)
        if reader is None:
            raise ValueError(f"composite components of type {kind} are not supported")
        values.append(reader(part, None))
    return CompositeValue(tuple(values))
