"""Wire the hub together: settings, database, FHIR server, operations and the HTTP app.

This is the composition root: the only place that picks real implementations for the ports
the core defines. Nothing is created at import time; `create_app()` builds a fresh hub, so
tests can run several side by side.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from adapters.idp.smart.login import LoginBackend
from cases.region_files import RegionFileError
from fhir_api.http import FhirEndpoint
from fhir_api.interactions import Matcher
from fhir_api.operations import register_builtin_operations
from fhir_api.searching import Searcher
from fhir_api.server import FhirServer, Limits
from fhir_api.store.repository import ResourceRepository
from hub import database
from hub.case_wiring import CASE_OPERATIONS, register_case_operations
from hub.outbox import Outbox
from hub.settings import Settings
from hub.triage_wiring import register_triage
from triage.errors import ProtocolError

log = logging.getLogger("ingang")

FHIR_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class NotMigrated(SystemExit):
    """The database's schema is behind the code; an administrator must migrate it."""


@dataclass
class Hub:
    """The running hub's parts, for the CLI and tests that need more than the HTTP app."""

    settings: Settings
    engine: Engine
    fhir: FhirServer
    outbox: Outbox


def build_hub(settings: Settings) -> Hub:
    """Build the hub's parts over a migrated database."""
    from fhir_api import search
    from fhir_api.indexing import index_rows
    from fhir_api.searchparams import SearchParamRegistry

    engine = database.make_engine(settings)
    if settings.should_auto_migrate:
        database.upgrade(settings)
    current, head = database.pending_migrations(engine, settings)
    if current != head:
        engine.dispose()
        raise NotMigrated(
            f"The database at {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current or 'none'}, the code needs {head}. Run `ingang db upgrade` first "
            "(or set INGANG_AUTO_MIGRATE=true)."
        )
    registry = SearchParamRegistry.load()
    limits = Limits(
        bundle_max_entries=settings.bundle_max_entries,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
    )
    base = settings.base_url or None
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, registry, base_url=base))
    matcher = Matcher(find=lambda conn, res_type, params: search.find_matches(conn, res_type, params, registry))
    server = FhirServer(engine=engine, repo=repo, matcher=matcher,
                        searcher=Searcher(registry, repo, limits), limits=limits)
    register_builtin_operations(server)
    from hub.outbox.wiring import build_outbox

    # Built before the operations that enqueue, so each can register its message kinds here.
    outbox = build_outbox(settings, engine, server)
    from hub.subscriptions import register_subscriptions

    register_subscriptions(server, outbox, error_after=settings.subscription_error_after)
    try:
        register_triage(server, regions_dir=Path(settings.regions_dir) if settings.regions_dir else None)
    except (RegionFileError, ProtocolError) as exc:
        engine.dispose()
        raise SystemExit(f"configuration error: {exc}") from None
    from hub.journal_wiring import register_journal

    register_journal(server, outbox, settings)
    from hub.transfer_wiring import register_transfers

    register_transfers(server, outbox, settings)
    register_case_operations(server)  # claim, release, handover, close, withdraw, transfer, waiting rooms
    from hub.booking_wiring import register_booking_for
    from hub.journal_view_wiring import register_journal_view_for, riv_services

    services = riv_services(settings)
    register_journal_view_for(server, settings, services)  # Patient/x/$journal over RIV-TA
    register_booking_for(server, services)  # Slot/x/$book, Appointment/x/$cancel-booking
    return Hub(settings=settings, engine=engine, fhir=server, outbox=outbox)


def population_register(settings: Settings) -> Any:
    """Return the population register the login and the access rules ask about custody."""
    from adapters.idp.dev import InMemoryPopulationRegister, demo_directory

    # The population register is a fake with the demo families until a region's adapter exists;
    # in production it knows no families, so no guardian access is granted on anyone's word.
    return InMemoryPopulationRegister(demo_directory().families if settings.mode != "production" else {})


