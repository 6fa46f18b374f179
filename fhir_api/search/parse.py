"""Turn request parameters into a validated `SearchQuery`, or a BadRequest naming the culprit.

Unknown parameters are ignored with a warning (lenient) or refused (strict, as for the
conditional interactions and `Prefer: handling=strict`). A value that cannot be read, an
unknown modifier or a chain on a non-reference parameter is always an error: ignoring a
criterion the client meant would return more than it asked for.
https://hl7.org/fhir/R4/search.html#errors
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fhir_api.outcomes import BadRequest, Issue
from fhir_api.search.model import Criterion, Include, SearchQuery, SortKey, Value
from fhir_api.search.paging import decode_cursor
from fhir_api.search.parse_values import READERS, read_composite, read_token, reference_reader
from fhir_api.search.values import split_escaped
from fhir_api.searchparams import SearchParam, SearchParamRegistry

MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains", "missing"}),
    "token": frozenset({"not", "text", "missing"}),
    "date": frozenset({"missing"}),
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "reference": frozenset({"missing"}),  # plus a target type, e.g. subject:Patient
    "uri": frozenset({"below", "above", "missing"}),
    "composite": frozenset({"missing"}),
    "_id": frozenset({"not", "missing"}),
    "_lastUpdated": frozenset({"missing"}),
}
SORTABLE = frozenset({"string", "token", "date", "number", "quantity", "reference", "uri",
                      "_id", "_lastUpdated"})
SUMMARY = ("true", "text", "data", "count", "false")
TOTAL = ("none", "estimate", "accurate")
# Accepted and passed through to links; the HTTP layer acts on them.
PASSTHROUGH = frozenset({"_format", "_pretty"})
UNSUPPORTED = frozenset({"_has", "_list", "_text", "_content", "_query", "_filter",
                         "_contained", "_containedType"})
COLUMN_KINDS = {"_id": "_id", "_lastUpdated": "_lastUpdated"}


class _Parser:
    """State of one parse: the types searched, strictness and what to warn about."""

    def __init__(self, registry: SearchParamRegistry, types: tuple[str, ...], strict: bool,
                 base_url: str | None) -> None:
        self.registry = registry
        self.types = types
        self.strict = strict
        self.base_url = base_url
        self.warnings: list[Issue] = []

    def unknown(self, name: str, why: str) -> None:
        """Refuse under strict handling, otherwise ignore the parameter and say so."""
        if self.strict:
            raise BadRequest(why, expression=(name,), issue_code="not-supported")
        self.warnings.append(Issue("not-supported", why + "; ignored", "warning", (name,)))

    def lookup(self, code: str, types: Sequence[str]) -> SearchParam | None:
        """Return the parameter `code` if every type in `types` has it with the same type."""
        found: SearchParam | None = None
        for t in types:
            sp = self.registry.for_type(t).get(code)
            if sp is None or (found is not None and sp.type != found.type):
                return None
            found = found or sp
        return found

    def criterion(self, name: str, value: str) -> Criterion | None:
        """Parse `name=value` (name with modifier and chain) into a criterion."""
        head, dot, chain = name.partition(".")
        code, _, modifier = head.partition(":")
        sp = self.lookup(code, self.types)
        if sp is None:
            self.unknown(name, f"Unknown search parameter '{code}' for {'/'.join(self.types[:3])}")
            return None
        kind = COLUMN_KINDS.get(code, sp.type)
        if dot:
            return self.chained(name, code, modifier or None, sp, chain, value)
        return self.simple(name, code, kind, modifier or None, sp, value, self.types)

    def simple(self, name: str, code: str, kind: str, modifier: str | None, sp: SearchParam,
               value: str, types: tuple[str, ...]) -> Criterion:
        target_types: tuple[str, ...] = ()
        if modifier and kind == "reference" and modifier in self.registry.resource_types():
            target_types = (modifier,)
        elif modifier and modifier not in MODIFIERS[kind]:
            raise BadRequest(f"Modifier ':{modifier}' is not supported on {kind} parameter '{code}'",
                             expression=(name,))
        if modifier == "missing":
            if value not in ("true", "false"):
                raise BadRequest(f"'{name}' takes true or false", expression=(name,))
            return Criterion(code, kind, types, modifier="missing", missing=value == "true", param=sp)
        values = tuple(self.value(name, kind, modifier, sp, part) for part in split_escaped(value, ","))
        return Criterion(code, kind, types, values, modifier if not target_types else None,
                         param=sp, target_types=target_types)

    def value(self, name: str, kind: str, modifier: str | None, sp: SearchParam, raw: str) -> Value:
        try:
            if kind == "_id":
                return read_token(raw)
            if kind == "_lastUpdated":
                return READERS["date"](raw, None)
            if kind == "reference":
                return reference_reader(self.registry.resource_types(), sp.targets, self.base_url)(raw, modifier)
            if kind == "composite":
                ref = reference_reader(self.registry.resource_types(), (), self.base_url)
                return read_composite(raw, [c.type for c in sp.components], ref)
            return READERS[kind](raw, modifier)
        except ValueError as exc:
            raise BadRequest(f"Invalid value for '{name}': {exc}", expression=(name,)) from None

    def chained(self, name: str, code: str, modifier: str | None, sp: SearchParam, chain: str,
                value: str) -> Criterion:
        """Parse `ref[:Type].param[:modifier]=value`: one level of chaining."""
        if sp.type != "reference":
            raise BadRequest(f"'{code}' is not a reference parameter, so it cannot be chained",
                             expression=(name,))
        if "." in chain:
            raise BadRequest("Chains longer than one level are not supported", expression=(name,),
                             issue_code="not-supported")
        if modifier and modifier not in self.registry.resource_types():
            raise BadRequest(f"'{modifier}' is not a resource type", expression=(name,))
        inner_code, _, inner_mod = chain.partition(":")
        targets = (modifier,) if modifier else tuple(
            t for t in sp.targets if t in self.registry.resource_types())
        usable = [t for t in targets if self.registry.for_type(t).get(inner_code) is not None]
        if not usable:
            raise BadRequest(f"No type '{code}' can refer to has a parameter '{inner_code}'",
                             expression=(name,))
        inner_sp = self.registry.for_type(usable[0])[inner_code]
        same = tuple(t for t in usable if self.registry.for_type(t)[inner_code].type == inner_sp.type)
        kind = COLUMN_KINDS.get(inner_code, inner_sp.type)
        inner = self.simple(name, inner_code, kind, inner_mod or None, inner_sp, value, same)
        return Criterion(code, "reference", self.types, param=sp, target_types=same, chain=inner)

    def sort(self, value: str) -> tuple[SortKey, ...]:
        keys = []
        for part in value.split(","):
            code = part.strip()
            descending = code.startswith("-")
            code = code.lstrip("-")
            sp = self.lookup(code, self.types) if code else None
            kind = COLUMN_KINDS.get(code, sp.type if sp else "")
            if kind not in SORTABLE:
                self.unknown("_sort", f"Cannot sort by '{code}'")
                continue
            keys.append(SortKey(code, kind, descending))
        return tuple(keys)

    def include(self, name: str, value: str) -> Include:
        _, _, mod = name.partition(":")
        if mod not in ("", "iterate", "recurse"):
            raise BadRequest(f"Modifier ':{mod}' is not supported on {name.split(':')[0]}",
                             expression=(name,))
        iterate = bool(mod)
        if value == "*":
            return Include(None, None, None, iterate)
        parts = value.split(":")
        types = self.registry.resource_types()
        if len(parts) not in (2, 3) or parts[0] not in types or (len(parts) == 3 and parts[2] not in types):
            raise BadRequest(f"'{value}' is not SourceType:parameter[:TargetType] or *",
                             expression=(name,))
        sp = self.registry.for_type(parts[0]).get(parts[1])
        if parts[1] != "*" and (sp is None or sp.type != "reference"):
            raise BadRequest(f"'{parts[1]}' is not a reference parameter of {parts[0]}",
                             expression=(name,))
        return Include(parts[0], None if parts[1] == "*" else parts[1],
                       parts[2] if len(parts) == 3 else None, iterate)


def _int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be a whole number", expression=(name,)) from None
    if number < 0:
        raise BadRequest(f"'{name}' must not be negative", expression=(name,))
    return number


def _types(resource_type: str | None, params: Sequence[tuple[str, str]],
           registry: SearchParamRegistry) -> tuple[str, ...]:
    if resource_type:
        return (resource_type,)
    wanted = [t for name, value in params if name == "_type" for t in value.split(",") if t]
    for t in wanted:
        if t not in registry.resource_types():
            raise BadRequest(f"'{t}' is not a resource type", expression=("_type",))
    return tuple(dict.fromkeys(wanted)) or registry.resource_types()


def parse_query(resource_type: str | None, params: Sequence[tuple[str, str]],
                registry: SearchParamRegistry, *, strict: bool, default_count: int, max_count: int,
                base_url: str | None = None) -> SearchQuery:
    """Parse a type-level (or, with resource_type None, a system-level) search.

    `params` are the decoded query (or form) pairs in order; `base_url` makes references to
    this server given as absolute URLs match local ones.
    """
    if any("\x00" in name or "\x00" in value for name, value in params):
        # Conditional requests and references come here without passing the router's check,
        # and PostgreSQL refuses a NUL in any text it is sent.
        raise BadRequest("A search parameter holds a NUL character (%00), which no FHIR value may contain")
    types = _types(resource_type, params, registry)
    p = _Parser(registry, types, strict, base_url)
    criteria: list[Criterion] = []
    sort: tuple[SortKey, ...] = ()
    includes: list[Include] = []
    revincludes: list[Include] = []
    controls: dict[str, str] = {}
    elements: list[str] = []
    canonical: list[tuple[str, str]] = []
    for name, value in params:
        base = name.split(":", 1)[0]
        if base in ("_count", "_summary", "_total", "_cursor", "_sort", "_type") or base in PASSTHROUGH:
            controls[base] = value
            if base not in ("_cursor", "_count"):
                canonical.append((name, value))
            if base == "_sort":
                sort = p.sort(value)
        elif base in ("_include", "_revinclude"):
            (includes if base == "_include" else revincludes).append(p.include(name, value))
            canonical.append((name, value))
        elif base == "_elements":
            elements.extend(e.strip() for e in value.split(",") if e.strip())
            canonical.append((name, value))
        elif base in UNSUPPORTED:
            p.unknown(name, f"Search parameter '{base}' is not supported")
        elif value == "":
            continue  # an empty value places no constraint
        else:
            crit = p.criterion(name, value)
            if crit is not None:
                criteria.append(crit)
                canonical.append((name, value))
    summary = controls.get("_summary")
    if summary is not None and summary not in SUMMARY:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY)}", expression=("_summary",))
    total = controls.get("_total", "auto")
    if total not in TOTAL and "_total" in controls:
        raise BadRequest(f"_total must be one of {', '.join(TOTAL)}", expression=("_total",))
    count = min(_int("_count", controls["_count"]), max_count) if "_count" in controls else default_count
    if summary == "count":
        count = 0
    if count == 0 and total in ("auto", "estimate"):
        total = "accurate"  # a count-only request is asking for the number
    if summary and elements:
        p.unknown("_elements", "_elements cannot be combined with _summary")
        elements = []
    canonical.append(("_count", str(count)))
    query = SearchQuery(
        resource_type=resource_type, types=types, criteria=tuple(criteria), sort=sort, count=count,
        includes=tuple(includes), revincludes=tuple(revincludes), summary=summary,
        elements=tuple(elements) or None, total=total, warnings=tuple(p.warnings),
        canonical=tuple(canonical),
    )
    if "_cursor" in controls:
        try:
            cursor = decode_cursor(controls["_cursor"], query.sort_signature(), sort)
        except ValueError as exc:
            raise BadRequest(str(exc), expression=("_cursor",)) from None
        query = replace(query, cursor=cursor)
    return query

