"""Transaction and batch Bundles: all or nothing, references resolved, failures named."""

from __future__ import annotations

from starlette.testclient import TestClient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
PNR = "http://electronichealth.se/identifier/personnummer"


def transaction(*entries: dict[str, object], kind: str = "transaction") -> dict[str, object]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(full_url: str, resource: dict[str, object], **request: str) -> dict[str, object]:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": str(resource["resourceType"]), **request}}


PATIENT = {"resourceType": "Patient", "identifier": [{"system": PNR, "value": "191212121212"}]}
ENCOUNTER = {
    "resourceType": "Encounter", "status": "arrived",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
    "subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"},
}


def count(client: TestClient, res_type: str) -> int:
    return int(client.get(f"/fhir/{res_type}?_summary=count").json()["total"])


def test_transaction__resolves_urn_uuid_references(client: TestClient) -> None:
    bundle = transaction(
        post_entry("urn:uuid:22222222-2222-2222-2222-222222222222", ENCOUNTER),
        post_entry("urn:uuid:11111111-1111-1111-1111-111111111111", PATIENT),
    )
    r = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    enc_status, pat_status = (e["response"]["status"] for e in body["entry"])
    assert enc_status.startswith("201") and pat_status.startswith("201")
    patient_id = body["entry"][1]["response"]["location"].split("/")[-3]
    encounter_loc = body["entry"][0]["response"]["location"].split("/fhir/")[1].split("/_history")[0]
    enc = client.get(f"/fhir/{encounter_loc}").json()
    assert enc["subject"]["reference"] == f"Patient/{patient_id}"


def test_transaction__one_bad_entry_rolls_back_all_and_names_it(client: TestClient) -> None:
    bad = {"resourceType": "Patient", "birthDate": "not-a-date"}
    bundle = transaction(post_entry("urn:uuid:a", PATIENT), post_entry("urn:uuid:b", bad))
    r = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 422
    assert "Bundle.entry[1]" in r.json()["issue"][0]["diagnostics"]
    assert count(client, "Patient") == 0


def test_transaction__reference_to_a_missing_resource_fails_whole(client: TestClient) -> None:
    enc = {**ENCOUNTER, "subject": {"reference": "Patient/does-not-exist"}}
    r = client.post("/fhir", json=transaction(post_entry("urn:uuid:p", PATIENT), post_entry("urn:uuid:e", enc)),
                    headers=FHIR_JSON)
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["code"] == "not-found"
    assert "Patient/does-not-exist" in issue["diagnostics"]
    assert count(client, "Patient") == 0


def test_transaction__unknown_urn_uuid_is_400(client: TestClient) -> None:
    r = client.post("/fhir", json=transaction(post_entry("urn:uuid:e", ENCOUNTER)), headers=FHIR_JSON)
    assert r.status_code == 400
    assert "fullUrl" in r.json()["issue"][0]["diagnostics"]


def test_transaction__conditional_reference_and_if_none_exist(client: TestClient) -> None:
    client.post("/fhir/Patient", json=PATIENT, headers=FHIR_JSON)
    enc = {**ENCOUNTER, "subject": {"reference": f"Patient?identifier={PNR}|191212121212"}}
    bundle = transaction(
        post_entry("urn:uuid:p", PATIENT, ifNoneExist=f"identifier={PNR}|191212121212"),
        post_entry("urn:uuid:e", enc),
    )
    r = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"].startswith("200")
    assert count(client, "Patient") == 1


def test_transaction__over_the_size_limit_is_413_and_says_the_limit(client: TestClient) -> None:
    entries = [post_entry(f"urn:uuid:{n}", PATIENT) for n in range(51)]
    r = client.post("/fhir", json=transaction(*entries), headers=FHIR_JSON)
    assert r.status_code == 413
    assert "50" in r.json()["issue"][0]["diagnostics"]


def test_batch__entries_succeed_or_fail_on_their_own(client: TestClient) -> None:
    bundle = transaction(
        post_entry("urn:uuid:a", PATIENT),
        {"request": {"method": "GET", "url": "Patient/missing"}},
        post_entry("urn:uuid:b", {"resourceType": "Patient", "birthDate": "never"}),
        kind="batch",
    )
    r = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 200
    statuses = [e["response"]["status"][:3] for e in r.json()["entry"]]
    assert statuses == ["201", "404", "422"]
    assert r.json()["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(client, "Patient") == 1


def test_bundle__of_the_wrong_type_is_400(client: TestClient) -> None:
    r = client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR_JSON)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Bundle.type"]
