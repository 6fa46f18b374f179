"""The repository writes exactly the indexer's rows, on create and on update, on both backends.

PostgreSQL writes a resource, its version and all its index rows in one statement
(fhir_api/store/pg_writes.py), SQLite a statement per table; what lands must be the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fhir_api.indexing import index_rows
from fhir_api.store.repository import ResourceRepository
from fhir_api.store.schema import INDEX_TABLES, resource_versions
from tests.integration.search.helpers import SearchDb


def observation(value: float, day: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6b4c0c3e-0000-4000-8000-000000000001"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Hjärtfrekvens"},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": day, "end": "9999-12-31"},
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
        "component": [{"code": {"text": "x"}, "valueQuantity": {"value": 1e300}}],
        "note": [{"text": "åäö"}],
    }


def stored_rows(db: SearchDb, rid: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with db.engine.connect() as conn:
        for kind, table in INDEX_TABLES.items():
            rows = conn.execute(select(table).where(table.c.rid == rid)).mappings().all()
            out[kind] = sorted((_plain(r) for r in rows), key=repr)
    return out


def _plain(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("rid", "res_type")}


def expected_rows(db: SearchDb, resource: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rows = index_rows(resource, db.registry)
    columns = {kind: [c.name for c in table.columns if c.name not in ("rid", "res_type")]
               for kind, table in INDEX_TABLES.items()}
    return {kind: sorted(({c: r.get(c) for c in columns[kind]} for r in rows.get(kind, [])), key=repr)
            for kind in INDEX_TABLES}


def test_repository__create_then_update_leaves_exactly_the_current_index_rows(db: SearchDb) -> None:
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, db.registry))
    with db.engine.begin() as conn:
        repo.create(conn, observation(72.5, "0001-01-01"), "o1")
    with db.engine.connect() as conn:
        rid = conn.execute(select(resource_versions.c.rid)).scalar_one()
    assert stored_rows(db, rid) == expected_rows(db, observation(72.5, "0001-01-01"))

    with db.engine.begin() as conn:
        current = repo.read(conn, "Observation", "o1")
        assert current is not None
        repo.update(conn, current, observation(0.1 + 0.2, "2024-02-29T23:59:59.999+01:00"))

    stored = stored_rows(db, rid)
    assert stored == expected_rows(db, observation(0.1 + 0.2, "2024-02-29T23:59:59.999+01:00"))
    assert any(r["value"] == 0.1 + 0.2 for r in stored["quantity"])
    with db.engine.connect() as conn:
        versions = conn.execute(select(resource_versions.c.version_id, resource_versions.c.method)
                                .order_by(resource_versions.c.vid)).all()
    assert [tuple(v) for v in versions] == [(1, "create"), (2, "update")]
