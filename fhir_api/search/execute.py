"""Run a parsed search: one SQL statement for the page, one per include level, one for a total.

The page query selects `count + 1` rows in sort order from a keyset position, so the extra
row tells whether a next page exists without counting. Sort keys on search parameters are
correlated min/max subqueries over the index, with missing values sorting last either way.
The optional access hook is applied to matches, includes, chained targets and totals alike.
https://hl7.org/fhir/R4/search.html#sort
https://hl7.org/fhir/R4/search.html#total
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, collate, func, select

from fhir_api.outcomes import Issue
from fhir_api.search.include import fetch_included
from fhir_api.search.model import Criterion, SearchPage, SearchQuery, SortKey
from fhir_api.search.paging import encode_cursor, keyset_clause
from fhir_api.search.parse import parse_query
from fhir_api.search.sql import (
    SORT_SLOT,
    TOP_CHAR,
    AccessFilter,
    alias,
    criterion_clause,
    date_criterion,
    mergeable,
    merged_clause,
    one_of,
    visible,
)
from fhir_api.search.values import HUGE, MAX_DT, MIN_DT
from fhir_api.searchparams import SearchParamRegistry

# `_total=estimate` counts at most this many matches; beyond it, no total.
ESTIMATE_CAP = 1000
_SORT_COLUMN = {"string": "value_norm", "token": "code", "number": "value", "quantity": "value",
                "reference": "target_id", "uri": "value"}


def match_filters(query: SearchQuery, r: FromClause, access: AccessFilter | None = None,
                  ) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions that select exactly the matches of `query`."""
    # Even a system-wide search names every type: each index leads with res_type.
    filters = visible(r, query.types, access)
    groups: dict[str, list[Criterion]] = {}
    for c in query.criteria:
        if mergeable(c):
            groups.setdefault(c.code, []).append(c)
        else:
            filters.append(criterion_clause(c, r, access))
    filters.extend(merged_clause(g, r) if len(g) > 1 else criterion_clause(g[0], r, access)
                   for g in groups.values())
    return filters


def _sort_columns(query: SearchQuery, r: FromClause, dialect: str) -> list[tuple[Any, bool]]:
    """Return (expression, descending) per sort key, rid last as the unique tie-break."""
    columns: list[tuple[Any, bool]] = []
    for n, key in enumerate(query.sort):
        expr: Any
        if key.kind == "_lastUpdated":
            expr = r.c.last_updated
        elif key.kind == "_id":
            expr = r.c.res_id
        else:
            expr = _param_sort_expr(key, query.types, r, SORT_SLOT + n)
        if dialect == "postgresql" and key.kind not in ("date", "_lastUpdated", "number", "quantity"):
            expr = collate(expr, "C")  # the same byte order as SQLite, and TOP_CHAR sorts last
        columns.append((expr, key.descending))
    last_desc = columns[-1][1] if columns else False
    columns.append((r.c.rid, last_desc))
    return columns


def _param_sort_expr(key: SortKey, types: Sequence[str], r: FromClause, slot: int) -> Any:
    """Sort by the lowest value ascending, the highest descending; missing values last."""
    t = alias(key.kind, slot)
    missing: object
    if key.kind == "date":
        column, missing = (t.c.high, MIN_DT) if key.descending else (t.c.low, MAX_DT)
    else:
        column = t.c[_SORT_COLUMN[key.kind]]
        if key.kind in ("number", "quantity"):
            missing = -HUGE if key.descending else HUGE
        else:
            missing = "" if key.descending else TOP_CHAR
    agg = func.max(column) if key.descending else func.min(column)
    sub = select(agg).where(t.c.rid == r.c.rid, one_of(t.c.res_type, types), t.c.param == key.code,
                            t.c.grp.is_(None)).scalar_subquery()
    return func.coalesce(sub, missing)


