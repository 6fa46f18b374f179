"""Offer a case's steps as FHIR operations on its Task: claim, release, hand over, close, withdraw, transfer.

Each operation reads the case, asks the state machine, and writes through `CaseSteps`, so
an illegal step is a 409 that names it ("cannot claim: the case is closed"), and two claims at
once leave one winner. The guard has already checked that the caller may see the Task (404
otherwise); the steps that change a case also need it to be at the caller's own unit (or
region), not merely visible, as under emergency access. The waiting room and the queue
position are in hub/waiting_room_wiring.py.
https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from cases.intake import CASE_STATE_SYSTEM, COMPETENCE_SYSTEM
from cases.lifecycle import CLOSE_OUTCOME_SYSTEM, CLOSE_OUTCOMES, Role, Step
from cases.principals import Citizen, Clinician, Guardian, RegionalSystem
from fhir_api.interactions import version_headers
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.operations import parameter
from fhir_api.outcomes import BadRequest
from fhir_api.server import FhirServer, Operation
from fhir_api.store.repository import Stored
from hub.case_people import CasePeople, principal_of
from hub.case_steps import Case, CaseSteps, utc_now
from triage.dispositions import COMPETENCES

Handler = Callable[[Connection, FhirRequest, str | None, str | None], FhirResponse]


def role_of(principal: Any) -> Role:
    """Return the state machine's role for a principal; an unguarded hub acts as itself."""
    if isinstance(principal, Clinician):
        return Role.CLINICIAN
    if isinstance(principal, (Citizen, Guardian)):
        return Role.CITIZEN
    if isinstance(principal, RegionalSystem):
        return Role.SYSTEM
    return Role.HUB


