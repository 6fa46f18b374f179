"""End a case as booked when the clinician books its patient a time: the `close-case` parameter of booking.

`Slot/{id}/$book` and `Encounter/{id}/$book-region-time` take `close-case` (boolean). When
true, the case whose Encounter the booking names takes the state machine's `book` step in the
same transaction as the Appointment: the Task is completed with businessStatus `booked` and an
output of type `appointment` referring to it, and the Encounter is finished. The step is
checked before anything is booked (so a closed case, or one at another unit, is refused
without a booking in the region's system to undo), and taken after the Appointment is
written; if it fails, the whole booking rolls back. Without the parameter the case stays as
it is, for a clinician who books a follow-up and carries on.
https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from cases.intake import CASE_STATE_SYSTEM
from cases.lifecycle import IllegalStep, Step, check, is_case_task
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Conflict
from fhir_api.server import FhirServer
from hub.case_people import CasePeople, principal_of
from hub.case_steps import Case, CaseSteps, conflict

CLOSE_CASE = "close-case"


def wants_close(body: Any) -> bool:
    """Tell whether a booking's Parameters ask to close the case (`close-case` true); 400 on a non-boolean."""
    params = body.get("parameter") if isinstance(body, dict) else None
    for p in params or []:
        if isinstance(p, dict) and p.get("name") == CLOSE_CASE:
            value = next((v for k, v in p.items() if k.startswith("value")), None)
            if value is True or (isinstance(value, str) and value == "true"):
                return True
            if value is False or (isinstance(value, str) and value == "false"):
                return False
            raise BadRequest(f"{CLOSE_CASE} must be a boolean (valueBoolean true or false)",
                             (f"Parameters.parameter.{CLOSE_CASE}",))
    return False


class CaseBooking:
    """Check and take a case's `book` step for a booking, on the booking's connection."""

    def __init__(self, server: FhirServer) -> None:
        self.server = server
        self.steps = CaseSteps(server)
        self.people = CasePeople(server, self.steps.queue)

    def prepare(self, conn: Connection, req: FhirRequest, encounter_id: str) -> Case:
        """Return the case of the Encounter, having checked the caller may end it as booked (409/403 if not)."""
        from hub.case_wiring import role_of

        task_ids = self.server.matcher.ids(conn, "Task", [("encounter", f"Encounter/{encounter_id}")])
        for task_id in sorted(task_ids):
            stored = self.server.repo.read(conn, "Task", task_id)
            if stored is not None and not stored.deleted and is_case_task(stored.json()):
                case = self.steps.load(conn, task_id, str(Step.BOOK))
                break
        else:
            raise Conflict(f"cannot close the case as booked: Encounter/{encounter_id} is no case's",
                           (f"Parameters.parameter.{CLOSE_CASE}",), issue_code="business-rule")
        self.people.require_writer(conn, req, case)
        try:
            check(Step.BOOK, case.state, role_of(principal_of(req)))
        except IllegalStep as err:
            raise conflict(err, case.task.res_id) from None
        return case

    def close(self, conn: Connection, req: FhirRequest, case: Case, booked: FhirResponse) -> None:
        """Take the `book` step: the case ends as booked, its Task's output naming the Appointment."""
        from hub.case_wiring import role_of

        appointment = booked.json() or {}
        appointment_id = appointment.get("id")

        def record(task: dict[str, Any]) -> None:
            if isinstance(appointment_id, str):
                task.setdefault("output", []).append({
                    "type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "appointment"}]},
                    "valueReference": {"reference": f"Appointment/{appointment_id}"}})

        self.steps.take(conn, case, Step.BOOK, role_of(principal_of(req)), edit=record)
