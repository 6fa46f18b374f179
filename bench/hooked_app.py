"""The hub with a stand-in Guard on every interaction, to price what access checks and audit cost.

The FHIR server calls its `Guard` (fhir_api/guard.py) before and after every routed
interaction, on the interaction's own connection. Access control and the PDL audit trail
are not written yet; `INGANG_BENCH_HOOK` picks a stand-in for them:

- `noop`: a guard that checks nothing and writes nothing (the cost of the port itself);
- `audit`: a guard that stores one AuditEvent per interaction in the interaction's own
  transaction, through the hub's repository, as the PDL log will (reads then need a write
  transaction too).

Served by `uvicorn bench.hooked_app:create_app --factory`; `bench.fhir_bench --hook` starts it.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Connection

from fhir_api.guard import Route
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.store.repository import ResourceRepository, instant, utcnow
from hub.app import create_app as create_hub_app

MODES = ("noop", "audit")


def audit_event(req: FhirRequest, route: Route, status: int) -> dict[str, Any]:
    """Return the AuditEvent a PDL log would keep for one interaction (minus who and why)."""
    what = "/".join(p for p in (route.res_type, route.res_id) if p) or "system"
    return {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": route.interaction}],
        "action": "R" if req.method in ("GET", "HEAD") else "U",
        "recorded": instant(utcnow()),
        "outcome": "0" if status < 400 else "4",
        "agent": [{"requestor": True, "who": {"display": "bench"}}],
        "source": {"observer": {"display": "ingang"}},
        "entity": [{"what": {"reference": what}}],
    }


class BenchGuard:
    """A Guard that allows everything and, in `audit` mode, logs every interaction."""

    def __init__(self, repo: ResourceRepository, mode: str) -> None:
        self.repo = repo
        self.audit = mode == "audit"

    def authenticate(self, req: FhirRequest) -> Any:
        """Return the caller: always anonymous here."""
        return req.header("authorization")

    def writes_audit(self, req: FhirRequest) -> bool:
        """Tell whether this request writes an AuditEvent."""
        return self.audit

    def before(self, conn: Connection, req: FhirRequest, route: Route) -> None:
        """Allow everything."""

    def after(self, conn: Connection, req: FhirRequest, route: Route, resp: FhirResponse) -> None:
        """Store the AuditEvent in the interaction's transaction, in `audit` mode."""
        if self.audit and route.res_type != "AuditEvent":
            self.repo.create(conn, audit_event(req, route, resp.status))

    def search_filter(self, conn: Connection, req: FhirRequest) -> None:
        """Hide nothing from searches."""
        return None


def create_app() -> FastAPI:
    """Return the hub's app with the guard chosen by INGANG_BENCH_HOOK."""
    mode = os.environ.get("INGANG_BENCH_HOOK", "noop")
    if mode not in MODES:
        raise SystemExit(f"INGANG_BENCH_HOOK must be one of {', '.join(MODES)}, not {mode!r}")
    app = create_hub_app()
    server = app.state.hub.fhir
    server.guard = BenchGuard(server.repo, mode)
    server.searcher.filter_for = server.guard.search_filter  # what FhirServer does for a guard it is built with
    return app