def _text(body: Any, name: str) -> str | None:
    """Return a parameter given as valueString, valueCode or a CodeableConcept's text or first code."""
    value = parameter(body, name)
    if isinstance(value, dict):
        value = value.get("text") or next((c.get("code") for c in value.get("coding") or []
                                           if isinstance(c, dict)), None) or value.get("code")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CaseOperations:
    """The handlers of the Task operations, over one hub's store."""

    def __init__(self, server: FhirServer, steps: CaseSteps, people: CasePeople) -> None:
        self.server, self.steps, self.people = server, steps, people

    def _reply(self, req: FhirRequest, stored: Stored) -> FhirResponse:
        return FhirResponse(200, stored.content, version_headers(stored, req.base_url))

    def _case(self, conn: Connection, req: FhirRequest, task_id: str | None, step: Step) -> Case:
        case = self.steps.load(conn, task_id or "", str(step))
        self.people.require_writer(conn, req, case)
        return case

    def claim(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Take the case from the waiting room: the Task is owned by the clinician's PractitionerRole."""
        case = self._case(conn, req, task_id, Step.CLAIM)
        principal = principal_of(req)
        unit = self.people.unit_of(conn, case)
        if isinstance(principal, Clinician):
            role = self.people.role_for(conn, principal, unit)
        else:
            role = self.people.named_role(conn, req.body, unit, "claim")
        return self._reply(req, self.steps.take(conn, case, Step.CLAIM, role_of(principal), owner=role))

    def release(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Put the case back in its unit's waiting room, where it keeps its place."""
        case = self._case(conn, req, task_id, Step.RELEASE)
        unit = self.people.unit_of(conn, case)
        return self._reply(req, self.steps.take(conn, case, Step.RELEASE, role_of(principal_of(req)),
                                                owner=f"Organization/{unit}" if unit else None))

    def handover(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Give the case to a colleague at the same unit (`practitioner-role` or `practitioner`)."""
        case = self._case(conn, req, task_id, Step.HANDOVER)
        unit = self.people.unit_of(conn, case)
        role = self.people.named_role(conn, req.body, unit, "handover")
        return self._reply(req, self.steps.take(conn, case, Step.HANDOVER, role_of(principal_of(req)), owner=role))

    def close(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Close the case with an outcome code and the clinician's journal text."""
        outcome = _text(req.body, "outcome")
        if outcome is None:
            raise BadRequest(f"$close needs the parameter 'outcome', one of {', '.join(CLOSE_OUTCOMES)}",
                             ("Parameters.parameter.outcome",))
        if outcome not in CLOSE_OUTCOMES:
            raise BadRequest(f"outcome '{outcome}' is not one of {', '.join(CLOSE_OUTCOMES)}",
                             ("Parameters.parameter.outcome",))
        note = _text(req.body, "note")
        case = self._case(conn, req, task_id, Step.CLOSE)
        author = (case.task_json.get("owner") or {}).get("reference")
        now = self.steps.clock()

        def record(task: dict[str, Any]) -> None:
            task.setdefault("output", []).append({
                "type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "outcome"}]},
                "valueCodeableConcept": {"coding": [{"system": CLOSE_OUTCOME_SYSTEM, "code": outcome,
                                                     "display": CLOSE_OUTCOMES[outcome]}]}})
            if note:  # the journal export takes the staff's notes (with an author) as the clinician's text
                entry: dict[str, Any] = {"time": _now_text(now), "text": note}
                if isinstance(author, str):
                    entry["authorReference"] = {"reference": author}
                task.setdefault("note", []).append(entry)

        return self._reply(req, self.steps.take(conn, case, Step.CLOSE, role_of(principal_of(req)), edit=record))

    def withdraw(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Let the citizen (or guardian) take back a case that is still waiting."""
        principal = principal_of(req)
        case = self.steps.load(conn, task_id or "", "withdraw")
        reason = _text(req.body, "reason")

        def record(task: dict[str, Any]) -> None:
            task["statusReason"] = {"text": reason or "Återtaget av invånaren"}

        return self._reply(req, self.steps.take(conn, case, Step.WITHDRAW, role_of(principal), edit=record))

    def transfer(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Move the case to another unit of this hub, where it waits; a Provenance says who, why, from, to."""
        reason = _text(req.body, "reason")
        if reason is None:
            raise BadRequest("$transfer needs the parameter 'reason' (why the case moves)",
                             ("Parameters.parameter.reason",))
        competence = _text(req.body, "competence")
        if competence is not None and competence not in COMPETENCES:
            raise BadRequest(f"competence '{competence}' is not one of {', '.join(sorted(COMPETENCES))}",
                             ("Parameters.parameter.competence",))
        target = self.people.unit_named(conn, parameter(req.body, "unit"))
        case = self._case(conn, req, task_id, Step.TRANSFER)
        source = self.people.unit_of(conn, case)
        if target == source:
            raise BadRequest("The case is already at that unit", ("Parameters.parameter.unit",))

        def record(task: dict[str, Any]) -> None:
            if competence is not None:
                task["performerType"] = [{"coding": [{"system": COMPETENCE_SYSTEM, "code": competence}]}]

        principal = principal_of(req)
        stored = self.steps.take(conn, case, Step.TRANSFER, role_of(principal), owner=f"Organization/{target}",
                                 unit=f"Organization/{target}", edit=record)
        self.server.repo.create(conn, self.people.transfer_record(
            conn, principal, stored, case, source, target, reason, self.steps.clock()))
        return self._reply(req, stored)


OPERATIONS: dict[str, tuple[str, bool, str]] = {
    # name: (handler, idempotent (GET allowed), documentation)
    "claim": ("claim", False, "Take a waiting case (Task ready) from the unit's waiting room: the Task becomes "
              "in-progress, owned by the clinician's PractitionerRole at the unit (found, or made from their "
              "commission); the Encounter becomes in-progress with them as primary performer. When several "
              "clinicians claim at once exactly one gets 200, the others 409"),
    "release": ("release", False, "Put a case in progress back in its unit's waiting room (Task ready, owner = the "
                "unit's Organization; Encounter arrived); it keeps its place in the queue"),
    "handover": ("handover", False, "Give a case in progress to a colleague at the same unit: parameter "
                 "'practitioner-role' (Reference) or 'practitioner' (Reference, or Identifier with their HSA-id)"),
    "close": ("close", False, "Close a case in progress: parameter 'outcome' (code: " + ", ".join(CLOSE_OUTCOMES)
              + ") and 'note' (the clinician's journal text, kept as a Task.note for the journal export). "
              "Task completed/closed, Encounter finished"),
    "withdraw": ("withdraw", False, "The citizen or guardian takes back a case still waiting; optional 'reason'. "
                 "Task cancelled/withdrawn, Encounter cancelled"),
    "transfer": ("transfer", False, "Move a case to another unit of this hub: parameter 'unit' (Reference to the "
                 "Organization, or its HSA-id as Identifier or string), optional 'competence' (code), required "
                 "'reason'. The case waits there at once; the old unit no longer sees it. Writes a Provenance "
                 "(activity transfer, agents from/to, reason)"),
}


def register_case_operations(server: FhirServer, *, clock: Callable[[], datetime] = utc_now) -> CaseSteps:
    """Register the Task operations and the write listener that keeps every Task update to the state machine."""
    from hub.waiting_room_wiring import register_waiting_room

    steps = CaseSteps(server, clock=clock)
    people = CasePeople(server)
    ops = CaseOperations(server, steps, people)
    for name, (method, idempotent, documentation) in OPERATIONS.items():
        server.add_operation(Operation(name=name, handler=getattr(ops, method), types=frozenset({"Task"}),
                                       type_level=False, instance_level=True, writes=True, idempotent=idempotent,
                                       documentation=documentation))
    server.add_write_listener(steps.on_write)
    register_waiting_room(server, steps, people)
    return steps


# The instance operations the guard lets clinicians and systems run on cases they see; the
# citizen's own are in cases.access.CITIZEN_CASE_OPERATIONS.
CASE_OPERATIONS = frozenset({*OPERATIONS, "queue-position", "request-contact"})
