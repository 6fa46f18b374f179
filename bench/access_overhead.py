"""Price the PDL guard: access checks plus the AuditEvent, per request, in-process.

    .venv/bin/python -m bench.access_overhead --patients 2000 --rounds 400
    .venv/bin/python -m bench.access_overhead --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Builds a scratch database (SQLite file, or a PostgreSQL database it creates and drops) with
four units and one case per patient, ANALYZEd as a live database would be, then times
`FhirServer.handle` (the FHIR layer without HTTP) for a clinician at one unit: a read by id, two
searches and a create, back to back in four modes: no guard; the PDL guard's checks and
filters without the AuditEvent; checks and the AuditEvent (the hub as it runs); and the same
with the caller already known, which leaves out verifying the bearer token. Tokens are issued
and verified on one clock. Each figure is the median (and p95) of `--rounds` requests after a
warm-up, in microseconds, with the SQL statements one request runs; bench/README.md has the
figures and what they are made of.

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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url

from adapters.idp.dev import InMemoryPopulationRegister
from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Clinician, Commission
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
from hub.access.guard import PdlGuard
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
    analyze(engine)
    return at_dig1


def analyze(engine: Engine) -> None:
    """Give the planner statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite) would."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


class StatementCounter:
    """Count the SQL statements an engine runs: the noise-free part of what a request costs."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def per_call(self, fn: Callable[[], Any], calls: int = 10) -> float:
        """Return the statements one call of fn runs, averaged over a few calls."""
        before = self.count
        for _ in range(calls):
            fn()
        return (self.count - before) / calls


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


class ChecksOnlyGuard(PdlGuard):
    """The PDL guard without its AuditEvent: checks and filters only, to price the two apart."""

    def writes_audit(self, req: FhirRequest) -> bool:
        """Write nothing, so reads stay in a read-only unit of work."""
        return False

    def after(self, conn: Any, req: FhirRequest, route: Any, resp: Any) -> None:
        """Skip the AuditEvent."""


def bench_clock() -> datetime:
    """The one clock that issues the bench's tokens and that the guard checks them against."""
    return datetime.now(UTC)


def servers(url: str) -> dict[str, FhirServer]:
    """Return the server three ways over the same database: no guard, checks only, checks and audit."""
    settings = Settings(database_url=url, demo_data=False, auto_migrate=False)
    engine = database.make_engine(settings)
    registry = SearchParamRegistry.load()
    limits = Limits()
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, registry))
    matcher = Matcher(find=lambda conn, res_type, params: search.find_matches(conn, res_type, params, registry))
    guard = build_guard(engine, repo, AccessSettings(), verifier=TOKENS, clock=bench_clock,
                        register=InMemoryPopulationRegister({}), registry=registry)
    checks = ChecksOnlyGuard(repo=repo, registry=registry, settings=guard.settings, verifier=TOKENS,
                             register=guard.register, clock=bench_clock)

    def server(g: PdlGuard | None) -> FhirServer:
        return FhirServer(engine=engine, repo=repo, matcher=matcher, searcher=Searcher(registry, repo, limits),
                          guard=g)

    return {"off": server(None), "checks": server(checks), "checks+audit": server(guard)}


TOKENS = AccessTokens(KeyRing.generate(), issuer="https://hub.bench", audience="https://hub.bench/fhir")


def scenarios(pid: str, pnr: str) -> dict[str, tuple[str, str, dict[str, Any] | None, int]]:
    """Return, per scenario, the method, URL, body and expected status of one request at DIG1's case."""
    n = pid[1:]
    message = {"resourceType": "Communication", "status": "completed", "subject": {"reference": f"Patient/{pid}"},
               "encounter": {"reference": f"Encounter/e{n}"}, "payload": [{"contentString": "Hur mår du nu?"}]}
    return {
        "read Encounter by id": ("GET", f"Encounter/e{n}", None, 200),
        "search Encounter by subject": ("GET", f"Encounter?subject=Patient/{pid}", None, 200),
        "search Patient by identifier": ("GET", f"Patient?identifier={PERSONNUMMER_SYSTEM}|{pnr}", None, 200),
        "search the unit's Tasks": ("GET", "Task?owner=Organization/dig1&status=ready&_count=50", None, 200),
        "search Encounter, _include": ("GET", f"Encounter?subject=Patient/{pid}&_revinclude=Task:encounter"
                                               "&_include=Encounter:patient", None, 200),
        "create Communication": ("POST", "Communication", message, 201),
    }


