"""A regional system drives the running hub with fhirpy: CRUD, versions, search, paging, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome, ResourceNotFound

from tests.e2e.conftest import RunningHub
from tests.e2e.resources import PNR, id_from_location, observation_data, patient_data

pytestmark = pytest.mark.e2e

@pytest.fixture
def client(running_hub: RunningHub) -> Iterator[SyncFHIRClient]:
    """Return a fhirpy client for the running hub."""
    yield SyncFHIRClient(running_hub.fhir_base)


def test_fhirpy__create_then_read_returns_the_same_patient(client: SyncFHIRClient, tag: str) -> None:
    created = client.resource("Patient", **patient_data(tag)).save()
    assert created.id and created["meta"]["versionId"] == "1"
    read = client.reference("Patient", created.id).to_resource()
    assert read.serialize() == created.serialize()


def test_fhirpy__update_makes_version_two_and_history_keeps_version_one(client: SyncFHIRClient, tag: str) -> None:
    patient = client.resource("Patient", **patient_data(tag)).save()
    patient["gender"] = "female"
    patient.save()
    assert patient["meta"]["versionId"] == "2"
    first = client.execute(f"Patient/{patient.id}/_history/1", method="get")
    assert first["gender"] == "other"
    history = client.execute(f"Patient/{patient.id}/_history", method="get")
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_fhirpy__update_with_a_stale_if_match_is_refused_with_412(
    client: SyncFHIRClient, running_hub: RunningHub, tag: str
) -> None:
    patient = client.resource("Patient", **patient_data(tag)).save()
    patient["gender"] = "female"
    patient.save()
    stale = SyncFHIRClient(running_hub.fhir_base, extra_headers={"If-Match": 'W/"1"'})
    # fhirpy reports every 412 as MultipleResourcesFound, whatever the precondition was.
    with pytest.raises(MultipleResourcesFound):
        stale.resource("Patient", **{**patient.serialize(), "gender": "male"}).save()
    assert client.get("Patient", patient.id)["gender"] == "female"
    current = SyncFHIRClient(running_hub.fhir_base, extra_headers={"If-Match": 'W/"2"'})
    updated = current.resource("Patient", **{**patient.serialize(), "gender": "male"}).save()
    assert updated["meta"]["versionId"] == "3"


def test_fhirpy__delete_makes_the_patient_gone_but_keeps_its_history(
    client: SyncFHIRClient, running_hub: RunningHub, tag: str
) -> None:
    patient = client.resource("Patient", **patient_data(tag)).save()
    patient.delete()
    with pytest.raises(ResourceNotFound):
        client.get("Patient", patient.id)
    assert httpx.get(f"{running_hub.fhir_base}/Patient/{patient.id}").status_code == 410
    assert client.execute(f"Patient/{patient.id}/_history/1", method="get")["id"] == patient.id
    assert client.resources("Patient").search(identifier=f"{PNR}|{tag}-0").fetch() == []


def test_fhirpy__invalid_content_is_refused_with_an_outcome_naming_the_element(
    client: SyncFHIRClient, tag: str
) -> None:
    with pytest.raises(OperationOutcome) as refused:
        client.resource("Patient", **{**patient_data(tag), "birthDate": "1912-13-45"}).save()
    assert "birthDate" in str(refused.value)


def test_fhirpy__search_pages_through_every_match_once(client: SyncFHIRClient, tag: str) -> None:
    created = {client.resource("Patient", **patient_data(tag, n)).save().id for n in range(23)}
    search = client.resources("Patient").search(family=f"Tolvansson{tag}").limit(5)
    first_page = search.fetch_raw()
    assert len(first_page["entry"]) == 5
    assert any(link["relation"] == "next" for link in first_page["link"])
    found = [p.id for p in search.fetch_all()]
    assert len(found) == len(created)
    assert set(found) == created


def test_fhirpy__search_by_token_finds_only_that_identifier(client: SyncFHIRClient, tag: str) -> None:
    patients = [client.resource("Patient", **patient_data(tag, n)).save() for n in range(3)]
    found = client.resources("Patient").search(identifier=f"{PNR}|{tag}-1").fetch_all()
    assert [p.id for p in found] == [patients[1].id]
    assert client.resources("Patient").search(identifier=f"{tag}-1").fetch_all()[0].id == patients[1].id
    assert client.resources("Patient").search(identifier=f"urn:other|{tag}-1").fetch_all() == []


def test_fhirpy__search_by_date_honours_prefixes(client: SyncFHIRClient, tag: str) -> None:
    born = {d: client.resource("Patient", **patient_data(tag, i, d)).save().id
            for i, d in enumerate(["1950-06-01", "1990-01-15", "2010-12-31"])}
    family = f"Tolvansson{tag}"

    def ids(**query: Any) -> set[str]:
        return {p.id for p in client.resources("Patient").search(family=family, **query).fetch_all()}

    assert ids(birthdate__ge="1990-01-01") == {born["1990-01-15"], born["2010-12-31"]}
    assert ids(birthdate__lt="1990-01-15") == {born["1950-06-01"]}
    assert ids(birthdate="1990") == {born["1990-01-15"]}
    assert ids(birthdate__ge="1960", birthdate__le="2000") == {born["1990-01-15"]}


def test_fhirpy__search_by_string_matches_the_start_of_a_name_ignoring_case(
    client: SyncFHIRClient, tag: str
) -> None:
    patient = client.resource("Patient", **patient_data(tag)).save()
    by_prefix = client.resources("Patient").search(family=f"tolvansson{tag[:8].upper()}").fetch_all()
    assert patient.id in {p.id for p in by_prefix}
    exact = client.resources("Patient").search(family__exact=f"Tolvansson{tag}").fetch_all()
    assert [p.id for p in exact] == [patient.id]
    assert client.resources("Patient").search(family__exact=f"tolvansson{tag}").fetch_all() == []


def test_fhirpy__search_by_reference_finds_the_patients_observations(client: SyncFHIRClient, tag: str) -> None:
    mine = client.resource("Patient", **patient_data(tag, 1)).save()
    other = client.resource("Patient", **patient_data(tag, 2)).save()
    obs = [client.resource("Observation", **observation_data(f"Patient/{mine.id}")).save() for _ in range(2)]
    client.resource("Observation", **observation_data(f"Patient/{other.id}")).save()
    found = client.resources("Observation").search(subject=f"Patient/{mine.id}").fetch_all()
    assert {o.id for o in found} == {o.id for o in obs}
    assert len(client.resources("Observation").search(patient=mine.id).fetch_all()) == 2


def test_fhirpy__search_includes_the_subject_and_revincludes_its_observations(
    client: SyncFHIRClient, tag: str
) -> None:
    patient = client.resource("Patient", **patient_data(tag)).save()
    obs = client.resource("Observation", **observation_data(f"Patient/{patient.id}")).save()
    included = (client.resources("Observation").search(subject=f"Patient/{patient.id}")
                .include("Observation", "subject").fetch_raw())
    modes = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in included["entry"]}
    assert modes == {("Observation", obs.id): "match", ("Patient", patient.id): "include"}
    revincluded = (client.resources("Patient").search(_id=patient.id)
                   .revinclude("Observation", "subject").fetch_raw())
    modes = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in revincluded["entry"]}
    assert modes == {("Patient", patient.id): "match", ("Observation", obs.id): "include"}


def _transaction(tag: str, *, broken: bool = False) -> dict[str, Any]:
    patient_url = f"urn:uuid:{tag[:8]}-0000-4000-8000-{tag[:12]}"
    observation = observation_data(patient_url)
    if broken:
        observation["effectiveDateTime"] = "2024-13-45"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": patient_url, "resource": {"resourceType": "Patient", **patient_data(tag)},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", **observation},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    }


def test_fhirpy__transaction_creates_every_entry_and_resolves_urn_uuid_references(
    client: SyncFHIRClient, tag: str
) -> None:
    response = client.execute("", method="post", data=_transaction(tag))
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in response["entry"]] == ["201", "201"]
    patient_id = id_from_location(response["entry"][0]["response"]["location"])
    observation_id = id_from_location(response["entry"][1]["response"]["location"])
    observation = client.get("Observation", observation_id)
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"


def test_fhirpy__transaction_with_one_bad_entry_stores_nothing(client: SyncFHIRClient, tag: str) -> None:
    with pytest.raises(OperationOutcome):
        client.execute("", method="post", data=_transaction(tag, broken=True))
    assert client.resources("Patient").search(identifier=f"{PNR}|{tag}-0").fetch_all() == []
