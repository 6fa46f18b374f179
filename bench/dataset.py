"""Make the benchmark's data: citizens and their observations, the same for any run.

Resource k of a data set is a function of k alone, so any first N of them are a data set
and the load generator can name existing ids and identifiers without reading them back:
every fifth one a Patient (`bp-<n>`), then four Observations about it (`bo-<m>`), their
dates spread over five years. Bulk loading goes
through the hub's own repository and indexer in-process, one transaction per batch, in
parallel processes; what the benchmark then measures goes over HTTP.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PATIENT_SYSTEM = "https://ingang.example/bench/citizen"
LOINC = "http://loinc.org"
CODES = ["8867-4", "8310-5", "9279-1", "2708-6", "8480-6", "8462-4", "29463-7", "8302-2", "59408-5", "72514-3"]
FIRST_DAY = datetime(2020, 1, 1, tzinfo=UTC)
DAYS = 5 * 365
BATCH = 1000


def patient_count(total: int) -> int:
    """Return how many Patients a data set of `total` resources holds."""
    return (total + 4) // 5


def observation_count(total: int) -> int:
    """Return how many Observations a data set of `total` resources holds."""
    return total - patient_count(total)


def patient(n: int, version_note: str = "") -> dict[str, Any]:
    """Return bench Patient n."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"bp-{n}",
        "identifier": [{"system": PATIENT_SYSTEM, "value": f"c{n}"}],
        "name": [{"family": f"Family{n % 5000}", "given": [f"Given{n % 97}"]}],
        "gender": ("female", "male", "other")[n % 3],
        "birthDate": (datetime(1930, 1, 1) + timedelta(days=(n * 7919) % 32000)).strftime("%Y-%m-%d"),
    }
    if version_note:
        resource["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{version_note}</div>'}
    return resource


def observation_time(m: int) -> datetime:
    """Return when bench Observation m was made (a spread over five years)."""
    return FIRST_DAY + timedelta(seconds=(m * 2654435761) % (DAYS * 86400))


def observation(m: int) -> dict[str, Any]:
    """Return bench Observation m, about Patient m // 4."""
    return {
        "resourceType": "Observation",
        "id": f"bo-{m}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": CODES[m % len(CODES)]}]},
        "subject": {"reference": f"Patient/bp-{m // 4}"},
        "effectiveDateTime": observation_time(m).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valueQuantity": {"value": 40 + m % 120, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"},
    }


def resource_at(k: int) -> dict[str, Any]:
    """Return resource k of any data set: a Patient, then its four Observations, and so on."""
    n, r = divmod(k, 5)
    return patient(n) if r == 0 else observation(4 * n + r - 1)


def transaction_body(entries: int = 100) -> bytes:
    """Return a transaction Bundle creating entries/2 Patients, each with one Observation."""
    items = []
    for i in range(entries // 2):
        urn = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
        person = patient(i)
        del person["id"]
        person["identifier"] = [{"system": PATIENT_SYSTEM + "/tx", "value": f"t{i}"}]
        obs = observation(i)
        del obs["id"]
        obs["subject"] = {"reference": urn}
        items.append({"fullUrl": urn, "resource": person, "request": {"method": "POST", "url": "Patient"}})
        items.append({"resource": obs, "request": {"method": "POST", "url": "Observation"}})
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": items})


def _copy(cursor: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY rows into a table; a column a row leaves out gets the column's default."""
    columns = [c for c in table.columns if any(c.name in r for r in rows[:50])]
    defaults = {c.name: c.default.arg if c.default is not None and c.default.is_scalar else None for c in columns}
    names = ", ".join(c.name for c in columns)
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.get(c.name, defaults[c.name]) for c in columns])


