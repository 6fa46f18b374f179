"""Open a case from a completed triage: the Encounter and the Task that put it in a waiting room.

A case is FHIR resources, as DESIGN.md maps it: the Encounter is the care contact (class VR),
the Task the work item whose owner is the care unit and whose output holds the automatic
assessment. Emergencies and self-care end at once (finished Encounter, completed Task, with
why in businessStatus), so every assessment leaves the same trail for the journal.
https://hl7.org/fhir/R4/task.html
https://hl7.org/fhir/R4/encounter.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cases.routing import Routing

DISPOSITION_SYSTEM = "https://ingang.example/fhir/CodeSystem/triage-disposition"
COMPETENCE_SYSTEM = "https://ingang.example/fhir/CodeSystem/competence"
FINDING_SYSTEM = "https://ingang.example/fhir/CodeSystem/finding"
CASE_STATE_SYSTEM = "https://ingang.example/fhir/CodeSystem/case-state"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

# Task.priority and Encounter.priority (v3 ActPriority) for each disposition.
TASK_PRIORITY = {
    "emergency-112": "stat", "emergency-department": "stat", "urgent": "urgent",
    "within-24h": "asap", "within-week": "routine", "self-care": "routine",
}
ENCOUNTER_PRIORITY = {
    "emergency-112": ("EM", "emergency"), "emergency-department": ("EM", "emergency"),
    "urgent": ("UR", "urgent"), "within-24h": ("A", "ASAP"), "within-week": ("R", "routine"),
    "self-care": ("R", "routine"),
}
# The waiting-room state each way a triage can end leaves the Task in.
STATE = {
    "waiting-room": ("ready", "waiting", "Väntar i väntrummet"),
    "emergency": ("completed", "referred-emergency", "Hänvisad till akut vård"),
    "self-care": ("completed", "self-care-advice", "Egenvårdsråd givna"),
    "referred-out-of-hours": ("completed", "referred-out-of-hours", "Hänvisad utanför öppettid"),
}


@dataclass(frozen=True)
class Intake:
    """What opening a case needs: who, the saved answers, the assessment and where it goes."""

    patient_ref: str
    response_ref: str
    disposition: str
    competence: str
    complaint: str
    rationale_sv: str
    rules: tuple[str, ...]
    routing: Routing
    unit_ref: str | None
    now: datetime
    # Who answered the questions: the Patient, or the guardian's RelatedPerson (Task.requester).
    requester_ref: str | None = None


def _instant(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encounter_for(intake: Intake) -> dict[str, Any]:
    """Return the case's Encounter: arrived in a waiting room, or finished at once."""
    waiting = intake.routing.kind == "waiting-room"
    code, display = ENCOUNTER_PRIORITY[intake.disposition]
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "arrived" if waiting else "finished",
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "priority": {"coding": [{"system": ACT_PRIORITY, "code": code, "display": display}]},
        "subject": {"reference": intake.patient_ref},
        "period": {"start": _instant(intake.now)},
        "reasonCode": [{"coding": [{"system": FINDING_SYSTEM, "code": intake.complaint}]}],
    }
    if not waiting:
        encounter["period"]["end"] = _instant(intake.now)
    if intake.unit_ref:
        encounter["serviceProvider"] = {"reference": intake.unit_ref}
    return encounter


def task_for(intake: Intake, encounter_ref: str) -> dict[str, Any]:
    """Return the case's Task, owned by the unit, with the assessment as its output."""
    status, state, state_text = STATE[intake.routing.kind]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": status,
        "businessStatus": {"coding": [{"system": CASE_STATE_SYSTEM, "code": state}], "text": state_text},
        "intent": "order",
        "priority": TASK_PRIORITY[intake.disposition],
        "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}], "text": "Ärende från symptombedömning"},
        "focus": {"reference": intake.response_ref},
        "for": {"reference": intake.patient_ref},
        "encounter": {"reference": encounter_ref},
        "authoredOn": _instant(intake.now),
        "lastModified": _instant(intake.now),
        "output": _outputs(intake),
    }
    if intake.unit_ref:
        task["owner"] = {"reference": intake.unit_ref}
    if intake.requester_ref:
        task["requester"] = {"reference": intake.requester_ref}
    if intake.routing.answer_by is not None:
        task["restriction"] = {"period": {"end": _instant(intake.routing.answer_by)}}
    if intake.routing.competence:
        task["performerType"] = [{"coding": [{"system": COMPETENCE_SYSTEM, "code": intake.routing.competence}]}]
    if intake.routing.message is not None:
        task["note"] = [{"text": intake.routing.message.sv}]
    return task


def _outputs(intake: Intake) -> list[dict[str, Any]]:
    def kind(code: str) -> dict[str, Any]:
        return {"coding": [{"system": CASE_STATE_SYSTEM, "code": code}]}

    return [
        {"type": kind("disposition"),
         "valueCodeableConcept": {"coding": [{"system": DISPOSITION_SYSTEM, "code": intake.disposition}]}},
        {"type": kind("competence"),
         "valueCodeableConcept": {"coding": [{"system": COMPETENCE_SYSTEM, "code": intake.competence}]}},
        {"type": kind("rationale"), "valueString": intake.rationale_sv},
        {"type": kind("rules-fired"), "valueString": ", ".join(intake.rules) or "-"},
    ]


def guardian_person(patient_ref: str, system: str, person_id: str, given: str = "",
                    family: str = "") -> dict[str, Any]:
    """Return the RelatedPerson of a child's guardian (relationship GUARD), identified by their number.

    Why: a guardian answering for a child is recorded as the author of the answers and the
    requester of the case, so the unit sees who is waiting for whom.
    https://hl7.org/fhir/R4/relatedperson.html
    """
    person: dict[str, Any] = {
        "resourceType": "RelatedPerson", "active": True, "patient": {"reference": patient_ref},
        "identifier": [{"system": system, "value": person_id}],
        "relationship": [{"coding": [{"system": ROLE_CODE, "code": "GUARD", "display": "guardian"}]}],
    }
    name = {k: v for k, v in (("family", family), ("given", [given] if given else None)) if v}
    if name:
        person["name"] = [name]
    return person


def region_of(patient: Mapping[str, Any], region_names: Mapping[str, str]) -> str | None:
    """Return the code of the region whose name or code is in the patient's address, if any."""
    for address in patient.get("address") or []:
        if not isinstance(address, Mapping):
            continue
        for part in (address.get("state"), address.get("district")):
            if not isinstance(part, str):
                continue
            for code, name in region_names.items():
                if part.strip().lower() in (code.lower(), name.lower()):
                    return code
    return None
