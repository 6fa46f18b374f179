"""Find the people and units a case step names: the clinician's PractitionerRole, a colleague, a unit.

A clinician logs in under a commission (an HSA-id for one person at one unit); the case's
Task is owned by a PractitionerRole, so claiming finds the role the directory has for that
commission, or makes it (and the Practitioner) from what the login said. A colleague for a
handover, and a unit for a transfer, are named by reference or HSA-id and must exist.
Whether the caller may change the case at all is the access rules' answer for writing: a
case at the clinician's own unit (or the system's region), never one only open to them by
emergency access, which is for reading.
https://hl7.org/fhir/R4/practitionerrole.html, https://hl7.org/fhir/R4/provenance.html
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from cases.access import HubItself
from cases.intake import CASE_STATE_SYSTEM
from cases.principals import HSA_SYSTEM, Clinician, RegionalSystem
from fhir_api.messages import FhirRequest
from fhir_api.operations import parameter
from fhir_api.outcomes import BadRequest, Forbidden
from fhir_api.server import FhirServer
from fhir_api.store.repository import Stored
from hub.case_queue import CaseQueue
from hub.case_steps import Case

PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def principal_of(req: FhirRequest) -> Any:
    """Return who is asking: the guard's Caller holds a principal; in-process callers pass one bare."""
    return getattr(req.caller, "principal", req.caller)


def _ref(value: Any, kind: str) -> str | None:
    text = value.get("reference") if isinstance(value, dict) else None
    if isinstance(text, str) and text.startswith(f"{kind}/") and text.count("/") == 1:
        return text.split("/", 1)[1]
    return None


