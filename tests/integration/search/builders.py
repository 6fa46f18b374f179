"""Small builders for the resources the search tests store: only the elements searched on."""

from __future__ import annotations

from typing import Any

PNR = "http://electronichealth.se/identifier/personnummer"
HSA = "urn:oid:1.2.752.29.4.19"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def patient(pid: str, family: str = "Andersson", given: str = "Anna", *, birth: str | None = None,
            pnr: str | None = None, gender: str | None = None, org: str | None = None,
            **extra: Any) -> dict[str, Any]:
    """A Patient with one name, and whatever else is given."""
    res: dict[str, Any] = {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": [given]}]}
    if birth:
        res["birthDate"] = birth
    if pnr:
        res["identifier"] = [{"system": PNR, "value": pnr}]
    if gender:
        res["gender"] = gender
    if org:
        res["managingOrganization"] = {"reference": f"Organization/{org}"}
    res.update(extra)
    return res


def organization(oid: str, name: str = "Vårdcentralen", *, hsa: str | None = None,
                 part_of: str | None = None) -> dict[str, Any]:
    """An Organization (care unit), optionally with an HSA id and a parent."""
    res: dict[str, Any] = {"resourceType": "Organization", "id": oid, "name": name}
    if hsa:
        res["identifier"] = [{"system": HSA, "value": hsa}]
    if part_of:
        res["partOf"] = {"reference": f"Organization/{part_of}"}
    return res


def observation(oid: str, subject: str, code: str = "8480-6", *, when: str = "2024-03-01T10:00:00Z",
                value: float | None = None, unit: str = "mm[Hg]", **extra: Any) -> dict[str, Any]:
    """A vital-sign Observation about `subject` (a reference string)."""
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject}, "effectiveDateTime": when,
    }
    if value is not None:
        res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    res.update(extra)
    return res


def blood_pressure(oid: str, subject: str, systolic: float, diastolic: float) -> dict[str, Any]:
    """A blood-pressure panel whose two values are components."""
    def comp(code: str, v: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": v, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "subject": {"reference": subject},
            "component": [comp("8480-6", systolic), comp("8462-4", diastolic)]}


def encounter(eid: str, patient_id: str, *, start: str, end: str | None = None,
              unit: str | None = None, status: str = "arrived") -> dict[str, Any]:
    """A virtual Encounter with a period."""
    period = {"start": start, **({"end": end} if end else {})}
    res: dict[str, Any] = {"resourceType": "Encounter", "id": eid, "status": status,
                           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                           "subject": {"reference": f"Patient/{patient_id}"}, "period": period}
    if unit:
        res["serviceProvider"] = {"reference": f"Organization/{unit}"}
    return res


def task(tid: str, patient_id: str, owner: str, *, status: str = "ready",
         focus: str | None = None, encounter_id: str | None = None) -> dict[str, Any]:
    """A waiting-room Task for a patient, owned by a unit or a role."""
    res: dict[str, Any] = {"resourceType": "Task", "id": tid, "status": status, "intent": "order",
                           "for": {"reference": f"Patient/{patient_id}"}, "owner": {"reference": owner}}
    if focus:
        res["focus"] = {"reference": focus}
    if encounter_id:
        res["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return res


def provenance(pid: str, target: str) -> dict[str, Any]:
    """A Provenance about `target`."""
    return {"resourceType": "Provenance", "id": pid, "target": [{"reference": target}],
            "recorded": "2024-03-01T10:00:00Z", "agent": [{"who": {"reference": "Practitioner/pr1"}}]}
