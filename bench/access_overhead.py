"""Price the PDL guard: access checks plus the AuditEvent, per request, in-process.

    .venv/bin/python -m bench.access_overhead --patients 2000 --rounds 400
    .venv/bin/python -m bench.access_overhead --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Builds a scratch database (SQLite file, or a PostgreSQL database it creates and drops) with
four units and one case per patient, then times `FhirServer.handle` for a read by id and a
search by identifier, three ways: without a guard; with the guard and the caller already
known (checks, filters and the AuditEvent); and with a bearer token to verify as well. Each
figure is the median (and p95) of `--rounds` requests after a warm-up, in microseconds.

`--engine-patch` applies, in this process only, the change proposed for fhir_api/search:
the access condition last among a search's conditions. SQLite evaluates WHERE terms in the
order written, so with the access condition first it checks every row of the type before
the (selective) search criteria; PostgreSQL's planner orders them by cost either way.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, make_url

from adapters.idp.dev import InMemoryPopulationRegister
from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Citizen, Clinician, Commission
from fhir_api import search
from fhir_api.indexing import index_rows
from fhir_api.interactions import Matcher
from fhir_api.messages import FhirRequest
from fhir_api.searching import Searcher
from fhir_api.searchparams import SearchParamRegistry
from fhir_api.server import FhirServer, Limits
from fhir_api.store.repository import ResourceRepository
from hub import database
from hub.access import AccessSettings, build_guard
from hub.access.caller import Caller
from hub.settings import Settings
from mappings.personnummer import luhn_check_digit

UNITS = ("DIG1", "VC01", "VC02", "PSY1")
NURSE = Clinician("SE-P001", Commission("SE-P001-dig1", "SE-DIG1", "SE-NORR"))


def personnummer(n: int) -> str:
    """Return a valid personnummer for an adult born in 1970-1999, unique per n."""
    nine = f"{70 + n % 30:02d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return f"19{nine}{luhn_check_digit(nine)}"


def load(engine: Engine, repo: ResourceRepository, patients: int) -> list[tuple[str, str]]:
    """Write the units and one case per patient; return (patient id, personnummer) at DIG1."""
    at_dig1 = []
    with engine.begin() as conn:
        repo.create(conn, {"resourceType": "Organization", "identifier": [{"system": HSA_SYSTEM, "value": "SE-NORR"}]},
                    "norr")
        for unit in UNITS:
            repo.create(conn, {"resourceType": "Organization", "partOf": {"reference": "Organization/norr"},
                               "identifier": [{"system": HSA_SYSTEM, "value": f"SE-{unit}"}]}, unit.lower())
        for n in range(patients):
            pid, pnr, unit = f"p{n}", personnummer(n), UNITS[n % len(UNITS)].lower()
            patient = {"reference": f"Patient/{pid}"}
            repo.create(conn, {"resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM,
                                                                           "value": pnr}]}, pid)
            repo.create(conn, {"resourceType": "Encounter", "status": "arrived", "subject": patient,
                               "class": {"code": "VR"}, "serviceProvider": {"reference": f"Organization/{unit}"}},
                        f"e{n}")
            repo.create(conn, {"resourceType": "QuestionnaireResponse", "status": "completed", "subject": patient,
                               "encounter": {"reference": f"Encounter/e{n}"}}, f"q{n}")
            repo.create(conn, {"resourceType": "Task", "status": "ready", "intent": "order", "for": patient,
                               "encounter": {"reference": f"Encounter/e{n}"},
                               "focus": {"reference": f"QuestionnaireResponse/q{n}"},
                               "owner": {"reference": f"Organization/{unit}"}}, f"t{n}")
            if unit == "dig1":
                at_dig1.append((pid, pnr))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # what autovacuum does to a live database
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return at_dig1


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float, float]:
    """Return the median and p95 wall time and the median CPU time of fn, in µs, after a warm-up.

    CPU time is this process's: on a shared machine it is the steadier figure, and on SQLite it
    includes the database's own work (in-process); on PostgreSQL the server's part is not in it.
    """
    for _ in range(max(20, rounds // 10)):
        fn()
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1e6)
        cpu.append((time.process_time() - start_cpu) * 1e6)
    wall.sort()
    return statistics.median(wall), wall[int(len(wall) * 0.95) - 1], statistics.median(cpu)


def servers(url: str) -> tuple[FhirServer, FhirServer, AccessTokens]:
    """Return an unguarded and a guarded server over the same database, and the token issuer."""
    settings = Settings(database_url=url, demo_data=False, auto_migrate=False)
    engine = database.make_engine(settings)
    registry = SearchParamRegistry.load()
    limits = Limits()
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, registry))
    matcher = Matcher(find=lambda conn, res_type, params: search.find_matches(conn, res_type, params, registry))
    tokens = AccessTokens(KeyRing.generate(), issuer="https://hub.bench", audience="https://hub.bench/fhir")
    guard = build_guard(engine, repo, AccessSettings(), verifier=tokens,
                        register=InMemoryPopulationRegister({}), registry=registry)
    plain = FhirServer(engine=engine, repo=repo, matcher=matcher, searcher=Searcher(registry, repo, limits))
    guarded = FhirServer(engine=engine, repo=repo, matcher=matcher, searcher=Searcher(registry, repo, limits),
                         guard=guard)
    return plain, guarded, tokens


def run(url: str, patients: int, rounds: int) -> list[tuple[str, str, float, float, float]]:
    """Load the data and time every scenario; return (scenario, mode, median, p95, CPU median) in µs."""
    plain, guarded, tokens = servers(url)
    at_dig1 = load(plain.engine, plain.repo, patients)
    pid, pnr = at_dig1[len(at_dig1) // 2]
    citizen = Citizen(pnr)
    now = datetime.now(UTC)
    bearer = {p.kind: "Bearer " + tokens.issue(p, Scopes.parse("user/*.cruds patient/*.cruds"), client_id="bench",
                                                now=now, ttl=timedelta(hours=1)).token for p in (NURSE, citizen)}
    scenarios = {"read Encounter by id": f"Encounter/e{pid[1:]}",
                 "search Patient by identifier": f"Patient?identifier={PERSONNUMMER_SYSTEM}|{pnr}"}
    out = []
    for name, url_part in scenarios.items():
        def unguarded(u: str = url_part) -> None:
            assert plain.handle(FhirRequest.from_url("GET", u)).status == 200

        out.append((name, "no guard", *timed(unguarded, rounds)))
        for who in (NURSE, citizen):
            def checked(u: str = url_part, p: Any = who) -> None:
                resp = guarded.handle(FhirRequest.from_url("GET", u, caller=Caller(p)))
                assert resp.status == 200

            def with_token(u: str = url_part, p: Any = who) -> None:
                resp = guarded.handle(FhirRequest.from_url("GET", u, headers={"authorization": bearer[p.kind]}))
                assert resp.status == 200

            out.append((name, f"guard, {who.kind}, caller known", *timed(checked, rounds)))
            out.append((name, f"guard, {who.kind}, bearer token", *timed(with_token, rounds)))
    plain.engine.dispose()
    return out


def patch_engine() -> None:
    """Put the access condition after the search criteria (the change proposed for fhir_api/search)."""
    from fhir_api.search import execute, sql

    original = execute.match_filters

    def access_last(query: Any, r: Any, access: Any = None) -> list[Any]:
        filters = original(query, r, None)  # (chained criteria lose their access check: measuring only)
        clause = sql.access_clause(r, query.types, access)
        return [*filters, clause] if clause is not None else filters

    execute.match_filters = access_last


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on SQLite, and on PostgreSQL when a URL is given."""
    p = argparse.ArgumentParser(prog="python -m bench.access_overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=2000, help="patients, one case each (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=400, help="timed requests per scenario (default: %(default)s)")
    p.add_argument("--postgres-url", default="", help="a PostgreSQL database to CREATE DATABASE from")
    p.add_argument("--engine-patch", action="store_true", help="put the access condition last in searches")
    args = p.parse_args(argv)
    if args.engine_patch:
        patch_engine()
    targets: list[tuple[str, str, Callable[[], None]]] = []
    tmp = tempfile.mkdtemp(prefix="ingang-access-bench-")
    targets.append(("sqlite", f"sqlite:///{tmp}/bench.db", lambda: None))
    if args.postgres_url:
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        name = f"ingang_access_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()

        targets.append(("postgresql", make_url(args.postgres_url).set(database=name).render_as_string(
            hide_password=False), drop))
    for backend, url, cleanup in targets:
        try:
            database.upgrade(Settings(database_url=url))
            print(f"\n{backend}: {args.patients} patients, {args.rounds} rounds (µs per request)")
            print(f"{'scenario':30} {'mode':32} {'median':>8} {'p95':>8} {'cpu':>8}")
            for scenario, mode, median, p95, cpu in run(url, args.patients, args.rounds):
                print(f"{scenario:30} {mode:32} {median:8.0f} {p95:8.0f} {cpu:8.0f}")
        finally:
            cleanup()


if __name__ == "__main__":
    main()
