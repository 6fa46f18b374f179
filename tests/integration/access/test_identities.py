"""A personnummer or samordningsnummer written through the API is checked, and a bad one is a 400 saying why."""

from __future__ import annotations

from typing import Any

import pytest

from cases.principals import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANNA, SYSTEM_NORR


def patient(number: str, system: str = PERSONNUMMER_SYSTEM, **extra: Any) -> dict[str, Any]:
    """Return a Patient body with one identifier."""
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": number}], **extra}


@pytest.mark.parametrize(("body", "words", "where"), [
    (patient("197010032395"), "'197010032395' is not a valid personnummer: ", "Patient.identifier[0].value"),
    (patient("19701332-2394"), "is not a valid personnummer", "Patient.identifier[0].value"),
    (patient("197010632391"), "is a samordningsnummer, so its system must be " + SAMORDNINGSNUMMER_SYSTEM,
     "Patient.identifier[0].system"),
    (patient("197010032394", birthDate="1970-10-04"), "birthDate 1970-10-04 does not agree with identifier[0], "
                                                      "which says 1970-10-03", "Patient.birthDate"),
    (patient("197010032394", gender="female"), "gender female does not agree with identifier[0], which is a "
                                               "male's number", "Patient.gender"),
    ({"resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM}]}, "has the personnummer system but "
                                                                                   "no value",
     "Patient.identifier[0].value"),
])
def test_a_bad_number__is_a_400_naming_what_and_where_and_nothing_is_stored(
        hub: GuardedHub, body: dict[str, Any], words: str, where: str) -> None:
    patients, events = hub.count("Patient"), len(hub.audit_events())

    response = hub.client.post("/fhir/Patient", json=body, headers=hub.headers(SYSTEM_NORR))

    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert words in issue["diagnostics"], issue
    assert issue["expression"] == [where]
    assert (hub.count("Patient"), len(hub.audit_events())) == (patients, events)


def test_a_valid_number_and_matching_details__are_stored(hub: GuardedHub) -> None:
    body = patient("197010032394", birthDate="1970-10-03", gender="male")
    assert hub.client.post("/fhir/Patient", json=body, headers=hub.headers(SYSTEM_NORR)).status_code == 201
    coordination = patient("197010632391", SAMORDNINGSNUMMER_SYSTEM)
    assert hub.client.post("/fhir/Patient", json=coordination, headers=hub.headers(SYSTEM_NORR)).status_code == 201


def test_an_update__is_checked_the_same_way(hub: GuardedHub) -> None:
    body = hub.world.get("Patient", "anders")
    body.pop("meta")
    body["identifier"][0]["value"] = "198112189877"
    response = hub.client.put("/fhir/Patient/anders", json=body, headers=hub.headers(ANNA))
    assert response.status_code == 400, response.text
    assert "the check digit should be 6, not 7" in response.json()["issue"][0]["diagnostics"]
