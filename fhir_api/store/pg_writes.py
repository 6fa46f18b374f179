"""Write a resource, its version row and its whole search index in one PostgreSQL statement.

The portable path (repository.py) sends a statement per table: the resource, the version,
then one per index table with rows, and on update one DELETE per index table as well; a
Patient update was a dozen round trips. PostgreSQL runs data-modifying CTEs in one statement,
so here the index rows travel as one JSON array per table, unpacked by `json_to_recordset`,
and the statement text never changes: psycopg prepares it once per connection.
https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING
https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Float, Integer, SmallInteger, TextClause, text

from fhir_api.store.schema import INDEX_TABLES

_SHARED = ("rid", "res_type")
# The record type json_to_recordset reads each column as; strings are text.
_PG_TYPES = ((SmallInteger, "smallint"), (Integer, "int"), (Float, "float8"), (DateTime, "timestamp"))


def _columns(kind: str) -> list[tuple[str, str]]:
    """Return (name, PostgreSQL type) of an index table's own columns, in table order."""
    out = []
    for column in INDEX_TABLES[kind].columns:
        if column.name not in _SHARED:
            pg_type = next((name for kind, name in _PG_TYPES if isinstance(column.type, kind)), "text")
            out.append((column.name, pg_type))
    return out


COLUMNS = {kind: _columns(kind) for kind in INDEX_TABLES}


def _index_inserts(source: str) -> list[str]:
    """Return one CTE per index table inserting that table's JSON rows for the rid in `source`."""
    ctes = []
    for kind, cols in COLUMNS.items():
        names = ", ".join(name for name, _ in cols)
        record = ", ".join(f"{name} {pg_type}" for name, pg_type in cols)
        ctes.append(
            f"i_{kind} AS (INSERT INTO {INDEX_TABLES[kind].name} (rid, res_type, {names}) "
            f"SELECT s.rid, :res_type, {', '.join(f'x.{name}' for name, _ in cols)} "
            f"FROM {source} AS s, json_to_recordset(CAST(:ix_{kind} AS json)) AS x({record}))"
        )
    return ctes


_VERSION = ("v AS (INSERT INTO resource_versions (rid, res_type, res_id, version_id, last_updated, method, content) "
            "SELECT s.rid, :res_type, :res_id, :version_id, :last_updated, :method, :content FROM {source} AS s)")

CREATE: TextClause = text(
    "WITH r AS (INSERT INTO resources (res_type, res_id, version_id, last_updated, deleted, content) "
    "VALUES (:res_type, :res_id, :version_id, :last_updated, false, :content) RETURNING rid), "
    + ", ".join([_VERSION.format(source="r"), *_index_inserts("r")])
    + " SELECT rid FROM r"
)

# The DELETEs and INSERTs of one statement see the same snapshot: the DELETEs remove the
# rows of the version being replaced and never the ones inserted beside them.
UPDATE: TextClause = text(
    "WITH r AS (UPDATE resources SET version_id = :version_id, last_updated = :last_updated, "
    "deleted = false, content = :content "
    "WHERE res_type = :res_type AND res_id = :res_id AND version_id = :seen RETURNING rid), "
    + ", ".join([
        _VERSION.format(source="r"),
        *(f"d_{kind} AS (DELETE FROM {table.name} WHERE rid IN (SELECT rid FROM r))"
          for kind, table in INDEX_TABLES.items()),
        *_index_inserts("r"),
    ])
    + " SELECT rid FROM r"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} in an index row")


def index_params(rows: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Return the `ix_<kind>` parameters: each table's rows as a JSON array."""
    params = {}
    for kind in COLUMNS:
        found = rows.get(kind) or []
        params[f"ix_{kind}"] = orjson.dumps(found, default=_json_default).decode() if found else "[]"
    return params


def create(conn: Connection, res_type: str, res_id: str, when: datetime, content: str,
           rows: Mapping[str, list[dict[str, Any]]]) -> int:
    """Insert version 1 with its index; return its rid (IntegrityError if the id is taken)."""
    params = {"res_type": res_type, "res_id": res_id, "version_id": 1, "last_updated": when,
              "method": "create", "content": content, **index_params(rows)}
    rid: int = conn.execute(CREATE, params).scalar_one()
    return rid


def update(conn: Connection, res_type: str, res_id: str, seen: int, version: int, when: datetime,
           method: str, content: str, rows: Mapping[str, list[dict[str, Any]]]) -> int | None:
    """Replace version `seen` with `version` and its index; None if `seen` is no longer current."""
    params = {"res_type": res_type, "res_id": res_id, "seen": seen, "version_id": version,
              "last_updated": when, "method": method, "content": content, **index_params(rows)}
    rid: int | None = conn.execute(UPDATE, params).scalar_one_or_none()
    return rid
