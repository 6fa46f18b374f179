"""A hub process configured with a RIV-TA services file, talking SOAP to the local SOAP server process.

The hub is started as an operator starts it (uvicorn, INGANG_* variables, the services file),
over SQLite and then PostgreSQL. Over HTTP the test books a time at a unit whose calendar is
mirrored to the region's booking system, cancels it, and reads the patient's journal; the
SOAP server checks every request the hub sends against the real XSDs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mappings.riv_scheduling import BOOKING_ID_SYSTEM, Timeslot, timeslot_to_riv
from tests.e2e.conftest import database_for
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.fixtures.soap_server.samples import care_contact, care_documentation
from tests.processes import assert_no_tracebacks, free_port, hub_env, start_hub, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UNIT, PHYSIO, PNR = "SE2321000016-FYS1", "SE2321000016-P009", "191212121212"
START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path, soap_server: SoapServer) -> Iterator[str]:
    """Start a hub process whose journal and VC unit's bookings go to the SOAP server."""
    services = tmp_path / "riv.yaml"
    services.write_text(f"""
timeout_seconds: 5
journal:
  - name: Journal Norr
    base_url: {soap_server.base_url}
    logical_address: {LOGICAL_ADDRESS}
booking:
  - facility: {UNIT}
    base_url: {soap_server.base_url}
    logical_address: {LOGICAL_ADDRESS}
""", encoding="utf-8")
    env = hub_env(database_for(request.param, request, tmp_path), INGANG_RIV_SERVICES_FILE=str(services))
    port, log = free_port(), tmp_path / "hub.log"
    proc = start_hub(env, port, log)
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        stop_process(proc)
    assert_no_tracebacks(log)


def create(client: httpx.Client, resource: dict[str, Any]) -> str:
    response = client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_hub_process__books_cancels_and_reads_the_journal_over_riv_ta(hub_url: str, soap_server: SoapServer) -> None:
    soap_server.set_state({
        "timeslots": [timeslot_to_riv(Timeslot(UNIT, START, START + timedelta(minutes=30), performer=PHYSIO))],
        "documents": {PNR: [care_documentation("D1")]}, "contacts": {PNR: [care_contact("C1")]},
    })
    hsa = "urn:oid:1.2.752.29.4.19"
    with httpx.Client(base_url=hub_url, timeout=30.0) as client:
        unit = create(client, {"resourceType": "Organization", "name": "Fysio Ett",
                               "identifier": [{"system": hsa, "value": UNIT}]})
        person = create(client, {"resourceType": "Practitioner", "identifier": [{"system": hsa, "value": PHYSIO}]})
        role = create(client, {"resourceType": "PractitionerRole", "practitioner": {"reference": f"Practitioner/{person}"},
                               "organization": {"reference": f"Organization/{unit}"}})
        schedule = create(client, {"resourceType": "Schedule", "actor": [{"reference": f"PractitionerRole/{role}"}]})
        slot = create(client, {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule}"},
                               "status": "free", "start": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "end": (START + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")})
        patient = create(client, {"resourceType": "Patient", "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
                                  "identifier": [{"system": "http://electronichealth.se/identifier/personnummer",
                                                  "value": PNR}]})
        encounter = create(client, {"resourceType": "Encounter", "status": "arrived",
                                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                                    "subject": {"reference": f"Patient/{patient}"}})
        booked = client.post(f"/Slot/{slot}/$book", json={"resourceType": "Parameters", "parameter": [
            {"name": "encounter", "valueReference": {"reference": f"Encounter/{encounter}"}}]})
        assert booked.status_code == 201, booked.text
        assert booked.json()["identifier"][0]["system"] == BOOKING_ID_SYSTEM
        cancelled = client.post(f"/Appointment/{booked.json()['id']}/$cancel-booking",
                                json={"resourceType": "Parameters"})
        assert cancelled.status_code == 200, cancelled.text
        journal = client.get(f"/Patient/{patient}/$journal")
        assert journal.status_code == 200
        kinds = sorted(e["resource"]["resourceType"] for e in journal.json()["entry"])
    assert kinds == ["DocumentReference", "Encounter"]
    calls = [c["operation"] for c in soap_server.calls()]
    assert calls[:2] == ["MakeBooking", "CancelBooking"]
    assert sorted(calls[2:]) == ["GetCareContacts", "GetCareDocumentation"]  # the journal asks both at once
    assert soap_server.rejected() == []