def run(url: str, patients: int, rounds: int) -> Iterator[tuple[str, str, float, float, float, float]]:
    """Load the data and time every scenario; yield (scenario, mode, median, p95, CPU median, statements)."""
    by_mode = servers(url)
    plain = by_mode["off"]
    at_dig1 = load(plain.engine, plain.repo, patients)
    counter = StatementCounter(plain.engine)
    pid, pnr = at_dig1[len(at_dig1) // 2]
    token = "Bearer " + TOKENS.issue(NURSE, Scopes.parse("user/*.cruds"), client_id="bench", now=bench_clock(),
                                     ttl=timedelta(hours=2)).token
    for name, (method, path, body, status) in scenarios(pid, pnr).items():
        # Back to back per scenario, so a noisy neighbour hits every mode alike.
        for mode, server in by_mode.items():
            for known in ((False, True) if mode == "checks+audit" else (False,)):
                headers = {} if mode == "off" or known else {"authorization": token}
                request = {"method": method, "url": path, "body": body, "headers": headers}

                def once(s: FhirServer = server, k: bool = known, r: dict[str, Any] = request, ok: int = status,
                         ) -> None:
                    resp = s.handle(FhirRequest.from_url(**r, caller=Caller(NURSE) if k else None))
                    assert resp.status == ok, (r["url"], resp.status, resp.body[:200])

                label = mode if mode == "off" else f"{mode}, {'caller known' if known else 'bearer token'}"
                yield (name, label, *timed(once, rounds), counter.per_call(once))
    plain.engine.dispose()


def patch_engine() -> None:
    """Put the access condition after the search criteria (the change proposed for fhir_api/search)."""
    from fhir_api.search import execute, sql

    original = execute.match_filters

    def access_last(query: Any, r: Any, access: Any = None) -> list[Any]:
        filters = original(query, r, None)  # (chained criteria lose their access check: measuring only)
        clause = sql.access_clause(r, query.types, access)
        return [*filters, clause] if clause is not None else filters

    execute.match_filters = access_last


def no_sync_commit() -> None:
    """Make every PostgreSQL connection this process opens commit without waiting for the WAL flush."""

    def off(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("psycopg"):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            dbapi_connection.commit()

    event.listen(Engine, "connect", off)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on SQLite, and on PostgreSQL when a URL is given."""
    p = argparse.ArgumentParser(prog="python -m bench.access_overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=2000, help="patients, one case each (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=400, help="timed requests per scenario (default: %(default)s)")
    p.add_argument("--postgres-url", default="", help="a PostgreSQL database to CREATE DATABASE from")
    p.add_argument("--no-sync-commit", action="store_true",
                   help="PostgreSQL: commit without waiting for the WAL flush, to see what the flush costs")
    p.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    p.add_argument("--engine-patch", action="store_true", help="put the access condition last in searches")
    args = p.parse_args(argv)
    if args.engine_patch:
        patch_engine()
    if args.no_sync_commit:
        no_sync_commit()
    targets: list[tuple[str, str, Callable[[], None]]] = []
    tmp = tempfile.mkdtemp(prefix="ingang-access-bench-")
    if not args.no_sqlite:
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
            print(f"{'scenario':30} {'mode':32} {'median':>8} {'p95':>8} {'cpu':>8} {'sql':>5}")
            for scenario, mode, median, p95, cpu, sql in run(url, args.patients, args.rounds):
                print(f"{scenario:30} {mode:32} {median:8.0f} {p95:8.0f} {cpu:8.0f} {sql:5.1f}", flush=True)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