def copy_resources(cursor: Any, batch: list[dict[str, Any]], when: datetime, registry: Any) -> None:
    """COPY stamped resources in as the repository stores them: row, version 1 and index rows."""
    from fhir_api.indexing import index_rows
    from fhir_api.store.schema import INDEX_TABLES, resource_versions, resources

    cursor.execute("SELECT nextval(pg_get_serial_sequence('resources', 'rid')) FROM generate_series(1, %s)",
                   (len(batch),))
    rids = [row[0] for row in cursor.fetchall()]
    current, versions = [], []
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in INDEX_TABLES}
    for rid, r in zip(rids, batch, strict=True):
        row = {"rid": rid, "res_type": r["resourceType"], "res_id": r["id"], "version_id": 1,
               "last_updated": when, "content": orjson.dumps(r).decode()}
        current.append({**row, "deleted": False})
        versions.append({**row, "method": "create"})
        for kind, rows in index_rows(r, registry).items():
            by_kind[kind].extend({**x, "rid": rid, "res_type": r["resourceType"]} for x in rows)
    _copy(cursor, resources, current)
    _copy(cursor, resource_versions, versions)
    for kind, rows in by_kind.items():
        if rows:
            _copy(cursor, INDEX_TABLES[kind], rows)


def stamped(resource: dict[str, Any], when: datetime) -> dict[str, Any]:
    """Return the resource as the repository stores version 1 of it: id and meta first."""
    from fhir_api.store.repository import instant

    meta = {"versionId": "1", "lastUpdated": instant(when)}
    return {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta,
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}


def _load_range(database_url: str, start: int, stop: int) -> int:
    """Store resources start..stop-1 as the repository would, with COPY, 1000 to a transaction.

    `ResourceRepository.create` makes a round trip per row (~300 resources/s on PostgreSQL);
    this writes the same rows (the resource, its version 1, its index rows from the hub's own
    indexer) with PostgreSQL COPY. `check_loaded` then asks the hub over HTTP whether it
    finds them.
    """
    from sqlalchemy import create_engine

    from fhir_api.searchparams import SearchParamRegistry
    from fhir_api.store.repository import utcnow

    registry = SearchParamRegistry.load()
    engine = create_engine(database_url)
    for first in range(start, stop, BATCH):
        when = utcnow()
        batch = [stamped(resource_at(k), when) for k in range(first, min(first + BATCH, stop))]
        with engine.begin() as conn:
            copy_resources(conn.connection.driver_connection.cursor(), batch, when, registry)  # type: ignore[union-attr]
    engine.dispose()
    return stop - start


def check_loaded(base_url: str, loaded: int) -> None:
    """Ask the hub over HTTP for bulk-loaded data; stop if it does not find what was written."""
    import httpx

    n = min(7, patient_count(loaded) - 1)
    fhir = f"{base_url}/fhir"
    checks = {
        f"Patient/bp-{n}": lambda b: b.get("id") == f"bp-{n}",
        f"Patient?identifier={PATIENT_SYSTEM}|c{n}": lambda b: b.get("total") == 1,
        f"Observation?subject=Patient/bp-{n}&_include=Observation:subject":
            lambda b: len(b.get("entry", [])) == 5,
        f"Observation?code={LOINC}|{CODES[4 * n % len(CODES)]}&_id=bo-{4 * n}": lambda b: b.get("total") == 1,
    }
    for query, ok in checks.items():
        r = httpx.get(f"{fhir}/{query}", timeout=60)
        if r.status_code != 200 or not ok(r.json()):
            raise SystemExit(f"the hub does not find bulk-loaded data: GET {query} gave {r.status_code} "
                             f"{r.text[:300]}; bench/dataset.py writes rows the repository would not")


def bulk_load(database_url: str, start: int, stop: int, processes: int = 2) -> float:
    """Load resources start..stop-1 in parallel processes; return resources per second."""
    if stop <= start:
        return 0.0
    began = time.perf_counter()
    step = max(BATCH, -(-(stop - start) // (processes * 8)))
    chunks = [(c, min(c + step, stop)) for c in range(start, stop, step)]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_load_range, database_url, a, b) for a, b in chunks]
        done = 0
        for future in futures:
            done += future.result()
            rate = done / (time.perf_counter() - began)
            print(f"  loaded {start + done:,} of {stop:,} ({rate:,.0f}/s)", flush=True)
    return (stop - start) / (time.perf_counter() - began)
