"""Seed one case the way the hub leaves it after triage, a claim and a chat: the journal and transfer suites share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cases.intake import CASE_STATE_SYSTEM, FINDING_SYSTEM
from cases.lifecycle import State, put_encounter_in, put_task_in
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM
from fhir_api.server import FhirServer

UNIT_HSA = "SE2321000000-DIG1"  # a unit of the demo region norr


@dataclass(frozen=True)
class SeededCase:
    """The ids of what was seeded."""

    task: str
    encounter: str
    patient: str
    response: str
    unit: str
    role: str
    communications: tuple[str, ...]
    media: str


def seed_case(server: FhirServer, *, person: str = "191212121212", unit_hsa: str = UNIT_HSA) -> SeededCase:
    """Write a case in progress at a unit, claimed by a nurse, with answers, a chat and a photo."""
    repo = server.repo
    with server.unit_of_work(True) as conn:
        found = server.matcher.ids(conn, "Organization", [("identifier", f"{HSA_SYSTEM}|{unit_hsa}")])
        unit = found[0] if found else repo.create(conn, {
            "resourceType": "Organization", "name": "Digitala mottagningen Norr",
            "identifier": [{"system": HSA_SYSTEM, "value": unit_hsa}]}).res_id
        found = server.matcher.ids(conn, "Patient", [("identifier", f"{PERSONNUMMER_SYSTEM}|{person}")])
        patient = found[0] if found else repo.create(conn, {
            "resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": person}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}], "gender": "male",
            "birthDate": f"{person[:4]}-{person[4:6]}-{person[6:8]}"}).res_id
        role = repo.create(conn, {
            "resourceType": "PractitionerRole", "active": True,
            "identifier": [{"system": HSA_SYSTEM, "value": "SE2321000000-P001"}],
            "practitioner": {"display": "Sara Sjöberg, sjuksköterska"},
            "organization": {"reference": f"Organization/{unit}"}}).res_id
        response = repo.create(conn, {
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "subject": {"reference": f"Patient/{patient}"}, "authored": "2026-01-05T09:00:00Z",
            "item": [
                {"linkId": "q1", "text": "Har du feber?", "answer": [{"valueBoolean": True}]},
                {"linkId": "q2", "text": "Hur länge har du haft ont i halsen?",
                 "answer": [{"valueCoding": {"system": FINDING_SYSTEM, "code": "days-2-7", "display": "2–7 dagar"}}]},
            ]}).res_id
        now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        encounter = repo.create(conn, put_encounter_in({
            "resourceType": "Encounter", "status": "arrived",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": f"Patient/{patient}"}, "period": {"start": "2026-01-05T09:00:00Z"},
            "serviceProvider": {"reference": f"Organization/{unit}"}},
            State.IN_PROGRESS, now, performer=f"PractitionerRole/{role}")).res_id
        task: dict[str, Any] = {
            "resourceType": "Task", "intent": "order", "priority": "asap",
            "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]},
            "focus": {"reference": f"QuestionnaireResponse/{response}"},
            "for": {"reference": f"Patient/{patient}"}, "encounter": {"reference": f"Encounter/{encounter}"},
            "authoredOn": "2026-01-05T09:00:00Z",
            "output": [
                {"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "disposition"}]},
                 "valueCodeableConcept": {"coding": [{"system": "https://ingang.example/fhir/CodeSystem/triage-disposition",
                                                      "code": "within-24h"}]}},
                {"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "rationale"}]},
                 "valueString": "Feber och halsont i flera dagar"},
                {"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "rules-fired"}]},
                 "valueString": "sore-throat-fever"},
            ]}
        task_id = repo.create(conn, put_task_in(task, State.IN_PROGRESS, now, owner=f"PractitionerRole/{role}")).res_id
        chat = []
        for sent, sender, text in (("2026-01-05T09:10:00Z", f"PractitionerRole/{role}", "Hej! Hur mår du nu?"),
                                   ("2026-01-05T09:12:00Z", f"Patient/{patient}", "Lite bättre, men ont när jag sväljer.")):
            chat.append(repo.create(conn, {
                "resourceType": "Communication", "status": "completed",
                "encounter": {"reference": f"Encounter/{encounter}"}, "subject": {"reference": f"Patient/{patient}"},
                "sender": {"reference": sender}, "sent": sent, "payload": [{"contentString": text}]}).res_id)
        media = repo.create(conn, {
            "resourceType": "Media", "status": "completed", "subject": {"reference": f"Patient/{patient}"},
            "encounter": {"reference": f"Encounter/{encounter}"},
            "content": {"contentType": "image/png", "title": "Halsen", "data": "iVBORw0KGgo="}}).res_id
    return SeededCase(task_id, encounter, patient, response, unit, role, tuple(chat), media)


def close_case(server: FhirServer, task_id: str, note: str = "Bedömning: trolig virusinfektion. Egenvård.") -> int:
    """Close the case as the clinician's `$close` would: completed/closed, the note on the Task. Return the version."""
    with server.unit_of_work(True) as conn:
        current = server.repo.read(conn, "Task", task_id)
        assert current is not None
        task = current.json()
        closed = put_task_in(task, State.CLOSED, datetime.now(UTC))
        closed.setdefault("note", []).append({"authorReference": task["owner"], "text": note})
        return server.repo.update(conn, current, closed).version_id
