"""Compile parsed search criteria into SQLAlchemy conditions over the `resources` table.

Every criterion becomes one `EXISTS` over an index table, correlated on `rid` and narrowed by
(res_type, param, value), so PostgreSQL can run it as a semi-join from an index in whichever
direction is cheaper. Comma-separated values are OR-ed inside one EXISTS; repeated
parameters are separate EXISTS clauses (AND). The same functions serve matches, totals,
chained targets and conditional interactions, so they always agree.
https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)

from fhir_api.search.model import (
    CompositeValue,
    Criterion,
    DateValue,
    NumberValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from fhir_api.search.values import MIN_DT, SPAN_WIDTHS
from fhir_api.store.schema import INDEX_TABLES, resources

AccessFilter = Callable[[str, FromClause], "ColumnElement[bool] | None"]
"""Called with a resource type and the (aliased) resources table; returns the extra condition
rows of that type must meet to be visible, or None when all of them are."""

# Sorts after every other character in binary (SQLite) and "C" (PostgreSQL) order.
TOP_CHAR = "\U0010ffff"
# Alias slots: a chained criterion's own tables must not be correlated with the outer ones.
CHAIN_SLOT = 10
SORT_SLOT = 20
# A date window at most this wide is searched from the window's rows (see date_criterion).
NARROW_WINDOW = timedelta(days=8)


@functools.cache
def alias(kind: str, slot: int = 0) -> Any:
    """Return a named alias of an index table (or of `resources`), built once.

    Building an alias costs SQLAlchemy a column-collection copy; at thousands of searches a
    second that was a third of the Python time. Sibling EXISTS clauses may share an alias:
    each is its own SQL scope. Nested ones take another slot.
    """
    table = resources if kind == "resources" else INDEX_TABLES[kind]
    return table.alias(f"{kind}_{slot}")


def one_of(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    """`column = v` for one value (an index seek), `column IN (...)` for several."""
    return column == values[0] if len(values) == 1 else column.in_(values)


def access_clause(table: FromClause, types: Sequence[str], access: AccessFilter | None) -> ColumnElement[bool] | None:
    """Combine the access hook's conditions for every type a row of `table` may have."""
    if access is None:
        return None
    restricted: list[ColumnElement[bool]] = []
    free: list[str] = []
    for t in types:
        cond = access(t, table)
        if cond is None:
            free.append(t)
        else:
            restricted.append(and_(table.c.res_type == t, cond))
    if not restricted:
        return None
    if free:
        restricted.append(table.c.res_type.in_(free))
    return or_(*restricted)


def visible(table: FromClause, types: Sequence[str] | None, access: AccessFilter | None,
            ) -> list[ColumnElement[bool]]:
    """Conditions for a live row of one of `types` (None: any type) that the caller may see."""
    out: list[ColumnElement[bool]] = [table.c.deleted == false()]
    if types is not None:
        out.insert(0, one_of(table.c.res_type, types))
    acc = access_clause(table, types or (), access)
    if acc is not None:
        out.append(acc)
    return out


def criterion_clause(c: Criterion, r: FromClause, access: AccessFilter | None,
                     slot: int = 0) -> ColumnElement[bool]:
    """Return the condition on resources row `r` that criterion `c` stands for."""
    if c.kind in ("_id", "_lastUpdated"):
        return _column_clause(c, r)
    if c.chain is not None:
        return _chain_clause(c, r, access)
    if c.kind == "composite":
        return _composite_clause(c, r, slot)
    t = alias(c.kind, slot)
    base = [t.c.rid == r.c.rid, one_of(t.c.res_type, c.types), t.c.param == c.code]
    if c.missing is not None:
        found = exists().where(*base)
        return not_(found) if c.missing else found
    if c.target_types:
        base.append(one_of(t.c.target_type, c.target_types))
    if c.kind == "date":
        return date_criterion(r, c.types, c.code, [c.values], slot)
    conds = [value_clause(c.kind, t, v, c.modifier) for v in c.values]
    found = exists().where(*base, conds[0] if len(conds) == 1 else or_(*conds))
    return not_(found) if c.modifier == "not" else found


def mergeable(c: Criterion) -> bool:
    """Tell whether `c` may share an EXISTS with other criteria on the same parameter."""
    return (c.kind in ("date", "number", "quantity") and c.param is not None and c.param.single_valued
            and c.chain is None and c.missing is None and c.modifier is None)


def merged_clause(group: Sequence[Criterion], r: FromClause, slot: int = 0) -> ColumnElement[bool]:
    """AND several criteria on one single-valued parameter inside one EXISTS.

    With at most one index row per resource this means the same as separate EXISTS clauses,
    but `date=ge2024-03-01&date=lt2024-03-08` becomes one range scan of the index instead of
    two half-table semi-joins.
    """
    c = group[0]
    if c.kind == "date":
        return date_criterion(r, c.types, c.code, [crit.values for crit in group], slot)
    t = alias(c.kind, slot)
    conds = [t.c.rid == r.c.rid, one_of(t.c.res_type, c.types), t.c.param == c.code]
    for crit in group:
        ors = [value_clause(crit.kind, t, v, None) for v in crit.values]
        conds.append(ors[0] if len(ors) == 1 else or_(*ors))
    return exists().where(*conds)


