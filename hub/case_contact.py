"""Let a citizen given self-care advice still ask to be contacted: `Task/{id}/$request-contact`.

DESIGN.md: self-care ends with advice and "seek care if …", and the citizen may still ask for
contact. The self-care case (Task completed with businessStatus `self-care-advice`, Encounter
finished) then takes the state machine's `request-contact` step: it is routed as intake routes
a case, by the region of the patient's address, at the lowest urgency that reaches a waiting
room (`within-week`: Task.priority routine, answer within a week), and waits at that unit —
Task ready/`waiting` owned by the unit, Encounter arrived again and served by it. It arrives
when it was asked for (a Task.output `contact-requested`), not at the triage, so it takes its
place behind those already waiting. Only the citizen, or their guardian, asks, for their own
case; where the region sends no one at this hour (a unit that refers to 1177 when closed)
the answer is 409 with the region's own words, and the case stays as it was.
https://hl7.org/fhir/R4/task.html#statemachine
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

from cases.intake import CASE_STATE_SYSTEM, COMPETENCE_SYSTEM, FINDING_SYSTEM, TASK_PRIORITY, region_of
from cases.lifecycle import IllegalStep, Step, check
from cases.routing import CaseToRoute, route
from cases.waiting_room import CONTACT_REQUESTED
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Conflict
from fhir_api.server import FhirServer, Operation
from hub.case_people import principal_of
from hub.case_steps import Case, CaseSteps, conflict
from hub.triage_wiring import CaseIntake
from triage import PatientFacts
from triage.errors import TriageInputError

# The least urgent disposition that reaches a waiting room: a contact asked for after self-care.
CONTACT_DISPOSITION = "within-week"
REQUEST_CONTACT = str(Step.REQUEST_CONTACT)


def _coded(concepts: Any, system: str) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in (concept.get("coding") or []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    return None


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContactRequests:
    """The handler of `$request-contact`, routing with the triage's regions."""

    def __init__(self, server: FhirServer, intake: CaseIntake, steps: CaseSteps | None = None) -> None:
        self.server, self.intake = server, intake
        self.steps = steps or CaseSteps(server)

    def request(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Put the self-care case in the routed unit's waiting room, as the citizen asked."""
        from fhir_api.interactions import version_headers
        from hub.case_wiring import role_of

        role = role_of(principal_of(req))
        case = self.steps.load(conn, task_id or "", REQUEST_CONTACT)
        try:
            check(Step.REQUEST_CONTACT, case.state, role)
        except IllegalStep as err:
            raise conflict(err, case.task.res_id) from None
        reason = _parameter_text(req.body, "reason")
        now = self.steps.clock()
        unit_ref, competence, answer_by, message = self._route(conn, case, now)
        task = case.task_json
        author = (task.get("requester") or task.get("for") or {}).get("reference")

        def record(out: dict[str, Any]) -> None:
            out["priority"] = TASK_PRIORITY[CONTACT_DISPOSITION]
            out["restriction"] = {"period": {"end": _instant(answer_by)}}
            out["performerType"] = [{"coding": [{"system": COMPETENCE_SYSTEM, "code": competence}]}]
            out.setdefault("output", []).append({
                "type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": CONTACT_REQUESTED}]},
                "valueDateTime": _instant(now)})
            notes = out.setdefault("note", [])
            if reason:
                entry: dict[str, Any] = {"time": _instant(now), "text": reason}
                if isinstance(author, str):
                    entry["authorReference"] = {"reference": author}
                notes.append(entry)
            if message:
                notes.append({"time": _instant(now), "text": message})
            if not notes:
                out.pop("note")

        stored = self.steps.take(conn, case, Step.REQUEST_CONTACT, role, owner=unit_ref, unit=unit_ref, edit=record)
        return FhirResponse(200, stored.content, version_headers(stored, req.base_url))

    def _route(self, conn: Connection, case: Case, now: datetime) -> tuple[str, str, datetime, str | None]:
        """Return the unit (reference), competence, answer-by and any message of the region's routing."""
        task = case.task_json
        patient_ref = (task.get("for") or {}).get("reference")
        stored = (self.server.repo.read(conn, "Patient", patient_ref.split("/", 1)[1])
                  if isinstance(patient_ref, str) and patient_ref.startswith("Patient/") else None)
        if stored is None or stored.deleted:
            raise Conflict("cannot request contact: the case names no patient the hub knows", ("Task.for",),
                           issue_code="business-rule")
        patient = stored.json()
        try:
            age = PatientFacts.from_patient(patient, date.today()).age_years
        except TriageInputError as exc:
            raise BadRequest(exc.message, (exc.location,)) from None
        outputs = [o.get("valueCodeableConcept") for o in task.get("output") or [] if isinstance(o, dict)]
        competence = _coded(outputs, COMPETENCE_SYSTEM) or "nurse"
        reasons = case.encounter.json().get("reasonCode") if case.encounter is not None else None
        complaint = _coded(reasons, FINDING_SYSTEM) or ""
        regions = self.intake.regions
        region = regions.region(region_of(patient, {c: r.name for c, r in regions.regions().items()}))
        try:
            routing = route(region, CaseToRoute(CONTACT_DISPOSITION, competence, complaint, age), now)
        except LookupError as exc:
            raise Conflict(f"cannot request contact: {exc}", ("Task",), issue_code="business-rule") from None
        if routing.kind != "waiting-room" or routing.unit is None or routing.answer_by is None:
            words = routing.message.sv if routing.message is not None else "no unit takes contact requests now"
            raise Conflict(f"cannot request contact: {words}", ("Task",), issue_code="business-rule")
        unit_ref = self.intake.unit_for(conn, region.units[routing.unit].name, routing.unit)
        message = routing.message.sv if routing.message is not None else None
        return unit_ref, routing.competence or competence, routing.answer_by, message


def _parameter_text(body: Any, name: str) -> str | None:
    from fhir_api.operations import parameter

    value = parameter(body, name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def register_request_contact(server: FhirServer, intake: CaseIntake) -> ContactRequests:
    """Register `Task/{id}/$request-contact` for the citizen's own self-care cases."""
    requests = ContactRequests(server, intake)
    server.add_operation(Operation(
        name=REQUEST_CONTACT, handler=requests.request, types=frozenset({"Task"}), type_level=False,
        instance_level=True, writes=True, idempotent=False,
        documentation="For the citizen or guardian, after self-care advice: ask to be contacted after all "
                      "(optional 'reason'). The case is routed as intake routes it, at the lowest urgency "
                      f"({CONTACT_DISPOSITION}), and waits in that unit's waiting room; Task ready/waiting, "
                      "Encounter arrived"))
    return requests
