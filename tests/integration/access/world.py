"""The people, units and cases the access tests run against, written straight to the store.

Two regions (each its own care provider), three units, and one case at Digitala mottagningen
Norr for each of a father (Anders), his daughter Lilly (11) and his son Teo (13): every
resource kind the hub uses, linked the way the hub links them. Ids are readable
(`encounter-anders`), so a failing cell names the resource it tried.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from cases.principals import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    Citizen,
    Clinician,
    Commission,
    Guardian,
    RegionalSystem,
)
from fhir_api.store.repository import ResourceRepository
from hub.access.audit import AccessRecord, audit_event

NORR, SYD = "SE2321000000-NORR", "SE2321000000-SYD"
DIG1, VC01, VC02 = "SE2321000000-DIG1", "SE2321000000-VC01", "SE2321000000-VC02"
ANDERS_PNR, LILLY_PNR, TEO_PNR, TOLVAN_PNR = "198112189876", "201401022387", "201105202384", "191212121212"
NEW_PNR = "197010032394"

ANDERS = Citizen(ANDERS_PNR, "Anders", "Testsson")
TOLVAN = Citizen(TOLVAN_PNR, "Tolvan", "Tolvansson")
ANNA = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-dig1", DIG1, NORR, care_unit_name="Digitala"),
                 given_name="Anna", family_name="Lind", profession="Sjuksköterska")
ERIK = Clinician("SE2321000000-P002", Commission("SE2321000000-P002-vc01", VC01, NORR), given_name="Erik",
                 family_name="Berg", profession="Läkare")
MARIA = Clinician("SE2321000000-P003", Commission("SE2321000000-P003-vc02", VC02, SYD), given_name="Maria")
REVIEWER = Clinician("SE2321000000-L001", Commission("SE2321000000-L001-logg", VC01, NORR, purpose="Administration",
                                                     rights=("Logggranskning;Alla;Alla",)), given_name="Lena")
REVIEWER_SYD = Clinician("SE2321000000-L002", Commission("SE2321000000-L002-logg", VC02, SYD,
                                                         purpose="Administration",
                                                         rights=("Logggranskning;Alla;Alla",)))
SYSTEM_NORR = RegionalSystem("journal-norr", NORR)
SYSTEM_SYD = RegionalSystem("journal-syd", SYD)
FAMILIES = {ANDERS_PNR: (LILLY_PNR, TEO_PNR)}
CASE_TYPES = ("Encounter", "Task", "QuestionnaireResponse", "Communication", "Media", "Binary", "Appointment",
              "Provenance", "RelatedPerson", "Consent", "AuditEvent", "Observation", "DocumentReference",
              "Composition")


def guardian_of(child: str) -> Guardian:
    """Return Anders acting for one of his children."""
    return Guardian(ANDERS, child)


def ref(kind: str, ident: str) -> dict[str, str]:
    """Return a Reference to a local resource."""
    return {"reference": f"{kind}/{ident}"}


def _org(ident: str, hsa: str, name: str, part_of: str | None) -> dict[str, Any]:
    org: dict[str, Any] = {"resourceType": "Organization", "id": ident, "active": True, "name": name,
                           "identifier": [{"system": HSA_SYSTEM, "value": hsa}]}
    if part_of:
        org["partOf"] = ref("Organization", part_of)
    return org


def _patient(ident: str, pnr: str, family: str, given: str, born: str, gender: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": ident, "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": pnr}],
            "name": [{"family": family, "given": [given]}], "birthDate": born, "gender": gender}


DIRECTORY: list[dict[str, Any]] = [
    _org("norr", NORR, "Region Demo Norr", None), _org("syd", SYD, "Region Demo Syd", None),
    _org("dig1", DIG1, "Digitala mottagningen Norr", "norr"), _org("vc01", VC01, "Vårdcentralen Norrstaden", "norr"),
    _org("vc02", VC02, "Vårdcentralen Söderhamnen", "syd"),
    {"resourceType": "Practitioner", "id": "anna", "identifier": [{"system": HSA_SYSTEM, "value": ANNA.employee_hsa_id}],
     "name": [{"family": "Lind", "given": ["Anna"]}]},
    {"resourceType": "PractitionerRole", "id": "anna-dig1", "practitioner": ref("Practitioner", "anna"),
     "organization": ref("Organization", "dig1"),
     "identifier": [{"system": HSA_SYSTEM, "value": "SE2321000000-P001-dig1"}]},
    {"resourceType": "Location", "id": "dig1-room", "status": "active", "name": "Digitalt väntrum",
     "managingOrganization": ref("Organization", "dig1")},
    {"resourceType": "HealthcareService", "id": "dig1-service", "active": True, "name": "Sjuksköterskechatt",
     "providedBy": ref("Organization", "dig1")},
    {"resourceType": "Schedule", "id": "anna-schedule", "active": True, "actor": [ref("PractitionerRole", "anna-dig1")]},
    {"resourceType": "Slot", "id": "anna-slot", "status": "free", "schedule": ref("Schedule", "anna-schedule"),
     "start": "2025-03-02T09:00:00Z", "end": "2025-03-02T09:15:00Z"},
    {"resourceType": "Questionnaire", "id": "cough", "status": "active", "name": "Cough",
     "item": [{"linkId": "fever", "text": "Feber?", "type": "boolean"}]},
    _patient("anders", ANDERS_PNR, "Testsson", "Anders", "1981-12-18", "male"),
    _patient("lilly", LILLY_PNR, "Testsson", "Lilly", "2014-01-02", "female"),
    _patient("teo", TEO_PNR, "Testsson", "Teo", "2011-05-20", "female"),
    _patient("tolvan", TOLVAN_PNR, "Tolvansson", "Tolvan", "1912-12-12", "male"),
]


def case_resources(who: str, unit: str = "dig1", role: str = "anna-dig1") -> list[dict[str, Any]]:
    """Return one waiting-room case for a patient: every kind of resource, linked as the hub links them."""
    p, enc, task, qr = ref("Patient", who), f"encounter-{who}", f"task-{who}", f"qr-{who}"
    return [
        {"resourceType": "Encounter", "id": enc, "status": "arrived", "subject": p,
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
         "serviceProvider": ref("Organization", unit)},
        {"resourceType": "QuestionnaireResponse", "id": qr, "status": "completed", "subject": p, "author": p,
         "encounter": ref("Encounter", enc), "questionnaire": "Questionnaire/cough",
         "item": [{"linkId": "fever", "answer": [{"valueBoolean": True}]}]},
        {"resourceType": "Task", "id": task, "status": "ready", "intent": "order", "for": p,
         "encounter": ref("Encounter", enc), "focus": ref("QuestionnaireResponse", qr),
         "owner": ref("Organization", unit)},
        {"resourceType": "Communication", "id": f"message-{who}", "status": "completed", "subject": p,
         "encounter": ref("Encounter", enc), "sender": p, "recipient": [ref("Organization", unit)],
         "payload": [{"contentString": "Det gör ont när jag andas."}]},
        {"resourceType": "Media", "id": f"photo-{who}", "status": "completed", "subject": p,
         "encounter": ref("Encounter", enc),
         "content": {"contentType": "image/jpeg", "url": f"Binary/binary-{who}"}},
        {"resourceType": "Binary", "id": f"binary-{who}", "contentType": "image/jpeg", "data": "/9j/4AAQ",
         "securityContext": ref("Media", f"photo-{who}")},
        {"resourceType": "Appointment", "id": f"booking-{who}", "status": "booked",
         "supportingInformation": [ref("Encounter", enc)],
         "participant": [{"actor": p, "status": "accepted"}, {"actor": ref("PractitionerRole", role),
                                                              "status": "accepted"}]},
        {"resourceType": "Provenance", "id": f"transfer-{who}", "target": [ref("Task", task), p],
         "recorded": "2025-03-01T10:00:00Z", "agent": [{"who": ref("PractitionerRole", role)}],
         "activity": {"text": "transfer"}},
        {"resourceType": "RelatedPerson", "id": f"related-{who}", "patient": p, "active": True,
         "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                       "code": "GUARD"}]}]},
        {"resourceType": "Observation", "id": f"observation-{who}", "status": "final", "subject": p,
         "encounter": ref("Encounter", enc), "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
         "valueQuantity": {"value": 38.4, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}},
        {"resourceType": "DocumentReference", "id": f"document-{who}", "status": "current", "subject": p,
         "content": [{"attachment": {"contentType": "text/plain", "data": "RmViZXIgc2VkYW4gaWfDpXI="}}],
         "context": {"encounter": [ref("Encounter", enc)]}},
        {"resourceType": "Composition", "id": f"note-{who}", "status": "final", "subject": p,
         "encounter": ref("Encounter", enc), "date": "2025-03-01T10:30:00Z", "title": "Journalanteckning",
         "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
         "author": [ref("PractitionerRole", role)]},
        {"resourceType": "Consent", "id": f"consent-{who}", "status": "active", "patient": p,
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "patient-privacy"}]},
         "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
         "policyRule": {"text": "Spärr"}},
    ]


def earlier_access(who: str, recorded: Any) -> dict[str, Any]:
    """Return the AuditEvent of Anna having read the patient's Encounter before the test began."""
    event = audit_event(AccessRecord(principal=ANNA, interaction="read", address="10.0.0.1", recorded=recorded,
                                     what=[f"Encounter/encounter-{who}"], patients=[who], unit_id="dig1"))
    event["id"] = f"audit-{who}"
    return event