def _column_clause(c: Criterion, r: FromClause) -> ColumnElement[bool]:
    if c.missing is not None:
        return false() if c.missing else true()
    if c.kind == "_id":
        ids = [v.code for v in c.values if isinstance(v, TokenValue) and v.code]
        clause = one_of(r.c.res_id, ids) if ids else false()
        return not_(clause) if c.modifier == "not" else clause
    conds = [date_clause(r.c.last_updated, r.c.last_updated, v) for v in c.values
             if isinstance(v, DateValue)]
    return or_(*conds)


def _chain_clause(c: Criterion, r: FromClause, access: AccessFilter | None) -> ColumnElement[bool]:
    """`subject:Patient.name=x`: a reference to a live, visible Patient that has name x."""
    assert c.chain is not None
    ref, tgt = alias("reference", CHAIN_SLOT - 1), alias("resources", CHAIN_SLOT)
    joined = ref.join(tgt, and_(tgt.c.res_type == ref.c.target_type, tgt.c.res_id == ref.c.target_id))
    conds = [
        ref.c.rid == r.c.rid,
        one_of(ref.c.res_type, c.types),
        ref.c.param == c.code,
        *visible(tgt, c.target_types, access),
        criterion_clause(c.chain, tgt, access, CHAIN_SLOT),
    ]
    return exists(select(literal(1)).select_from(joined).where(*conds))


def _composite_clause(c: Criterion, r: FromClause, slot: int) -> ColumnElement[bool]:
    """Every component must match within one `grp`: one coded value and its own quantity."""
    assert c.param is not None
    kinds = [comp.type for comp in c.param.components]
    tables = [alias(k, slot + i) for i, k in enumerate(kinds)]
    first = tables[0]
    joined: Any = first
    for t in tables[1:]:
        joined = joined.join(t, and_(t.c.rid == first.c.rid, t.c.param == first.c.param,
                                     t.c.grp == first.c.grp))
    base = [first.c.rid == r.c.rid, one_of(first.c.res_type, c.types), first.c.param == c.code]
    if c.missing is not None:
        found = exists(select(literal(1)).select_from(first).where(*base))
        return not_(found) if c.missing else found
    for t in tables[1:]:  # spelt out for each table, so each can use its (res_type, param, …) index
        base += [one_of(t.c.res_type, c.types), t.c.param == c.code]
    ors = []
    for value in c.values:
        assert isinstance(value, CompositeValue)
        parts = [value_clause(k, t, v, None) for k, t, v in zip(kinds, tables, value.parts, strict=True)]
        ors.append(and_(*parts))
    return exists(select(literal(1)).select_from(joined).where(*base, or_(*ors)))


def value_clause(kind: str, t: FromClause, v: Value, modifier: str | None) -> ColumnElement[bool]:
    """Return the condition one index row must meet to match one search value."""
    if isinstance(v, StringValue) and kind == "string":
        if modifier == "exact":
            return and_(t.c.value_norm == v.norm, t.c.value_exact == v.raw)
        if modifier == "contains":
            return t.c.value_norm.like(f"%{_like_escape(v.norm)}%", escape="\\")
        return prefix_clause(t.c.value_norm, v.norm)
    if isinstance(v, TokenValue):
        return _token_clause(t, v)
    if isinstance(v, DateValue):
        return date_clause(t.c.low, t.c.high, v)
    if isinstance(v, NumberValue):
        clause = number_clause(t.c.value, v)
        if kind == "quantity" and v.code:
            code_match = or_(t.c.code == v.code, t.c.unit == v.code) if v.system is None else t.c.code == v.code
            clause = and_(clause, code_match)
        if kind == "quantity" and v.system:
            clause = and_(clause, t.c.system == v.system)
        return clause
    if isinstance(v, ReferenceValue):
        if v.url is not None:
            return t.c.url == v.url
        conds = [t.c.target_id == v.target_id]
        if v.target_type:
            conds.append(t.c.target_type == v.target_type)
        return and_(*conds)
    if isinstance(v, UriValue):
        if modifier == "below":
            return prefix_clause(t.c.value, v.value)
        if modifier == "above":
            return t.c.value.in_(v.parents)
        return t.c.value == v.value
    raise TypeError(f"cannot match a {type(v).__name__} on a {kind} parameter")


def _token_clause(t: FromClause, v: TokenValue) -> ColumnElement[bool]:
    if v.text is not None:
        word = _like_escape(v.text)
        return or_(t.c.text_norm.like(f"{word}%", escape="\\"), t.c.text_norm.like(f"% {word}%", escape="\\"))
    conds = []
    if v.code is not None:
        conds.append(t.c.code == v.code)
    if v.system == "":
        conds.append(t.c.system.is_(None))
    elif v.system is not None:
        conds.append(t.c.system == v.system)
    return and_(*conds)


