"""A small, known set of cases in two regions, written straight to the store with their histories.

Region Norr has the units dig1 and vc01, region Syd the unit vc02. The days asked for are
3–5 March 2025 (Swedish time, UTC+1 then). Each case's comment says what the figures must
make of it; tests/integration/statistics/test_statistics_api.py checks the sums.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from cases.intake import CASE_STATE_SYSTEM, DISPOSITION_SYSTEM, FINDING_SYSTEM
from cases.lifecycle import State, put_task_in
from cases.principals import HSA_SYSTEM
from fhir_api.store.repository import ResourceRepository

NORR, SYD = "SE2321000000-NORR", "SE2321000000-SYD"


def _org(ident: str, hsa: str, name: str, part_of: str | None = None) -> dict[str, Any]:
    org: dict[str, Any] = {"resourceType": "Organization", "id": ident, "name": name,
                           "identifier": [{"system": HSA_SYSTEM, "value": hsa}]}
    if part_of:
        org["partOf"] = {"reference": f"Organization/{part_of}"}
    return org


DIRECTORY: list[dict[str, Any]] = [
    _org("norr", NORR, "Region Demo Norr"), _org("syd", SYD, "Region Demo Syd"),
    _org("dig1", "SE2321000000-DIG1", "Digitala mottagningen Norr", "norr"),
    _org("vc01", "SE2321000000-VC01", "Vårdcentralen Norrstaden", "norr"),
    _org("vc02", "SE2321000000-VC02", "Vårdcentralen Söderhamnen", "syd"),
    {"resourceType": "Practitioner", "id": "anna", "name": [{"given": ["Anna"], "family": "Lind"}]},
    {"resourceType": "Practitioner", "id": "erik", "name": [{"given": ["Erik"], "family": "Berg"}]},
    {"resourceType": "PractitionerRole", "id": "anna-dig1", "practitioner": {"reference": "Practitioner/anna"},
     "organization": {"reference": "Organization/dig1"}},
    {"resourceType": "PractitionerRole", "id": "erik-dig1", "practitioner": {"reference": "Practitioner/erik"},
     "organization": {"reference": "Organization/dig1"}},
    {"resourceType": "Patient", "id": "norrbo", "address": [{"state": "Region Demo Norr"}]},
    {"resourceType": "Patient", "id": "nowhere"},
]


def at(text: str) -> datetime:
    """Return a UTC instant from `2025-03-03T08:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _task(ident: str, opened: datetime, disposition: str, unit: str | None, patient: str) -> dict[str, Any]:
    closed_at_once = disposition in ("self-care", "emergency-112")
    state = {"self-care": "self-care-advice", "emergency-112": "referred-emergency"}.get(disposition, "waiting")
    task: dict[str, Any] = {
        "resourceType": "Task", "status": "completed" if closed_at_once else "ready", "intent": "order",
        "businessStatus": {"coding": [{"system": CASE_STATE_SYSTEM, "code": state}]},
        "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]},
        "for": {"reference": f"Patient/{patient}"}, "encounter": {"reference": f"Encounter/enc-{ident}"},
        "authoredOn": opened.strftime("%Y-%m-%dT%H:%M:%SZ"), "lastModified": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "output": [{"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "disposition"}]},
                    "valueCodeableConcept": {"coding": [{"system": DISPOSITION_SYSTEM, "code": disposition}]}}],
    }
    if unit:
        task["owner"] = {"reference": f"Organization/{unit}"}
    return task


class CaseWriter:
    """Write one case: its Encounter, its Task, then each step as a new Task version."""

    def __init__(self, conn: Connection, repo: ResourceRepository) -> None:
        self.conn, self.repo = conn, repo

    def case(self, ident: str, opened: str, disposition: str, complaint: str, unit: str | None,
             patient: str = "norrbo", steps: tuple[tuple[str, State, str], ...] = ()) -> None:
        """Open a case, then apply `steps`: (when, state, owner reference) in order."""
        self.repo.create(self.conn, {
            "resourceType": "Encounter", "status": "arrived", "class": {"code": "VR"},
            "reasonCode": [{"coding": [{"system": FINDING_SYSTEM, "code": complaint}]}]}, f"enc-{ident}")
        stored = self.repo.create(self.conn, _task(ident, at(opened), disposition, unit, patient), ident)
        for when, state, owner in steps:
            stored = self.repo.update(self.conn, stored, put_task_in(stored.json(), state, at(when), owner))


def write_dataset(conn: Connection, repo: ResourceRepository) -> None:
    """Write the directory and the cases."""
    for resource in DIRECTORY:
        repo.create(conn, {k: v for k, v in resource.items() if k != "id"}, resource["id"])
    w = CaseWriter(conn, repo)
    anna, erik = "PractitionerRole/anna-dig1", "PractitionerRole/erik-dig1"
    # Norr's own cases: six, counted.
    w.case("t1", "2025-03-03T08:00", "within-24h", "complaint-sore-throat", "dig1",
           steps=(("2025-03-03T08:10", State.IN_PROGRESS, anna), ("2025-03-03T08:30", State.CLOSED, anna)))
    w.case("t2", "2025-03-03T09:00", "urgent", "complaint-fever", "dig1",
           steps=(("2025-03-03T09:30", State.IN_PROGRESS, erik),))
    # Claimed after an hour, let go, claimed again: two claims, the wait is to the first.
    w.case("t3", "2025-03-04T10:00", "within-24h", "complaint-sore-throat", "dig1",
           steps=(("2025-03-04T11:00", State.IN_PROGRESS, anna), ("2025-03-04T11:10", State.WAITING, "Organization/dig1"),
                  ("2025-03-04T11:20", State.IN_PROGRESS, erik)))
    w.case("t4", "2025-03-04T12:00", "within-week", "complaint-cough", "vc01")  # still waiting
    w.case("t5", "2025-03-04T13:00", "self-care", "complaint-cough", None)  # no unit; the patient lives in Norr
    # 23:30 UTC on 2 March is 00:30 on 3 March in Sweden: counted on the 3rd.
    w.case("t8", "2025-03-02T23:30", "within-24h", "complaint-fever", "dig1",
           steps=(("2025-03-02T23:50", State.IN_PROGRESS, anna),))
    # Not Norr's, or not in the days asked for.
    w.case("t6", "2025-03-04T15:00", "emergency-112", "complaint-chest-pain", None, patient="nowhere")
    w.case("t7", "2025-03-03T10:00", "within-24h", "complaint-fever", "vc02")
    w.case("t9", "2025-03-05T23:30", "within-24h", "complaint-fever", "dig1")  # the 6th in Sweden
    # Opened in Syd, moved to dig1 and claimed there after 40 minutes: a claim and a wait in
    # Norr, but one of Syd's cases.
    w.case("t10", "2025-03-04T14:00", "within-24h", "complaint-fever", "vc02",
           steps=(("2025-03-04T14:05", State.TRANSFERRED, "Organization/dig1"),
                  ("2025-03-04T14:40", State.IN_PROGRESS, erik)))