@dataclass
class World:
    """What was written, by id, so cells can find their targets and copy them."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, res_type: str, res_id: str) -> dict[str, Any]:
        """Return a deep copy of a stored resource as it was written."""
        return copy.deepcopy(self.resources[f"{res_type}/{res_id}"])


def build_world(conn: Connection, repo: ResourceRepository, recorded: Any) -> World:
    """Write the directory, the patients and their cases; return what was written."""
    world = World()
    items = list(DIRECTORY)
    for who in ("anders", "lilly", "teo"):
        items += case_resources(who)
        items.append(earlier_access(who, recorded))
    for item in items:
        body = copy.deepcopy(item)
        res_id = body.pop("id")
        stored = repo.create(conn, body, res_id)
        world.resources[f"{stored.res_type}/{stored.res_id}"] = stored.json()
    return world


def target_id(res_type: str, who: str) -> str:
    """Return the id of the resource of this type that belongs to `who`'s case (or the directory's)."""
    fixed = {"Patient": who, "Organization": "dig1", "Practitioner": "anna", "PractitionerRole": "anna-dig1",
             "Questionnaire": "cough", "Location": "dig1-room", "HealthcareService": "dig1-service",
             "Schedule": "anna-schedule", "Slot": "anna-slot"}
    if res_type in fixed:
        return fixed[res_type]
    prefix = {"Encounter": "encounter", "Task": "task", "QuestionnaireResponse": "qr", "Communication": "message",
              "Media": "photo", "Binary": "binary", "Appointment": "booking", "Provenance": "transfer",
              "RelatedPerson": "related", "Consent": "consent", "AuditEvent": "audit", "Observation": "observation",
              "DocumentReference": "document", "Composition": "note"}[res_type]
    return f"{prefix}-{who}"