def run_search(conn: Connection, query: SearchQuery, registry: SearchParamRegistry, *,
               restrict: AccessFilter | None = None, max_included: int = 1000) -> SearchPage:
    """Return one page of matches, their includes, a total and the cursors around the page.

    `restrict(res_type, table)` may add a condition rows of a type must meet to be seen; it
    applies to matches, includes, chained targets and totals alike.
    """
    access = restrict
    r = alias("resources")
    filters = match_filters(query, r, access)
    warnings: list[Issue] = list(query.warnings)
    rows: list[Any] = []
    more = False
    columns = _sort_columns(query, r, conn.dialect.name)
    cursor = query.cursor
    forward = cursor is None or cursor.forward
    if query.count > 0:
        page_filters = _first_page_of_a_date_window(query, r, access) or filters
        stmt = select(r.c.rid, r.c.res_type, r.c.res_id, r.c.content,
                      *(expr.label(f"k{i}") for i, (expr, _) in enumerate(columns[:-1])))
        stmt = stmt.where(*page_filters)
        if cursor is not None:
            stmt = stmt.where(keyset_clause(columns, [*cursor.keys, cursor.rid], cursor.forward,
                                            cursor.inclusive))
        # Backwards (a "previous" cursor) reads the order reversed, then turns the page round.
        stmt = stmt.order_by(*(e.desc() if desc == forward else e.asc() for e, desc in columns))
        rows = list(conn.execute(stmt.limit(query.count + 1)))
        more = len(rows) > query.count
        rows = rows[:query.count]
        if not forward:
            rows.reverse()
    next_cursor, prev_cursor = _cursors(query, rows, more, len(columns) - 1)
    total = _total(conn, query, r, filters, rows, more)
    included: list[tuple[str, str, str]] = []
    if rows and (query.includes or query.revincludes):
        included, truncated = fetch_included(conn, query, [(x.rid, x.res_type, x.res_id) for x in rows],
                                             registry, access, max_included)
        if truncated:
            warnings.append(Issue("too-costly", f"Only the first {max_included} included resources "
                                  "are returned", "warning", ("_include",)))
    return SearchPage(
        matches=[(x.res_type, x.res_id, x.content) for x in rows],
        included=included, total=total, next_cursor=next_cursor, prev_cursor=prev_cursor,
        warnings=warnings, summary=query.summary, elements=query.elements,
    )


def _first_page_of_a_date_window(query: SearchQuery, r: FromClause, access: AccessFilter | None,
                                 ) -> list[ColumnElement[bool]] | None:
    """Return filters that take a first page straight from the date index, when that is exact.

    A search on one date parameter alone, in the default order (rid), has as its first page
    the lowest rids among the index rows in the window: index rows exist only for the live
    resources of their type. Reading those first keeps a day's page as cheap with a million
    resources stored as with ten thousand; the generic plan looks up every match and sorts.
    """
    criteria = query.criteria
    if (access is not None or query.sort or query.cursor is not None or not criteria
            or not all(mergeable(c) and c.kind == "date" and c.code == criteria[0].code for c in criteria)):
        return None
    c = criteria[0]
    window = date_criterion(r, c.types, c.code, [crit.values for crit in criteria], first=query.count + 1)
    return [*visible(r, query.types, None), window]


def _cursors(query: SearchQuery, rows: list[Any], more: bool, nkeys: int) -> tuple[str | None, str | None]:
    """Name the pages after and before this one; None where there is none."""
    sig, cursor = query.sort_signature(), query.cursor
    if query.count == 0:
        return None, None

    def at(row: Any, forward: bool) -> str:
        return encode_cursor(sig, forward, [row[4 + i] for i in range(nkeys)], row.rid)

    def at_cursor(forward: bool) -> str | None:
        if cursor is None:
            return None
        return encode_cursor(sig, forward, cursor.keys, cursor.rid, inclusive=not cursor.inclusive)

    if cursor is None or cursor.forward:
        nxt = at(rows[-1], True) if rows and more else None
        prev = (at(rows[0], False) if rows else at_cursor(False)) if cursor is not None else None
        return nxt, prev
    prev = at(rows[0], False) if rows and more else None
    nxt = at(rows[-1], True) if rows else at_cursor(True)
    return nxt, prev


def _total(conn: Connection, query: SearchQuery, r: FromClause, filters: list[ColumnElement[bool]],
           rows: list[Any], more: bool) -> int | None:
    """Count as `_total` asks: auto (the default), none, estimate (capped) or accurate."""
    if query.total == "none":
        return None
    if query.total in ("auto", "estimate") and query.cursor is None and query.count > 0 and not more:
        return len(rows)  # the whole result is on this page: no query needed
    if query.total == "auto":
        return None
    if query.total == "accurate":
        return int(conn.execute(select(func.count()).select_from(r).where(*filters)).scalar_one())
    capped = select(r.c.rid).where(*filters).limit(ESTIMATE_CAP + 1).subquery()
    n = int(conn.execute(select(func.count()).select_from(capped)).scalar_one())
    return n if n <= ESTIMATE_CAP else None


def find_matches(conn: Connection, resource_type: str, params: Sequence[tuple[str, str]],
                 registry: SearchParamRegistry, *, restrict: AccessFilter | None = None,
                 limit: int | None = None) -> list[tuple[int, str]]:
    """Return (rid, res_id) of every match, for conditional create, update and delete.

    Parsing is strict: an unknown parameter must not silently widen a conditional delete.
    """
    query = parse_query(resource_type, params, registry, strict=True, default_count=0, max_count=0)
    r = alias("resources")
    stmt = select(r.c.rid, r.c.res_id).where(*match_filters(query, r, restrict)).order_by(r.c.rid)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(int(row.rid), str(row.res_id)) for row in conn.execute(stmt)]