class CasePeople:
    """Directory lookups for case steps, on the request's connection."""

    def __init__(self, server: FhirServer, queue: CaseQueue | None = None) -> None:
        self.server, self.repo = server, server.repo
        self.queue = queue or CaseQueue()

    def view(self, conn: Connection, req: FhirRequest) -> Any:
        """Return the caller's access View when the PDL guard is on, else None."""
        from hub.access.guard import PdlGuard

        guard, caller = self.server.guard, req.caller
        if isinstance(guard, PdlGuard) and caller is not None and hasattr(caller, "view"):
            return guard.view(conn, caller)
        return None

    def require_writer(self, conn: Connection, req: FhirRequest, case: Case) -> None:
        """Refuse (403) a clinician or system who may see the case but not change it."""
        from hub.access.resolve import row_visible

        principal = principal_of(req)
        if not isinstance(principal, (Clinician, RegionalSystem)):
            return
        view = self.view(conn, req)
        if view is not None and not row_visible(conn, view, "Task", case.task.res_id, writing=True):
            raise Forbidden("This case is not at your care unit (or region): you may read it, not change it")

    def unit_of(self, conn: Connection, case: Case) -> str | None:
        """Return the Organization id of the unit the case is at."""
        row = self.queue.get(conn, case.task.res_id)
        if row is not None and row.unit_id:
            return row.unit_id
        owner = _ref(case.task_json.get("owner"), "Organization")
        if owner:
            return owner
        return _ref(case.encounter.json().get("serviceProvider"), "Organization") if case.encounter else None

    def _one(self, conn: Connection, res_type: str, params: list[tuple[str, str]]) -> str | None:
        found = self.server.matcher.ids(conn, res_type, params)
        return found[0] if found else None

    def role_for(self, conn: Connection, clinician: Clinician, unit: str | None) -> str:
        """Return `PractitionerRole/x` for the clinician's commission at the unit, making it when missing."""
        commission = clinician.commission
        role_id = self._one(conn, "PractitionerRole", [("identifier", f"{HSA_SYSTEM}|{commission.commission_hsa_id}")])
        if role_id is not None:
            return f"PractitionerRole/{role_id}"
        if unit is None:
            raise BadRequest("The case has no care unit to claim it at")
        person = self._one(conn, "Practitioner", [("identifier", f"{HSA_SYSTEM}|{clinician.employee_hsa_id}")])
        if person is None:
            name = {k: v for k, v in (("family", clinician.family_name),
                                      ("given", [clinician.given_name] if clinician.given_name else None)) if v}
            practitioner: dict[str, Any] = {"resourceType": "Practitioner", "active": True, "identifier": [
                {"system": HSA_SYSTEM, "value": clinician.employee_hsa_id}]}
            if name:
                practitioner["name"] = [name]
            person = self.repo.create(conn, practitioner).res_id
        role: dict[str, Any] = {"resourceType": "PractitionerRole", "active": True,
                                "identifier": [{"system": HSA_SYSTEM, "value": commission.commission_hsa_id}],
                                "practitioner": {"reference": f"Practitioner/{person}"},
                                "organization": {"reference": f"Organization/{unit}"}}
        if clinician.profession:
            role["code"] = [{"text": clinician.profession}]
        return f"PractitionerRole/{self.repo.create(conn, role).res_id}"

    def named_role(self, conn: Connection, body: Any, unit: str | None, step: str) -> str:
        """Return the PractitionerRole at the unit that `practitioner-role` or `practitioner` names."""
        where = "Parameters.parameter.practitioner-role"
        role_id = _ref(parameter(body, "practitioner-role"), "PractitionerRole")
        person = parameter(body, "practitioner")
        if role_id is None and person is not None:
            where = "Parameters.parameter.practitioner"
            person_id = _ref(person, "Practitioner")
            if person_id is None and isinstance(person, dict) and person.get("value"):
                person_id = self._one(conn, "Practitioner", [("identifier", f"{HSA_SYSTEM}|{person['value']}")])
            if person_id is None:
                raise BadRequest("practitioner must be a Reference to a Practitioner or an Identifier with their "
                                 "HSA-id, of someone the directory knows", (where,))
            role_id = self._one(conn, "PractitionerRole", [("practitioner", f"Practitioner/{person_id}"),
                                                           ("organization", f"Organization/{unit}")])
            if role_id is None:
                raise BadRequest(f"Practitioner/{person_id} has no role at this case's unit", (where,))
        if role_id is None:
            raise BadRequest(f"${step} needs the parameter 'practitioner-role' (or 'practitioner') naming a "
                             "colleague at the case's unit", (where,))
        stored = self.repo.read(conn, "PractitionerRole", role_id)
        org = _ref(stored.json().get("organization"), "Organization") if stored and not stored.deleted else None
        if org is None or org != unit:
            raise BadRequest(f"PractitionerRole/{role_id} is not a role at this case's unit", (where,))
        return f"PractitionerRole/{role_id}"

    def unit_named(self, conn: Connection, value: Any) -> str:
        """Return the id of the Organization a `unit` parameter names by Reference, Identifier or HSA-id."""
        where = ("Parameters.parameter.unit",)
        if value is None:
            raise BadRequest("$transfer needs the parameter 'unit': the Organization, or its HSA-id", where)
        unit = _ref(value, "Organization")
        hsa = value if isinstance(value, str) else value.get("value") if isinstance(value, dict) else None
        if unit is None and isinstance(hsa, str) and hsa:
            unit = self._one(conn, "Organization", [("identifier", f"{HSA_SYSTEM}|{hsa}")])
        stored = self.repo.read(conn, "Organization", unit) if unit else None
        if stored is None or stored.deleted:
            raise BadRequest("unit names no care unit the hub knows (give Organization/<id> or its HSA-id)", where)
        return stored.res_id

    def transfer_record(self, conn: Connection, principal: Any, task: Stored, case: Case, source: str | None,
                        target: str, reason: str, now: datetime) -> dict[str, Any]:
        """Return the Provenance of a transfer: the versions it made, who did it, from and to, and why."""
        agents: list[dict[str, Any]] = []
        who = self._actor(conn, principal, case, source)
        if who is not None:
            agents.append({"type": _coding(PROVENANCE_AGENT_TYPE, "performer", "Performer"), "who": who})
        if source:
            agents.append({"type": _coding(CASE_STATE_SYSTEM, "transfer-from", "Flyttat från"),
                           "who": {"reference": f"Organization/{source}"}})
        agents.append({"type": _coding(CASE_STATE_SYSTEM, "transfer-to", "Flyttat till"),
                       "who": {"reference": f"Organization/{target}"}})
        targets = [{"reference": f"Task/{task.res_id}/_history/{task.version_id}"}]
        if case.encounter is not None:
            targets.append({"reference": f"Encounter/{case.encounter.res_id}"})
        return {"resourceType": "Provenance", "target": targets,
                "recorded": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "activity": _coding(CASE_STATE_SYSTEM, "transfer", "Flytt av ärende"),
                "reason": [{"text": reason}], "agent": agents}

    def _actor(self, conn: Connection, principal: Any, case: Case, unit: str | None) -> dict[str, Any] | None:
        if isinstance(principal, Clinician):
            return {"reference": self.role_for(conn, principal, unit)}
        if isinstance(principal, RegionalSystem):
            return {"identifier": {"system": "urn:ietf:params:oauth:client-id", "value": principal.client_id}}
        if isinstance(principal, HubItself) or principal is None:
            return {"display": "Ingång"}
        return None


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}
