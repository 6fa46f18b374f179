"""Hold a parsed search: what to match, in which order, which page, and how to present it.

`parse_query` builds a `SearchQuery` once from the request parameters; compiling it to SQL,
running it and rendering links only read it. Parsed values carry their normalised form
(intervals, lower-cased text), so the SQL layer never re-parses user input.
https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fhir_api.outcomes import Issue
from fhir_api.searchparams import SearchParam


@dataclass(frozen=True)
class StringValue:
    """A string search value: as given (for :exact) and normalised (for the rest)."""

    raw: str
    norm: str


@dataclass(frozen=True)
class TokenValue:
    """`[system]|[code]`: system None matches any system, "" matches none; code None any code."""

    system: str | None
    code: str | None
    text: str | None = None  # the normalised text, for :text


@dataclass(frozen=True)
class DateValue:
    """A date with its prefix, as the naive-UTC interval its precision covers."""

    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class NumberValue:
    """A number or quantity with its prefix; low/high are the implicit precision (high open)."""

    prefix: str
    value: float
    low: float
    high: float
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class ReferenceValue:
    """A local reference (type may be None for a bare id) or an absolute or canonical URL."""

    target_type: str | None
    target_id: str | None
    url: str | None = None


@dataclass(frozen=True)
class UriValue:
    """A URI, with the candidate parents already listed for :above."""

    value: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompositeValue:
    """One `a$b` composite value: one parsed value per component."""

    parts: tuple[Value, ...]


Value = StringValue | TokenValue | DateValue | NumberValue | ReferenceValue | UriValue | CompositeValue


@dataclass(frozen=True)
class Criterion:
    """One search parameter of the query; its values are OR-ed (the comma).

    `kind` is the parameter type, or `_id` / `_lastUpdated` for the columns of `resources`.
    A chained parameter has `chain`: the criterion that the referenced resource must meet.
    """

    code: str
    kind: str
    types: tuple[str, ...]
    values: tuple[Value, ...] = ()
    modifier: str | None = None
    missing: bool | None = None
    param: SearchParam | None = None
    target_types: tuple[str, ...] = ()
    chain: Criterion | None = None


@dataclass(frozen=True)
class SortKey:
    """One `_sort` key: `_id`, `_lastUpdated` or a parameter with an index kind."""

    code: str
    kind: str
    descending: bool


@dataclass(frozen=True)
class Include:
    """One `_include` or `_revinclude`: source type, reference parameter (None for `*`), target."""

    source_type: str | None
    code: str | None
    target_type: str | None
    iterate: bool


@dataclass(frozen=True)
class Cursor:
    """A decoded paging position: the sort key and rid of a row, and which way to go."""

    forward: bool
    inclusive: bool
    keys: tuple[object, ...]
    rid: int


@dataclass(frozen=True)
class SearchQuery:
    """A parsed, validated search; build it with `parse_query`."""

    resource_type: str | None
    types: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    sort: tuple[SortKey, ...]
    count: int
    cursor: Cursor | None = None
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    summary: str | None = None
    elements: tuple[str, ...] | None = None
    # auto (no _total given): exact when the first page holds every match, else omitted, so
    # no search pays for a count it did not ask for; estimate: counted up to ESTIMATE_CAP;
    # accurate: always counted; none: never.
    total: str = "auto"
    warnings: tuple[Issue, ...] = ()
    canonical: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def sort_signature(self) -> str:
        """Name the order a cursor belongs to, so a cursor from another order is refused."""
        return ",".join(("-" if k.descending else "") + k.code for k in self.sort)

    def link_params(self, cursor: str | None) -> list[tuple[str, str]]:
        """Return the canonical parameters for a self/next/previous link at `cursor`."""
        params = list(self.canonical)
        if cursor:
            params.append(("_cursor", cursor))
        return params


@dataclass
class SearchPage:
    """One page of results, ready for the Bundle: entries as stored JSON text, links as cursors."""

    matches: list[tuple[str, str, str]]
    included: list[tuple[str, str, str]]
    total: int | None
    next_cursor: str | None
    prev_cursor: str | None
    warnings: list[Issue]
    summary: str | None = None
    elements: tuple[str, ...] | None = None
