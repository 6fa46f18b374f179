"""Offer the region's journal to clinicians as `GET Patient/{id}/$journal`.

The clinician sees the patient's recent care documentation (DocumentReference) and care
contacts (Encounter) from the region's journal systems, asked over RIV-TA
(GetCareDocumentation, GetCareContacts) while they wait, all sources at once, each bounded
by its timeout. Nothing is stored: the region's journal stays the record. The guard admits
the operation only on a Patient the clinician can see (one with a case at their unit) and
logs the access. A source that is slow or fails is named in an OperationOutcome entry of the
result — never an empty journal that looks like "no history".
https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/bundle.html#searchset
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from adapters.riv.errors import RivBadAnswer, RivError, RivTimeout, RivUnavailable
from adapters.riv.soap import RivCaller
from adapters.vis.riv_journal import FakeJournalView, JournalQuery, JournalView, ZeepJournalView
from cases.principals import Clinician, RegionalSystem
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Forbidden, NotFound
from fhir_api.server import FhirServer, Operation
from hub.booking_region_wiring import REGION_OPERATIONS
from hub.booking_wiring import BOOKING_OPERATIONS
from mappings.hsa import PERSON_SYSTEMS

OPERATION = "journal"
# The instance operations on patient data the guard opens to clinicians: the journal view and the booking changes.
RIV_CASE_OPERATIONS = frozenset({OPERATION}) | BOOKING_OPERATIONS | REGION_OPERATIONS
DEFAULT_DAYS = 730
MAX_DAYS = 3660


def _issue_code(error: RivError) -> str:
    if isinstance(error, RivTimeout):
        return "timeout"
    if isinstance(error, RivUnavailable):
        return "transient"
    if isinstance(error, RivBadAnswer):
        return "invalid"
    return "exception"


def _day(req: FhirRequest, name: str) -> date | None:
    values = [v for k, v in req.query if k == name]
    if not values:
        return None
    try:
        return date.fromisoformat(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {values[-1]!r}", (name,)) from None


def _person(patient: dict[str, Any], ref: str) -> dict[str, str]:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") in PERSON_SYSTEMS and identifier.get("value"):
            return {"system": identifier["system"], "value": identifier["value"]}
    raise BadRequest(f"{ref} has no personnummer or samordningsnummer; the region's journal is looked up by one",
                     ("Patient.identifier",))


class JournalViewOperation:
    """Ask every journal source about one patient and put the answers, and the failures, in one Bundle."""

    def __init__(self, server: FhirServer, views: Sequence[JournalView],
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.server, self.views, self.today = server, list(views), today

    def _query(self, req: FhirRequest, person: dict[str, str]) -> JournalQuery:
        end = _day(req, "end") or self.today()
        start = _day(req, "start") or end - timedelta(days=DEFAULT_DAYS)
        if start > end or (end - start).days > MAX_DAYS:
            raise BadRequest(f"start must be before end, and at most {MAX_DAYS} days before it", ("start",))
        return JournalQuery(person, start, end)

    def handle(self, conn: Connection, req: FhirRequest, _t: str | None, res_id: str | None) -> FhirResponse:
        """Answer `Patient/{id}/$journal` with a searchset Bundle."""
        principal = getattr(req.caller, "principal", req.caller)
        if req.caller is not None and not isinstance(principal, Clinician | RegionalSystem):
            raise Forbidden("The journal view is for clinicians", ("$journal",))
        ref = f"Patient/{res_id}"
        stored = self.server.repo.read(conn, "Patient", str(res_id))
        if stored is None or stored.deleted:
            raise NotFound(f"{ref} is not known")
        query = self._query(req, _person(stored.json(), ref))
        calls = [(view, kind) for view in self.views for kind in ("care_documentation", "care_contacts")]
        entries: list[dict[str, Any]] = []
        issues: list[dict[str, Any]] = []
        if calls:
            with ThreadPoolExecutor(max_workers=min(len(calls), 8), thread_name_prefix="journal-view") as pool:
                futures = [(view, pool.submit(getattr(view, kind), query)) for view, kind in calls]
                for view, future in futures:
                    try:
                        entries += [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r,
                                     "search": {"mode": "match"}} for r in future.result()]
                    except RivError as exc:
                        issues.append({"severity": "error", "code": _issue_code(exc),
                                       "diagnostics": f"{view.name}: {exc}"})
        else:
            issues.append({"severity": "warning", "code": "not-supported",
                           "diagnostics": "No journal source is configured for this hub"})
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                                  "entry": entries}
        if issues:
            bundle["entry"].append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "search": {"mode": "outcome"},
                                    "resource": {"resourceType": "OperationOutcome", "issue": issues}})
        return FhirResponse(200, bundle)


def journal_views(services: Any, mode: str) -> list[JournalView]:
    """Return the configured journal sources; in development without any, a demo journal."""
    views: list[JournalView] = [ZeepJournalView(s.name, RivCaller(s.endpoint)) for s in services.journal]
    if not views and mode != "production":
        views.append(demo_journal())
    return views


def demo_journal() -> FakeJournalView:
    """Return a fake region journal with a visit for a demo patient, for the embedded default."""
    view = FakeJournalView("Demojournal (fake)")
    unit = {"orgUnitHSAId": "SE2321000016-VC01", "orgUnitName": "Vårdcentralen Ett"}
    person = {"authorTime": "20260110100000", "healthcareProfessionalHSAId": "SE2321000016-P002",
              "healthcareProfessionalName": "Doktor Demo", "healthcareProfessionalOrgUnit": unit}
    patient = {"id": "191212121212", "type": "1.2.752.129.2.1.3.1"}
    view.documents["191212121212"].append({
        "careDocumentationHeader": {"documentId": "DEMO-D1", "sourceSystemHSAid": "SE2321000016-JOUR",
                                    "documentTime": "20260110103000", "patientId": patient,
                                    "accountableHealthcareProfessional": person, "approvedForPatient": True},
        "careDocumentationBody": {"clinicalDocumentNote": {"clinicalDocumentNoteCode": "bes",
                                                           "clinicalDocumentNoteTitle": "Besöksanteckning",
                                                           "clinicalDocumentNoteText": "Halsont sedan två dagar."}}})
    view.contacts["191212121212"].append({
        "careContactHeader": {"documentId": "DEMO-C1", "sourceSystemHSAId": "SE2321000016-JOUR", "patientId": patient,
                              "accountableHealthcareProfessional": person, "approvedForPatient": True},
        "careContactBody": {"careContactCode": "1", "careContactOrgUnit": unit, "careContactStatus": "5",
                            "careContactTimePeriod": {"start": "20260110100000", "end": "20260110103000"}}})
    return view


def register_journal_view(server: FhirServer, views: Sequence[JournalView]) -> JournalViewOperation:
    """Register `Patient/{id}/$journal`; the guard must list OPERATION among its case operations."""
    operation = JournalViewOperation(server, views)
    server.add_operation(Operation(
        name=OPERATION, handler=operation.handle, types=frozenset({"Patient"}), type_level=False,
        instance_level=True, idempotent=True, writes=False,
        documentation="The patient's care documentation (DocumentReference) and care contacts (Encounter) from "
                      "the region's journal over RIV-TA, not stored; parameters start and end (dates). A source "
                      "that is slow or fails is named in an OperationOutcome entry",
    ))
    return operation


def riv_services(settings: Any) -> Any:
    """Load the RIV-TA services file named in the settings; a bad file stops start-up."""
    from adapters.riv.config import RivConfigError, RivServices, load_services

    if not settings.riv_services_file:
        return RivServices()
    try:
        return load_services(settings.riv_services_file)
    except RivConfigError as exc:
        raise SystemExit(f"configuration error: INGANG_RIV_SERVICES_FILE: {exc}") from None


def register_journal_view_for(server: FhirServer, settings: Any, services: Any) -> JournalViewOperation:
    """Register `$journal` over the configured sources (a demo journal in development without any)."""
    return register_journal_view(server, journal_views(services, settings.mode))
