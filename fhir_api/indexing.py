"""Turn a resource into the search-index rows the store writes in the same transaction.

Each (type, parameter) expression is compiled once into a closure (`fhir_api.fhirpath`);
indexing a resource is then a loop of dict lookups plus value normalisation, well under a
millisecond for a Patient or an Observation. Values are recognised by their JSON shape, so
`Observation.effective` works whether it holds a dateTime, a Period or a Timing. An
expression that cannot be compiled is logged once and skipped: a write never fails because
of a search parameter.
https://hl7.org/fhir/R4/search.html#ptypes
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fhir_api.fhirpath import FhirPathError, PathFn, compile_path
from fhir_api.search.values import (
    HUGE,
    MAX_DT,
    MIN_DT,
    URI_MAX,
    date_range,
    normalize,
    number_range,
    span_class,
)
from fhir_api.searchparams import SearchParamRegistry

log = logging.getLogger(__name__)

Row = dict[str, Any]
Extract = Callable[[Any, str | None], Iterator[Row]]
KINDS = ("string", "token", "date", "number", "quantity", "reference", "uri")
# Served from columns of `resources`, so they need no index rows.
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _cut(text: Any, size: int = 255) -> str | None:
    return text[:size] if isinstance(text, str) and text else None


def _strings(value: Any, _base: str | None) -> Iterator[Row]:
    if isinstance(value, str):
        yield {"value_norm": normalize(value), "value_exact": value}
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        for key in parts:
            part = value.get(key)
            for text in part if isinstance(part, list) else (part,):
                if isinstance(text, str) and text:
                    yield {"value_norm": normalize(text), "value_exact": text}


def _token(system: Any, code: Any, text: str | None) -> Row:
    return {"system": _cut(system), "code": _cut(code), "text_norm": normalize(text) if text else None}


def _tokens(value: Any, _base: str | None) -> Iterator[Row]:
    if isinstance(value, bool):
        yield _token(None, "true" if value else "false", None)
    elif isinstance(value, str):
        yield _token(None, value, None)
    elif isinstance(value, (int, float)):
        yield _token(None, str(value), None)
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value and "code" not in value):
            text = value.get("text")
            codings = [c for c in value.get("coding", ()) if isinstance(c, dict)]
            for c in codings:
                words = " ".join(t for t in (text, c.get("display")) if isinstance(t, str) and t)
                yield _token(c.get("system"), c.get("code"), words or None)
            if not codings and isinstance(text, str):
                yield _token(None, None, text)
        elif "value" in value:  # Identifier or ContactPoint
            kind = value.get("type")
            text = kind.get("text") if isinstance(kind, dict) else None
            yield _token(value.get("system"), value.get("value"), text)
        elif "code" in value or "system" in value:  # Coding
            yield _token(value.get("system"), value.get("code"), value.get("display"))


def _dates(value: Any, _base: str | None) -> Iterator[Row]:
    try:
        if isinstance(value, str):
            low, high = date_range(value)
            yield {"low": low, "high": high, "span": span_class(low, high)}
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            start, end = value.get("start"), value.get("end")
            low = date_range(start)[0] if isinstance(start, str) else MIN_DT
            high = max(low, date_range(end)[1] if isinstance(end, str) else MAX_DT)
            yield {"low": low, "high": high, "span": span_class(low, high)}
        elif isinstance(value, dict):  # Timing: its events and the bounds of its repeat
            for event in value.get("event", ()):
                yield from _dates(event, None)
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if bounds:
                yield from _dates(bounds, None)
    except (ValueError, TypeError):
        return  # a time-of-day or a malformed date cannot be searched by date


def _numbers(value: Any, _base: str | None) -> Iterator[Row]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v, low, high = number_range(value)
        yield {"value": v, "low": low, "high": high}
    elif isinstance(value, dict):
        for row in _quantities(value, None):
            yield {"value": row["value"], "low": row["low"], "high": row["high"]}


def _quantities(value: Any, _base: str | None) -> Iterator[Row]:
    if not isinstance(value, dict):
        return
    number = value.get("value")
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        v, low, high = number_range(number)
        system: Any = value.get("system")
        code: Any = value.get("code")
        if "currency" in value:  # Money
            system, code = "urn:iso:std:iso:4217", value.get("currency")
        yield {"value": v, "low": low, "high": high, "system": _cut(system), "code": _cut(code),
               "unit": _cut(value.get("unit"))}
    elif "low" in value or "high" in value:  # Range: searched by its low end, or its high one
        lo, hi = value.get("low") or {}, value.get("high") or {}
        lv = float(lo["value"]) if isinstance(lo.get("value"), (int, float)) else None
        hv = float(hi["value"]) if isinstance(hi.get("value"), (int, float)) else None
        if lv is None and hv is None:
            return
        edge = lo if lv is not None else hi
        yield {"value": lv if lv is not None else hv,
               "low": lv if lv is not None else -HUGE, "high": hv if hv is not None else HUGE,
               "system": _cut(edge.get("system")), "code": _cut(edge.get("code")),
               "unit": _cut(edge.get("unit"))}


def parse_reference(text: str, base_url: str | None = None) -> Row | None:
    """Split a reference or canonical into target_type / target_id / url; None if contained."""
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    text = text.split("|", 1)[0]  # canonical version
    if base_url and text.startswith(base_url.rstrip("/") + "/"):
        text = text[len(base_url.rstrip("/")) + 1:]
    parts = text.split("/_history/", 1)[0].split("/")
    absolute = ":" in parts[0]
    if not absolute and len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return {"target_type": parts[0][:64], "target_id": parts[1][:64], "url": None}
    kind = parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-2].isalpha() else None
    return {"target_type": kind, "target_id": None, "url": text}


def _references(value: Any, base_url: str | None) -> Iterator[Row]:
    text = value.get("reference") if isinstance(value, dict) else value
    if isinstance(text, str):
        row = parse_reference(text, base_url)
        if row is not None:
            yield row


def _uris(value: Any, _base: str | None) -> Iterator[Row]:
    if isinstance(value, str) and value:
        yield {"value": value[:URI_MAX]}


EXTRACTORS: dict[str, Extract] = {
    "string": _strings, "token": _tokens, "date": _dates, "number": _numbers,
    "quantity": _quantities, "reference": _references, "uri": _uris,
}


@dataclass(frozen=True)
class _Plan:
    code: str
    kind: str
    evaluate: PathFn
    components: tuple[tuple[str, PathFn], ...] = ()


def _compile(expression: str, registry: SearchParamRegistry, what: str,
             root_type: str | None = None) -> PathFn | None:
    try:
        fn = compile_path(expression, registry.choice_elements, root_type)
    except FhirPathError as exc:
        log.warning("search parameter %s not indexed: %s (%s)", what, exc, expression)
        return None
    return fn


@functools.lru_cache(maxsize=512)
def _plans(registry: SearchParamRegistry, resource_type: str) -> tuple[_Plan, ...]:
    """Compile every indexable parameter of `resource_type`, once per registry."""
    plans = []
    for code, sp in registry.for_type(resource_type).items():
        if code in COLUMN_PARAMS or not sp.expression:
            continue
        fn = _compile(sp.expression, registry, f"{resource_type}.{code}", resource_type)
        if fn is None:
            continue
        if sp.type != "composite":
            plans.append(_Plan(code, sp.type, fn))
            continue
        comps = []
        for comp in sp.components:
            comp_fn = _compile(comp.expression, registry, f"{resource_type}.{code}")
            if comp_fn is None or comp.type not in EXTRACTORS:
                break
            comps.append((comp.type, comp_fn))
        else:
            plans.append(_Plan(code, "composite", fn, tuple(comps)))
    return tuple(plans)


def index_rows(resource: dict[str, Any], registry: SearchParamRegistry, *,
               base_url: str | None = None) -> dict[str, list[Row]]:
    """Return the index rows of `resource` by kind; each row has param, grp and value columns.

    References to `base_url` are stored as relative `Type/id`, like local references.
    """
    out: dict[str, list[Row]] = {kind: [] for kind in KINDS}
    for plan in _plans(registry, resource.get("resourceType", "")):
        try:
            values = plan.evaluate(resource)
            if not values:
                continue
            if plan.components:
                _composite_rows(plan, values, resource, out, base_url)
            else:
                out[plan.kind].extend(_simple_rows(plan, values, base_url))
        except Exception:  # a malformed element must not fail the write; its rows are skipped
            log.warning("indexing %s.%s failed", resource.get("resourceType"), plan.code, exc_info=True)
    return out


def _simple_rows(plan: _Plan, values: list[Any], base_url: str | None) -> list[Row]:
    """Extract the rows of one parameter, each distinct row once."""
    seen: set[tuple[Any, ...]] = set()
    rows: list[Row] = []
    extract = EXTRACTORS[plan.kind]
    for value in values:
        for row in extract(value, base_url):
            key = tuple(row.values())
            if key not in seen:
                seen.add(key)
                row["param"] = plan.code
                row["grp"] = None
                rows.append(row)
    return rows


def _composite_rows(plan: _Plan, items: list[Any], resource: dict[str, Any],
                    out: dict[str, list[Row]], base_url: str | None) -> None:
    """Write each item's component values with one shared `grp`, if every component has one."""
    grp = 0
    found: list[tuple[str, Row]] = []
    for item in items:
        parts: list[tuple[str, list[Row]]] = []
        for kind, fn in plan.components:
            rows = [r for v in fn(item, resource) for r in EXTRACTORS[kind](v, base_url)]
            if not rows:
                break
            parts.append((kind, rows))
        else:
            grp += 1
            for kind, rows in parts:
                for row in rows:
                    row["param"] = plan.code
                    row["grp"] = grp
                    found.append((kind, row))
    for kind, row in found:  # only once every item went through: all or nothing
        out[kind].append(row)

