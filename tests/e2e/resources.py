"""Build the resources the end-to-end tests create: citizens and their observations."""

from __future__ import annotations

from typing import Any

PNR = "http://electronichealth.se/identifier/personnummer"
LOINC = "http://loinc.org"


def patient_data(tag: str, n: int = 0, birth_date: str = "1912-12-12") -> dict[str, Any]:
    """Return a Patient's content (no resourceType), with a family name unique to the tag."""
    return {
        "identifier": [{"system": PNR, "value": f"{tag}-{n}"}],
        "name": [{"family": f"Tolvansson{tag}", "given": [f"Tolvan{n}"]}],
        "gender": "other",
        "birthDate": birth_date,
    }


def observation_data(subject: str, code: str = "8867-4", effective: str = "2024-05-01T10:00:00Z") -> dict[str, Any]:
    """Return a heart-rate Observation's content (no resourceType) about `subject`."""
    return {
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": effective,
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def id_from_location(location: str) -> str:
    """Return the logical id in a Location such as .../fhir/Patient/abc/_history/1."""
    return location.split("/_history/")[0].rstrip("/").rsplit("/", 1)[1]
