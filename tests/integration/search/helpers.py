"""Write resources and their index rows straight into the tables, as the store would.

The search tests need no store, HTTP or migrations: `metadata.create_all` builds the schema
and `SearchDb.add` writes a `resources` row plus the rows `index_rows` returns, in one
transaction, exactly as the store's write path does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, delete, insert, select, update

from fhir_api.indexing import index_rows
from fhir_api.search import SearchPage, find_matches, parse_query, run_search
from fhir_api.search.sql import AccessFilter
from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.schema import INDEX_TABLES, resources

BASE_TIME = datetime(2024, 1, 1, 12, 0, 0)


class SearchDb:
    """A database with resources in it, and one-call searches over it."""

    def __init__(self, engine: Engine, registry: SearchParamRegistry) -> None:
        self.engine = engine
        self.registry = registry
        self._clock = BASE_TIME

    def add(self, resource: dict[str, Any], *, last_updated: datetime | None = None) -> int:
        """Store `resource` as version 1 with its index rows; return its rid."""
        self._clock += timedelta(seconds=1)
        when = last_updated or self._clock
        with self.engine.begin() as conn:
            rid = conn.execute(
                insert(resources).values(
                    res_type=resource["resourceType"], res_id=resource["id"], version_id=1,
                    last_updated=when, deleted=False, content=orjson.dumps(resource).decode(),
                ).returning(resources.c.rid)
            ).scalar_one()
            self._index(conn, rid, resource)
        return int(rid)

    def add_all(self, items: Sequence[dict[str, Any]]) -> None:
        """Store several resources, in order."""
        for item in items:
            self.add(item)

    def update(self, resource: dict[str, Any]) -> None:
        """Replace the stored resource and its index rows, keeping its rid."""
        self._clock += timedelta(seconds=1)
        with self.engine.begin() as conn:
            rid = conn.execute(
                update(resources)
                .where(resources.c.res_type == resource["resourceType"], resources.c.res_id == resource["id"])
                .values(version_id=resources.c.version_id + 1, last_updated=self._clock,
                        content=orjson.dumps(resource).decode())
                .returning(resources.c.rid)
            ).scalar_one()
            for table in INDEX_TABLES.values():
                conn.execute(delete(table).where(table.c.rid == rid))
            self._index(conn, rid, resource)

    def delete(self, res_type: str, res_id: str) -> None:
        """Mark a resource deleted and drop its index rows, as the store does."""
        with self.engine.begin() as conn:
            rid = conn.execute(
                update(resources)
                .where(resources.c.res_type == res_type, resources.c.res_id == res_id)
                .values(deleted=True, content=None)
                .returning(resources.c.rid)
            ).scalar_one()
            for table in INDEX_TABLES.values():
                conn.execute(delete(table).where(table.c.rid == rid))

    def _index(self, conn: Any, rid: int, resource: dict[str, Any]) -> None:
        rows = index_rows(resource, self.registry)
        for kind, kind_rows in rows.items():
            if kind_rows:
                conn.execute(insert(INDEX_TABLES[kind]),
                             [{**row, "rid": rid, "res_type": resource["resourceType"]} for row in kind_rows])

    def search(self, resource_type: str | None, params: Sequence[tuple[str, str]] | str, *,
               strict: bool = False, count: int = 50, restrict: AccessFilter | None = None) -> SearchPage:
        """Parse and run one search; `params` may be a query string."""
        pairs = parse_pairs(params) if isinstance(params, str) else list(params)
        query = parse_query(resource_type, pairs, self.registry, strict=strict,
                            default_count=count, max_count=1000)
        with self.engine.connect() as conn:
            return run_search(conn, query, self.registry, restrict=restrict)

    def ids(self, resource_type: str | None, params: Sequence[tuple[str, str]] | str, **kw: Any) -> list[str]:
        """Return the ids of the matches, in result order."""
        return [res_id for _t, res_id, _c in self.search(resource_type, params, **kw).matches]

    def id_set(self, resource_type: str | None, params: Sequence[tuple[str, str]] | str, **kw: Any) -> set[str]:
        """Return the ids of the matches, order aside."""
        return set(self.ids(resource_type, params, **kw))

    def find(self, resource_type: str, params: Sequence[tuple[str, str]] | str) -> list[str]:
        """Return the ids `find_matches` gives for a conditional interaction."""
        pairs = parse_pairs(params) if isinstance(params, str) else list(params)
        with self.engine.connect() as conn:
            return [res_id for _rid, res_id in find_matches(conn, resource_type, pairs, self.registry)]

    def count_rows(self, kind: str) -> int:
        """Return how many index rows of one kind exist."""
        with self.engine.connect() as conn:
            return len(list(conn.execute(select(INDEX_TABLES[kind].c.rid))))


def parse_pairs(query: str) -> list[tuple[str, str]]:
    """Split `a=1&b=2` into pairs, decoding percent escapes as a web framework would."""
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)
