"""Time a unit's waiting room, a queue position and a claim with 100,000 open cases on PostgreSQL.

    .venv/bin/python -m bench.waiting_room_bench --cases 100000 --rounds 200
    .venv/bin/python -m bench.waiting_room_bench --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Makes a scratch database next to `--postgres-url` (dropped at the end unless `--keep-db`),
migrates it, and bulk-loads `--cases` open cases as intake writes them: an Encounter and a
case Task each (one Patient per four cases), half of them at one big digital unit and the rest
spread over nine others, one in ten already claimed. Rows are those the repository and the
case write listener would write (resource, version 1, index rows, queue row), with COPY. Then
it builds the hub as `create_app` does, access control on, and times `FhirServer.handle`
(the FHIR layer without HTTP: bearer token, PDL guard, AuditEvent included) for a nurse at
the big unit. Each figure is the median and p99 of `--rounds` requests after a warm-up, in
milliseconds. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, make_url

from bench.dataset import _copy, copy_resources, stamped
from cases.intake import CASE_STATE_SYSTEM, COMPETENCE_SYSTEM
from cases.lifecycle import State, put_task_in
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Clinician, Commission
from cases.waiting_room import queue_row

UNITS = ("DIG1", "VC01", "VC02", "VC03", "VC04", "VC05", "VC06", "VC07", "VC08", "PSY1")
PRIORITIES = ("stat", "asap", "asap", "urgent", "routine", "routine", "routine", "routine")
COMPETENCES = ("nurse", "nurse", "nurse", "doctor", "physiotherapist")
NURSE = Clinician("SE-P001", Commission("SE-P001-dig1", "SE-DIG1", "SE-NORR"), given_name="Anna",
                  profession="Sjuksköterska")
BATCH = 2000


def unit_of(n: int) -> str:
    """Half the cases at the big digital unit, the rest spread over the others."""
    return "dig1" if n % 2 == 0 else UNITS[1 + (n // 2) % (len(UNITS) - 1)].lower()


def case(n: int, now: datetime) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Return case n's Encounter, Task and (every fourth case) its Patient."""
    arrived = now - timedelta(minutes=(n * 7919) % (3 * 24 * 60))
    patient_id = f"p{n // 4}"
    stamp = arrived.strftime("%Y-%m-%dT%H:%M:%SZ")
    encounter = {"resourceType": "Encounter", "id": f"e{n}", "status": "arrived", "class": {"code": "VR"},
                 "subject": {"reference": f"Patient/{patient_id}"}, "period": {"start": stamp},
                 "serviceProvider": {"reference": f"Organization/{unit_of(n)}"}}
    task: dict[str, Any] = {
        "resourceType": "Task", "id": f"t{n}", "status": "ready", "intent": "order",
        "priority": PRIORITIES[n % len(PRIORITIES)],
        "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]},
        "businessStatus": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "waiting"}]},
        "for": {"reference": f"Patient/{patient_id}"}, "encounter": {"reference": f"Encounter/e{n}"},
        "owner": {"reference": f"Organization/{unit_of(n)}"}, "authoredOn": stamp,
        "restriction": {"period": {"end": (arrived + timedelta(hours=4 + n % 7 * 20)).strftime("%Y-%m-%dT%H:%M:%SZ")}},
        "performerType": [{"coding": [{"system": COMPETENCE_SYSTEM, "code": COMPETENCES[n % len(COMPETENCES)]}]}]}
    if n % 10 == 9:  # already claimed by someone at the unit
        task = {**put_task_in(task, State.IN_PROGRESS, arrived + timedelta(minutes=30),
                              owner=f"PractitionerRole/r-{unit_of(n)}"), "id": f"t{n}"}
        encounter["status"] = "in-progress"
    patient = None
    if n % 4 == 0:
        nine = f"{70 + n % 30:02d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        patient = {"resourceType": "Patient", "id": patient_id, "birthDate": "1980-01-01",
                   "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": f"19{nine}0"}]}
    return encounter, task, patient


