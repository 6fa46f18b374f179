"""A hub with the PDL guard wired in, over each database, with a settable clock and real tokens.

The app is put together here as `hub.app.create_app` does, with the guard built by
`hub.access.build_guard` and nothing else (no auth routes, no demo data), so each test controls
the clock, the population register and the settings; tokens are the hub's own signed access
tokens, issued to each test principal.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from adapters.idp.dev import InMemoryPopulationRegister
from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from cases.principals import Principal, RegionalSystem
from fhir_api.http import FhirEndpoint
from fhir_api.interactions import Matcher
from fhir_api.operations import register_builtin_operations
from fhir_api.searching import Searcher
from fhir_api.server import FhirServer, Limits
from fhir_api.store.repository import ResourceRepository
from fhir_api.store.schema import resources
from hub import database
from hub.access import AccessSettings, PeerAddressMiddleware, build_guard
from hub.access.grants import emergency_grants
from hub.access.guard import PdlGuard
from hub.settings import Settings
from hub.triage_wiring import register_triage
from tests.conftest import hub_settings
from tests.integration.access.world import FAMILIES, World, build_world

FHIR_BASE = "http://hub.test/fhir"
ISSUER = "http://hub.test"
START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
# The matrix makes a hundred anonymous requests in a row; the rate limit has tests of its own.
UNTHROTTLED = AccessSettings(anonymous_burst=1_000_000)


@pytest.fixture(scope="session")
def key_ring() -> KeyRing:
    """One signing key for the session: generating keys is slow."""
    return KeyRing.generate()


@pytest.fixture(scope="session")
def triage_catalog() -> Any:
    """The triage catalog, loaded once."""
    from triage.catalog import load_catalog

    return load_catalog()


class Clock:
    """A clock the tests move forward."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class GuardedHub:
    """The app, its parts, and helpers to act as a principal."""

    client: TestClient
    server: FhirServer
    engine: Engine
    guard: PdlGuard
    tokens: AccessTokens
    clock: Clock
    register: InMemoryPopulationRegister
    world: World = field(default_factory=World)

    def token(self, principal: Principal, scope: str = "", patient: str | None = None) -> str:
        """Issue a day-long access token for the principal with the scopes its kind would get."""
        if not scope:
            scope = "system/*.cruds" if isinstance(principal, RegionalSystem) else "user/*.cruds patient/*.cruds"
        issued = self.tokens.issue(principal, Scopes.parse(scope), client_id="test-app", now=self.clock.now,
                                   patient=patient, ttl=timedelta(days=1))
        return issued.token

    def headers(self, principal: Principal | None, **extra: str) -> dict[str, str]:
        """Return request headers for the principal (none when anonymous)."""
        out = dict(extra)
        if principal is not None:
            out["Authorization"] = f"Bearer {self.token(principal)}"
        return out

    def count(self, res_type: str) -> int:
        """Count the live resources of a type, straight from the store."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(resources).where(
                resources.c.res_type == res_type, resources.c.deleted.is_(False))).scalar_one())

    def audit_events(self) -> list[dict[str, Any]]:
        """Return every AuditEvent in the store, oldest first."""
        import orjson

        with self.engine.connect() as conn:
            rows = conn.execute(select(resources.c.content).where(resources.c.res_type == "AuditEvent")
                                .order_by(resources.c.rid)).all()
        return [orjson.loads(r[0]) for r in rows]

    def grants(self) -> list[Any]:
        """Return the emergency-access grants, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(emergency_grants).order_by(emergency_grants.c.grant_id)).all())


def build_guarded_app(settings: Settings, *, access: AccessSettings, tokens: AccessTokens, clock: Clock,
                      register: InMemoryPopulationRegister, catalog: Any) -> tuple[FastAPI, FhirServer, PdlGuard]:
    """Build the hub as hub.app.create_app does, with the PDL guard wired into the FHIR server."""
    from fhir_api import search
    from fhir_api.indexing import index_rows
    from fhir_api.searchparams import SearchParamRegistry

    engine = database.make_engine(settings)
    registry = SearchParamRegistry.load()
    limits = Limits(bundle_max_entries=settings.bundle_max_entries, default_page_size=settings.default_page_size,
                    max_page_size=settings.max_page_size)
    base = settings.base_url or None
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, registry, base_url=base))
    matcher = Matcher(find=lambda conn, res_type, params: search.find_matches(conn, res_type, params, registry))
    guard = build_guard(engine, repo, access, verifier=tokens, register=register, clock=clock, registry=registry)
    server = FhirServer(engine=engine, repo=repo, matcher=matcher, searcher=Searcher(registry, repo, limits),
                        limits=limits, guard=guard)
    register_builtin_operations(server)
    register_triage(server, catalog=catalog)
    app = FastAPI()
    endpoint = FhirEndpoint(server, mount="/fhir", base_url=settings.base_url, max_body_bytes=settings.max_body_bytes)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    app.add_route("/fhir", endpoint.respond, methods=methods, include_in_schema=False)
    app.add_route("/fhir/{path:path}", endpoint.respond, methods=methods, include_in_schema=False)
    app.add_middleware(PeerAddressMiddleware)
    return app, server, guard


def make_hub(database_url: str, key_ring: KeyRing, catalog: Any, access: AccessSettings | None = None,
             ) -> Iterator[GuardedHub]:
    """Yield a guarded hub over the database, with the world written into it."""
    clock = Clock()
    tokens = AccessTokens(key_ring, issuer=ISSUER, audience=FHIR_BASE)
    register = InMemoryPopulationRegister(FAMILIES)
    app, server, guard = build_guarded_app(hub_settings(database_url), access=access or UNTHROTTLED,
                                           tokens=tokens, clock=clock, register=register, catalog=catalog)
    with server.engine.begin() as conn:
        world = build_world(conn, server.repo, START - timedelta(days=1))
    with TestClient(app, base_url="http://hub.test") as client:
        yield GuardedHub(client, server, server.engine, guard, tokens, clock, register, world)
    server.engine.dispose()


@pytest.fixture
def hub(database_url: str, key_ring: KeyRing, triage_catalog: Any) -> Iterator[GuardedHub]:
    """A guarded hub with the world in it, on SQLite and then PostgreSQL."""
    yield from make_hub(database_url, key_ring, triage_catalog)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh SQLite database only, for tests about the guard's own logic rather than SQL."""
    path = tmp_path / "hub.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"
