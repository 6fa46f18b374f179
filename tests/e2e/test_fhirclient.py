"""A SMART on FHIR app drives the running hub with fhirclient and its strict R4 models.

fhirclient parses every response into its R4 models and refuses elements R4 does not have,
so these tests also check that what the hub sends is R4 as the reference client reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhirclient import client as smart
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRServer

from tests.e2e.conftest import RunningHub
from tests.e2e.resources import id_from_location, observation_data, patient_data

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(running_hub: RunningHub) -> Iterator[FHIRServer]:
    """Return fhirclient's server object for the running hub, as a SMART app sets it up."""
    app = smart.FHIRClient(settings={"app_id": "ingang-e2e", "api_base": running_hub.fhir_base})
    assert app.server is not None
    yield app.server
    app.server.session.close()


def create_patient(server: FHIRServer, tag: str, n: int = 0, birth_date: str = "1912-12-12") -> Patient:
    created = Patient({"resourceType": "Patient", **patient_data(tag, n, birth_date)}).create(server)
    return Patient(created)


def search(server: FHIRServer, model: Any, struct: dict[str, Any]) -> list[Any]:
    """Run a search and return every resource on every page, included ones too."""
    return list(model.where(struct=struct).perform_resources_iter(server))


def test_fhirclient__reads_the_capability_statement_into_its_r4_model(server: FHIRServer) -> None:
    capability = server.capabilityStatement
    assert isinstance(capability, CapabilityStatement)
    assert capability.fhirVersion == "4.0.1"
    types = {r.type for r in capability.rest[0].resource}
    assert {"Patient", "Observation", "Task", "QuestionnaireResponse"} <= types


def test_fhirclient__creates_and_reads_back_a_patient_model(server: FHIRServer, tag: str) -> None:
    created = create_patient(server, tag)
    read = Patient.read(created.id, server)
    assert read.as_json() == created.as_json()
    assert read.name[0].family == f"Tolvansson{tag}"
    assert read.birthDate.isostring == "1912-12-12"


def test_fhirclient__update_bumps_the_version_and_keeps_the_change(server: FHIRServer, tag: str) -> None:
    patient = create_patient(server, tag)
    patient.gender = "female"
    updated = Patient(patient.update(server))
    assert updated.meta.versionId == "2"
    assert Patient.read(patient.id, server).gender == "female"


def test_fhirclient__delete_makes_reads_fail_with_gone(server: FHIRServer, tag: str) -> None:
    patient = create_patient(server, tag)
    patient.delete(server)
    with pytest.raises(requests.HTTPError) as gone:
        Patient.read(patient.id, server)
    assert gone.value.response.status_code == 410
    with pytest.raises(FHIRNotFoundException):
        Patient.read(f"never-{tag}", server)


def test_fhirclient__search_iterates_every_page_once(server: FHIRServer, tag: str) -> None:
    created = {create_patient(server, tag, n).id for n in range(12)}
    first = Patient.where(struct={"family": f"Tolvansson{tag}", "_count": "5"}).perform_iter(server)
    pages = list(first)
    assert [len(p.entry or []) for p in pages] == [5, 5, 2]
    found = [p.id for p in search(server, Patient, {"family": f"Tolvansson{tag}", "_count": "5"})]
    assert sorted(found) == sorted(created)


def test_fhirclient__search_by_token_and_date(server: FHIRServer, tag: str) -> None:
    old = create_patient(server, tag, 1, "1950-06-01")
    young = create_patient(server, tag, 2, "2010-12-31")
    by_identifier = search(server, Patient, {"identifier": f"{old.identifier[0].system}|{tag}-1"})
    assert [p.id for p in by_identifier] == [old.id]
    family = f"Tolvansson{tag}"
    assert [p.id for p in search(server, Patient, {"family": family, "birthdate": "ge2000-01-01"})] == [young.id]
    between = {"family": family, "birthdate": {"$and": ["ge1940", "lt1960-01-01"]}}
    assert [p.id for p in search(server, Patient, between)] == [old.id]


def test_fhirclient__search_includes_the_observations_subject(server: FHIRServer, tag: str) -> None:
    patient = create_patient(server, tag)
    created = Observation({"resourceType": "Observation", **observation_data(f"Patient/{patient.id}")}).create(server)
    query = Observation.where(struct={"subject": f"Patient/{patient.id}"}).include("subject")
    found = list(query.perform_resources_iter(server))
    assert {(type(r).__name__, r.id) for r in found} == {("Observation", created["id"]), ("Patient", patient.id)}
    assert found[0].valueQuantity.value == 72


def test_fhirclient__transaction_bundle_model_creates_both_resources(server: FHIRServer, tag: str) -> None:
    patient_url = f"urn:uuid:{tag[:8]}-1111-4111-8111-{tag[:12]}"
    bundle = Bundle({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": patient_url, "resource": {"resourceType": "Patient", **patient_data(tag)},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", **observation_data(patient_url)},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    })
    response = Bundle(bundle.create(server))
    assert response.type == "transaction-response"
    patient_id = id_from_location(response.entry[0].response.location)
    observation = Observation.read(id_from_location(response.entry[1].response.location), server)
    assert observation.subject.reference == f"Patient/{patient_id}"