def load(url: str, cases: int) -> None:
    """Write the directory through the repository, then the cases with COPY, as the hub would store them."""
    from fhir_api.indexing import index_rows
    from fhir_api.searchparams import SearchParamRegistry
    from fhir_api.store.repository import ResourceRepository, utcnow
    from hub.case_queue import case_queue

    registry = SearchParamRegistry.load()
    repo = ResourceRepository(indexer=lambda r: index_rows(r, registry))
    engine = create_engine(url)
    with engine.begin() as conn:
        repo.create(conn, {"resourceType": "Organization", "identifier": [{"system": HSA_SYSTEM, "value": "SE-NORR"}]},
                    "norr")
        for unit in UNITS:
            repo.create(conn, {"resourceType": "Organization", "partOf": {"reference": "Organization/norr"},
                               "identifier": [{"system": HSA_SYSTEM, "value": f"SE-{unit}"}]}, unit.lower())
            repo.create(conn, {"resourceType": "PractitionerRole", "organization": {
                "reference": f"Organization/{unit.lower()}"}}, f"r-{unit.lower()}")
    now = datetime.now(UTC)
    began = time.perf_counter()
    for first in range(0, cases, BATCH):
        when = utcnow()
        batch: list[dict[str, Any]] = []
        queue = []
        for n in range(first, min(first + BATCH, cases)):
            encounter, task, patient = case(n, now)
            batch += [r for r in (patient, encounter, task) if r is not None]
            row = queue_row(task, None, now.replace(tzinfo=None))
            if row is not None:
                claimed = row.waiting_since + timedelta(minutes=30) if task["status"] == "in-progress" else None
                queue.append({**row.__dict__, "claimed_at": claimed, "waiting": claimed is None})
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            copy_resources(cursor, [stamped(r, when) for r in batch], when, registry)
            _copy(cursor, case_queue, queue)
        done = min(first + BATCH, cases)
        if done % 20000 == 0 or done == cases:
            print(f"  loaded {done:,} of {cases:,} cases ({done / (time.perf_counter() - began):,.0f}/s)", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float, float]:
    """Return the median and p99 wall time and the median CPU time of fn in milliseconds, after a warm-up.

    CPU time is this process's (the hub's Python, not PostgreSQL's): on a machine shared with
    other work it is the steadier figure of what a request costs the API process.
    """
    for _ in range(max(2, rounds // 10)):
        fn()
    times, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)], statistics.median(cpu)


def plans(engine: Any) -> list[tuple[str, float, float, float]]:
    """Return PostgreSQL's own execution time of the queue's statements (EXPLAIN ANALYZE), machine load aside."""
    from sqlalchemy import event

    from hub.case_queue import CaseQueue

    queue, out = CaseQueue(), []
    with engine.connect() as conn:
        row = queue.waiting(conn, "dig1", None, 2000)[-1]
        statements: dict[str, Callable[[], Any]] = {
            "SQL: first 50 of the big unit's queue": lambda: queue.waiting(conn, "dig1", None, 50),
            "SQL: count of the big unit's queue": lambda: queue.count_waiting(conn, "dig1", None),
            "SQL: cases ahead of the 2,000th": lambda: queue.ahead_of(conn, row),
        }
        for name, call in statements.items():
            captured: list[Any] = []

            def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                        _many: bool, sink: list[Any] = captured) -> None:
                sink.append((statement, parameters))

            event.listen(engine, "before_cursor_execute", capture)
            call()
            event.remove(engine, "before_cursor_execute", capture)
            statement, parameters = captured[-1]
            times = []
            for _ in range(20):
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar_one()
                times.append(plan[0]["Execution Time"])
            times.sort()
            out.append((name, statistics.median(times), times[-1], float("nan")))
            print(f"  {name:<66} p50 {out[-1][1]:7.2f} ms  max {out[-1][2]:7.2f} ms "
                  f"({plan[0]['Plan']['Node Type']})", flush=True)
    return out


