"""Fetch the resources `_include` and `_revinclude` ask for, one SQL statement per level.

Level 0 applies every include to the page of matches; each further level applies only the
`:iterate` ones to what the previous level added, until nothing new turns up. Forward and
reverse includes of a level share one statement (`rid IN (…) OR rid IN (…)`). Targets must be
live and pass the access hook, exactly like matches; nothing is returned twice.
https://hl7.org/fhir/R4/search.html#include
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, or_, select, true

from fhir_api.search.model import Include, SearchQuery
from fhir_api.search.sql import AccessFilter, access_clause, alias
from fhir_api.searchparams import SearchParamRegistry

MAX_LEVELS = 4  # :iterate stops here even if the graph goes on
Match = tuple[int, str, str]  # rid, res_type, res_id


def _spec(i: Any, inc: Include) -> ColumnElement[bool]:
    """Rows of idx_reference that one include names: source type, parameter, target type."""
    conds = []
    if inc.source_type:
        conds.append(i.c.res_type == inc.source_type)
    if inc.code:
        conds.append(i.c.param == inc.code)
    if inc.target_type:
        conds.append(i.c.target_type == inc.target_type)
    return and_(*conds) if conds else true()


def _forward_types(incs: Sequence[Include], registry: SearchParamRegistry) -> set[str]:
    """Types an include can reach, so the access hook is asked about each of them."""
    out: set[str] = set()
    for inc in incs:
        sp = registry.for_type(inc.source_type).get(inc.code) if inc.source_type and inc.code else None
        if inc.target_type:
            out.add(inc.target_type)
        elif sp is not None and sp.targets:
            out.update(sp.targets)
        else:
            return set(registry.resource_types())
    return out


def _level_statement(frontier: Sequence[Match], incs: Sequence[Include], revs: Sequence[Include],
                     registry: SearchParamRegistry, access: AccessFilter | None) -> Any:
    t = alias("resources", 1)
    sources: list[ColumnElement[bool]] = []
    types: set[str] = set()
    if incs:
        i, tgt = alias("reference", 1), alias("resources", 2)
        joined = i.join(tgt, and_(tgt.c.res_type == i.c.target_type, tgt.c.res_id == i.c.target_id))
        sources.append(t.c.rid.in_(
            select(tgt.c.rid).select_from(joined).where(
                i.c.rid.in_([m[0] for m in frontier]), or_(*(_spec(i, inc) for inc in incs)))))
        types |= _forward_types(incs, registry)
    if revs:
        j = alias("reference", 2)
        by_type: dict[str, list[str]] = {}
        for _, res_type, res_id in frontier:
            by_type.setdefault(res_type, []).append(res_id)
        pointing = or_(*(and_(j.c.target_type == k, j.c.target_id.in_(ids)) for k, ids in by_type.items()))
        sources.append(t.c.rid.in_(select(j.c.rid).where(pointing, or_(*(_spec(j, inc) for inc in revs)))))
        if any(inc.source_type is None for inc in revs):
            types |= set(registry.resource_types())
        else:
            types |= {inc.source_type for inc in revs if inc.source_type}
    conds = [or_(*sources), t.c.deleted == false()]
    acc = access_clause(t, sorted(types), access)
    if acc is not None:
        conds.append(acc)
    return select(t.c.rid, t.c.res_type, t.c.res_id, t.c.content).where(*conds).order_by(t.c.rid)


def fetch_included(conn: Connection, query: SearchQuery, matches: Sequence[Match],
                   registry: SearchParamRegistry, access: AccessFilter | None,
                   limit: int) -> tuple[list[tuple[str, str, str]], bool]:
    """Return the included resources (type, id, content) and whether `limit` cut them short."""
    seen = {m[0] for m in matches}
    out: list[tuple[str, str, str]] = []
    frontier: list[Match] = list(matches)
    for level in range(MAX_LEVELS):
        kinds = {m[1] for m in frontier}
        # An include whose source type is not on this level cannot add anything: skip it.
        incs = [x for x in query.includes
                if (level == 0 or x.iterate) and (x.source_type is None or x.source_type in kinds)]
        revs = [x for x in query.revincludes
                if (level == 0 or x.iterate) and (x.target_type is None or x.target_type in kinds)]
        if not frontier or not (incs or revs):
            break
        stmt = _level_statement(frontier, incs, revs, registry, access)
        frontier = []
        for row in conn.execute(stmt.limit(limit - len(out) + len(seen) + 1)):
            if row.rid in seen:
                continue
            if len(out) >= limit:
                return out, True
            seen.add(row.rid)
            frontier.append((row.rid, row.res_type, row.res_id))
            out.append((row.res_type, row.res_id, row.content))
    return out, False
