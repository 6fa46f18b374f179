"""Give a region's administrators its figures: cases, self-care share, waiting times, claims.

`GET /api/regions/{region}/statistics?from=YYYY-MM-DD&to=YYYY-MM-DD` returns JSON and
`GET /api/regions/{region}/statistics.csv?…` the same figures as CSV; `{region}` is the
region's HSA-id (its Organization's identifier), the days are Swedish calendar days,
inclusive, at most 366 of them (the last 30 days when left out).

Who may ask: the figures are counts over a region's cases, without names of patients, but
with the names of the clinicians who claimed them, so they are for the region's own people:
- a clinician whose commission is for the region (care provider HSA-id = `{region}`) and
  carries the statistics right (`INGANG_STATISTICS_RIGHT`, default `Statistik`, the first
  part of an Inera commission right such as `Statistik;Alla;Alla`), or
- the region's own system (client credentials, region = `{region}`) with a `system/` scope
  that lets it read Tasks.
Everyone else gets 403 with an OperationOutcome that says what is missing.
https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cases.principals import Clinician, RegionalSystem
from fhir_api.outcomes import BadRequest, FhirError, Forbidden, NotFound
from hub.statistics.cases import find_region, load_cases
from hub.statistics.figures import SWEDISH_TIME, as_csv, compute
from triage.vocabulary import load_vocabulary

DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_RIGHT = "Statistik"


class TokenVerifier(Protocol):
    """The part of the hub's token service the statistics API needs."""

    def verify_authorization(self, authorization: str | None, *, now: datetime) -> Any: ...


def _outcome(exc: FhirError) -> Response:
    return JSONResponse(exc.outcome(), status_code=exc.status, headers=exc.headers,
                        media_type="application/fhir+json")


def has_right(clinician: Clinician, right: str) -> bool:
    """Tell whether a clinician's commission carries `right` (the part before the first `;`)."""
    wanted = right.strip().casefold()
    return any(r.split(";", 1)[0].strip().casefold() == wanted for r in clinician.commission.rights)


def check_access(context: Any, region_hsa_id: str, right: str) -> None:
    """Raise Forbidden unless the caller is the region's statistics reader (see the module text)."""
    principal = getattr(context, "principal", None)
    if isinstance(principal, RegionalSystem):
        if principal.region != region_hsa_id:
            raise Forbidden(f"This system belongs to region {principal.region}, not {region_hsa_id}")
        if not context.scopes.allows("Task", "r", "system"):
            raise Forbidden("The region's statistics need a system scope that reads Tasks (system/Task.rs)")
        return
    if isinstance(principal, Clinician):
        if principal.commission.care_provider_hsa_id != region_hsa_id:
            raise Forbidden(f"Your commission is for care provider {principal.commission.care_provider_hsa_id}, "
                            f"not region {region_hsa_id}")
        if not has_right(principal, right):
            raise Forbidden(f"The region's statistics need a commission with the right '{right}'")
        return
    raise Forbidden("The region's statistics are for the region's administrators and systems only")


def complaint_names(codes: Iterable[str]) -> dict[str, dict[str, str]]:
    """Return the triage's Swedish and English names of the complaint codes it knows."""
    complaints = load_vocabulary().complaints
    return {code: {"sv": complaints[code].sv, "en": complaints[code].en} for code in codes if code in complaints}


def parse_days(query: Any, today: date) -> tuple[date, date]:
    """Return the first and last day asked for, checked; BadRequest says which parameter is wrong."""
    def day(name: str, default: date) -> date:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a date as YYYY-MM-DD, not {raw!r}", (name,)) from None

    last = day("to", today)
    first = day("from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise BadRequest(f"from ({first}) is after to ({last})", ("from",))
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"Ask for at most {MAX_DAYS} days at a time, not {(last - first).days + 1}", ("from",))
    return first, last


class StatisticsApi:
    """The statistics routes over one hub's database."""

    def __init__(self, engine: Engine, tokens: TokenVerifier | None, *, right: str = DEFAULT_RIGHT,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.tokens = tokens
        self.right = right
        self.now = now

    def figures(self, request: Request) -> dict[str, Any]:
        """Check the caller, then return the region's figures for the days asked for."""
        if self.tokens is None:
            raise Forbidden("The statistics API needs the hub's access control to be on")
        now = self.now()
        context = self.tokens.verify_authorization(request.headers.get("authorization"), now=now)
        region_hsa_id = request.path_params["region"]
        check_access(context, region_hsa_id, self.right)
        first, last = parse_days(request.query_params, now.astimezone(SWEDISH_TIME).date())
        with self.engine.connect() as conn:
            region = find_region(conn, region_hsa_id)
            if region is None:
                raise NotFound(f"The hub knows no region (Organization) with HSA-id {region_hsa_id}")
            facts, names = load_cases(conn, region, first, last)
        result = compute(facts, names, first=first, last=last)
        return {"region": region.hsa_id, "regionName": region.name, **result,
                "complaintNames": complaint_names(result["complaints"])}

    def as_json(self, request: Request) -> Response:
        """`GET /api/regions/{region}/statistics`."""
        try:
            return JSONResponse(self.figures(request), headers={"Cache-Control": "no-store"})
        except FhirError as exc:
            return _outcome(exc)

    def as_csv(self, request: Request) -> Response:
        """`GET /api/regions/{region}/statistics.csv`, offered as a download."""
        try:
            figures = self.figures(request)
        except FhirError as exc:
            return _outcome(exc)
        filename = f"statistics-{figures['region']}-{figures['from']}-{figures['to']}.csv"
        return Response(as_csv(figures), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})

    def routes(self) -> list[Route]:
        """Return the routes to mount on the app (the CSV route first: it is the more specific)."""
        return [
            Route("/api/regions/{region}/statistics.csv", self.as_csv, methods=["GET"]),
            Route("/api/regions/{region}/statistics", self.as_json, methods=["GET"]),
        ]