def _guard(app: FastAPI, hub: Hub, settings: Settings, verifier: Any, register: Any) -> None:
    """Put the FHIR API under PDL access rules and the audit trail."""
    from hub.access import PeerAddressMiddleware, build_guard
    from hub.journal_view_wiring import RIV_CASE_OPERATIONS
    from hub.transfer_wiring import TRANSFER_OPERATIONS

    guard = build_guard(hub.engine, hub.fhir.repo, settings, verifier=verifier,
                        register=register, registry=hub.fhir.searcher.registry,
                        case_operations=CASE_OPERATIONS | TRANSFER_OPERATIONS | RIV_CASE_OPERATIONS)
    hub.fhir.set_guard(guard)
    app.add_middleware(PeerAddressMiddleware)


def create_app(settings: Settings | None = None, *,
               logins: Mapping[str, LoginBackend] | None = None) -> FastAPI:
    """Return the ASGI app for the given (or the environment's) settings and login backends."""
    from_env = settings is None
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    hub = build_hub(settings)
    if settings.demo_data:
        from hub.demo import load_demo_data

        load_demo_data(hub)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from hub.outbox.wiring import start_dispatcher

        stop_dispatcher = start_dispatcher(hub.settings, hub.outbox)
        yield
        stop_dispatcher()
        close_login_backends(app.state.auth.logins)
        hub.engine.dispose()

    app = FastAPI(title="Ingång", version="0.1.0", docs_url="/api/docs",
                  openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.hub = hub
    from adapters.idp.smart.services import issuer_for
    from hub.auth import mount_auth
    from hub.auth.logins import close_login_backends, login_backends_from_env
    from hub.auth.wiring import DEV_BASE_URL, build_auth_services

    if logins is None and from_env:
        # The environment is read when the settings are: `create_app()` (uvicorn, `ingang serve`).
        logins = login_backends_from_env(os.environ, mode=settings.mode,
                                         issuer_base_url=issuer_for(settings.base_url or DEV_BASE_URL))
    register = population_register(settings)
    auth = build_auth_services(
        fhir_base_url=settings.base_url, mode=settings.mode, engine=hub.engine,
        clients_file=settings.clients_file, keys_file=settings.token_keys_file,
        subject_secret=settings.token_subject_secret, logins=logins, register=register,
        access_token_ttl=timedelta(seconds=settings.access_token_seconds),
    )
    app.state.auth = auth
    mount_auth(app, auth)
    from hub.web_wiring import CITIZEN_START, mount_web

    mount_web(app, auth)  # the citizen pages and the clinician workspace under /web, as public SMART clients
    if settings.access_control:
        _guard(app, hub, settings, auth.tokens, register)
    from hub.live import mount_live

    mount_live(app, hub.fhir, settings, auth.tokens)  # chat, receipts, signalling, waiting rooms over WebSockets
    from hub.outbox.staff_api import StaffApi, operators_from

    app.router.routes.extend(StaffApi(hub.outbox, auth.tokens if settings.access_control else None,
                                      operators_from(settings.outbox_operators)).routes())
    from hub.statistics import StatisticsApi

    app.router.routes.extend(StatisticsApi(hub.engine, auth.tokens if settings.access_control else None,
                                           right=settings.statistics_right).routes())  # a region's figures
    from hub.photo_wiring import register_photos

    register_photos(app, hub.fhir, settings)  # before the FHIR catch-all, so photos posted to /fhir are cleaned
    endpoint = FhirEndpoint(hub.fhir, mount="/fhir", base_url=settings.base_url,
                            max_body_bytes=settings.max_body_bytes)
    app.add_route("/fhir", endpoint.respond, methods=FHIR_METHODS, include_in_schema=False)
    app.add_route("/fhir/{path:path}", endpoint.respond, methods=FHIR_METHODS, include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        with hub.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        return RedirectResponse(url=CITIZEN_START)

    return app