def run(url: str, cases: int, rounds: int, *, loaded: bool = False) -> list[tuple[str, float, float, float]]:
    """Load the cases (unless `loaded`), build the guarded hub and time each scenario."""
    from adapters.idp.tokens import Scopes
    from fhir_api.messages import FhirRequest
    from hub.app import create_app
    from hub.settings import Settings

    if not loaded:
        load(url, cases)
    app = create_app(Settings(database_url=url, demo_data=False, auto_migrate=False, access_control=True,
                              outbox_dispatcher="off"))
    server = app.state.hub.fhir
    token = "Bearer " + app.state.auth.tokens.issue(NURSE, Scopes.parse("user/*.cruds"), client_id="bench",
                                                    now=datetime.now(UTC), ttl=timedelta(hours=6)).token
    headers = {"authorization": token}
    claims = iter(range(cases - cases % 2 - 2, -1, -2))  # the big unit's cases, newest first; claimed ones skipped

    def get(path: str, expect: int = 200) -> Callable[[], None]:
        def once() -> None:
            resp = server.handle(FhirRequest.from_url("GET", path, headers=headers))
            assert resp.status == expect, (path, resp.status)
        return once

    def claim() -> None:
        n = next(claims)
        while n % 10 == 9:
            n = next(claims)
        resp = server.handle(FhirRequest.from_url("POST", f"Task/t{n}/$claim", headers=headers,
                                                  body={"resourceType": "Parameters"}))
        assert resp.status == 200, resp.body

    middle = cases // 2 - (cases // 2) % 20  # a waiting case at the big unit, halfway down its queue
    scenarios = {
        "$waiting-room, big unit (_count=50)": get("Organization/dig1/$waiting-room?_count=50"),
        "$waiting-room, big unit, competence=doctor": get("Organization/dig1/$waiting-room?competence=doctor"),
        "$waiting-room, big unit (_count=200)": get("Organization/dig1/$waiting-room?_count=200"),
        "$queue-position, mid-queue case": get(f"Task/t{middle}/$queue-position"),
        "$claim (a different case each time)": claim,
    }
    # The generic search, for comparison: it cannot order by urgency, and takes seconds here.
    slow = {"search Task?owner=…&status=ready&_count=50 (no urgency order)":
            get("Task?owner=Organization/dig1&status=ready&_count=50")}
    out = plans(app.state.hub.engine)
    for name, fn in {**scenarios, **slow}.items():
        median, p99, cpu = timed(fn, rounds if name in scenarios else max(5, rounds // 20))
        out.append((name, median, p99, cpu))
        print(f"  {name:<66} p50 {median:7.1f} ms  p99 {p99:7.1f} ms  CPU {cpu:6.1f} ms", flush=True)
    app.state.hub.engine.dispose()
    return out


def main() -> None:
    """Parse arguments, make the scratch database, run, print the table, drop the database."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="open cases to load (default 100000)")
    parser.add_argument("--rounds", type=int, default=200, help="timed requests per scenario (default 200)")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    parser.add_argument("--loaded-url", default="", help="time an already loaded database (from --keep-db) instead")
    args = parser.parse_args()
    if args.loaded_url:
        rows = run(args.loaded_url, args.cases, args.rounds, loaded=True)
        _print(rows)
        return
    from hub import database
    from hub.settings import Settings

    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"ingang_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        database.upgrade(Settings(database_url=url))
        print(f"database {name}: loading {args.cases:,} open cases", flush=True)
        rows = run(url, args.cases, args.rounds)
    finally:
        if not args.keep_db:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    _print(rows)


def _print(rows: list[tuple[str, float, float, float]]) -> None:
    print("\n| scenario | p50 ms | p99 (SQL: max) ms | API CPU p50 ms |\n|---|---:|---:|---:|")
    for scenario, median, p99, cpu in rows:
        print(f"| {scenario} | {median:.2f} | {p99:.2f} | {'' if cpu != cpu else f'{cpu:.1f}'} |")


if __name__ == "__main__":
    main()