def prefix_clause(column: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    """Starts-with as a range, which a b-tree index serves on both databases (unlike LIKE)."""
    return and_(column >= prefix, column < prefix + TOP_CHAR)


def date_clause(low: ColumnElement[Any], high: ColumnElement[Any], v: DateValue) -> ColumnElement[bool]:
    """Compare a stored interval [low, high] with a search interval, as R4 defines each prefix.

    ge and le lead with the plain bound they imply (high >= search low, low <= search high);
    `date_criterion` turns the former into a bound on `low` per width class.
    """
    p = v.prefix
    if p == "eq":
        return and_(low >= v.low, high <= v.high)
    if p == "ne":
        return or_(low < v.low, high > v.high)
    if p == "gt":
        return high > v.high
    if p == "lt":
        return low < v.low
    if p == "ge":
        return and_(high >= v.low, or_(high > v.high, low >= v.low))
    if p == "le":
        return and_(low <= v.high, or_(low < v.low, high <= v.high))
    if p == "sa":
        return low > v.high
    if p == "eb":
        return high < v.low
    return and_(low <= v.high, high >= v.low)  # ap: the intervals overlap


def _bounds(v: Value) -> tuple[datetime | None, datetime | None]:
    """Return the least `high` and the greatest `low` an interval matching `v` can have."""
    if not isinstance(v, DateValue):
        return None, None
    floor = {"eq": v.low, "ge": v.low, "ap": v.low, "gt": v.high, "sa": v.high}.get(v.prefix)
    ceiling = {"eq": v.high, "le": v.high, "ap": v.high, "lt": v.low, "eb": v.low}.get(v.prefix)
    return floor, ceiling


def _window(groups: Sequence[Sequence[Value]]) -> tuple[datetime | None, datetime | None]:
    """Bound `high` from below and `low` from above for AND-ed groups of OR-ed values."""
    floors, ceilings = [], []
    for vals in groups:
        pairs = [_bounds(v) for v in vals]
        if pairs and all(f is not None for f, _ in pairs):
            floors.append(min(f for f, _ in pairs if f is not None))
        if pairs and all(c is not None for _, c in pairs):
            ceilings.append(max(c for _, c in pairs if c is not None))
    return (max(floors) if floors else None), (min(ceilings) if ceilings else None)


def date_criterion(r: FromClause, types: Sequence[str], code: str, groups: Sequence[Sequence[Value]],
                   slot: int = 0, first: int | None = None) -> ColumnElement[bool]:
    """Match resources with one date row meeting AND-ed groups of OR-ed values.

    When the values bound `high` from below (a floor), each width class gets its own arm with
    `low >= floor - width`, so the (res_type, param, span, low) index reads a short range
    per class instead of every interval ending after the floor. A narrow window (both
    bounds, at most NARROW_WINDOW apart) is written as `rid IN (arm UNION ALL arm …)`:
    PostgreSQL estimates each arm well and starts from the few rows in the window. Wider
    windows stay a correlated EXISTS, which walks the page order and stops after one page.

    `first` (a narrow window only) keeps just the lowest rids that many: the caller vouches
    that nothing else filters the matches, so the page is taken from the index alone and
    only its own rows are looked up, however many resources the window holds.
    """
    t = alias("date", slot)
    base = [one_of(t.c.res_type, types), t.c.param == code]
    ors = [or_(*(date_clause(t.c.low, t.c.high, v) for v in vals if isinstance(v, DateValue)))
           for vals in groups]
    cond = ors[0] if len(ors) == 1 else and_(*ors)
    floor, ceiling = _window(groups)
    if floor is None:
        return exists().where(t.c.rid == r.c.rid, *base, cond)
    arms: list[list[ColumnElement[bool]]] = [
        [t.c.span == n, t.c.low >= max(MIN_DT + width, floor) - width]
        for n, width in enumerate(SPAN_WIDTHS)]
    arms.append([t.c.span == len(SPAN_WIDTHS)])
    if ceiling is not None and ceiling - floor <= NARROW_WINDOW:
        window = union_all(*(select(t.c.rid).where(*base, *arm, cond) for arm in arms))
        if first is not None:
            rids = window.subquery()
            return r.c.rid.in_(select(rids.c.rid).distinct().order_by(rids.c.rid).limit(first))
        return r.c.rid.in_(window)
    return exists().where(t.c.rid == r.c.rid, *base, or_(*(and_(*arm, cond) for arm in arms)))


def number_clause(column: ColumnElement[Any], v: NumberValue) -> ColumnElement[bool]:
    """Compare a stored number with a search number; eq honours the search's precision."""
    p = v.prefix
    if p == "eq":
        return and_(column >= v.low, column < v.high)
    if p == "ne":
        return or_(column < v.low, column >= v.high)
    if p in ("gt", "sa"):
        return column > v.value
    if p in ("lt", "eb"):
        return column < v.value
    if p == "ge":
        return column >= v.value
    if p == "le":
        return column <= v.value
    spread = abs(v.value) * 0.1  # ap: within 10 %, as the specification suggests
    return and_(column >= v.value - spread, column <= v.value + spread)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
